"""The live session: one run that ticks until the business day ends, dbt in its own process, a
materialization of every live asset per tick, in a live warehouse of its own."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from ekino_pipeline.definitions import build_resources
from ekino_pipeline.live import assets as live_assets
from ekino_pipeline.live.dbt import LiveDbt, live_dbt_models
from ekino_pipeline.live.session import LIVE_JOB, live_job, run_ticks
from ekino_pipeline.settings import Settings
from ekino_sim.network import SimulatedClock
from ekino_sim.server import SimulatorServer
from tests.conftest import ConnectionsSeen

EVENING = datetime(2025, 6, 14, 14, 0, tzinfo=UTC)  # a Saturday, 19:00 in Almaty
TICKS = 3

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A small network on the real clock (from a Saturday evening) and one live session of three ticks,
    two seconds apart, run as Dagster runs it."""
    root = tmp_path_factory.mktemp("session")
    clock = SimulatedClock(rate=5, start=EVENING)
    started_wall, started_at = time.time(), clock.now()
    secrets = root / "secrets.json"
    sim = SimulatorServer(
        seed=7, n_cinemas=6, secrets_file=secrets, registry_dir=root / "registry", clock=clock
    )
    sim.start()
    mp = pytest.MonkeyPatch()
    env = {
        "EKINO_HOME": str(root / "ekino"),
        "EKINO_EXCHANGE_BASE_URL": sim.url,
        "EKINO_SECRETS_FILE": str(secrets),
        "EKINO_REGISTRY_DIR": str(root / "registry"),
    }
    for name, value in env.items():
        mp.setenv(name, value)
    connections = ConnectionsSeen(mp, live_assets)
    settings = Settings.from_env()
    instance = dg.DagsterInstance.ephemeral()
    config = {
        "tick_seconds": 2,
        "ticks": TICKS,
        "clock_start": started_at.isoformat(),
        "clock_start_wall": started_wall,
        "clock_rate": 5,
    }
    job = dg.Definitions(jobs=[live_job], resources=build_resources(settings)).resolve_job_def(LIVE_JOB)
    result = job.execute_in_process(
        run_config={"ops": {"live_session": {"config": config}}}, instance=instance
    )
    yield {
        "result": result,
        "instance": instance,
        "settings": settings,
        "sim": sim,
        "connections": connections,
    }
    mp.undo()
    sim.stop()


def test_every_tick_materializes_every_live_asset(session):
    assert session["result"].success
    materialized = session["result"].asset_materializations_for_node("live_session")
    counts: dict[str, int] = {}
    for event in materialized:
        name = event.asset_key.to_user_string()
        counts[name] = counts.get(name, 0) + 1
    assert counts["landing/live_ticket_events"] == TICKS
    assert counts["raw/live_ticket_events"] == TICKS
    for key in live_dbt_models.keys:
        if key.path[-1] != "live_events_today":  # a view: nothing exported
            assert counts[key.to_user_string()] == TICKS, key
    last = [e for e in materialized if e.asset_key.path[-1] == "live_today"][-1]
    assert "provisional" in last.metadata["completeness"].value
    assert last.metadata["dbt_seconds"].value > 0


def test_every_tick_of_the_session_pulls_over_the_same_connections_closed_when_it_ends(session):
    seen = session["connections"]
    assert len(seen.given) >= TICKS * len(session["sim"].tokens)  # each tick's events, some sessions
    assert seen.given[0] is not None and set(map(id, seen.given)) == {id(seen.given[0])}
    assert seen.closed == [seen.given[0]]


