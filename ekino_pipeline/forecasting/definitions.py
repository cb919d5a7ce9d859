"""The forecasts' definitions: the daily forecasts and their accuracy (in `daily_job`), and the model
with its backtest in a job of their own, run weekly (Thursday mornings, once the week has settled)."""

import dagster as dg

from ekino_pipeline.calendar import BUSINESS_TZ
from ekino_pipeline.forecasting import assets
from ekino_pipeline.settings import Settings

FORECAST_MODEL_CRON = "0 9 * * 4"

forecast_model_job = dg.define_asset_job(
    "forecast_model_job",
    selection=dg.AssetSelection.groups(assets.MODEL_GROUP),
    description="The forecast model on every run that has ended, and its rolling-origin backtest.",
)


def build_defs(settings: Settings) -> dg.Definitions:
    schedule = dg.ScheduleDefinition(
        name="forecast_model_schedule",
        cron_schedule=FORECAST_MODEL_CRON,
        execution_timezone=str(BUSINESS_TZ),
        job=forecast_model_job,
        default_status=settings.schedule_status,
        description="Thursday mornings: the model retrained and backtested on the runs ended so far.",
    )
    return dg.Definitions(
        assets=[*assets.DAILY_ASSETS, *assets.MODEL_ASSETS], jobs=[forecast_model_job], schedules=[schedule]
    )
