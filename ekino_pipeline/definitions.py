"""The one entry point: each room's definitions, merged."""

from __future__ import annotations

import dagster as dg

from ekino_pipeline.automation import definitions as automation
from ekino_pipeline.forecasting import definitions as forecasting
from ekino_pipeline.ingestion import definitions as ingestion
from ekino_pipeline.live import definitions as live
from ekino_pipeline.monitoring import definitions as monitoring
from ekino_pipeline.report import definitions as report
from ekino_pipeline.settings import Settings
from ekino_pipeline.transformation import definitions as transformation

ROOMS = (ingestion, transformation, live, automation, monitoring, report, forecasting)


def build_resources(settings: Settings, **exchange_options) -> dict:
    """Every room's resources, for binding a few assets on their own (tests, benchmarks);
    `exchange_options` tune the exchange client (timeouts, retries, page size)."""
    return {
        **ingestion.resources(settings, **exchange_options),
        **transformation.resources(settings),
        **live.resources(settings),
        **monitoring.resources(settings),
    }


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    return dg.Definitions.merge(*(room.build_defs(settings) for room in ROOMS))


defs = build_definitions()
