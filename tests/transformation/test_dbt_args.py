"""The dbt command line built from a partition window."""

import json
from datetime import date

import pytest
import yaml

from ekino_pipeline.calendar import PRESALE_HORIZON_DAYS
from ekino_pipeline.transformation.dbt_args import dbt_build_args
from ekino_pipeline.transformation.project import DBT_PROJECT_DIR


def _vars(args: list[str]) -> dict:
    return json.loads(args[args.index("--vars") + 1])


def test_a_single_partition_builds_its_day_as_both_ends_of_the_window():
    args = dbt_build_args(date(2024, 3, 1), date(2024, 3, 1))
    assert args[0] == "build"
    assert _vars(args) == {"start_date": "2024-03-01", "end_date": "2024-03-01"}


def test_a_backfill_passes_its_first_and_last_day_in_one_build():
    args = dbt_build_args(date(2024, 2, 28), date(2024, 3, 2))
    assert args.count("build") == 1
    assert _vars(args) == {"start_date": "2024-02-28", "end_date": "2024-03-02"}


def test_the_warehouse_resource_path_travels_to_the_profile_as_a_var():
    args = dbt_build_args(date(2024, 3, 1), date(2024, 3, 1), "/data/ekino/warehouse.duckdb")
    assert _vars(args)["warehouse_path"] == "/data/ekino/warehouse.duckdb"


def test_the_exports_folder_travels_as_a_var_for_the_models_reading_the_forecasts():
    args = dbt_build_args(date(2024, 3, 1), date(2024, 3, 1), exports_dir="/data/ekino/exports")
    assert _vars(args)["exports_dir"] == "/data/ekino/exports"
    assert "exports_dir" not in _vars(dbt_build_args(date(2024, 3, 1), date(2024, 3, 1)))


def test_a_partition_build_leaves_the_unit_tests_to_make_test():
    # Fixed inputs: the same verdict at every partition. test_dbt_build.py runs every one of them.
    args = dbt_build_args(date(2024, 3, 1), date(2024, 3, 1))
    assert args[args.index("--exclude-resource-type") + 1] == "unit_test"


def test_a_window_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="before it starts"):
        dbt_build_args(date(2024, 3, 2), date(2024, 3, 1))


def test_every_var_passed_has_a_default_so_plain_dbt_build_works():
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    # The paths default like the profile's warehouse: to the environment, then $EKINO_HOME.
    defaults = "".join(
        (DBT_PROJECT_DIR / path).read_text()
        for path in (
            "profiles.yml",
            "macros/published_forecasts.sql",
            "models/marts/funding/_forecasts__sources.yml",
        )
    )
    passed = _vars(
        dbt_build_args(
            date(2024, 3, 1), date(2024, 3, 2), "/tmp/w.duckdb", full_history_tests=True, exports_dir="/tmp/x"
        )
    )
    for name in passed:
        assert name in project["vars"] or f"var('{name}'," in defaults


def test_full_history_tests_are_asked_for_by_a_var_and_off_unless_asked():
    assert "full_history_tests" not in _vars(dbt_build_args(date(2024, 3, 1), date(2024, 3, 1)))
    args = dbt_build_args(date(2024, 3, 1), date(2024, 3, 1), full_history_tests=True)
    assert _vars(args)["full_history_tests"] is True
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["vars"]["full_history_tests"] is False


def test_the_presale_horizon_of_the_pulls_is_the_one_dbt_judges_completeness_by():
    # The lookback pulls (Python) and the completeness of a session day (dbt) must mean the same days.
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["vars"]["presale_horizon_days"] == PRESALE_HORIZON_DAYS