def test_the_live_tests_are_reported_as_asset_checks_every_tick(session):
    evaluations = [
        e.event_specific_data
        for e in session["result"].all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    declared = live_dbt_models.check_keys
    assert evaluations and len(evaluations) == TICKS * len(declared)
    assert all(e.passed for e in evaluations)
    assert {e.asset_check_key for e in evaluations} == declared


def test_the_export_holds_what_the_live_warehouse_holds_and_the_warehouse_is_untouched(session):
    settings = session["settings"]
    national = next(
        r
        for r in pq.read_table(settings.exports_dir / "live_today.parquet").to_pylist()
        if r["scope"] == "national"
    )
    # dbt-duckdb keeps the file open in this process (as in the session's): the same configuration.
    with duckdb.connect(str(settings.live_path)) as con:
        (gross,) = con.execute(
            "select sum(case when event_type = 'sale' then amount_kzt else -amount_kzt end) "
            "from raw.live_ticket_events"
        ).fetchone()
    assert gross and national["gross_kzt"] == gross
    assert national["is_provisional"]
    # The daily run's warehouse is never opened by the live session (no pool shared, no lock held).
    assert not settings.warehouse_path.exists()


class Log:
    def __init__(self):
        self.errors: list[str] = []

    def info(self, message):
        pass

    def error(self, message):
        self.errors.append(message)


class FakeTime:
    """The session's clock, its sleep and its monotonic time, all on one counter the test moves."""

    def __init__(self, start: datetime):
        self.start, self.t = start, 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t)

    def wall_seconds_until(self, instant: datetime) -> float:
        return (instant - self.now()).total_seconds()

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def monotonic(self) -> float:
        return self.t


def test_the_session_ends_with_its_business_day():
    day_end = datetime(2025, 6, 14, 19, 0, tzinfo=UTC)  # midnight in Almaty
    clock = FakeTime(day_end - timedelta(minutes=5))
    seen = []
    ticks, skipped = run_ticks(
        clock, day_end, lambda now: seen.append(now) or {}, 60, 0, 5, Log(), clock.sleep, clock.monotonic
    )
    assert ticks == 5 and skipped == 0
    assert seen[-1] == day_end - timedelta(minutes=1)


def test_a_failed_tick_is_logged_and_the_next_one_runs_but_not_forever():
    day_end = datetime(2025, 6, 14, 19, 0, tzinfo=UTC)
    clock = FakeTime(day_end - timedelta(hours=1))
    outcomes = iter([ValueError("exchange down"), {}, *[OSError("disk full")] * 3])

    def tick(now):
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    log = Log()
    with pytest.raises(dg.Failure, match="3 live ticks in a row failed"):
        run_ticks(clock, day_end, tick, 60, 0, 3, log, clock.sleep, clock.monotonic)
    assert len(log.errors) == 4 and "exchange down" in log.errors[0]


def test_a_tick_that_overruns_its_slot_skips_the_next_slots():
    day_end = datetime(2025, 6, 14, 19, 0, tzinfo=UTC)
    clock = FakeTime(day_end - timedelta(hours=1))

    def slow(now):
        clock.sleep(150)  # two and a half minutes of work
        return {}

    ticks, skipped = run_ticks(clock, day_end, slow, 60, 2, 5, Log(), clock.sleep, clock.monotonic)
    assert (ticks, skipped) == (2, 4)


def test_a_terminated_run_ends_the_session_at_once_not_as_a_failed_tick():
    # Dagster ends a cancelled run's step with a BaseException; counting it as a failed tick would
    # keep the session ticking after it was told to stop.
    day_end = datetime(2025, 6, 14, 19, 0, tzinfo=UTC)
    clock = FakeTime(day_end - timedelta(hours=1))

    def interrupted(now):
        raise KeyboardInterrupt

    log = Log()
    with pytest.raises(KeyboardInterrupt):
        run_ticks(clock, day_end, interrupted, 60, 0, 5, log, clock.sleep, clock.monotonic)
    assert log.errors == []


def test_a_termination_that_dbt_hands_back_is_raised_again():
    # dbtRunner.invoke returns every BaseException as the result's exception, termination included.
    from dbt.cli.main import dbtRunnerResult

    class Runner:
        def invoke(self, args):
            return dbtRunnerResult(success=False, exception=KeyboardInterrupt())

    dbt = LiveDbt.__new__(LiveDbt)
    dbt._runner, dbt._common = Runner(), []
    with pytest.raises(KeyboardInterrupt):
        dbt.build()
