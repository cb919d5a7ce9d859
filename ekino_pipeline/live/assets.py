"""The live mode's ingestion assets: one tick of every connected cinema into the live zone, then the
new batches into the live warehouse's tables (its own DuckDB file). Not partitioned: live is about
today, now. The live session (live/session.py) runs the same pull and load every minute."""

import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import Field

from ekino_pipeline import ownership
from ekino_pipeline.calendar import business_date_of
from ekino_pipeline.exchange.client import ExchangeClient, SharedConnections
from ekino_pipeline.exchange.registry import resolve_base_url
from ekino_pipeline.ingestion.resources import ExchangeResource, LandingResource, RegistryResource, TokenError
from ekino_pipeline.live.loading import LIVE_TABLES, load_live
from ekino_pipeline.live.pull import DEFAULT_OVERLAP, LiveTask, live_manifests, pull_live_increments
from ekino_pipeline.processes import step_process_dies_with_its_run
from ekino_pipeline.warehouse import WarehouseResource

LIVE_GROUP = "live"
# The live warehouse (Settings.live_path) has one writer at a time: the live session, or a tick run by
# hand while no session runs. Never the `warehouse` pool: the daily run never waits for live mode.
LIVE_POOL = "live"
# A live tick must end well within its minute: a cinema that does not answer in time is recorded as
# failing and asked again on the next tick.
LIVE_DEADLINE_SECONDS = 40.0
LIVE_RETRIES = 1


class LivePollConfig(dg.Config):
    """How a tick polls the cinemas: shared by the one-tick assets and the live session."""

    overlap_seconds: int = Field(
        default=int(DEFAULT_OVERLAP.total_seconds()),
        ge=0,
        le=3600,
        description="Each tick asks again for this much before a cinema's watermark (late arrivals).",
    )
    max_concurrency: int = Field(default=16, ge=1, le=256, description="Cinemas polled at once.")


class LiveConfig(LivePollConfig):
    as_of: str = Field(
        default="",
        description="The tick's instant (RFC 3339); empty: the wall clock. Its Almaty day is the live day.",
    )


def tick_instant(config: LiveConfig) -> datetime:
    if not config.as_of:
        return datetime.now(UTC)
    instant = datetime.fromisoformat(config.as_of)
    if instant.tzinfo is None:
        raise dg.Failure(f"as_of {config.as_of!r} needs an offset")
    return instant


def pull_tick(
    exchange: ExchangeResource,
    landing: LandingResource,
    registry: RegistryResource,
    now: datetime,
    *,
    overlap: timedelta,
    run_id: str,
    max_concurrency: int,
    log=None,
    connections: SharedConnections | None = None,
) -> list[dict]:
    """One tick of every connected cinema of the registry into the live zone: the committed manifests.
    A cinema's failure is in its manifest; a broken reconciliation fails the tick. The cinemas' clients
    share HTTP connections: `connections` when given (the session's, kept from one tick to the next),
    else the tick's own."""
    day = business_date_of(now)
    reg = registry.load()
    try:
        tokens = exchange.load_tokens()
    except TokenError as exc:
        raise dg.Failure(str(exc)) from None
    options = {
        **exchange.client_options(),
        "deadline_seconds": min(exchange.deadline_seconds, LIVE_DEADLINE_SECONDS),
        "retries": min(exchange.retries, LIVE_RETRIES),
    }

    def factory(cinema_id: str, base_url: str, shared: SharedConnections):
        token = tokens.get(cinema_id)

        def client() -> ExchangeClient:
            if not token:
                raise TokenError(f"no token for cinema {cinema_id} in the secrets")
            return ExchangeClient(
                resolve_base_url(base_url, exchange.base_url),
                token,
                cinema_id=cinema_id,
                connections=shared,
                **options,
            )

        return client

    scope = SharedConnections(max_concurrency) if connections is None else contextlib.nullcontext(connections)
    with scope as shared:
        cinemas = reg.connected_cinemas
        tasks = [LiveTask(c.cinema_id, factory(c.cinema_id, c.base_url, shared)) for c in cinemas]
        manifests = pull_live_increments(
            tasks,
            day,
            landing.zone(),
            now=now,
            overlap=overlap,
            run_id=run_id,
            secrets=tokens.values(),
            max_concurrency=max_concurrency,
        )
    if log is not None:
        for m in manifests:
            if m["status"] != "success":
                log.warning(f"live {m['cinema_id']} {day}: {m['error']}")
    mismatched = [
        m["cinema_id"]
        for m in manifests
        if m["served"] != m["landed"] + m["quarantined"] + m["duplicates_dropped"]
    ]
    if mismatched:
        raise dg.Failure(f"served != landed + quarantined + duplicates for {', '.join(mismatched)}")
    return manifests


