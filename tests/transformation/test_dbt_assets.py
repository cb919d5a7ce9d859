"""The dbt models as Dagster assets: groups, upstream keys, checks, and a partition materialized for real
with its exports."""

from __future__ import annotations

import shutil
from datetime import date

import dagster as dg
import duckdb
import pyarrow.parquet as pq

from ekino_pipeline import publications
from ekino_pipeline.definitions import build_definitions
from ekino_pipeline.ingestion.loading import raw_declared_returns, raw_tables
from ekino_pipeline.settings import Settings
from ekino_pipeline.transformation.assets import (
    DAILY_EXCLUDE,
    ekino_dbt_models,
    ekino_film_week_models,
    ekino_forecast_models,
    top_films_markdown,
    transformation_resources,
)
from ekino_pipeline.warehouse import WarehouseResource
from tests.transformation.dbt_helpers import ISSUE_MARTS, query, run_dbt


def _groups() -> dict[str, str]:
    return {key.path[-1]: group for key, group in ekino_dbt_models.group_names_by_key.items()}


def test_models_are_grouped_by_their_layer_folder():
    groups = _groups()
    assert set(groups.values()) == {"staging", "intermediate", "marts", "snapshots"}
    assert all(groups[name] == "marts" for name in ISSUE_MARTS)
    assert all(group == "staging" for name, group in groups.items() if name.startswith("stg_"))
    assert all(group == "intermediate" for name, group in groups.items() if name.startswith("int_"))


def test_the_raw_sources_are_the_loaders_own_assets():
    upstream = {dep.asset_key for spec in ekino_dbt_models.specs for dep in spec.deps} - set(
        ekino_dbt_models.keys
    )
    # Besides the loaders' tables, the daily models read one weekly one: funding_outcomes takes the
    # rental due on funded films from settlement_weekly.
    weekly = upstream & set(ekino_film_week_models.keys)
    assert {key.path[-1] for key in weekly} == {"settlement_weekly"}
    assert upstream - weekly <= set(raw_tables.keys) | set(raw_declared_returns.keys)


def test_the_models_reading_the_forecasts_follow_them_in_an_asset_of_their_own():
    # The forecasts read the daily marts; funding_outcomes_forecast reads the forecasts (a dbt source
    # keyed to their asset): a third dbt asset keeps the daily job's graph acyclic.
    assert {key.path[-1] for key in ekino_forecast_models.keys} == {"funding_outcomes_forecast"}
    upstream = {dep.asset_key for spec in ekino_forecast_models.specs for dep in spec.deps}
    assert dg.AssetKey("film_forecasts") in upstream
    assert not set(ekino_forecast_models.keys) & set(ekino_dbt_models.keys)
    from ekino_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    assert set(ekino_dbt_models.keys) & graph.get(dg.AssetKey("film_forecasts")).parent_keys
    nodes = [node.name for node in defs.resolve_job_def("daily_job").graph.node_defs]
    assert {ekino_dbt_models.op.name, "film_forecasts", ekino_forecast_models.op.name} <= set(nodes)


def test_dbt_tests_become_asset_checks_on_the_model_they_test():
    checks = {(key.asset_key.path[-1], key.name) for key in ekino_dbt_models.check_keys}
    assert (
        "film_daily_box_office",
        "unique_combination_film_daily_box_office_film_id__business_date",
    ) in checks
    assert ("national_daily", "assert_film_days_add_up_to_the_nation") in checks
    assert ("film_daily_box_office", "assert_negative_gross_is_explained") in checks


def test_the_definitions_load_with_the_dbt_assets_and_their_resources(tmp_path):
    defs = build_definitions(Settings.from_env({"EKINO_HOME": str(tmp_path)}))
    dg.Definitions.validate_loadable(defs)
    keys = {spec.key for spec in defs.resolve_all_asset_specs()}
    assert set(ekino_dbt_models.keys) <= keys
    assert {"dbt", "exports"} <= set(defs.resources)


