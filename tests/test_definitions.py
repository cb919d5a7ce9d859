"""The whole code location: it loads, validates and holds what the rooms promise."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg

from ekino_pipeline.definitions import defs
from ekino_pipeline.monitoring.freshness import FILM_WEEK_MARTS_FRESHNESS, MARTS_FRESHNESS
from tests.transformation.dbt_helpers import ISSUE_MARTS


def test_the_definitions_validate_from_the_command_line(tmp_path):
    proc = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "dagster"),
            "definitions",
            "validate",
            "-m",
            "ekino_pipeline.definitions",
        ],
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


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
