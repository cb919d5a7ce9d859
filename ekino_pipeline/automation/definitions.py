"""Automation's definitions: the daily job and its schedules (yesterday every morning, today every
hour), and the film-week job settling on Thursdays."""

import dagster as dg

from ekino_pipeline.automation import schedules
from ekino_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        jobs=[schedules.daily_job, schedules.film_week_job],
        schedules=[schedules.daily_schedule, schedules.intraday_schedule, schedules.film_week_schedule],
    )
