"""The marts' documentation: analysts read the column descriptions in dbt docs and, through dagster-dbt,
in the Dagster UI, so every column a mart really has must be described, and nothing it lacks."""

from __future__ import annotations

import json

import pytest

from tests.transformation.dbt_helpers import query

MARTS_SCHEMA = "marts"


@pytest.fixture(scope="module")
def built_columns(built_scenario) -> dict[str, set[str]]:
    """The columns of every table dbt built in schema marts, by table."""
    rows = query(
        built_scenario.warehouse,
        "select table_name, column_name from information_schema.columns where table_schema = ?",
        MARTS_SCHEMA,
    )
    columns: dict[str, set[str]] = {}
    for row in rows:
        columns.setdefault(row["table_name"], set()).add(row["column_name"])
    return columns


@pytest.fixture(scope="module")
def documented_marts(built_scenario) -> dict[str, dict]:
    """The marts' model nodes of the manifest the scenario's build wrote (the project as it stands),
    by table name."""
    manifest = json.loads((built_scenario.warehouse.parent / "dbt" / "target" / "manifest.json").read_text())
    return {
        node.get("alias") or node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == MARTS_SCHEMA
    }


def test_every_column_of_every_mart_has_a_description(built_columns, documented_marts):
    assert built_columns, "the scenario built no table in schema marts"
    assert set(built_columns) <= set(documented_marts)
    undescribed = sorted(
        f"{table}.{column}"
        for table, columns in built_columns.items()
        for column in columns
        if not (documented_marts[table]["columns"].get(column, {}).get("description") or "").strip()
    )
    assert not undescribed, f"{len(undescribed)} mart columns have no description: {', '.join(undescribed)}"


def test_every_mart_says_what_one_of_its_rows_is(documented_marts):
    undescribed = sorted(name for name, node in documented_marts.items() if not node["description"].strip())
    assert not undescribed, f"marts with no description: {', '.join(undescribed)}"


def test_no_mart_describes_a_column_it_does_not_have(built_columns, documented_marts):
    # dbt accepts a column in YAML that the model does not output; an analyst would look for it in vain.
    phantom = sorted(
        f"{table}.{column}"
        for table, node in documented_marts.items()
        for column in node["columns"]
        if column not in built_columns.get(table, set())
    )
    assert not phantom, f"columns described in YAML but absent from the marts: {', '.join(phantom)}"
