"""A code location for the dead-run test: a slow step and a quick one, both in the `warehouse` pool,
beside the platform's dead-run sensor, checked every second."""

import os
import time
from pathlib import Path

import dagster as dg

from ekino_pipeline.monitoring.dead_runs import build_dead_run_sensor
from ekino_pipeline.parent_death import step_process_dies_with_its_run
from ekino_pipeline.warehouse import WAREHOUSE_POOL


@dg.asset(pool=WAREHOUSE_POOL)
def slow_warehouse_step() -> None:
    """Holds the warehouse slot until its run is killed; says where it runs (its pid and its run's)."""
    step_process_dies_with_its_run()
    Path(os.environ["EKINO_TEST_STEP_FILE"]).write_text(f"{os.getpid()} {os.getppid()}")
    time.sleep(600)


@dg.asset(pool=WAREHOUSE_POOL)
def quick_warehouse_step() -> int:
    return 1


defs = dg.Definitions(
    assets=[slow_warehouse_step, quick_warehouse_step],
    jobs=[
        dg.define_asset_job("slow_job", selection=[slow_warehouse_step]),
        dg.define_asset_job("quick_job", selection=[quick_warehouse_step]),
    ],
    sensors=[build_dead_run_sensor(minimum_interval_seconds=1)],
)
