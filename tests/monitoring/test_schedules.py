"""Schedules map their ticks to business days in Asia/Almaty."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from ekino_pipeline.calendar import BUSINESS_TZ
from ekino_pipeline.monitoring.schedules import daily_schedule, intraday_schedule


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
