"""Whether schedules and sensors start running: `EKINO_AUTOMATIONS` (`running` or `stopped`).

Production sets `EKINO_AUTOMATIONS=running` (deploy/production); everywhere else they start stopped,
so that `make ui` on a laptop does not begin pulling from the exchange within minutes. An operator
starts one in the UI when wanted; the instance then remembers it. `dead_run_sensor` always runs: it only
marks failed the runs whose process is gone, so that their warehouse pool slot is freed. `live_schedule`
is always off until started: the live mode is a choice of its own.
"""

from __future__ import annotations

import dagster as dg

from ekino_pipeline.settings import Settings


def schedule_status(settings: Settings) -> dg.DefaultScheduleStatus:
    running = settings.automations_running
    return dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED


def sensor_status(settings: Settings) -> dg.DefaultSensorStatus:
    running = settings.automations_running
    return dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED
