"""Ingestion's definitions: the registries, sessions and ticket events landed per business day, the
declared returns per film week, the quarantine replay, and the loader into the warehouse's `raw`."""

import dagster as dg

from ekino_pipeline.ingestion import assets, declared_returns, loading, replay_assets
from ekino_pipeline.ingestion.resources import ExchangeResource, LandingResource, RegistryResource
from ekino_pipeline.settings import Settings


def resources(settings: Settings, **exchange_options) -> dict:
    """`exchange_options` tune the client (timeouts, retries, page size)."""
    return {
        "exchange": ExchangeResource(
            base_url=settings.env_var("EKINO_EXCHANGE_BASE_URL"),
            secrets_file=settings.env_var("EKINO_SECRETS_FILE"),
            tokens_json=settings.env_var("EKINO_CINEMA_TOKENS"),
            allow_plain_http=settings.allow_plain_http,
            **exchange_options,
        ),
        "landing": LandingResource(root=str(settings.landing_root)),
        "registry": RegistryResource(directory=str(settings.registry_dir)),
    }


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[*assets.ASSETS, *declared_returns.ASSETS, *replay_assets.ASSETS, *loading.ASSETS],
        jobs=[replay_assets.quarantine_replay_job, declared_returns.declared_returns_job],
        schedules=[declared_returns.declared_returns_schedule],
        resources=resources(settings),
    )
