"""The one partitioning of the platform: business days in Asia/Almaty.

`cinema_id` is a column, not a partition dimension: cinemas x days would reach ~100k partitions within a
few years. `end_offset=1` makes today's partition exist, so it can be refreshed intraday.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from ekino_pipeline.calendar import BUSINESS_TZ, daterange, parse_date
from ekino_pipeline.settings import Settings


def daily_partitions(start_date: date) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(
        start_date=start_date.isoformat(), timezone=str(BUSINESS_TZ), end_offset=1
    )


DAILY_PARTITIONS = daily_partitions(Settings.from_env().start_date)


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The business days of the run's partition window (one key, or a backfill's whole range)."""
    key_range = context.partition_key_range
    return list(daterange(parse_date(key_range.start), parse_date(key_range.end)))
