"""Schedules map their ticks to business days in Asia/Almaty."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from ekino_pipeline.automation.schedules import daily_schedule, intraday_schedule
from ekino_pipeline.calendar import BUSINESS_TZ


@pytest.mark.parametrize(
    ("tick_local", "expected"),
    [
        ((2024, 2, 29, 5, 0), "2024-02-28"),  # UTC+6
        ((2024, 3, 1, 5, 0), "2024-02-29"),  # the first morning at UTC+5 closes the 25-hour day
        ((2024, 3, 2, 5, 0), "2024-03-01"),
        ((2025, 1, 1, 5, 0), "2024-12-31"),
    ],
)
def test_the_daily_schedule_runs_yesterday_across_the_time_zone_change(tick_local, expected):
    tick = datetime(*tick_local, tzinfo=BUSINESS_TZ)
    context = dg.build_schedule_context(scheduled_execution_time=tick)
    request = daily_schedule(context)
    assert request.partition_key == expected


def test_the_daily_tick_of_the_change_fires_at_five_in_the_morning_almaty_time():
    ticks = daily_schedule.execution_timezone, daily_schedule.cron_schedule
    assert ticks == ("Asia/Almaty", "0 5 * * *")
    # 05:00 on 2024-03-01 at UTC+5 is 00:00 UTC, one hour later in UTC than the day before at UTC+6.
    before = datetime(2024, 2, 29, 5, 0, tzinfo=BUSINESS_TZ).astimezone(UTC)
    after = datetime(2024, 3, 1, 5, 0, tzinfo=BUSINESS_TZ).astimezone(UTC)
    assert (after - before).total_seconds() == 25 * 3600


def test_the_intraday_schedule_refreshes_today():
    tick = datetime(2024, 3, 1, 0, 15, tzinfo=BUSINESS_TZ)
    request = intraday_schedule(dg.build_schedule_context(scheduled_execution_time=tick))
    assert request.partition_key == "2024-03-01"


def test_once_a_week_the_daily_run_tests_the_whole_history_and_its_config_is_valid():
    from ekino_pipeline.definitions import defs
    from ekino_pipeline.transformation.assets import ekino_dbt_models

    requests = {}
    for day in range(2, 9):  # the ticks of 2024-03-02..08 build 2024-03-01 (a Friday)..03-07
        tick = datetime(2024, 3, day, 5, 0, tzinfo=BUSINESS_TZ)
        request = daily_schedule(dg.build_schedule_context(scheduled_execution_time=tick))
        requests[request.partition_key] = request.run_config
    weekly = {key: config for key, config in requests.items() if config}
    assert list(weekly) == ["2024-03-04"]  # Monday's partition, the quietest day in cinemas
    assert weekly["2024-03-04"] == {
        "ops": {ekino_dbt_models.op.name: {"config": {"full_history_tests": True}}}
    }
    job = defs.resolve_job_def("daily_job")
    assert dg.validate_run_config(job, weekly["2024-03-04"])


def test_thursday_morning_settles_the_week_that_closed_and_again_the_week_before():
    from ekino_pipeline.automation.schedules import film_week_schedule
    from ekino_pipeline.definitions import defs

    assert (film_week_schedule.execution_timezone, film_week_schedule.cron_schedule) == (
        "Asia/Almaty",
        "0 7 * * 4",
    )
    tick = datetime(2026, 11, 26, 7, 0, tzinfo=BUSINESS_TZ)  # a Thursday
    requests = list(film_week_schedule(dg.build_schedule_context(scheduled_execution_time=tick)))
    assert [r.partition_key for r in requests] == ["2026-11-19", "2026-11-12"]
    assert len({r.run_key for r in requests}) == 2
    weekly_keys = set(defs.resolve_job_def("film_week_job").asset_layer.executable_asset_keys)
    daily_keys = set(defs.resolve_job_def("daily_job").asset_layer.executable_asset_keys)
    assert {k.path[-1] for k in weekly_keys} == {
        "int_cinema_film_weeks_taxed",
        "settlement_weekly",
        "settlement_weekly_revisions",
    }
    assert (
        weekly_keys.isdisjoint(daily_keys) and dg.AssetKey(["marts", "film_daily_box_office"]) in daily_keys
    )
