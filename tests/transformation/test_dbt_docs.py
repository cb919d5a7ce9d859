"""The project's documentation: analysts read the model and column descriptions and types in dbt docs and,
through dagster-dbt, in the Dagster UI, so every column a mart (or live table) really has must be
described with the type DuckDB gives it, and nothing it lacks; every model says what one of its rows is,
in words; the exposures name what reads the marts; the docs open on the project's own overview."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.transformation.dbt_helpers import query, run_dbt

# The schemas analysts read: the published marts and today's live figures.
DOCUMENTED_SCHEMAS = ("marts", "live")
AREA_TAGS = {"box_office", "funding", "quality", "settlement", "ingestion", "live"}
# What makes a description SQL rather than words: dagster-dbt falls back to the raw SQL when it is
# empty, and a pasted query reads no better.
SQL_MARKERS = re.compile(
    r"\bselect\b[\s\S]*\bfrom\b|\{\{|\{%|\bref\(|\bsource\(|```|\bcase\s+when\b|\bcoalesce\(|\bsum\(|\bcount\(|::",
    re.IGNORECASE,
)


def _manifest(built) -> dict:
    return json.loads((built.warehouse.parent / "dbt" / "target" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def manifest(built_scenario) -> dict:
    """The manifest the scenario's build wrote (the project as it stands)."""
    return _manifest(built_scenario)


@pytest.fixture(scope="module")
def built_columns(built_scenario) -> dict[tuple[str, str], dict[str, str]]:
    """The columns and their DuckDB types of every table dbt built in the documented schemas, by
    (schema, table)."""
    rows = query(
        built_scenario.warehouse,
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        f"where table_schema in ({', '.join('?' for _ in DOCUMENTED_SCHEMAS)})",
        *DOCUMENTED_SCHEMAS,
    )
    columns: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        columns.setdefault((row["table_schema"], row["table_name"]), {})[row["column_name"]] = row[
            "data_type"
        ]
    return columns


@pytest.fixture(scope="module")
def documented(manifest) -> dict[tuple[str, str], dict]:
    """The model nodes of the documented schemas, by (schema, table)."""
    return {
        (node["schema"], node.get("alias") or node["name"]): node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] in DOCUMENTED_SCHEMAS
    }


def _same_type(declared: str | None, built: str) -> bool:
    return re.sub(r"\s+", "", (declared or "").lower()) == re.sub(r"\s+", "", built.lower())


def test_every_column_of_every_mart_has_a_description_and_the_type_duckdb_built(built_columns, documented):
    assert {schema for schema, _ in built_columns} == set(DOCUMENTED_SCHEMAS), (
        "the scenario built no mart or live table"
    )
    assert set(built_columns) <= set(documented)
    undescribed, mistyped = [], []
    for (schema, table), columns in sorted(built_columns.items()):
        yaml_columns = documented[schema, table]["columns"]
        for column, built_type in sorted(columns.items()):
            entry = yaml_columns.get(column, {})
            if not (entry.get("description") or "").strip():
                undescribed.append(f"{schema}.{table}.{column}")
            if not _same_type(entry.get("data_type"), built_type):
                mistyped.append(
                    f"{schema}.{table}.{column}: {entry.get('data_type')} in YAML, {built_type} built"
                )
    assert not undescribed, f"{len(undescribed)} columns have no description: {', '.join(undescribed)}"
    assert not mistyped, f"{len(mistyped)} columns' data_type differs from the table's:\n" + "\n".join(
        mistyped
    )


def test_no_mart_describes_a_column_it_does_not_have(built_columns, documented):
    # dbt accepts a column in YAML that the model does not output; an analyst would look for it in vain.
    phantom = sorted(
        f"{schema}.{table}.{column}"
        for (schema, table), node in documented.items()
        for column in node["columns"]
        if column not in built_columns.get((schema, table), {})
    )
    assert not phantom, f"columns described in YAML but absent from the tables: {', '.join(phantom)}"


def test_every_model_and_snapshot_says_in_words_what_one_of_its_rows_is(manifest):
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "snapshot")]
    assert len(nodes) > 40
    undescribed = sorted(n["name"] for n in nodes if not n["description"].strip())
    assert not undescribed, f"models with no description: {', '.join(undescribed)}"
    in_sql = sorted(n["name"] for n in nodes if SQL_MARKERS.search(n["description"]))
    assert not in_sql, f"descriptions that hold SQL: {', '.join(in_sql)}"
    no_grain = sorted(
        n["name"] for n in nodes if not re.search(r"\bone row (per|for)\b", n["description"], re.IGNORECASE)
    )
    assert not no_grain, f"descriptions that do not state the grain (one row per ...): {', '.join(no_grain)}"


