"""The benchmark harness keeps working, its second half: the live mode, the API, integrity and the
forecasts on tiny sizes (test_harness.py runs extraction, dbt and the sensor beside it). Speed is never
asserted here (the machine is shared); `make bench` measures it."""

from __future__ import annotations

import pytest

from benchmarks import integrity
from tests.benchmarks.quick import assert_every_ratio_written, quick_results

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
PARTS = ("live", "api", "integrity", "forecast")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return quick_results(tmp_path_factory, PARTS)


def test_the_quick_run_writes_every_ratio_of_its_parts_with_its_goal(results):
    assert_every_ratio_written(results, PARTS)


def test_the_integrity_figures_count_every_injected_case_and_the_clean_controls(results):
    checked = results["integrity"]
    assert checked["cases"] == sum(v["cases"] for v in checked["by_scenario"].values()) > 0
    assert set(checked["by_scenario"]) == set(integrity.RULES)
    assert checked["controls"] > checked["cases"]
    assert results["ratios"]["integrity_recall"]["value"] == round(checked["found"] / checked["cases"], 3)


def test_the_live_figures_are_measured_at_the_pilot_rate_and_at_ten_times_it(results):
    live = results["live"]
    assert (live["pilot"]["rate"], live["ten_times"]["rate"]) == (1.0, 10.0)
    for figures in live.values():
        # The session ran as one process and logged each tick's figures.
        assert [tick["tick"] for tick in figures["ticks"]] == list(range(1, len(figures["ticks"]) + 1))
        assert len(figures["ticks"]) >= 2 and len(figures["refreshes_seen"]) >= 2
        assert 0 < figures["live_cpu_share_of_core"] < figures["cpu_seconds"]
        assert figures["warmup_cpu_seconds"] > 0
        assert all(tick["dbt_seconds"] > 0 and tick["tick_cpu_seconds"] > 0 for tick in figures["ticks"])
        fixed = figures["refresh_fixed_cost"]
        assert 0 < fixed["dbt_cpu_seconds_median"] <= fixed["tick_cpu_seconds_median"]
        assert len(figures["load_average"]["before"]) == 3
        # A sale cannot reach the mart before it happened, nor after the benchmark ended.
        if figures["sales_measured"]:
            assert 0 < figures["sale_to_mart_median_seconds"] <= figures["sale_to_mart_p95_seconds"]
            assert figures["sale_to_mart_max_seconds"] <= figures["minutes"] * 60
    assert live["ten_times"]["sales_measured"] > 0
    assert results["ratios"]["live_cpu_share_of_core"]["value"] == round(
        live["pilot"]["live_cpu_share_of_core"], 3
    )


def test_the_api_chart_and_the_static_file_are_served_to_100_clients(results):
    api = results["api"]
    assert api["clients"] == 100
    for contender in ("chart", "static"):
        assert all(r[contender]["requests"] > 0 for r in api["rounds"])
    assert api["chart_p99_ms"] > 0
