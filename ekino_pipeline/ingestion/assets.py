"""The daily ingestion assets, as Dagster sees them: the national registries' snapshots and every
connected cinema's sessions and ticket events, landed per business day. What they do is elsewhere:
registries.py (the registries as tables), partition_pull.py (one run's pull over its window, its
metadata and verdict), workers.py (the pool), landing/ (the files and manifests).
"""

from collections.abc import Iterator

import dagster as dg

from ekino_pipeline import ownership
from ekino_pipeline.ingestion.metadata import RECONCILE_CHECK
from ekino_pipeline.ingestion.partition_pull import PullConfig, pull_partition
from ekino_pipeline.ingestion.registries import REGISTRY_TABLES, land_snapshot, registry_tables
from ekino_pipeline.ingestion.resources import ExchangeResource, LandingResource, RegistryResource
from ekino_pipeline.partitions import DAILY_PARTITIONS, partition_days

GROUP = "ingestion"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["landing", f"registry_{name}"],
            group_name=GROUP,
            kinds={"parquet"},
            description=f"Daily snapshot of the national {name.replace('_', ' ')} registry.",
            owners=ownership.PLATFORM_OWNERS,
            tags=ownership.REGISTRIES,
        )
        for name in REGISTRY_TABLES
    ],
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def national_registries(
    context: dg.AssetExecutionContext, registry: RegistryResource, landing: LandingResource
) -> Iterator[dg.MaterializeResult]:
    """Snapshots the registries for each day of the window, so coverage can later say which cinemas
    were connected on a given day."""
    reg = registry.load()
    tables = registry_tables(reg)
    zone = landing.zone()
    days = partition_days(context)
    for name, table in tables.items():
        for day in days:
            land_snapshot(zone, name, table, day, run_id=context.run.run_id, source=str(registry.directory))
        yield dg.MaterializeResult(
            asset_key=["landing", f"registry_{name}"],
            metadata={"dagster/row_count": table.num_rows, "days": len(days)},
        )
    connected = len(reg.connected_cinemas)
    context.log.info(f"registries: {len(reg.cinemas)} cinemas, {connected} connected, {len(reg.films)} films")


def _exchange_asset(dataset: str, description: str, deps: list[list[str]]):
    key = ["landing", dataset]

    @dg.asset(
        key=key,
        group_name=GROUP,
        kinds={"parquet"},
        description=description,
        owners=ownership.PLATFORM_OWNERS,
        tags={**ownership.INGESTION, **ownership.BOX_OFFICE},
        partitions_def=DAILY_PARTITIONS,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=deps,
        check_specs=[
            dg.AssetCheckSpec(
                RECONCILE_CHECK,
                asset=key,
                blocking=True,
                description="Per cinema-day, served = landed + quarantined + duplicates dropped.",
            )
        ],
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: PullConfig,
        exchange: ExchangeResource,
        landing: LandingResource,
        registry: RegistryResource,
    ):
        yield from pull_partition(context, dataset, config, exchange, landing, registry)

    return _asset


sessions = _exchange_asset(
    "sessions",
    "Every connected cinema's screenings of the business day, as Parquet per cinema-day, and those of "
    "the upcoming days not pulled yet (listed in advance, so that presales find their film).",
    deps=[["landing", "registry_cinemas"], ["landing", "registry_films"]],
)
ticket_events = _exchange_asset(
    "ticket_events",
    "Every connected cinema's sales and refunds that occurred in the business day (Asia/Almaty), "
    "as Parquet per cinema-day, with quarantine and manifest; and those of the presale lookback days "
    "before the window not pulled yet.",
    # After the sessions: a cinema's reporting state on a day reads both pulls of that day.
    deps=[["landing", "registry_cinemas"], ["landing", "sessions"]],
)

ASSETS = [national_registries, sessions, ticket_events]