def _materialize(home, partition: str) -> dg.ExecuteInProcessResult:
    settings = Settings.from_env({"EKINO_HOME": str(home)})
    resources = {
        **transformation_resources(settings),
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
    }
    return dg.materialize(
        [ekino_dbt_models],
        partition_key=partition,
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_a_partition_builds_then_publishes_every_mart_and_a_warehouse_copy(built_scenario, tmp_path):
    shutil.copy(built_scenario.warehouse, tmp_path / "warehouse.duckdb")
    # Built as of 2024-03-03, when its last days were open; this build stands on today, and its window
    # (session days from 2024-03-09) does not reach them: they close all the same, final, and keep the
    # exclusions they were built with (2024-03-01 missed a cinema).
    result = _materialize(tmp_path, "2024-03-10")
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)
    for name in ("film_daily_box_office", "film_breakdowns_daily", "region_daily", "national_daily"):
        rows = query(tmp_path / "warehouse.duckdb", f"select * from marts.{name}")
        assert rows and not any(r["is_provisional"] or r["provisional_reasons"] for r in rows)
    [mar1] = query(
        tmp_path / "warehouse.duckdb", "select * from marts.national_daily where business_date = '2024-03-01'"
    )
    assert mar1["exclusions"] == ["cinemas_missing"]

    exports = tmp_path / "exports"
    marts = {
        r["table_name"]
        for r in query(
            tmp_path / "warehouse.duckdb",
            "select table_name from information_schema.tables where table_schema = 'marts'",
        )
    }
    assert marts >= ISSUE_MARTS
    assert {p.stem for p in exports.glob("*.parquet")} == marts
    assert not list(exports.glob(".*"))  # no temporary file left behind
    region_daily = pq.read_table(exports / "region_daily.parquet")
    assert str(region_daily.schema.field("gross_kzt").type) == "decimal128(18, 2)"
    # The build's marts are one publication, the one the open data API reads.
    publication = publications.current(exports)
    assert set(publication.marts) == marts
    assert publication.path("region_daily").stat().st_ino == (exports / "region_daily.parquet").stat().st_ino

    copy = duckdb.connect(str(exports / "warehouse.duckdb"), read_only=True)
    try:
        cursor = copy.cursor()
        cursor.execute("select count(*) from marts.region_daily")
        assert cursor.fetchone()[0] == region_daily.num_rows
        cursor.execute("select count(*) from staging.stg_raw__ticket_events")
        assert cursor.fetchone()[0] == len(built_scenario.fixture.events)
    finally:
        copy.close()

    materialized = {
        e.asset_key.path[-1]: e.metadata
        for e in result.get_asset_materialization_events()
        for e in [e.materialization]
    }
    # The marts settled per film week are published by this build too, and described by their own asset.
    # So are the marts built after the forecasts (by their own asset, in the same daily run).
    daily_marts = marts - {
        key.path[-1] for key in (*ekino_film_week_models.keys, *ekino_forecast_models.keys)
    }
    assert daily_marts <= set(materialized)
    for name in daily_marts:
        rows = query(tmp_path / "warehouse.duckdb", f"select count(*) as n from marts.{name}")[0]["n"]
        assert materialized[name]["dagster/row_count"].value == rows, name
        assert materialized[name]["export_path"].value == str(exports / f"{name}.parquet")
    films = materialized["film_daily_box_office"]
    assert films["dagster/partition_row_count"].value == len(
        query(
            tmp_path / "warehouse.duckdb",
            "select 1 from marts.film_daily_box_office where business_date = '2024-03-10'",
        )
    )
    assert films["top_films"].value.startswith("No screenings on record for 2024-03-10")
    assert films["coverage"].value == "2024-03-10: no screenings on record"
    assert "top_films" not in materialized["national_daily"]


def test_a_failing_build_publishes_nothing(built_scenario, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built_scenario.warehouse, warehouse)
    con = duckdb.connect(str(warehouse))
    try:  # the same event landed twice would count twice: the unique test must stop the build
        con.execute("insert into raw.ticket_events select * from raw.ticket_events limit 1")
    finally:
        con.close()
    result = _materialize(tmp_path, "2024-03-02")
    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [e.check_name for e in failed] == ["unique_stg_raw__ticket_events_event_id"]
    assert not (tmp_path / "exports").exists()


def test_the_top_films_of_the_day_come_with_the_coverage_behind_them(built_scenario):
    text = top_films_markdown(WarehouseResource(path=str(built_scenario.warehouse)), date(2024, 3, 2))
    assert text.startswith(
        "**2024-03-02**, provisional (day_open, cinemas_silent, presales_not_loaded, late_sales_not_loaded, "
        "records_quarantined): 66 of 68 connected cinemas reported."
    )
    assert "| 1 | Broken Garden | 91,000.00 | 46 | 3 |" in text


def test_a_run_of_some_daily_models_leaves_out_the_tests_of_weekly_models(tmp_path):
    # quarantine_replay_job runs some of the daily models, named one by one; dbt then adds every test
    # touching one of them, including settlement_weekly's relationship to the cinemas, whose weekly
    # table may not exist yet. The daily asset's exclusion keeps such tests out.
    def tests_selected(*exclude: str) -> set[str]:
        listed = run_dbt(
            tmp_path / "warehouse.duckdb",
            "ls",
            "--resource-type",
            "test",
            "--output",
            "name",
            "--quiet",
            "--select",
            "stg_raw__cinemas",
            *exclude,
        )
        return set(listed.stdout.split())

    weekly_test = "relationships_settlement_weekly_cinema_id__cinema_id__ref_stg_raw__cinemas_"
    assert weekly_test in tests_selected()
    assert weekly_test not in tests_selected("--exclude", DAILY_EXCLUDE)