def pull_metadata(manifests: list[dict], now: datetime) -> dict:
    statuses = Counter(m["status"] for m in manifests)
    return {
        "business_date": business_date_of(now).isoformat(),
        "as_of": now.isoformat(),
        "cinemas_polled": len(manifests),
        "cinemas_reporting": statuses["success"],
        "cinemas_failing": statuses["failed"],
        "landed_today": sum(m["landed"] for m in manifests),
        "batches_today": sum(len(m["batches"]) for m in manifests),
    }


def load_tick(
    landing: LandingResource, registry: RegistryResource, live_warehouse: WarehouseResource, now: datetime
) -> tuple[datetime, dict[str, int]]:
    """The live batches of today the live warehouse does not hold yet, appended; (as_of, rows added)."""
    zone = landing.zone()
    day = business_date_of(now)
    manifests = live_manifests(zone, day)
    polled = [datetime.fromisoformat(m["last_attempt_at"]) for m in manifests if m.get("last_attempt_at")]
    # The figures stand on the latest tick that reached the cinemas, not on when they were loaded.
    as_of = max(polled, default=now)
    with live_warehouse.connect() as con:
        counts = load_live(con, zone, registry.load(), day, as_of)
    return as_of, counts


@dg.asset(
    key=["landing", "live_ticket_events"],
    group_name=LIVE_GROUP,
    kinds={"parquet"},
    owners=ownership.PLATFORM_OWNERS,
    tags={**ownership.INGESTION, **ownership.LIVE},
    description=(
        "Today's ticket events as live batches per cinema: each tick lands what every connected cinema "
        "served since its watermark (minus an overlap for late arrivals), duplicates dropped by event id. "
        "The live session (live_job) materializes it every minute; materializing it alone runs one tick."
    ),
)
def live_ticket_events(
    context: dg.AssetExecutionContext,
    config: LiveConfig,
    exchange: ExchangeResource,
    landing: LandingResource,
    registry: RegistryResource,
) -> dg.MaterializeResult:
    now = tick_instant(config)
    manifests = pull_tick(
        exchange,
        landing,
        registry,
        now,
        overlap=timedelta(seconds=config.overlap_seconds),
        run_id=context.run.run_id,
        max_concurrency=config.max_concurrency,
        log=context.log,
    )
    return dg.MaterializeResult(metadata=pull_metadata(manifests, now))


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", table.removeprefix("raw.")],
            group_name=LIVE_GROUP,
            kinds={"duckdb"},
            description=f"Today's live batches, loaded into the live warehouse table {table}.",
            owners=ownership.PLATFORM_OWNERS,
            tags={**ownership.INGESTION, **ownership.LIVE},
            deps=[["landing", "live_ticket_events"]],
        )
        for table in LIVE_TABLES
    ],
    pool=LIVE_POOL,
)
def live_raw_tables(
    context: dg.AssetExecutionContext,
    config: LiveConfig,
    landing: LandingResource,
    registry: RegistryResource,
    live_warehouse: WarehouseResource,
):
    """Appends the live batches of today the live warehouse does not hold yet (raw.live_*)."""
    step_process_dies_with_its_run()  # an orphan would hold the live warehouse's write lock
    now = tick_instant(config)
    as_of, counts = load_tick(landing, registry, live_warehouse, now)
    day = business_date_of(now)
    context.log.info(f"live load {day} as of {as_of.isoformat()}: {counts}")
    for table in LIVE_TABLES:
        name = table.removeprefix("raw.")
        yield dg.MaterializeResult(
            asset_key=["raw", name],
            metadata={
                "business_date": day.isoformat(),
                "as_of": as_of.isoformat(),
                "rows_added": counts.get(name, 0),
            },
        )


ASSETS = [live_ticket_events, live_raw_tables]
