"""The trade charts on the built scenario: each period is the sum of its days, the regions of a film's
day add up to it, year to date runs over the tracked days and says where it starts, and shares sum to 1."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from ekino_pipeline.calendar import film_week_start, weekend_start
from ekino_pipeline.transformation.assets import ekino_dbt_models
from tests.transformation.conftest import AS_OF
from tests.transformation.dbt_helpers import mart, query, run_dbt
from tests.transformation.scenarios import FEB29, HISTORY, MAR2

CHARTS = {
    "film_weekly_box_office": "film_id, film_week_start",
    "film_weekend_box_office": "film_id, weekend_start",
    "film_region_daily": "film_id, region_code, business_date",
    "film_year_to_date": "film_id, through_date",
    "distributor_year_to_date": "distributor, through_date",
    "distributor_market_share": "period, period_start_date, distributor",
}


def _period_sums(daily: list[dict], period_start) -> dict:
    sums = defaultdict(lambda: {"gross_kzt": Decimal("0.00"), "admissions": 0, "n_screenings": 0})
    for row in daily:
        start = period_start(row["business_date"])
        if start is None:
            continue
        key = (row["film_id"], start)
        for column in sums[key]:
            sums[key][column] += row[column]
    return dict(sums)


def _chart(built, name: str, start_column: str) -> dict:
    return {
        (r["film_id"], r[start_column]): {c: r[c] for c in ("gross_kzt", "admissions", "n_screenings")}
        for r in mart(built.warehouse, name, CHARTS[name])
    }


def test_a_film_week_equals_its_seven_days_of_film_daily_box_office(built_scenario):
    daily = mart(built_scenario.warehouse, "film_daily_box_office", "1, 2")
    weekly = _chart(built_scenario, "film_weekly_box_office", "film_week_start")
    assert weekly == _period_sums(daily, film_week_start)
    assert sum(r["gross_kzt"] for r in weekly.values()) == sum(r["gross_kzt"] for r in daily)


def test_a_weekend_equals_its_three_days(built_scenario):
    daily = mart(built_scenario.warehouse, "film_daily_box_office", "1, 2")
    weekends = _chart(built_scenario, "film_weekend_box_office", "weekend_start")
    assert weekends == _period_sums(daily, weekend_start)
    # The scenario's Thursday 29 February is in the film week but in no weekend.
    assert sum(r["gross_kzt"] for r in weekends.values()) == sum(
        r["gross_kzt"] for r in daily if r["business_date"] != FEB29
    )


def test_a_week_with_days_not_yet_run_is_provisional_and_says_so(built_scenario):
    rows = mart(built_scenario.warehouse, "film_weekly_box_office", CHARTS["film_weekly_box_office"])
    week = [r for r in rows if r["film_week_start"] == FEB29]
    assert week, "the scenario's last film week has no chart"
    for row in week:
        # 29 February to 2 March are on record; 3 to 6 March were not run.
        assert (row["days_covered"], row["days_in_period"], row["film_week_end"]) == (3, 7, date(2024, 3, 6))
        assert row["is_provisional"]
        assert row["provisional_reasons"][0] == "day_open"
        assert row["provisional_reasons"][-1] == "days_not_loaded"
    assert sorted(r["chart_rank"] for r in week) == list(range(1, len(week) + 1))
    assert all(r["is_new_entry"] and r["rank_change"] is None for r in week)


def test_the_regions_of_a_films_day_add_up_to_its_national_day(built_scenario):
    daily = {
        (r["film_id"], r["business_date"]): (r["gross_kzt"], r["admissions"], r["n_screenings"])
        for r in mart(built_scenario.warehouse, "film_daily_box_office", "1, 2")
    }
    summed = defaultdict(lambda: (Decimal("0.00"), 0, 0))
    regions = mart(built_scenario.warehouse, "film_region_daily", CHARTS["film_region_daily"])
    for r in regions:
        g, a, n = summed[(r["film_id"], r["business_date"])]
        summed[(r["film_id"], r["business_date"])] = (
            g + r["gross_kzt"],
            a + r["admissions"],
            n + r["n_screenings"],
        )
    assert dict(summed) == daily
    region_days = {
        (r["region_code"], r["business_date"]): r
        for r in mart(built_scenario.warehouse, "region_daily", "region_code, business_date")
    }
    for r in regions:
        region = region_days[(r["region_code"], r["business_date"])]
        assert (r["is_provisional"], r["provisional_reasons"], r["exclusions"], r["cinemas_reporting"]) == (
            region["is_provisional"],
            region["provisional_reasons"],
            region["exclusions"],
            region["cinemas_reporting"],
        )


def test_year_to_date_runs_over_the_tracked_days_and_says_where_they_start(built_scenario):
    daily = mart(built_scenario.warehouse, "film_daily_box_office", "1, 2")
    ytd = mart(built_scenario.warehouse, "film_year_to_date", CHARTS["film_year_to_date"])
    assert ytd
    for row in ytd:
        expected = sum(
            (
                d["gross_kzt"]
                for d in daily
                if d["film_id"] == row["film_id"] and d["business_date"] <= row["through_date"]
            ),
            Decimal("0.00"),
        )
        assert row["ytd_gross_kzt"] == expected
        assert (row["gross_source"], row["first_tracked_date"]) == ("tracked", HISTORY[0])
        # Tracking began on 20 February: the year to date lacks January and says so.
        assert row["exclusions"][-1] == "days_not_loaded"
    last = [r for r in ytd if r["through_date"] == MAR2]
    assert sorted(r["ytd_rank"] for r in last) == list(range(1, len(last) + 1))
    by_distributor = defaultdict(Decimal)
    for r in last:
        by_distributor[r["distributor"] or "unknown"] += r["ytd_gross_kzt"]
    distributors = query(
        built_scenario.warehouse,
        "select distributor, ytd_gross_kzt from marts.distributor_year_to_date where through_date = ?",
        MAR2,
    )
    assert {r["distributor"]: r["ytd_gross_kzt"] for r in distributors} == dict(by_distributor)


def test_distributor_market_shares_sum_to_one_and_their_gross_to_the_films(built_scenario):
    shares = mart(built_scenario.warehouse, "distributor_market_share", CHARTS["distributor_market_share"])
    weekly = mart(built_scenario.warehouse, "film_weekly_box_office", CHARTS["film_weekly_box_office"])
    periods = defaultdict(list)
    for r in shares:
        periods[(r["period"], r["period_start_date"])].append(r)
    assert {p for p, _ in periods} == {"film_week", "year"}
    for (period, start), rows in periods.items():
        assert abs(sum(r["gross_share"] for r in rows) - 1) <= Decimal("0.00005") * len(rows)
        assert abs(sum(r["admissions_share"] for r in rows) - 1) <= Decimal("0.00005") * len(rows)
        assert {r["total_gross_kzt"] for r in rows} == {sum(r["gross_kzt"] for r in rows)}
        if period == "film_week":
            assert rows[0]["total_gross_kzt"] == sum(
                w["gross_kzt"] for w in weekly if w["film_week_start"] == start
            )


def test_a_window_inside_a_week_still_sums_the_whole_week(built_scenario, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built_scenario.warehouse, warehouse)
    # The window's first session day is Friday 1 March: Thursday 29 February, in the same film week,
    # lies outside it, and the year to date needs every day since 20 February.
    day = FEB29 + timedelta(days=2)
    run_dbt(
        warehouse,
        "run",  # the figures only: the charts' tests run in the scenario's build
        "--select",
        "path:models/marts/charts",
        start_date=day.isoformat(),
        end_date=day.isoformat(),
        as_of_date=AS_OF,
    )
    for name, order in CHARTS.items():
        assert mart(warehouse, name, order) == mart(built_scenario.warehouse, name, order), name


def test_the_charts_invariants_are_asset_checks_of_the_charts():
    checks = {(key.asset_key.path[-1], key.name) for key in ekino_dbt_models.check_keys}
    assert {
        ("film_weekly_box_office", "assert_chart_periods_add_up_to_their_days"),
        ("distributor_market_share", "assert_market_shares_sum_to_one"),
        ("film_weekly_box_office", "unique_combination_film_weekly_box_office_film_id__film_week_start"),
    } <= checks
