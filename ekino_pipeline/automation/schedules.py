"""The main job and its schedules: yesterday every early morning (with the full-history data tests
once a week), today every hour; and the film-week job, settling on Thursday mornings the week that
closed and, once more, the week before it (final by then, late refunds included)."""

from datetime import timedelta

import dagster as dg

from ekino_pipeline.calendar import BUSINESS_TZ
from ekino_pipeline.forecasting.assets import MODEL_GROUP as FORECAST_MODEL_GROUP
from ekino_pipeline.ingestion import declared_returns
from ekino_pipeline.live.assets import LIVE_GROUP
from ekino_pipeline.partitions import DAILY_PARTITIONS, FILM_WEEK_ASSETS, FILM_WEEK_PARTITIONS
from ekino_pipeline.settings import Settings
from ekino_pipeline.transformation.assets import ekino_dbt_models

daily_job = dg.define_asset_job(
    "daily_job",
    # Weekly assets have their own partitions and jobs; the live mode's are about today, now, and have
    # their own job (live/session.py).
    selection=dg.AssetSelection.all()
    - FILM_WEEK_ASSETS
    - declared_returns.WEEKLY_SELECTION
    - dg.AssetSelection.groups(LIVE_GROUP)
    # The forecast model and its backtest are retrained weekly by their own job (forecasting/).
    - dg.AssetSelection.groups(FORECAST_MODEL_GROUP),
    partitions_def=DAILY_PARTITIONS,
    description="Ingestion, loading and dbt for a business day (or a window of them).",
)

film_week_job = dg.define_asset_job(
    "film_week_job",
    selection=FILM_WEEK_ASSETS,
    partitions_def=FILM_WEEK_PARTITIONS,
    description="Settlement and distributor statements for a film week (Thursday to Wednesday).",
)

SETTINGS = Settings.from_env()
# The run of Monday's partition (the quietest day in cinemas) also tests the event-level models over
# the whole history, not only the rows the build read (dbt_project/macros/test_window.sql).
FULL_HISTORY_TESTS_WEEKDAY = 0


def _business_day(context: dg.ScheduleEvaluationContext):
    return context.scheduled_execution_time.astimezone(BUSINESS_TZ).date()


@dg.schedule(
    cron_schedule=SETTINGS.daily_cron,
    execution_timezone=str(BUSINESS_TZ),
    job=daily_job,
    default_status=SETTINGS.schedule_status,
    description="Every early morning, Asia/Almaty: the business day that just closed.",
)
def daily_schedule(context: dg.ScheduleEvaluationContext):
    day = _business_day(context) - timedelta(days=1)
    run_config = {}
    if day.weekday() == FULL_HISTORY_TESTS_WEEKDAY:
        run_config = {"ops": {ekino_dbt_models.op.name: {"config": {"full_history_tests": True}}}}
    return dg.RunRequest(run_key=f"daily-{day}", partition_key=day.isoformat(), run_config=run_config)


@dg.schedule(
    cron_schedule=SETTINGS.intraday_cron,
    execution_timezone=str(BUSINESS_TZ),
    job=daily_job,
    default_status=SETTINGS.schedule_status,
    description="Every hour: refreshes today's partition so the day's figures grow as it goes.",
)
def intraday_schedule(context: dg.ScheduleEvaluationContext):
    at = context.scheduled_execution_time.astimezone(BUSINESS_TZ)
    return dg.RunRequest(run_key=f"intraday-{at.isoformat()}", partition_key=at.date().isoformat())


# Thursday 07:00, after the daily run of 05:00 has loaded Wednesday (and the sales after its midnight).
FILM_WEEK_CRON = "0 7 * * 4"


@dg.schedule(
    cron_schedule=FILM_WEEK_CRON,
    execution_timezone=str(BUSINESS_TZ),
    job=film_week_job,
    default_status=SETTINGS.schedule_status,
    description=(
        "Thursday mornings, Asia/Almaty: settles the film week that closed (provisional while its last "
        "days close) and again the week before, which has turned final since; each change is a revision."
    ),
)
def film_week_schedule(context: dg.ScheduleEvaluationContext):
    closed = _business_day(context) - timedelta(days=7)
    for week in (closed, closed - timedelta(days=7)):
        yield dg.RunRequest(
            run_key=f"film-week-{week}-{_business_day(context)}", partition_key=week.isoformat()
        )
