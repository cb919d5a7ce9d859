"""A code location for the dead-run test: a slow step and a quick one, both in the `warehouse` pool,
beside the platform's dead-run sensor, checked every second. The slow step sets up the warehouse
resource, as every step of that pool does (so its run records its process). The test asks for a run by
creating a file named after its job in $EKINO_TEST_LAUNCH_DIR: the daemon launches it within a second
or two, without a `dagster job launch` that would load dagster once more on a busy machine; or it runs
`dagster asset materialize` on this location, as an operator would in a shell."""

import os
import time
from pathlib import Path

import dagster as dg

from ekino_pipeline.monitoring.dead_runs import build_dead_run_sensor
from ekino_pipeline.processes import step_process_dies_with_its_run
from ekino_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource


@dg.asset(pool=WAREHOUSE_POOL)
def slow_warehouse_step(warehouse: WarehouseResource) -> None:
    """Holds the warehouse slot until its run is killed; says where it runs (its pid and its run's)."""
    step_process_dies_with_its_run()
    Path(os.environ["EKINO_TEST_STEP_FILE"]).write_text(f"{os.getpid()} {os.getppid()}")
    time.sleep(600)


@dg.asset(pool=WAREHOUSE_POOL)
def quick_warehouse_step() -> int:
    return 1


slow_job = dg.define_asset_job("slow_job", selection=[slow_warehouse_step])
quick_job = dg.define_asset_job("quick_job", selection=[quick_warehouse_step])


@dg.sensor(
    jobs=[slow_job, quick_job], minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING
)
def runs_the_test_asks_for():
    folder = Path(os.environ["EKINO_TEST_LAUNCH_DIR"])
    return [dg.RunRequest(run_key=path.name, job_name=path.name) for path in sorted(folder.glob("*_job"))]


defs = dg.Definitions(
    assets=[slow_warehouse_step, quick_warehouse_step],
    jobs=[slow_job, quick_job],
    sensors=[build_dead_run_sensor(minimum_interval_seconds=1), runs_the_test_asks_for],
    # Never opened: the slow step only sets the resource up.
    resources={
        "warehouse": WarehouseResource(
            path=os.path.join(os.environ.get("EKINO_TEST_LAUNCH_DIR", "."), "w.duckdb")
        )
    },
)
