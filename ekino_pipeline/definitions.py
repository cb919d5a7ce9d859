"""The one entry point: assembles the platform's Definitions from its rooms."""

from __future__ import annotations

import os

import dagster as dg

from ekino_pipeline.ingestion import assets as ingestion_assets
from ekino_pipeline.ingestion import declared_returns, live_assets, loading, replay_assets
from ekino_pipeline.ingestion.resources import ExchangeResource, LandingResource
from ekino_pipeline.monitoring import alerts, dead_runs, freshness, live, schedules, sensors
from ekino_pipeline.report import assets as report_assets
from ekino_pipeline.settings import Settings
from ekino_pipeline.transformation import assets as transformation_assets
from ekino_pipeline.transformation import live as live_transformation
from ekino_pipeline.warehouse import WarehouseResource


def _env(name: str) -> dg.EnvVar | None:
    """An EnvVar when the variable is set: secrets then resolve at run time and never sit in config."""
    return dg.EnvVar(name) if os.environ.get(name) else None


def build_resources(settings: Settings, **exchange_options) -> dict:
    """The platform's resources; `exchange_options` tune the client (timeouts, retries, page size)."""
    return {
        "exchange": ExchangeResource(
            base_url=_env("EKINO_EXCHANGE_BASE_URL"),
            secrets_file=_env("EKINO_SECRETS_FILE"),
            tokens_json=_env("EKINO_CINEMA_TOKENS"),
            allow_plain_http=settings.allow_plain_http,
            **exchange_options,
        ),
        "landing": LandingResource(root=str(settings.landing_root)),
        "registry": ingestion_assets.RegistryResource(directory=str(settings.registry_dir)),
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        "live_warehouse": WarehouseResource(path=str(settings.live_path)),
        **transformation_assets.transformation_resources(settings),
        "notifier": alerts.AlertNotifier(webhook_url=_env("EKINO_ALERT_WEBHOOK_URL")),
        "monitoring": sensors.MonitoringResource(
            silent_after_hours=settings.silent_after_hours,
            lookback_days=settings.silent_lookback_days,
        ),
    }


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    return dg.Definitions(
        assets=[
            *ingestion_assets.ASSETS,
            *declared_returns.ASSETS,
            *replay_assets.ASSETS,
            *loading.ASSETS,
            *(freshness.with_mart_freshness(a) for a in transformation_assets.ASSETS),
            *live_assets.ASSETS,
            *live_transformation.ASSETS,
            *report_assets.ASSETS,
        ],
        asset_checks=[sensors.connected_cinemas_reporting],
        jobs=[
            schedules.daily_job,
            schedules.film_week_job,
            replay_assets.quarantine_replay_job,
            alerts.cinema_alerts_job,
            declared_returns.declared_returns_job,
            live.live_job,
        ],
        schedules=[
            schedules.daily_schedule,
            schedules.intraday_schedule,
            schedules.film_week_schedule,
            declared_returns.declared_returns_schedule,
            live.live_schedule,
        ],
        sensors=[
            sensors.build_silent_cinema_sensor(settings=settings),
            sensors.run_failure_alerts,
            dead_runs.build_dead_run_sensor(),
        ],
        resources=build_resources(settings),
    )


defs = build_definitions()
