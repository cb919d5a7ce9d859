"""Freshness of the marts: what analysts read must be rebuilt every morning.

The daily run starts at 05:00 in Asia/Almaty; by 07:00 every mart must have been materialized since
04:00 (the intraday refresh keeps it fresher still). A mart that misses it shows as stale in the UI.
"""

from datetime import timedelta

import dagster as dg

from ekino_pipeline.calendar import BUSINESS_TZ
from ekino_pipeline.partitions import FILM_WEEK_PARTITIONS

MARTS_GROUP = "marts"
MARTS_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 7 * * *", lower_bound_delta=timedelta(hours=3), timezone=str(BUSINESS_TZ)
)

# Marts settled per film week are due on Thursday by 09:00 (the weekly run starts at 07:00).
FILM_WEEK_MARTS_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 9 * * 4", lower_bound_delta=timedelta(hours=3), timezone=str(BUSINESS_TZ)
)


def with_mart_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The spec, a mart's carrying the freshness policy of its cadence (daily or film week)."""
    if spec.group_name != MARTS_GROUP:
        return spec
    weekly = spec.partitions_def == FILM_WEEK_PARTITIONS
    return spec.replace_attributes(freshness_policy=FILM_WEEK_MARTS_FRESHNESS if weekly else MARTS_FRESHNESS)
