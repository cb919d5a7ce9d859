"""Ingestion assets: the national registries and every connected cinema's sessions and ticket events,
landed per business day.

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
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg
import pyarrow as pa
from pydantic import Field

from ekino_pipeline import ownership
from ekino_pipeline.calendar import PRESALE_HORIZON_DAYS
from ekino_pipeline.display import kzt, short_error
from ekino_pipeline.exchange.registry import (
    REGISTRY_FILES,
    Registry,
    validate_cinema_id,
)
from ekino_pipeline.ingestion.landing import NATIONAL, LandingZone, new_attempt_id
from ekino_pipeline.ingestion.resources import ExchangeResource, LandingResource, RegistryResource, TokenError
from ekino_pipeline.ingestion.workers import (
    PullPlan,
    PullTask,
    WorkerUsage,
    process_count,
    pull_in_processes,
    pull_in_threads,
)
from ekino_pipeline.parent_death import step_process_dies_with_its_run
from ekino_pipeline.partitions import DAILY_PARTITIONS, partition_days
from ekino_pipeline.reporting_states import cinema_day_state, is_reporting, worst

GROUP = "ingestion"
RECONCILE_CHECK = "served_equals_landed_quarantined_duplicates"


class PullConfig(dg.Config):
    cinemas: list[str] = Field(
        default_factory=list,
        description="Pull only these cinema ids (say, the failed ones); empty pulls every connected cinema.",
    )
    max_concurrency: int = Field(default=16, ge=1, le=256, description="Cinemas pulled at once.")
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


# ----------------------------------------------------------------------------------------------
# Registries
# ----------------------------------------------------------------------------------------------

REGISTRY_TABLES = REGISTRY_FILES


def registry_tables(registry: Registry) -> dict[str, pa.Table]:
    cinemas = registry.cinemas
    halls = [h for c in cinemas for h in c.halls]
    return {
        "regions": pa.Table.from_pylist([vars(r) for r in registry.regions]),
        "cinemas": pa.table(
            {
                "cinema_id": [c.cinema_id for c in cinemas],
                "name": [c.name for c in cinemas],
                "chain": [c.chain for c in cinemas],
                "city": [c.city for c in cinemas],
                "region_code": [c.region_code for c in cinemas],
                "timezone": [c.timezone for c in cinemas],
                "is_connected": [c.connected for c in cinemas],
                "base_url": [c.base_url for c in cinemas],
                "n_halls": pa.array([len(c.halls) for c in cinemas], pa.int32()),
                "seats": pa.array([c.seats for c in cinemas], pa.int32()),
            }
        ),
        "halls": pa.Table.from_pylist([vars(h) for h in halls]),
        "films": pa.table(
            {
                "film_id": [f.film_id for f in registry.films],
                "title": [f.title for f in registry.films],
                "original_title": [f.original_title for f in registry.films],
                "genres": [list(f.genres) for f in registry.films],
                "production_countries": [list(f.production_countries) for f in registry.films],
                "original_language": [f.original_language for f in registry.films],
                "release_date": [f.release_date for f in registry.films],
                "distributor": [f.distributor for f in registry.films],
                "is_domestic": [f.is_domestic for f in registry.films],
                "funding_project_id": [f.funding_project_id for f in registry.films],
                "runtime_minutes": pa.array([f.runtime_minutes for f in registry.films], pa.int32()),
                "distribution_certificate": pa.array(
                    [f.distribution_certificate for f in registry.films], pa.string()
                ),
                "certificate_date": pa.array([f.certificate_date for f in registry.films], pa.date32()),
            }
        ),
        "funding_grants": pa.table(
            {
                "project_id": [g.project_id for g in registry.grants],
                "title": [g.title for g in registry.grants],
                "producer": [g.producer for g in registry.grants],
                "grant_year": pa.array([g.grant_year for g in registry.grants], pa.int32()),
                "amount_kzt": pa.array([g.amount_kzt for g in registry.grants], pa.decimal128(16, 2)),
                "status": [g.status for g in registry.grants],
                "film_id": [g.film_id for g in registry.grants],
            }
        ),
        "rental_terms": _rental_terms_table(registry),
        "tax_rules": pa.table(
            {
                "rule_id": pa.array([t.rule_id for t in registry.tax_rules], pa.string()),
                "effective_from": pa.array([t.effective_from for t in registry.tax_rules], pa.date32()),
                "effective_to": pa.array([t.effective_to for t in registry.tax_rules], pa.date32()),
                "vat_rate_pct": pa.array([t.vat_rate_pct for t in registry.tax_rules], pa.decimal128(5, 2)),
                "film_fund_levy_pct": pa.array(
                    [t.film_fund_levy_pct for t in registry.tax_rules], pa.decimal128(5, 2)
                ),
            }
        ),
        "box_office_history": pa.table(
            {
                "film_id": pa.array([h.film_id for h in registry.history], pa.string()),
                "period": pa.array([h.period for h in registry.history], pa.string()),
                "period_start": pa.array([h.period_start for h in registry.history], pa.date32()),
                "gross_kzt": pa.array([h.gross_kzt for h in registry.history], pa.decimal128(18, 2)),
                "admissions": pa.array([h.admissions for h in registry.history], pa.int64()),
                "source": pa.array([h.source for h in registry.history], pa.string()),
                "source_date": pa.array([h.source_date for h in registry.history], pa.date32()),
            }
        ),
    }


def _rental_terms_table(registry: Registry) -> pa.Table:
    terms = registry.rental_terms
    money = pa.decimal128(16, 2)
    return pa.table(
        {
            "terms_id": pa.array([t.terms_id for t in terms], pa.string()),
            "film_id": pa.array([t.film_id for t in terms], pa.string()),
            "distributor": pa.array([t.distributor for t in terms], pa.string()),
            "scope": pa.array([t.scope for t in terms], pa.string()),
            "chain": pa.array([t.chain for t in terms], pa.string()),
            "cinema_id": pa.array([t.cinema_id for t in terms], pa.string()),
            "method": pa.array([t.method for t in terms], pa.string()),
            "rates_pct": pa.array([list(t.rates) for t in terms], pa.list_(pa.decimal128(5, 2))),
            "house_allowance_kzt": pa.array([t.house_allowance_kzt for t in terms], money),
            "fee_kzt": pa.array([t.fee_kzt for t in terms], money),
            "minimum_guarantee_kzt": pa.array([t.minimum_guarantee_kzt for t in terms], money),
            "effective_from": pa.array([t.effective_from for t in terms], pa.date32()),
            "effective_to": pa.array([t.effective_to for t in terms], pa.date32()),
            "terms_version": pa.array([t.terms_version for t in terms], pa.int32()),
        }
    )


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
            attempt_id = new_attempt_id()
            with zone.attempt(f"registry_{name}", day, NATIONAL, attempt_id, run_id=context.run.run_id):
                writer = zone.open_writer(f"registry_{name}", day, NATIONAL, "data", attempt_id, table.schema)
                writer.write(table)
                writer.commit()
                zone.commit(
                    f"registry_{name}",
                    day,
                    NATIONAL,
                    {
                        "dataset": f"registry_{name}",
                        "business_date": day.isoformat(),
                        "attempt_id": attempt_id,
                        "data_attempt_id": attempt_id,
                        "status": "success",
                        "served": table.num_rows,
                        "landed": table.num_rows,
                        "quarantined": 0,
                        "duplicates_dropped": 0,
                        "files": {"data": writer.path.name},
                        "source": str(registry.directory),
                        "finished_at": datetime.now(UTC).isoformat(),
                    },
                )
        yield dg.MaterializeResult(
            asset_key=["landing", f"registry_{name}"],
            metadata={"dagster/row_count": table.num_rows, "days": len(days)},
        )
    connected = len(reg.connected_cinemas)
    context.log.info(f"registries: {len(reg.cinemas)} cinemas, {connected} connected, {len(reg.films)} films")


# ----------------------------------------------------------------------------------------------
# Sessions and ticket events
# ----------------------------------------------------------------------------------------------


def _targets(reg: Registry, requested: list[str]):
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


def _status_metadata(
    reg: Registry,
    dataset: str,
    manifests: dict[tuple[str, date], dict],
    days: list[date],
    sessions: dict[tuple[str, date], dict],
):
    """Metadata for people: one row per cinema over the window, totals and coverage.

    For ticket events, a cinema's `status` is its reporting state (ekino_pipeline.reporting_states),
    the worst over the window's days, read with the sessions manifest of the same day; coverage counts
    the connected cinemas reporting on the window's last day. The sessions pull runs before the ticket
    events one, so its metadata says only whether each pull succeeded.
    """
    per_cinema: dict[str, list[dict]] = {}
    for (cinema_id, _day), manifest in sorted(manifests.items()):
        per_cinema.setdefault(cinema_id, []).append(manifest)
    by_events = dataset == "ticket_events"

    def state(cinema_id: str, day: date) -> str:
        return cinema_day_state(sessions.get((cinema_id, day)), manifests.get((cinema_id, day)))

    # Few and short columns, so that the table fits the page: the region is in the registry, and an
    # error is cut to its cause (the landing manifest of the cinema-day keeps the full text).
    records = []
    for cinema_id, items in per_cinema.items():
        failed = [m for m in items if m["status"] != "success"]
        row: dict = {"cinema_id": cinema_id}
        if by_events:
            states = [state(cinema_id, day) for day in days]
            row["status"] = worst(states)
            row["days_reporting"] = sum(map(is_reporting, states))
        else:
            row["status"] = "failed" if failed else "success"
        row.update(
            records=sum(m.get("landed", 0) for m in items),
            gross_kzt=kzt(sum(Decimal(m.get("gross_kzt") or 0) for m in items)),
            quarantined=sum(m.get("quarantined", 0) for m in items),
            error=_error_cell(failed[-1]) if failed else "",
        )
        records.append(dg.TableRecord(row))
    columns = [
        dg.TableColumn("cinema_id", "string"),
        dg.TableColumn(
            "status",
            "string",
            description="worst reporting state over the window: failed, not_pulled, quarantined, silent, "
            "reported, no_sessions"
            if by_events
            else "success, or failed on some day of the window",
        ),
    ]
    if by_events:
        columns.append(dg.TableColumn("days_reporting", "int", description="reported or no_sessions"))
    columns += [
        dg.TableColumn("records", "int"),
        dg.TableColumn("gross_kzt", "string", description="exact decimal, tenge"),
        dg.TableColumn("quarantined", "int"),
        dg.TableColumn("error", "string", description="the cause; the full text is in the landing manifest"),
    ]
    total = lambda field: sum(m.get(field) or 0 for m in manifests.values())  # noqa: E731
    last_day = days[-1]
    metadata = {
        "cinemas": dg.TableMetadataValue(records=records, schema=dg.TableSchema(columns=columns)),
        "days": len(days),
        "served": total("served"),
        "landed": total("landed"),
        "quarantined": total("quarantined"),
        "duplicates_dropped": total("duplicates_dropped"),
        "discarded_served": total("discarded_served"),
        "failed_cinema_days": sum(1 for m in manifests.values() if m["status"] != "success"),
        # Failures the disk refused to record: the cinemas table is their only trace.
        "failed_manifests_not_written": sum(1 for m in manifests.values() if m.get("committed") is False),
        "dagster/row_count": total("landed"),
        "cinemas_connected": len(reg.connected_cinemas),
        "cinemas_total": len(reg.cinemas),
    }
    if by_events:
        last_states = Counter(state(c.cinema_id, last_day) for c in reg.connected_cinemas)
        reporting = sum(n for s, n in last_states.items() if is_reporting(s))
        metadata.update(
            coverage=(
                f"{last_day}: {reporting} reporting / {len(reg.connected_cinemas)} connected / "
                f"{len(reg.cinemas)} cinemas"
            ),
            cinemas_reporting=reporting,
            cinema_states=dg.MetadataValue.json(dict(sorted(last_states.items()))),
            gross_kzt=kzt(sum(Decimal(m.get("gross_kzt") or 0) for m in manifests.values())),
        )
    else:
        metadata["cinemas_with_sessions"] = sum(
            1 for (_, d), m in manifests.items() if d == last_day and m["status"] == "success" and m["landed"]
        )
    return metadata


def _error_cell(manifest: dict) -> str:
    cell = short_error(manifest.get("error"))
    if manifest.get("committed") is False:  # no manifest keeps the full text: say so
        cell += "; the failed manifest could not be written"
    return cell


def _day_metadata(
    reg: Registry, dataset: str, manifests: dict[tuple[str, date], dict], sessions: dict, day: date
) -> dict:
    """One business day's own figures, for its partition of a run over many days."""
    of_day = [m for (_, d), m in manifests.items() if d == day]
    metadata = {
        "dagster/partition_row_count": sum(m.get("landed") or 0 for m in of_day),
        "failed_cinema_days": sum(1 for m in of_day if m["status"] != "success"),
        "gross_kzt": kzt(sum(Decimal(m.get("gross_kzt") or 0) for m in of_day)),
    }
    if dataset == "ticket_events":
        states = Counter(
            cinema_day_state(sessions.get((c.cinema_id, day)), manifests.get((c.cinema_id, day)))
            for c in reg.connected_cinemas
        )
        reporting = sum(n for state, n in states.items() if is_reporting(state))
        metadata["cinemas_reporting"] = reporting
        metadata["cinema_states"] = dg.MetadataValue.json(dict(sorted(states.items())))
        metadata["coverage"] = (
            f"{day}: {reporting:,} reporting / {len(reg.connected_cinemas):,} connected / "
            f"{len(reg.cinemas):,} cinemas"
        )
    return metadata


