"""The live job and its schedule: every minute (Asia/Almaty), today's increments, loaded, and the live
marts refreshed, apart from the daily job.

A tick is skipped while a live run is still queued or running, so live runs never pile up behind a
daily run that holds the warehouse pool: the live job waits for the pool, the daily job waits at most
for one live load or one live dbt build (seconds), never for a queue of them.
"""

from __future__ import annotations

import dagster as dg

from ekino_pipeline.calendar import BUSINESS_TZ
from ekino_pipeline.ingestion.live_assets import LIVE_GROUP

LIVE_JOB = "live_job"
LIVE_CRON = "* * * * *"
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]

live_job = dg.define_asset_job(
    LIVE_JOB,
    selection=dg.AssetSelection.groups(LIVE_GROUP),
    description="Live mode: today's increments of every connected cinema, loaded, and the live marts.",
)


@dg.schedule(
    cron_schedule=LIVE_CRON,
    execution_timezone=str(BUSINESS_TZ),
    job=live_job,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every minute: the live marts of today (skipped while the previous live run is not done).",
)
def live_schedule(context: dg.ScheduleEvaluationContext):
    running = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=LIVE_JOB, statuses=IN_PROGRESS), limit=1
    )
    if running:
        return dg.SkipReason(f"live run {running[0].dagster_run.run_id} is still in progress")
    at = context.scheduled_execution_time.astimezone(BUSINESS_TZ)
    return dg.RunRequest(run_key=f"live-{at.isoformat()}")