def test_no_column_description_holds_sql(manifest):
    in_sql = sorted(
        f"{n['name']}.{column}"
        for n in manifest["nodes"].values()
        if n["resource_type"] in ("model", "snapshot")
        for column, entry in n["columns"].items()
        if SQL_MARKERS.search(entry.get("description") or "")
    )
    assert not in_sql, f"column descriptions that hold SQL: {', '.join(in_sql)}"


def test_every_model_has_an_owner_and_an_area_tag(manifest):
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "snapshot")]
    unowned = sorted(
        n["name"]
        for n in nodes
        if not all(
            owner.startswith("team:") for owner in n["meta"].get("dagster", {}).get("owners", []) or [None]
        )
    )
    assert not unowned, f"models without a team among meta.dagster.owners: {', '.join(unowned)}"
    untagged = sorted(n["name"] for n in nodes if not AREA_TAGS & set(n["tags"]))
    assert not untagged, f"models with none of the area tags {sorted(AREA_TAGS)}: {', '.join(untagged)}"


def test_the_selection_tags_select_the_weekly_and_the_live_models_only(manifest):
    # Dagster's jobs select by these two tags (transformation/assets.py, live.py); an area tag must
    # never widen them.
    def tagged(tag: str) -> set[str]:
        return {
            n["name"]
            for n in manifest["nodes"].values()
            if n["resource_type"] in ("model", "snapshot") and tag in n["tags"]
        }

    assert tagged("film_week") == {
        "int_cinema_film_weeks_taxed",
        "settlement_weekly",
        "settlement_weekly_revisions",
    }
    live_folder = {
        n["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["original_file_path"].startswith("models/live/")
    }
    assert live_folder and tagged("live") == live_folder
    # The models built after the forecasts, by a dbt asset of their own (ekino_forecast_models).
    assert tagged("after_forecasts") == {"funding_outcomes_forecast"}
    assert not any(
        tag in ("film_week", "live", "after_forecasts")
        for e in manifest["exposures"].values()
        for tag in e["tags"]
    )


def test_the_exposures_name_what_reads_the_marts(manifest):
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert set(exposures) == {
        "mart_parquet_exports",
        "warehouse_read_only_copy",
        "settlement_statements",
        "box_office_report",
    }
    refable = {
        n["unique_id"]: n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "snapshot")
    }
    marts = {uid for uid, n in refable.items() if n["resource_type"] == "model" and n["schema"] == "marts"}
    for name, exposure in exposures.items():
        assert exposure["owner"]["name"] or exposure["owner"]["email"], name
        assert exposure["meta"]["dagster"]["owners"], name
        assert exposure["description"].strip() and exposure["url"].startswith("$EKINO_HOME/exports/"), name
        assert set(exposure["depends_on"]["nodes"]) <= set(refable), name
    # Every table of the marts schema is exported (exports.py), so a new mart must be listed here.
    assert set(exposures["mart_parquet_exports"]["depends_on"]["nodes"]) == marts
    assert set(exposures["warehouse_read_only_copy"]["depends_on"]["nodes"]) >= marts
    assert exposures["settlement_statements"]["depends_on"]["nodes"] == ["model.ekino.settlement_weekly"]
    report = exposures["box_office_report"]
    assert (report["type"], report["url"]) == ("dashboard", "$EKINO_HOME/exports/report/index.html")
    assert {uid.split(".")[-1] for uid in report["depends_on"]["nodes"]} >= {
        "film_daily_box_office",
        "film_weekly_box_office",
        "region_daily",
        "funding_outcomes",
        "cinema_reporting_daily",
    }


def test_the_generated_docs_open_on_the_projects_overview_with_the_built_types(built_scenario, tmp_path):
    # Issue 14: dbt docs showed dbt's generic welcome page. Generated on a copy, as analysts would.
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built_scenario.warehouse, warehouse)
    run_dbt(warehouse, "docs", "generate", "--static")
    target = tmp_path / "dbt" / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    overview = manifest["docs"]["doc.ekino.__overview__"]["block_contents"]
    for words in ("e-Kino", "grain", "provisional", "coverage", "film week", "tracked", "exports/"):
        assert words in overview, words
    for mart in ("film_daily_box_office", "film_weekly_box_office", "region_daily", "funding_outcomes"):
        assert f"`{mart}`" in overview, mart
    assert "e-Kino: the national box office" in (target / "static_index.html").read_text()
    # The catalog dbt docs shows was read from the warehouse: its types are those the YAML declares.
    catalog = json.loads((target / "catalog.json").read_text())
    assert "snapshot.ekino.film_daily_box_office_revisions" in catalog["nodes"]
    for uid in ("model.ekino.film_daily_box_office", "snapshot.ekino.film_daily_box_office_revisions"):
        declared = manifest["nodes"][uid]["columns"]
        built = catalog["nodes"][uid]["columns"]
        assert built and all(
            _same_type(declared[name]["data_type"], c["type"]) for name, c in built.items()
        ), uid
