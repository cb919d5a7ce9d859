"""The live dbt command line keeps dbt's partial parsing: the same arguments and target every minute."""

from __future__ import annotations

import json

from ekino_pipeline.live.dbt import live_build_args, live_target


def test_every_refresh_of_a_warehouse_passes_the_same_arguments_and_target(tmp_path):
    warehouse = str(tmp_path / "warehouse.duckdb")
    assert live_build_args(warehouse) == live_build_args(warehouse)
    assert live_target(warehouse) == live_target(warehouse)
    args = live_build_args(warehouse)
    assert args[0] == "build"
    # The live day and instant are rows of raw.live_state: a var that changed would re-parse the project.
    assert json.loads(args[args.index("--vars") + 1]) == {"warehouse_path": warehouse}


def test_two_warehouses_never_share_a_live_target(tmp_path):
    assert live_target(str(tmp_path / "a.duckdb")) != live_target(str(tmp_path / "b.duckdb"))
    assert live_target(str(tmp_path / "a.duckdb")).name.startswith("live-")


def test_the_live_build_leaves_the_unit_tests_to_make_test(tmp_path):
    args = live_build_args(str(tmp_path / "w.duckdb"))
    assert args[args.index("--exclude-resource-type") + 1] == "unit_test"
