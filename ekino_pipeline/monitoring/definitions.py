"""Monitoring's definitions: the connected-cinemas check, the silent-cinema sensor and its alerts,
run-failure alerts, and the sensor that frees the pool slot of runs whose process died."""

import dagster as dg

from ekino_pipeline.monitoring import alerts, dead_runs, sensors
from ekino_pipeline.settings import Settings


def resources(settings: Settings) -> dict:
    return {
        "notifier": alerts.AlertNotifier(webhook_url=settings.env_var("EKINO_ALERT_WEBHOOK_URL")),
        "monitoring": sensors.MonitoringResource(
            silent_after_hours=settings.silent_after_hours,
            lookback_days=settings.silent_lookback_days,
        ),
    }


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        asset_checks=[sensors.connected_cinemas_reporting],
        jobs=[alerts.cinema_alerts_job],
        sensors=[
            sensors.build_silent_cinema_sensor(settings=settings),
            sensors.run_failure_alerts,
            dead_runs.build_dead_run_sensor(),
        ],
        resources=resources(settings),
    )
