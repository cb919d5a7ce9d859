"""The whole code location: it loads, validates and holds what the rooms promise."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg

from ekino_pipeline.definitions import defs
from ekino_pipeline.partitions import FILM_WEEK_ASSETS
from ekino_pipeline.transformation.freshness import FILM_WEEK_MARTS_FRESHNESS, MARTS_FRESHNESS
from ekino_pipeline.transformation.project import dbt_project
from tests.transformation.dbt_helpers import ISSUE_MARTS

ROOT = Path(__file__).parent.parent


def _dg(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """`dg` from the repository's root, as a developer runs it (its [tool.dg] section names the code
    location), on a fresh Dagster instance and e-Kino home."""
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "dg"), *args],
        cwd=ROOT,
        env={
            **os.environ,
            "DAGSTER_HOME": str(tmp_path / "dagster"),
            "EKINO_HOME": str(tmp_path / "ekino"),
            "VIRTUAL_ENV": sys.prefix,  # the project's environment is the active one
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_dg_check_defs_loads_and_validates_the_code_location(tmp_path):
    (tmp_path / "dagster").mkdir()
    proc = _dg("check", "defs", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "All definitions loaded successfully." in proc.stdout


def test_dg_list_defs_lists_the_jobs_schedules_and_sensors_of_every_room(tmp_path):
    (tmp_path / "dagster").mkdir()
    proc = _dg("list", "defs", "--json", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = json.loads(proc.stdout)
    jobs = {job["name"] for job in listed["jobs"]}
    assert jobs == {job.name for job in defs.jobs} and {"daily_job", "live_job"} <= jobs
    assert {s["name"] for s in listed["schedules"]} == {s.name for s in defs.schedules}
    assert {s["name"] for s in listed["sensors"]} == {s.name for s in defs.sensors}
    assert {a["asset_key"] for a in listed["assets"]} == {
        key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()
    }


def test_ingestion_assets_are_daily_in_almaty_and_checked():
    graph = defs.resolve_asset_graph()
    events = dg.AssetKey(["landing", "ticket_events"])
    node = graph.get(events)
    assert node.group_name == "ingestion"
    assert node.partitions_def.timezone == "Asia/Almaty"
    checks = {key.name for key in graph.asset_check_keys if key.asset_key == events}
    assert checks == {"served_equals_landed_quarantined_duplicates", "connected_cinemas_reporting"}
    assert dg.AssetKey(["raw", "ticket_events"]) in graph.get_all_asset_keys()


def test_every_mart_must_be_fresh_by_seven_in_the_morning_and_nothing_else_carries_the_policy():
    specs = [spec for assets in defs.assets for spec in getattr(assets, "specs", [])]
    marts = [s for s in specs if s.group_name == "marts"]
    assert {s.key.path[-1] for s in marts} >= ISSUE_MARTS
    # Marts settled per film week are due on Thursday mornings instead.
    weekly = {s.key.path[-1] for s in marts if s.freshness_policy == FILM_WEEK_MARTS_FRESHNESS}
    assert weekly == {"settlement_weekly"}
    assert {s.freshness_policy for s in marts if s.key.path[-1] not in weekly} == {MARTS_FRESHNESS}
    assert all(s.freshness_policy is None for s in specs if s.group_name != "marts")


def _specs() -> list[dg.AssetSpec]:
    return list(defs.resolve_all_asset_specs())


def test_no_asset_description_shows_sql():
    # dagster-dbt appended every model's raw SQL to its description (28 began with it).
    sql = re.compile(r"\bselect\b|\bfrom\s+\{\{|\{\{|\{%|```sql", re.IGNORECASE)
    described = [s for s in _specs() if s.description]
    assert len(described) == len(_specs())
    assert [s.key.to_user_string() for s in described if sql.search(s.description)] == []


def test_every_dbt_asset_lists_the_columns_of_its_yaml_with_their_types_and_descriptions():
    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    models = {
        node["name"]: node
        for node in manifest["nodes"].values()
        # An ephemeral model is inlined into the models that read it: no table, no asset.
        if node["resource_type"] in ("model", "snapshot") and node["config"]["materialized"] != "ephemeral"
    }
    dbt_specs = [s for s in _specs() if "dbt" in s.kinds]
    assert {s.key.path[-1] for s in dbt_specs} == set(models)
    for spec in dbt_specs:
        node = models[spec.key.path[-1]]
        # The DbtProject showed on every page as "[DbtProject] (unserializable)".
        assert "dagster_dbt/project" not in spec.metadata
        if not node["columns"]:
            continue
        value = spec.metadata["dagster/column_schema"]
        schema = getattr(value, "schema", value)
        assert [c.name for c in schema.columns] == list(node["columns"]), spec.key
        for column in schema.columns:
            declared = node["columns"][column.name]
            assert column.type == (declared.get("data_type") or "").lower()
            assert column.description == (declared.get("description") or None)


def test_owners_and_tags_come_from_the_dbt_project_and_the_python_assets_definitions():
    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    specs = {s.key: s for s in _specs()}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["config"]["materialized"] == "ephemeral":
            continue
        spec = next(s for s in specs.values() if s.key.path[-1] == node["name"] and "dbt" in s.kinds)
        assert set(node["tags"]) <= set(spec.tags), spec.key
        meta = {**node.get("meta", {}), **node["config"].get("meta", {})}
        owners = (meta.get("dagster") or {}).get("owners") or []
        assert len(spec.owners) == len(owners if isinstance(owners, list) else [owners])
    python = [s for s in specs.values() if "dbt" not in s.kinds]
    assert python and all(s.owners for s in python), [s.key for s in python if not s.owners]
    tagged = {k.to_user_string() for k, s in specs.items() if "ingestion" in s.tags}
    assert {
        "landing/ticket_events",
        "landing/sessions",
        "landing/registry_cinemas",
        "raw/ticket_events",
    } <= tagged
    # The selections of the jobs still hold: film weeks by their dbt tag, the live models by theirs.
    graph = defs.resolve_asset_graph()
    weekly = FILM_WEEK_ASSETS.resolve(graph)
    assert {k.path[-1] for k in weekly} == {
        n["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] in ("model", "snapshot") and "film_week" in n["tags"]
    }
    assert all("live" in specs[k].tags for k in dg.AssetSelection.tag("live", "").resolve(graph))


def test_a_quarantine_replay_leaves_the_forecasts_and_their_marts_to_the_next_daily_run():
    replay = set(defs.get_job_def("quarantine_replay_job").graph.node_names())
    daily = set(defs.get_job_def("daily_job").graph.node_names())
    assert {"ekino_dbt_models", "raw_tables"} <= replay
    assert {"film_forecasts", "ekino_forecast_models"} <= daily
    assert not {"film_forecasts", "ekino_forecast_models"} & replay
