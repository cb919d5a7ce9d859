"""Running ingestion assets for real (`dg.materialize` on an ephemeral instance) in an isolated home."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from ekino_pipeline.definitions import build_resources
from ekino_pipeline.ingestion import assets as ingestion_assets
from ekino_pipeline.ingestion.landing import LandingZone
from ekino_pipeline.settings import Settings

EXCHANGE_ASSETS = [
    ingestion_assets.national_registries,
    ingestion_assets.sessions,
    ingestion_assets.ticket_events,
]
# Tests pull the window alone unless they are about the days beside it: the presale lookback and the
# upcoming sessions would make every pilot day sixteen cinema-days per cinema.
WINDOW_ONLY = {"presale_lookback_days": 0, "upcoming_session_days": 0}


def materialize(
    monkeypatch,
    env: dict[str, str],
    partition: str,
    *,
    assets=None,
    cinemas: list[str] | None = None,
    instance: dg.DagsterInstance | None = None,
    exchange_overrides: dict | None = None,
    **pull_config,
) -> dg.ExecuteInProcessResult:
    """One run of `partition`, a day or a window `first...last` (a single-run backfill)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    resources = build_resources(Settings.from_env(), **(exchange_overrides or {}))
    config = {"cinemas": cinemas or [], **WINDOW_ONLY, **pull_config}
    ops = {}
    for asset in assets or EXCHANGE_ASSETS:
        if asset in (ingestion_assets.sessions, ingestion_assets.ticket_events):
            ops[asset.op.name] = {"config": config}
    tags = None
    if "..." in partition:
        first, last = partition.split("...")
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return dg.materialize(
        assets or EXCHANGE_ASSETS,
        partition_key=None if tags else partition,
        resources=resources,
        run_config={"ops": ops},
        instance=instance or dg.DagsterInstance.ephemeral(),
        tags=tags,
        raise_on_error=False,
    )


def landing(env: dict[str, str]) -> LandingZone:
    return LandingZone(Settings.from_env(env).landing_root)


def read_landed(env: dict[str, str], dataset: str, day: date, kind: str = "data"):
    zone = landing(env)
    files = zone.committed_files(dataset, [day], kind)
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else None


def manifests(env: dict[str, str], dataset: str, day: date) -> dict[str, dict]:
    return {cinema: m for _, cinema, m in landing(env).manifests(dataset, [day])}
