"""The partitionings of the platform: business days and film weeks, in Asia/Almaty.

`cinema_id` is a column, not a partition dimension: cinemas x days would reach ~100k partitions within a
few years. `end_offset=1` makes today's partition exist, so it can be refreshed intraday. A film week
(Thursday to Wednesday, see calendar.py) exists as a partition once it has closed: settlement is made on
weeks that ended.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from ekino_pipeline.calendar import BUSINESS_TZ, daterange, film_week_start, parse_date
from ekino_pipeline.settings import Settings


def daily_partitions(start_date: date) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(
        start_date=start_date.isoformat(), timezone=str(BUSINESS_TZ), end_offset=1
    )


def film_week_partitions(start_date: date) -> dg.WeeklyPartitionsDefinition:
    """Weeks keyed by their Thursday (`day_offset=4`, Sunday being 0), from the first whole film week."""
    first_thursday = film_week_start(start_date)
    if first_thursday < start_date:
        first_thursday += timedelta(days=7)
    return dg.WeeklyPartitionsDefinition(
        start_date=first_thursday.isoformat(), day_offset=4, timezone=str(BUSINESS_TZ)
    )


DAILY_PARTITIONS = daily_partitions(Settings.from_env().start_date)
FILM_WEEK_PARTITIONS = film_week_partitions(Settings.from_env().start_date)
# The assets partitioned by film week: the dbt models tagged film_week (dagster-dbt turns a dbt tag into
# an asset tag). Jobs over business days leave them out, since a job has one partitioning.
FILM_WEEK_ASSETS = dg.AssetSelection.tag("film_week", "")
# The dbt models built from the published forecasts (dbt tag after_forecasts), after them in the daily job.
AFTER_FORECASTS_ASSETS = dg.AssetSelection.tag("after_forecasts", "")


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The business days of the run's partition window (one key, or a backfill's whole range)."""
    key_range = context.partition_key_range
    return list(daterange(parse_date(key_range.start), parse_date(key_range.end)))
