"""One run's pull of sessions or ticket events over its partition window: every connected cinema's
cinema-days through the pool (ingestion/workers.py), then the run's metadata and verdict.

Within a run each cinema-day is isolated: a failing cinema is recorded in its manifest with the reason
and the others carry on; the run fails only when the share of failed cinema-days passes a threshold.
A span of days runs as one run (single-run backfill policy) over the partition window.

Beside the window, the ticket events of the presale lookback days before it and the sessions of the
upcoming days after it are pulled once (the cinema-days without a successful pull yet): a window's first
sessions were sold before it began, and its presales are for sessions after it ends. They go through
the same machinery but do not decide the run, nor the window's coverage.
"""

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg
from pydantic import Field

from ekino_pipeline.calendar import PRESALE_HORIZON_DAYS
from ekino_pipeline.exchange.registry import Cinema, Registry, validate_cinema_id
from ekino_pipeline.ingestion.landing import LandingZone
from ekino_pipeline.ingestion.metadata import day_metadata, extra_metadata, reconcile, status_metadata
from ekino_pipeline.ingestion.resources import ExchangeResource, LandingResource, RegistryResource, TokenError
from ekino_pipeline.ingestion.workers import (
    PullPlan,
    PullTask,
    WorkerUsage,
    process_count,
    pull_in_processes,
    pull_in_threads,
)
from ekino_pipeline.partitions import partition_days
from ekino_pipeline.processes import step_process_dies_with_its_run


class PullConfig(dg.Config):
    cinemas: list[str] = Field(
        default_factory=list,
        description="Pull only these cinema ids (say, the failed ones); empty pulls every connected cinema.",
    )
    max_concurrency: int = Field(
        default=8,
        ge=1,
        le=256,
        description=(
            "Cinemas pulled at once. On a nearby exchange the pull's CPU is the limit, and threads beyond "
            "four per process only contend for the interpreter lock; raise it for a distant, slow one."
        ),
    )
    max_failed_share: float = Field(
        default=0.25, ge=0, le=1, description="The run fails when more than this share of cinema-days fail."
    )
    max_attempts: int = Field(default=2, ge=1, le=5, description="Whole-pull attempts per cinema-day.")
    processes: int = Field(
        default=0,
        ge=0,
        le=64,
        description=(
            "Worker processes sharing the pulls (each with its share of max_concurrency threads); "
            "0 starts one per CPU core for a day of 200 cinema-days or more, and none below that."
        ),
    )
    presale_lookback_days: int = Field(
        default=PRESALE_HORIZON_DAYS,
        ge=0,
        le=31,
        description=(
            "Ticket events only: also pull this many event days before the window (where the window's "
            "first sessions had their presales) that have no successful pull yet; 0 pulls none."
        ),
    )
    upcoming_session_days: int = Field(
        default=PRESALE_HORIZON_DAYS,
        ge=0,
        le=31,
        description=(
            "Sessions only: also pull this many session days after the window (listed in advance, so "
            "that presales can be attributed to a film) that have no successful pull yet; 0 pulls none."
        ),
    )


def connected_targets(reg: Registry, requested: list[str]) -> list[Cinema]:
    """The connected cinemas to pull: `requested` (refused in one line when one is not connected), or
    every connected cinema when none is."""
    connected = {c.cinema_id: c for c in reg.connected_cinemas}
    if not requested:
        return list(connected.values())
    unknown = []
    for cinema_id in requested:
        validate_cinema_id(cinema_id)
        if cinema_id not in connected:
            unknown.append(cinema_id)
    if unknown:
        raise dg.Failure(f"not connected cinemas in the registry: {', '.join(sorted(unknown))}")
    return [connected[c] for c in sorted(set(requested))]


# The days pulled beside the window, by dataset: the name of their metadata and how to find them.
EXTRA_DAYS = {"ticket_events": "lookback", "sessions": "upcoming"}


def _extra_days(dataset: str, config: PullConfig, days: list[date]) -> list[date]:
    """Ticket events: the presale lookback before the window, whose events hold presales (and refunds)
    of the window's first sessions. Sessions: the upcoming days after it, listed in advance, so that
    the window's presales of later sessions can be attributed to a film."""
    if dataset == "ticket_events":
        return [days[0] - timedelta(days=n) for n in range(config.presale_lookback_days, 0, -1)]
    return [days[-1] + timedelta(days=n) for n in range(1, config.upcoming_session_days + 1)]


def _not_yet_pulled(
    zone: LandingZone, dataset: str, extra_days: list[date], targets: list[Cinema]
) -> list[PullTask]:
    """The cinema-days of the extra days without a successful pull: earlier runs pulled them, so a
    daily run normally finds none, while a fresh backfill finds them all once."""
    tasks = []
    for day in extra_days:
        for cinema in targets:
            manifest = zone.read_manifest(dataset, day, cinema.cinema_id)
            if manifest is None or manifest.get("status") != "success":
                tasks.append(PullTask(cinema.cinema_id, cinema.base_url, day))
    return tasks


