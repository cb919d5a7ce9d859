"""The quick benchmark run the harness tests share: which figures each part writes, and one run of parts."""

from __future__ import annotations

import importlib.util
import json
import traceback

from benchmarks import run

RATIOS_OF = {
    "extract": {"extract_vs_bare", "extract_vs_dlt", "rss_2000_vs_103"},
    "dbt": {"dbt_day_at_365_vs_1"},
    "sensor": {"sensor_share_of_budget"},
    "live": {"sale_to_mart_p95_seconds", "live_cpu_share_of_core"},
    "api": {"api_chart_vs_static"},
    "integrity": {"integrity_recall", "integrity_false_positive_rate"},
    "forecast": {"forecast_mape_day7", "forecast_vs_multiplier_day7", "forecast_interval_coverage_day7"},
}


def quick_results(tmp_path_factory, parts: tuple[str, ...]) -> dict:
    """`python -m benchmarks.run --quick --only <part>...`, its results.json read back."""
    work = tmp_path_factory.mktemp("bench")
    out = work / "results.json"
    only = [argument for part in parts for argument in ("--only", part)]
    try:
        run.main(["--quick", *only, "--out", str(out), "--workdir", str(work)])
    except Exception as error:
        # The summary line of a failed fixture shows only this message: it says where it failed.
        frame = traceback.extract_tb(error.__traceback__)[-1]
        where = f"{frame.filename}:{frame.lineno} in {frame.name}"
        raise RuntimeError(f"the quick bench of {', '.join(parts)} failed at {where}: {error!r}") from error
    return json.loads(out.read_text(encoding="utf-8"))


def assert_every_ratio_written(results: dict, parts: tuple[str, ...]) -> None:
    """Every goal is listed with its goal's text; the ratios of `parts` have a value and a verdict,
    the others none (not run), and so does extract_vs_dlt without dlt installed."""
    assert set(results["ratios"]) == set(run.GOALS)
    mine = set().union(*(RATIOS_OF[part] for part in parts))
    for name, verdict in results["ratios"].items():
        assert verdict["goal"] == run.goal_text(name)
        if name not in mine or (name == "extract_vs_dlt" and importlib.util.find_spec("dlt") is None):
            assert verdict["value"] is None
            continue
        if name == "integrity_false_positive_rate":  # none flagged is a rate of 0
            assert verdict["value"] >= 0
        else:
            assert verdict["value"] > 0
        assert verdict["met"] in (True, False)
