"""The live session: one Dagster run per business day (Asia/Almaty) whose one step ticks every minute
until the day ends: every connected cinema's increment, appended to the live warehouse, the live marts
rebuilt and exported, and a materialization of each live asset logged with the tick's figures.

One resident process rather than a run per minute: a run process pays for importing Dagster, dagster-dbt,
dbt and the definitions (about 7 CPU seconds) and dbt for loading the project (about 5 more) before
doing a second of work. The session pays that once a day; a tick then costs the increment, the live
nodes and a handful of events.

`live_schedule` checks every minute that today's session is running and starts it otherwise (after a
crash, a deployment, or at midnight when yesterday's session has ended). The session writes only the
live warehouse, a DuckDB file of its own, so it never holds the `warehouse` pool the daily run needs.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import Field

from ekino_pipeline.calendar import BUSINESS_TZ, business_date_of, business_day_bounds
from ekino_pipeline.exchange.client import SharedConnections
from ekino_pipeline.ingestion.resources import ExchangeResource, LandingResource, RegistryResource
from ekino_pipeline.live.assets import (
    LIVE_GROUP,
    LIVE_POOL,
    LivePollConfig,
    live_raw_tables,
    load_tick,
    pull_metadata,
    pull_tick,
)
from ekino_pipeline.live.dbt import LIVE_SCHEMA, LiveBuild, LiveDbt, live_dbt_models, live_markdown
from ekino_pipeline.transformation.exports import ExportsResource, export_tables
from ekino_pipeline.warehouse import WarehouseResource

LIVE_JOB = "live_job"
LIVE_CRON = "* * * * *"
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
PROVISIONAL = "live: provisional until the daily run after the day closes"


class LiveSessionConfig(LivePollConfig):
    tick_seconds: float = Field(default=60.0, ge=1.0, le=3600.0, description="A tick starts this often.")
    ticks: int = Field(
        default=0, ge=0, description="Stop after this many ticks; 0: when the business day ends."
    )
    max_failed_ticks: int = Field(
        default=5,
        ge=1,
        description="Consecutive failed ticks that end the session (the schedule then starts a fresh one).",
    )
    clock_start: str = Field(
        default="",
        description="Replays and benchmarks: the session's clock shows this instant (RFC 3339) at "
        "clock_start_wall; empty: the wall clock.",
    )
    clock_start_wall: float = Field(
        default=0.0, ge=0, description="Unix time of clock_start; 0: the session's start."
    )
    clock_rate: float = Field(default=1.0, gt=0, le=1000, description="Seconds of the clock per wall second.")


@dataclass(frozen=True)
class SessionClock:
    start: datetime | None
    start_wall: float
    rate: float

    @classmethod
    def of(cls, config: LiveSessionConfig) -> "SessionClock":
        if not config.clock_start:
            return cls(None, 0.0, 1.0)
        start = datetime.fromisoformat(config.clock_start)
        if start.tzinfo is None:
            raise dg.Failure(f"clock_start {config.clock_start!r} needs an offset")
        return cls(start, config.clock_start_wall or time.time(), config.clock_rate)

    def now(self) -> datetime:
        if self.start is None:
            return datetime.now(UTC)
        return self.start + timedelta(seconds=self.rate * (time.time() - self.start_wall))

    def wall_seconds_until(self, instant: datetime) -> float:
        return (instant - self.now()).total_seconds() / (self.rate if self.start is not None else 1.0)


@dataclass
class LiveSession:
    """What one tick needs, built once per session (the parsed dbt project above all)."""

    context: dg.OpExecutionContext
    config: LiveSessionConfig
    exchange: ExchangeResource
    landing: LandingResource
    registry: RegistryResource
    live_warehouse: WarehouseResource
    exports: ExportsResource
    dbt: LiveDbt
    # The cinemas' clients take turns on these from one tick to the next (closed when the session ends).
    connections: SharedConnections

    def tick(self, now: datetime) -> dict:
        """One refresh; its figures. Raises when the marts could not be refreshed (nothing exported)."""
        timings, cpu = {}, time.process_time()
        started = time.monotonic()
        manifests = pull_tick(
            self.exchange,
            self.landing,
            self.registry,
            now,
            overlap=timedelta(seconds=self.config.overlap_seconds),
            run_id=self.context.run_id,
            max_concurrency=self.config.max_concurrency,
            log=self.context.log,
            connections=self.connections,
        )
        timings["pull"] = time.monotonic() - started
        started = time.monotonic()
        as_of, counts = load_tick(self.landing, self.registry, self.live_warehouse, now)
        timings["load"] = time.monotonic() - started
        build = self.dbt.build()
        timings["dbt"] = build.seconds
        self._log_checks(build)
        if not build.success:
            failed = ", ".join(f"{n.name} ({n.status})" for n in build.failed) or build.error
            raise LiveTickError(f"the live marts were not refreshed (the previous export stays): {failed}")
        started = time.monotonic()
        # dbt-duckdb keeps the live warehouse open in this process: export through the same database.
        with self.live_warehouse.connect() as con:
            catalog = con.execute("select current_database()").fetchone()[0]
            exported = export_tables(con, catalog, LIVE_SCHEMA, self.exports.directory_path)
        timings["export"] = time.monotonic() - started
        figures = {
            **pull_metadata(manifests, now),
            "events_loaded": counts.get("live_ticket_events", 0),
            **{f"{name}_seconds": round(seconds, 3) for name, seconds in timings.items()},
            "dbt_cpu_seconds": build.cpu_seconds,
            "tick_cpu_seconds": round(time.process_time() - cpu, 3),
        }
        self._log_materializations(figures, as_of, counts, exported)
        return figures

    def _log_materializations(self, figures: dict, as_of: datetime, counts: dict, exported: list) -> None:
        log = self.context.log_event
        log(dg.AssetMaterialization(["landing", "live_ticket_events"], metadata=figures))
        for key in live_raw_tables.keys:
            log(
                dg.AssetMaterialization(
                    key,
                    metadata={
                        "business_date": figures["business_date"],
                        "as_of": as_of.isoformat(),
                        "rows_added": counts.get(key.path[-1], 0),
                    },
                )
            )
        keys = {key.path[-1]: key for key in live_dbt_models.keys}
        for table in exported:
            key = keys.get(table.name)
            if key is None:
                continue
            metadata = {
                "business_date": figures["business_date"],
                "as_of": as_of.isoformat(),
                "export_path": dg.MetadataValue.path(str(table.path)),
                "exported_rows": table.rows,
                "completeness": PROVISIONAL,
                "dbt_seconds": figures["dbt_seconds"],
            }
            if table.name == "live_today":
                markdown = live_markdown(self.live_warehouse, read_only=False)
                metadata["live_today"] = dg.MetadataValue.md(markdown)
            log(dg.AssetMaterialization(key, metadata=metadata))

    def _log_checks(self, build: LiveBuild) -> None:
        """The live data tests as the asset checks dagster-dbt declares for them, tick after tick."""
        keys = {key.path[-1]: key for key in live_dbt_models.keys}
        declared = live_dbt_models.check_keys
        for node in build.nodes:
            if node.resource_type != "test" or not node.attached_to:
                continue
            model = keys.get(node.attached_to.rsplit(".", 1)[-1])
            if model is None or dg.AssetCheckKey(model, node.name) not in declared:
                continue
            self.context.log_event(
                dg.AssetCheckEvaluation(
                    asset_key=model,
                    check_name=node.name,
                    passed=node.status == "pass",
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"status": node.status, "failing_rows": node.failures or 0},
                )
            )


class LiveTickError(RuntimeError):
    pass


@dg.op(
    pool=LIVE_POOL,
    description="Ticks every tick_seconds until the business day ends: the live marts of today.",
    tags={"kind": "live"},
)
def live_session(
    context: dg.OpExecutionContext,
    config: LiveSessionConfig,
    exchange: ExchangeResource,
    landing: LandingResource,
    registry: RegistryResource,
    live_warehouse: WarehouseResource,
    exports: ExportsResource,
) -> None:
    clock = SessionClock.of(config)
    day = business_date_of(clock.now())
    _, day_end = business_day_bounds(day)
    dbt = LiveDbt(live_warehouse.path)
    context.log.info(f"live session of {day}: dbt project parsed in {dbt.parse_seconds:.1f} s")
    with SharedConnections(config.max_concurrency) as connections:
        session = LiveSession(
            context, config, exchange, landing, registry, live_warehouse, exports, dbt, connections
        )
        limits = (config.tick_seconds, config.ticks, config.max_failed_ticks)
        ticks, skipped = run_ticks(clock, day_end, session.tick, *limits, context.log)
    context.log.info(f"live session of {day} ended after {ticks} ticks ({skipped} slots skipped)")


def run_ticks(
    clock: SessionClock,
    day_end: datetime,
    tick: Callable[[datetime], dict],
    tick_seconds: float,
    max_ticks: int,
    max_failed_ticks: int,
    log,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> tuple[int, int]:
    """The session's loop: a tick every tick_seconds until the day ends (or max_ticks); (ticks, slots
    skipped). A failed tick is logged and the next one tried; max_failed_ticks in a row end the session."""
    ticks = skipped = failed_in_a_row = 0
    slot = monotonic()
    while not max_ticks or ticks < max_ticks:
        sleep(max(0.0, min(slot - monotonic(), clock.wall_seconds_until(day_end))))
        now = clock.now()
        if now >= day_end:
            break
        ticks += 1
        try:
            figures = tick(now)
        # Termination (the run cancelled) is a BaseException: it ends the loop at once, and there is
        # nothing to undo, since every tick commits its batches and its load before the next starts.
        except Exception as exc:
            failed_in_a_row += 1
            log.error(f"live tick {ticks} at {now.isoformat()} failed: {exc}")
            if failed_in_a_row >= max_failed_ticks:
                raise dg.Failure(f"{failed_in_a_row} live ticks in a row failed; the last: {exc}") from None
        else:
            failed_in_a_row = 0
            # One line a tick with its figures (the benchmark reads them from the run's log).
            log.info(f"live tick {ticks} as of {now.isoformat()}: {json.dumps(figures, default=str)}")
        # A tick that overran its slot makes the next slots skip, as a schedule would.
        slot += tick_seconds
        while slot <= monotonic():
            slot += tick_seconds
            skipped += 1
    return ticks, skipped


@dg.job(
    name=LIVE_JOB,
    executor_def=dg.in_process_executor,
    description="Live mode: today's session, a tick a minute until the business day ends (provisional "
    "live marts: live_today, live_films_today, live_cinemas_today).",
    tags={"ekino/mode": "live"},
)
def live_job():
    live_session()


@dg.schedule(
    cron_schedule=LIVE_CRON,
    execution_timezone=str(BUSINESS_TZ),
    job=live_job,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every minute: starts today's live session unless one is in progress.",
)
def live_schedule(context: dg.ScheduleEvaluationContext):
    running = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=LIVE_JOB, statuses=IN_PROGRESS), limit=1
    )
    if running:
        return dg.SkipReason(f"live session {running[0].dagster_run.run_id} is in progress")
    at = context.scheduled_execution_time.astimezone(BUSINESS_TZ)
    return dg.RunRequest(
        run_key=f"live-{at.isoformat()}", tags={"ekino/business_date": at.date().isoformat()}
    )


__all__ = ["LIVE_GROUP", "LIVE_JOB", "live_job", "live_schedule", "live_session"]