def _reconcile(manifests: dict[tuple[str, date], dict]) -> dg.AssetCheckResult:
    mismatched = [
        f"{c} {d}: served {m['served']} != landed {m['landed']} + quarantined {m['quarantined']} "
        f"+ duplicates {m['duplicates_dropped']}"
        for (c, d), m in sorted(manifests.items())
        if m["served"] != m["landed"] + m["quarantined"] + m["duplicates_dropped"]
    ]
    return dg.AssetCheckResult(
        check_name=RECONCILE_CHECK,
        passed=not mismatched,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "cinema_days_checked": len(manifests),
            "mismatches": len(mismatched),
            "details": dg.MetadataValue.md("\n".join(f"- {m}" for m in mismatched[:50]) or "none"),
        },
    )


# The days pulled beside the window, by dataset: the name of their metadata and how to find them.
EXTRA_DAYS = {"ticket_events": "lookback", "sessions": "upcoming"}


def _extra_days(dataset: str, config: PullConfig, days: list[date]) -> list[date]:
    """Ticket events: the presale lookback before the window, whose events hold presales (and refunds)
    of the window's first sessions. Sessions: the upcoming days after it, listed in advance, so that
    the window's presales of later sessions can be attributed to a film."""
    if dataset == "ticket_events":
        return [days[0] - timedelta(days=n) for n in range(config.presale_lookback_days, 0, -1)]
    return [days[-1] + timedelta(days=n) for n in range(1, config.upcoming_session_days + 1)]


