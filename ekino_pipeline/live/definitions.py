"""The live mode's definitions: today's session (a run per business day ticking every minute), its
one-tick assets and live dbt models, and the live tables' own DuckDB file."""

import dagster as dg

from ekino_pipeline.live import assets, dbt, session
from ekino_pipeline.settings import Settings
from ekino_pipeline.warehouse import WarehouseResource


def resources(settings: Settings) -> dict:
    return {"live_warehouse": WarehouseResource(path=str(settings.live_path))}


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[*assets.ASSETS, *dbt.ASSETS],
        jobs=[session.live_job],
        schedules=[session.live_schedule],
        resources=resources(settings),
    )
