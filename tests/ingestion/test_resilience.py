"""Ingestion under the conditions of real operation: killed runs, intraday refreshes, late refunds,
backfills from the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb
import pyarrow.compute as pc

from ekino_pipeline.calendar import BUSINESS_TZ, business_date_of
from ekino_pipeline.ingestion.loading import raw_tables
from ekino_pipeline.settings import Settings
from tests.conftest import EkinoHome, start_simulator
from tests.ingestion.helpers import EXCHANGE_ASSETS, WINDOW_ONLY, landing, manifests, materialize, read_landed

DAY = date(2024, 3, 5)
BIN = os.path.dirname(sys.executable)
PULL_OPS = ("landing__sessions", "landing__ticket_events")


def _cli_env(env: dict[str, str], dagster_home) -> dict[str, str]:
    dagster_home.mkdir(parents=True, exist_ok=True)
    return {**os.environ, **env, "DAGSTER_HOME": str(dagster_home)}


def _owners_of_unheld_locks(env: dict[str, str]) -> dict[str, dict]:
    """cinema_id -> the owner record of its ticket-events lock file on DAY, for the locks that hold one
    (a lock file is empty for the instant between its creation and its record, and again while its
    attempt writes its manifest into it; it is gone once renamed into the manifest)."""
    folder = landing(env).root / "ticket_events" / f"business_date={DAY.isoformat()}"
    owners = {}
    for lock in folder.glob("cinema_id=*/.attempt-*.lock"):
        try:
            owners[lock.parent.name.removeprefix("cinema_id=")] = json.loads(lock.read_text())
        except (FileNotFoundError, ValueError):
            continue
    return owners


def test_a_run_killed_midway_is_on_record_and_the_next_run_lands_every_cinema_once(monkeypatch, tmp_path):
    # Regression: a killed run's cinema-days left no trace; the next run pulled them again silently.
    slow_sim, secrets = start_simulator(
        tmp_path,
        faults=[
            {"cinema_id": c, "scenario": "slow", "times": 1000, "delay_seconds": 0.5}
            for c in ("ALA-0001", "ALA-0002", "ALA-0004", "ALA-0007", "ALA-0008")
        ],
    )
    tokens = set(json.loads(secrets.read_text()).values())
    home = EkinoHome(tmp_path / "ekino", slow_sim, secrets)
    env = home.env
    dagster_home = tmp_path / "dagster"
    config = '{"ops": {"landing__ticket_events": {"config": {"max_concurrency": 2}}}}'
    proc = subprocess.Popen(
        [
            f"{BIN}/dagster",
            "asset",
            "materialize",
            "-m",
            "ekino_pipeline.definitions",
            "--select",
            "landing/ticket_events",
            "--partition",
            DAY.isoformat(),
            "--config-json",
            config,
        ],
        env=_cli_env(env, dagster_home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            len(manifests(env, "ticket_events", DAY)) >= 3
            and set(_owners_of_unheld_locks(env)) - set(manifests(env, "ticket_events", DAY))
        ):
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: the run and its step
        proc.wait()
    finally:
        slow_sim.stop()
    before = manifests(env, "ticket_events", DAY)
    assert 3 <= len(before) < 68
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        (dead_run,) = instance.get_runs()
    finally:
        instance.dispose()
    # The cinema-days the run was pulling when it died: a lock file no process holds, no manifest.
    owners = _owners_of_unheld_locks(env)
    killed = {c: owner for c, owner in owners.items() if c not in before}
    assert killed
    for owner in owners.values():
        # A run killed while an attempt renamed its manifest into place leaves that manifest instead.
        assert owner["run_id"] == dead_run.run_id and (isinstance(owner.get("pid"), int) or "status" in owner)
        assert not any(token in json.dumps(owner) for token in tokens)

    (tmp_path / "again").mkdir()
    sim, secrets = start_simulator(tmp_path / "again")
    try:
        home = EkinoHome(home.home, sim, secrets)
        # The pulls and the loader, as daily_job runs them.
        result = materialize(monkeypatch, home.env, DAY.isoformat(), assets=[*EXCHANGE_ASSETS, raw_tables])
        assert result.success
        landed = read_landed(home.env, "ticket_events", DAY)
        assert len(pc.unique(landed["event_id"])) == landed.num_rows
        expected = sum(
            sim.network.truth(c.cinema_id, DAY)["ticket_events"]["valid_unique"]
            for c in sim.registry.connected_cinemas
        )
        assert landed.num_rows == expected
    finally:
        sim.stop()
    after = manifests(home.env, "ticket_events", DAY)
    assert len(after) == 68
    for cinema_id, manifest in after.items():
        assert manifest["status"] == "success" and manifest["run_id"] == result.run_id
        assert (
            manifest["served"]
            == manifest["landed"] + manifest["quarantined"] + manifest["duplicates_dropped"]
        )
        history = manifest["history"]
        if cinema_id in killed:
            # Recorded as failed, with the dead run's id, before the re-pull that superseded it.
            [failed] = history
            assert (failed["attempt_id"], failed["run_id"]) == (
                killed[cinema_id]["attempt_id"],
                dead_run.run_id,
            )
            assert (failed["status"], failed["error_type"]) == ("failed", "AttemptKilled")
            assert failed["error"] == (
                f"attempt killed: run {dead_run.run_id} (started {killed[cinema_id]['started_at']}) "
                "ended without committing"
            )
            assert failed["found_dead_by_run_id"] == result.run_id
        elif cinema_id in before:
            assert [(h["attempt_id"], h["status"]) for h in history] == [
                (before[cinema_id]["attempt_id"], "success")
            ]
        else:
            assert history == []
    assert not list(landing(home.env).root.rglob(".attempt-*.lock"))
    # The warehouse's manifests: the newest status, the killed attempt counted, the history kept.
    con = duckdb.connect(str(Settings.from_env(home.env).warehouse_path), read_only=True)
    try:
        rows = con.execute(
            "select cinema_id, status, killed_attempts, history from raw.landing_manifests "
            "where dataset = 'ticket_events' and business_date = ?",
            [DAY],
        ).fetchall()
    finally:
        con.close()
    assert len(rows) == 68
    for cinema_id, status, killed_attempts, history in rows:
        assert status == "success"
        assert killed_attempts == (1 if cinema_id in killed else 0)
        assert json.loads(history) == after[cinema_id]["history"]


def test_refreshing_today_intraday_ends_equal_to_one_pull_at_the_end_of_the_day(monkeypatch, tmp_path):
    cinemas = ["ALA-0001", "SHY-0001"]
    afternoon = datetime(2024, 3, 5, 15, 0, tzinfo=BUSINESS_TZ).astimezone(UTC)
    night = datetime(2024, 3, 6, 3, 0, tzinfo=BUSINESS_TZ).astimezone(UTC)
    sim, secrets = start_simulator(tmp_path, now=afternoon)
    try:
        hourly = EkinoHome(tmp_path / "hourly", sim, secrets)
        assert materialize(monkeypatch, hourly.env, DAY.isoformat(), cinemas=cinemas).success
        partial = read_landed(hourly.env, "ticket_events", DAY)
        assert partial.num_rows > 0
        assert max(partial["occurred_at"].to_pylist()) <= afternoon
        sim.network.now = afternoon + timedelta(hours=3)
        assert materialize(monkeypatch, hourly.env, DAY.isoformat(), cinemas=cinemas).success
        sim.network.now = night
        assert materialize(monkeypatch, hourly.env, DAY.isoformat(), cinemas=cinemas).success

        once = EkinoHome(tmp_path / "once", sim, secrets)
        assert materialize(monkeypatch, once.env, DAY.isoformat(), cinemas=cinemas).success
    finally:
        sim.stop()
    refreshed = read_landed(hourly.env, "ticket_events", DAY)
    single = read_landed(once.env, "ticket_events", DAY)
    assert refreshed.num_rows > partial.num_rows
    assert sorted(refreshed["event_id"].to_pylist()) == sorted(single["event_id"].to_pylist())
    assert len(pc.unique(refreshed["event_id"])) == refreshed.num_rows


def test_a_late_refund_lands_on_the_day_it_happened_not_the_day_of_its_session(monkeypatch, tmp_path):
    cinema = "ALA-0001"
    sim, secrets = start_simulator(
        tmp_path, faults=[{"cinema_id": cinema, "scenario": "late_refund", "from_date": DAY.isoformat()}]
    )
    try:
        home = EkinoHome(tmp_path / "ekino", sim, secrets)
        for day in (DAY, DAY + timedelta(days=2)):
            assert materialize(monkeypatch, home.env, day.isoformat(), cinemas=[cinema]).success
    finally:
        sim.stop()
    later_sessions = read_landed(home.env, "sessions", DAY + timedelta(days=2))
    session_day = dict(
        zip(later_sessions["session_id"].to_pylist(), later_sessions["starts_at"].to_pylist(), strict=True)
    )
    events = read_landed(home.env, "ticket_events", DAY)
    refunds = events.filter(pc.equal(events["event_type"], "refund"))
    late = [
        (sid, ts)
        for sid, ts in zip(refunds["session_id"].to_pylist(), refunds["occurred_at"].to_pylist(), strict=True)
        if sid in session_day
    ]
    assert late, "the late_refund scenario produced refunds on DAY for sessions two days later"
    for session_id, occurred_at in late:
        assert business_date_of(occurred_at) == DAY
        assert business_date_of(session_day[session_id]) == DAY + timedelta(days=2)
    later_events = read_landed(home.env, "ticket_events", DAY + timedelta(days=2))
    late_ids = set(refunds["event_id"].to_pylist())
    assert not late_ids & set(later_events["event_id"].to_pylist())


def test_the_command_line_backfills_a_partition_range_in_one_run(pilot_home: EkinoHome, tmp_path):
    dagster_home = tmp_path / "dagster"
    proc = subprocess.run(
        [
            f"{BIN}/dagster",
            "asset",
            "materialize",
            "-m",
            "ekino_pipeline.definitions",
            "--select",
            "group:ingestion",
            "--partition-range",
            "2024-03-04...2024-03-05",
            "--config-json",
            # In one process: the steps' own processes would each import the code location again.
            json.dumps(
                {
                    "ops": {op: {"config": WINDOW_ONLY} for op in PULL_OPS},
                    "execution": {"config": {"in_process": {}}},
                }
            ),
        ],
        env=_cli_env(pilot_home.env, dagster_home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sim = pilot_home.simulator
    for day in (date(2024, 3, 4), date(2024, 3, 5)):
        events = manifests(pilot_home.env, "ticket_events", day)
        assert len(events) == 68
        assert sum(m["landed"] for m in events.values()) == sum(
            sim.network.truth(c, day)["ticket_events"]["valid_unique"] for c in events
        )
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        assert len(instance.get_runs()) == 1
    finally:
        instance.dispose()