def _not_yet_pulled(zone, dataset: str, extra_days: list[date], targets) -> list[PullTask]:
    """The cinema-days of the extra days without a successful pull: earlier runs pulled them, so a
    daily run normally finds none, while a fresh backfill finds them all once."""
    tasks = []
    for day in extra_days:
        for cinema in targets:
            manifest = zone.read_manifest(dataset, day, cinema.cinema_id)
            if manifest is None or manifest.get("status") != "success":
                tasks.append(PullTask(cinema.cinema_id, cinema.base_url, day))
    return tasks


def _extra_metadata(prefix: str, n_days: int, extra: dict[tuple[str, date], dict]) -> dict:
    failed = [(c, d, m) for (c, d), m in sorted(extra.items()) if m["status"] != "success"]
    metadata = {
        f"{prefix}_days": n_days,
        f"{prefix}_cinema_days_pulled": len(extra),
        f"{prefix}_landed": sum(m.get("landed") or 0 for m in extra.values()),
        f"{prefix}_failed_cinema_days": len(failed),
    }
    if failed:
        metadata[f"{prefix}_failures"] = dg.MetadataValue.md(
            "\n".join(f"- {c} {d}: {short_error(m.get('error'))}" for c, d, m in failed[:50])
        )
    return metadata


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
    targets = _targets(reg, config.cinemas)
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
    metadata = _status_metadata(reg, dataset, manifests, days, sessions)
    metadata.update(_extra_metadata(prefix, len(extra_days), extra))
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
                _day_metadata(reg, dataset, manifests, sessions, day),
                asset_key=["landing", dataset],
                partition_key=day.isoformat(),
            )
    yield dg.MaterializeResult(asset_key=["landing", dataset], metadata=metadata)
    yield _reconcile({**manifests, **extra})


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
