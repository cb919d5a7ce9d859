"""The main job and its schedules: yesterday every early morning, today every hour."""

from datetime import timedelta

import dagster as dg

from ekino_pipeline.calendar import BUSINESS_TZ
from ekino_pipeline.partitions import DAILY_PARTITIONS
from ekino_pipeline.settings import Settings

daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.all(),
    partitions_def=DAILY_PARTITIONS,
    description="Ingestion, loading and dbt for a business day (or a window of them).",
)

SETTINGS = Settings.from_env()


def _business_day(context: dg.ScheduleEvaluationContext):
    return context.scheduled_execution_time.astimezone(BUSINESS_TZ).date()


@dg.schedule(
    cron_schedule=SETTINGS.daily_cron,
    execution_timezone=str(BUSINESS_TZ),
    job=daily_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every early morning, Asia/Almaty: the business day that just closed.",
)
def daily_schedule(context: dg.ScheduleEvaluationContext):
    day = _business_day(context) - timedelta(days=1)
    return dg.RunRequest(run_key=f"daily-{day}", partition_key=day.isoformat())


@dg.schedule(
    cron_schedule=SETTINGS.intraday_cron,
    execution_timezone=str(BUSINESS_TZ),
    job=daily_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour: refreshes today's partition so the day's figures grow as it goes.",
)
def intraday_schedule(context: dg.ScheduleEvaluationContext):
    at = context.scheduled_execution_time.astimezone(BUSINESS_TZ)
    return dg.RunRequest(run_key=f"intraday-{at.isoformat()}", partition_key=at.date().isoformat())
