"""An attempt whose process was killed (SIGKILL, the OOM killer) leaves its lock file unheld: the next
pull or commit of its cinema-day puts it on record as failed, with the dead run's id, while a lock that a
running attempt holds is never taken for a dead one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from ekino_pipeline import reporting_states as rs
from ekino_pipeline.exchange.client import ExchangeError
from ekino_pipeline.ingestion.landing import (
    KILLED,
    CinemaDay,
    LandingZone,
    new_attempt_id,
    record_killed_attempts,
)
from ekino_pipeline.ingestion.loading import _manifest_table
from ekino_pipeline.ingestion.pull import pull_cinema_day
from ekino_pipeline.monitoring import reporting

DAY = date(2024, 3, 5)
CINEMA = "ALA-0001"
DEAD_RUN = "0f1e2d3c-dead-4b5a-8c7d-000000000001"

# A pull's attempt in another process: takes the cinema-day's lock as a run would, starts its data
# file, says so, and waits to be killed (or left running).
_ATTEMPT = textwrap.dedent(
    """
    import sys, time
    from datetime import date
    from pathlib import Path
    from ekino_pipeline.ingestion.landing import LandingZone

    zone, attempt, run_id = LandingZone(Path(sys.argv[1])), sys.argv[2], sys.argv[3]
    lock = zone.attempt("ticket_events", date(2024, 3, 5), "ALA-0001", attempt, run_id=run_id)
    folder = zone.cinema_day_dir("ticket_events", date(2024, 3, 5), "ALA-0001")
    (folder / f".data-{attempt}.parquet.tmp").write_bytes(b"PAR1 half")
    print("ready", flush=True)
    time.sleep(600)
    """
)


class _Attempt:
    def __init__(self, root: Path, run_id: str = DEAD_RUN):
        self.attempt_id = new_attempt_id()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ATTEMPT, str(root), self.attempt_id, run_id],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline() == "ready\n"

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def zone(tmp_path):
    return LandingZone(tmp_path)


def _commit_success(zone: LandingZone, run_id: str = "next-run") -> dict:
    manifest = {
        "dataset": "ticket_events",
        "cinema_id": CINEMA,
        "business_date": DAY.isoformat(),
        "attempt_id": new_attempt_id(),
        "run_id": run_id,
        "status": "success",
        "error": None,
        "served": 3,
        "landed": 3,
        "quarantined": 0,
        "duplicates_dropped": 0,
        "files": {},
    }
    zone.commit("ticket_events", DAY, CINEMA, manifest)
    return manifest


def _sessions_ok() -> dict:
    return {"status": "success", "landed": 2, "quarantined": 0}


def test_a_lock_held_by_a_running_attempt_is_not_taken_for_a_killed_one(zone, tmp_path):
    running = _Attempt(tmp_path)
    try:
        assert zone.killed_attempts("ticket_events", DAY, CINEMA) == []
        assert record_killed_attempts(CinemaDay("ticket_events", CINEMA, DAY), zone) is None
        committed = _commit_success(zone)
        assert committed["history"] == []
        folder = zone.cinema_day_dir("ticket_events", DAY, CINEMA)
        assert f".attempt-{running.attempt_id}.lock" in {p.name for p in folder.iterdir()}
    finally:
        running.kill()
    # Dead now: the next look finds it, with the run, process and start its lock file recorded.
    [dead] = zone.killed_attempts("ticket_events", DAY, CINEMA)
    assert (dead.attempt_id, dead.run_id, dead.pid) == (running.attempt_id, DEAD_RUN, running.proc.pid)
    assert dead.started_at.startswith("20")
    assert (
        dead.reason == f"attempt killed: run {DEAD_RUN} (started {dead.started_at}) ended without committing"
    )


def test_a_killed_attempt_recorded_alone_is_a_failed_cinema_day_with_its_reason(zone, tmp_path):
    _Attempt(tmp_path).kill()
    req = CinemaDay("ticket_events", CINEMA, DAY)
    recorded = record_killed_attempts(req, zone, run_id="next-run")
    on_disk = zone.read_manifest("ticket_events", DAY, CINEMA)
    assert on_disk == recorded
    assert (on_disk["status"], on_disk["error_type"], on_disk["run_id"]) == ("failed", KILLED, DEAD_RUN)
    assert DEAD_RUN in on_disk["error"] and on_disk["found_dead_by_run_id"] == "next-run"
    assert (
        on_disk["served"] == on_disk["landed"] + on_disk["quarantined"] + on_disk["duplicates_dropped"] == 0
    )
    # Its debris and lock are gone, and it is recorded once: a second look finds nothing more.
    assert [p.name for p in zone.cinema_day_dir("ticket_events", DAY, CINEMA).iterdir()] == ["_manifest.json"]
    assert record_killed_attempts(req, zone) is None

    # Failed, with its reason, wherever a cinema-day's state is read: the shared rule, the sensor's
    # reading of the landing zone, and the warehouse's manifests row.
    assert rs.cinema_day_state(_sessions_ok(), on_disk) == rs.FAILED
    zone.commit("sessions", DAY, CINEMA, {"attempt_id": new_attempt_id(), **_sessions_ok(), "files": {}})
    flag, detail, _ = reporting._day_state(zone, CINEMA, DAY)
    assert flag == reporting.API_DOWN and DEAD_RUN in detail
    [row] = _manifest_table([on_disk]).to_pylist()
    assert (row["status"], row["killed_attempts"]) == ("failed", 1) and DEAD_RUN in row["error"]


def test_a_killed_attempt_followed_by_a_successful_pull_counts_as_the_success_and_keeps_both(zone, tmp_path):
    _Attempt(tmp_path).kill()
    record_killed_attempts(CinemaDay("ticket_events", CINEMA, DAY), zone, run_id="next-run")
    final = _commit_success(zone)
    assert rs.cinema_day_state(_sessions_ok(), final) == rs.REPORTED
    [killed] = final["history"]
    assert (killed["status"], killed["error_type"], killed["run_id"]) == ("failed", KILLED, DEAD_RUN)
    [row] = _manifest_table([final]).to_pylist()
    assert (row["status"], row["killed_attempts"]) == ("success", 1)
    assert json.loads(row["history"]) == final["history"]


def test_a_commit_that_finds_a_killed_attempt_puts_it_in_the_history(zone, tmp_path):
    # A commit that is not a pull (a dead worker's failure, a quarantine replay) records it too.
    first = _commit_success(zone, run_id="first-run")
    killed = _Attempt(tmp_path)
    killed.kill()
    second = _commit_success(zone)
    superseded, found = second["history"]
    assert (superseded["attempt_id"], superseded["status"]) == (first["attempt_id"], "success")
    assert (found["attempt_id"], found["error_type"], found["found_dead_by_run_id"]) == (
        killed.attempt_id,
        KILLED,
        "next-run",
    )


def test_a_pull_records_the_killed_attempt_before_pulling_again(zone, tmp_path):
    # The re-pull fails too here: the cinema-day stays failed, with both failures on record.
    _Attempt(tmp_path).kill()

    def down():
        raise ExchangeError("HTTP 503 maintenance")

    manifest = pull_cinema_day(CinemaDay("ticket_events", CINEMA, DAY), down, zone, run_id="next-run")
    assert (manifest["status"], manifest["error"], manifest["run_id"]) == (
        "failed",
        "HTTP 503 maintenance",
        "next-run",
    )
    [killed] = manifest["history"]
    assert killed["error_type"] == KILLED and DEAD_RUN in killed["error"]
    assert killed["found_dead_by_run_id"] == "next-run"
    assert zone.read_manifest("ticket_events", DAY, CINEMA) == manifest


def test_a_lock_file_says_whose_attempt_it_is(zone):
    with zone.attempt("ticket_events", DAY, CINEMA, "abc0123456789def", run_id="a-run") as lock:
        owner = json.loads(lock.path.read_text())
    assert owner == {
        "attempt_id": "abc0123456789def",
        "run_id": "a-run",
        "pid": os.getpid(),
        "started_at": owner["started_at"],
    }


def test_an_unheld_lock_file_without_its_owners_record_is_dead_only_once_it_is_old(zone):
    # Between creating its lock file and writing its record, a live attempt looks like this.
    folder = zone.cinema_day_dir("ticket_events", DAY, CINEMA)
    folder.mkdir(parents=True)
    lock = folder / ".attempt-0123456789abcdef.lock"
    lock.touch()
    assert zone.killed_attempts("ticket_events", DAY, CINEMA) == []
    os.utime(lock, (lock.stat().st_atime - 3600, lock.stat().st_mtime - 3600))
    [dead] = zone.killed_attempts("ticket_events", DAY, CINEMA)
    assert (dead.attempt_id, dead.run_id, dead.pid) == ("0123456789abcdef", None, None)
    assert dead.reason.startswith("attempt killed: run unknown (started ")