def pull_plan(
    context: dg.AssetExecutionContext,
    dataset: str,
    exchange: ExchangeResource,
    zone: LandingZone,
    max_attempts: int,
    known_film_ids: frozenset[str] | None = None,
) -> PullPlan:
    """What every pull of a run shares: where it lands, how it reaches the exchange, the tokens (a
    secrets fault fails the run in one line, before any cinema is asked)."""
    try:
        tokens = exchange.load_tokens()
    except TokenError as exc:
        raise dg.Failure(str(exc)) from None
    return PullPlan(
        dataset=dataset,
        landing_root=str(zone.root),
        client_options=exchange.client_options(),
        base_url=exchange.base_url,
        tokens=tokens,
        known_film_ids=known_film_ids,
        run_id=context.run.run_id,
        max_attempts=max_attempts,
    )


def pull_partition(
    context: dg.AssetExecutionContext,
    dataset: str,
    config: PullConfig,
    exchange: ExchangeResource,
    landing: LandingResource,
    registry: RegistryResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    step_process_dies_with_its_run()
    reg = registry.load()
    days = partition_days(context)
    targets = connected_targets(reg, config.cinemas)
    zone = landing.zone()
    plan = pull_plan(
        context,
        dataset,
        exchange,
        zone,
        config.max_attempts,
        known_film_ids=reg.film_ids if dataset == "sessions" else None,
    )
    window_tasks = [PullTask(c.cinema_id, c.base_url, d) for d in days for c in targets]
    prefix = EXTRA_DAYS[dataset]
    extra_days = _extra_days(dataset, config, days)
    extra_tasks = _not_yet_pulled(zone, dataset, extra_days, targets)
    # One pool for both: the extra cinema-days get the same threads, processes, manifests, quarantine
    # and isolation as the window's, and come after them.
    tasks = window_tasks + extra_tasks
    processes = process_count(len(tasks), config.processes)
    usage = WorkerUsage()
    if processes > 1:
        threads = -(-config.max_concurrency // processes)
        pulls = pull_in_processes(plan, tasks, processes, threads, usage, on_message=context.log.info)
    else:
        pulls = pull_in_threads(plan, tasks, config.max_concurrency)
    started = time.monotonic()
    window = set(days)
    manifests: dict[tuple[str, date], dict] = {}
    extra: dict[tuple[str, date], dict] = {}
    context.log.info(
        f"{dataset}: pulling {len(targets)} cinemas x {len(days)} days ({days[0]}..{days[-1]}) and "
        f"{len(extra_tasks)} {prefix} cinema-days not pulled yet"
    )
    statuses: Counter[str] = Counter()
    with contextlib.closing(pulls):
        for done, manifest in enumerate(pulls, start=1):
            cinema_id, day = manifest["cinema_id"], date.fromisoformat(manifest["business_date"])
            (manifests if day in window else extra)[(cinema_id, day)] = manifest
            if day in window:
                statuses[manifest["status"]] += 1
            if manifest["status"] != "success":
                where = "" if day in window else f" ({prefix})"
                context.log.warning(f"{dataset} {cinema_id} {day}{where}: failed: {manifest['error']}")
            if done % 50 == 0 or done == len(tasks):
                context.log.info(f"{dataset}: {done}/{len(tasks)} cinema-days done ({dict(statuses)})")
    # The day's picture includes cinemas this run did not touch (a re-pull of a few cinemas).
    if config.cinemas:
        untouched = {c.cinema_id for c in reg.connected_cinemas} - {c.cinema_id for c in targets}
        for day, cinema_id, manifest in zone.manifests(dataset, days):
            if cinema_id in untouched:
                manifests[(cinema_id, day)] = manifest
    # A cinema's state needs its sessions of the same day, pulled before this asset in the run.
    sessions = (
        {(c, d): m for d, c, m in zone.manifests("sessions", days)} if dataset == "ticket_events" else {}
    )
    metadata = status_metadata(reg, dataset, manifests, days, sessions)
    metadata.update(extra_metadata(prefix, len(extra_days), extra))
    metadata["duration_seconds"] = round(time.monotonic() - started, 2)
    if usage.processes:
        metadata["worker_processes"] = usage.processes
        metadata["worker_cpu_seconds"] = round(usage.cpu_seconds, 2)
        metadata["worker_peak_rss_mb"] = round(usage.peak_rss_mb, 1)
    # Only the window's cinema-days decide the run: a day before or after it is its own run's concern.
    failed = statuses["failed"]
    if window_tasks and failed / len(window_tasks) > config.max_failed_share:
        raise dg.Failure(
            description=(
                f"{failed} of {len(window_tasks)} cinema-days failed, more than the allowed share "
                f"{config.max_failed_share:.0%}; see the cinemas table"
            ),
            metadata=metadata,
        )
    if len(days) > 1:
        for day in days:
            context.add_asset_metadata(
                day_metadata(reg, dataset, manifests, sessions, day),
                asset_key=["landing", dataset],
                partition_key=day.isoformat(),
            )
    yield dg.MaterializeResult(asset_key=["landing", dataset], metadata=metadata)
    yield reconcile({**manifests, **extra})
