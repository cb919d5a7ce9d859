"""The benchmark harness keeps working: its quick variant runs end to end on tiny sizes and writes every
figure. Speed is never asserted here (the machine is shared); `make bench` measures it. The parts run in
two files that test workers take side by side: this one runs extraction, dbt and the sensor,
test_harness_more.py the live mode, the API, integrity and the forecasts."""

from __future__ import annotations

import pytest

from benchmarks import run
from tests.benchmarks.quick import RATIOS_OF, assert_every_ratio_written, quick_results

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
PARTS = ("extract", "dbt", "sensor")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return quick_results(tmp_path_factory, PARTS)


def test_the_quick_run_writes_every_ratio_of_its_parts_with_its_goal(results):
    assert_every_ratio_written(results, PARTS)


def test_ours_lands_every_event_the_bare_fetch_sees(results):
    extraction = results["extraction"]
    assert extraction["ours"]["events"] == extraction["bare"]["events"] > 0
    assert extraction["ours"]["failed_cinema_days"] == 0
    assert extraction["ours_one_process"]["events"] == extraction["bare"]["events"]
    for name in ("bare", "ours", "ours_small"):
        figures = extraction[name]
        assert figures["events_per_second"] > 0 and figures["events_per_cpu_second"] > 0
        assert figures["peak_rss_mb"] > 0


def test_the_dbt_builds_succeed_in_both_states(results):
    dbt = results["dbt"]
    for n in (1, dbt["history_days"]):
        state = dbt[f"history_{n}"]
        assert state["history_build"]["failed_nodes"] == []
        assert state["new_day_build"]["failed_nodes"] == []
        assert state["new_day_build"]["events"] > 0
        assert state["history_build"]["events"] >= n * state["new_day_build"]["events"] // 2
    # The weekly run's build (data tests over the whole history) is timed by the full run only.
    assert "weekly_build_seconds" not in dbt[f"history_{dbt['history_days']}"]["new_day_build"]


def test_the_sensor_flags_the_silent_cinemas_it_was_given(results):
    sensor = results["sensor"]
    states = sensor["states"]
    assert sensor["flagged"] == states["api_down"] + states["no_sales"] > 0
    assert [tick["run_requests"] for tick in sensor["ticks"]] == [1, 0]


def test_every_goal_belongs_to_a_part_the_two_files_run():
    from tests.benchmarks.test_harness_more import PARTS as MORE

    assert set().union(*(RATIOS_OF[part] for part in (*PARTS, *MORE))) == set(run.GOALS)
