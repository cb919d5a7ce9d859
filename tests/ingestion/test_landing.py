"""The landing zone's commit protocol, without any HTTP."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from ekino_pipeline.ingestion.landing import LandingZone, new_attempt_id

DAY = date(2024, 3, 5)
SCHEMA = pa.schema([("x", pa.int64())])


def _land(zone: LandingZone, rows: int) -> dict:
    attempt = new_attempt_id()
    writer = zone.open_writer("ticket_events", DAY, "ALA-0001", "data", attempt, SCHEMA)
    writer.write(pa.table({"x": list(range(rows))}))
    writer.commit()
    manifest = {"attempt_id": attempt, "files": {"data": writer.path.name}, "landed": rows}
    zone.commit("ticket_events", DAY, "ALA-0001", manifest)
    return manifest


def test_a_new_commit_replaces_the_previous_attempts_files(tmp_path):
    zone = LandingZone(tmp_path)
    first = _land(zone, 3)
    second = _land(zone, 5)
    folder = zone.cinema_day_dir("ticket_events", DAY, "ALA-0001")
    assert sorted(p.name for p in folder.iterdir()) == sorted(["_manifest.json", second["files"]["data"]])
    assert zone.read_manifest("ticket_events", DAY, "ALA-0001")["attempt_id"] == second["attempt_id"]
    assert first["files"]["data"] != second["files"]["data"]


def test_an_aborted_attempt_leaves_the_committed_one_readable(tmp_path):
    zone = LandingZone(tmp_path)
    committed = _land(zone, 3)
    writer = zone.open_writer("ticket_events", DAY, "ALA-0001", "data", new_attempt_id(), SCHEMA)
    writer.write(pa.table({"x": [1]}))
    # The process dies here: no commit, no abort. Readers still see exactly the committed attempt.
    files = zone.committed_files("ticket_events", [DAY])
    assert [f.name for f in files] == [committed["files"]["data"]]


def test_a_pulls_lock_file_becomes_its_manifest_and_stays_locked_until_release(tmp_path):
    zone = LandingZone(tmp_path)
    previous = _land(zone, 3)
    folder = zone.cinema_day_dir("ticket_events", DAY, "ALA-0001")
    attempt = new_attempt_id()
    with zone.attempt("ticket_events", DAY, "ALA-0001", attempt, run_id="run-2") as lock:
        lock_inode = lock.path.stat().st_ino
        writer = zone.open_writer("ticket_events", DAY, "ALA-0001", "data", attempt, SCHEMA)
        writer.write(pa.table({"x": [7]}))
        writer.commit()
        manifest = {"attempt_id": attempt, "run_id": "run-2", "files": {"data": writer.path.name}}
        zone.commit("ticket_events", DAY, "ALA-0001", manifest, lock=lock)
        # One file fewer: the lock file is the manifest now, and the previous attempt's data is gone.
        assert sorted(os.listdir(folder)) == sorted(["_manifest.json", writer.path.name])
        assert (folder / "_manifest.json").stat().st_ino == lock_inode
        # Still held until released: a commit elsewhere sees the attempt running meanwhile.
        fd = os.open(folder / "_manifest.json", os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    # Released: the manifest stays, whole, with the previous commit in its history.
    assert sorted(os.listdir(folder)) == sorted(["_manifest.json", writer.path.name])
    committed = zone.read_manifest("ticket_events", DAY, "ALA-0001")
    assert committed["attempt_id"] == attempt and committed["files"] == manifest["files"]
    assert [h["attempt_id"] for h in committed["history"]] == [previous["attempt_id"]]


@pytest.mark.parametrize("bad", ["../etc", "ALA-0001/..", "ala-0001", "ALA-00001", "ALA-0001'; drop"])
def test_a_cinema_id_outside_the_strict_pattern_never_reaches_a_path(tmp_path, bad):
    with pytest.raises(ValueError, match="invalid cinema_id"):
        LandingZone(tmp_path).cinema_day_dir("ticket_events", DAY, bad)


# An attempt in another process: it lands a data file, starts a quarantine file and a manifest, holds
# its lock, says so, and waits to be killed (or to be left running).
_ATTEMPT = textwrap.dedent(
    """
    import sys, time
    from datetime import date
    from pathlib import Path
    import pyarrow as pa
    from ekino_pipeline.ingestion.landing import LandingZone

    zone, attempt = LandingZone(Path(sys.argv[1])), sys.argv[2]
    day, schema = date(2024, 3, 5), pa.schema([("x", pa.int64())])
    lock = zone.attempt("ticket_events", day, "ALA-0001", attempt)
    writer = zone.open_writer("ticket_events", day, "ALA-0001", "data", attempt, schema)
    writer.write(pa.table({"x": [1, 2]}))
    writer.commit()
    folder = zone.cinema_day_dir("ticket_events", day, "ALA-0001")
    (folder / f".quarantine-{attempt}.parquet.tmp").write_bytes(b"PAR1 half")
    (folder / f"._manifest.json.{attempt}.0badc0de.tmp").write_bytes(b'{"half": ')
    print("ready", flush=True)
    time.sleep(600)
    """
)


def _attempt_in_another_process(root: Path, attempt: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _ATTEMPT, str(root), attempt], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline() == "ready\n"
    return proc


def test_the_next_commit_removes_a_killed_attempts_debris_and_spares_a_running_attempts_files(tmp_path):
    # Regression: debris of a killed commit survived later commits (only files older than 6 hours went).
    zone = LandingZone(tmp_path)
    killed, running = "aaaa000000000001", "bbbb000000000002"
    victim = _attempt_in_another_process(tmp_path, killed)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    alive = _attempt_in_another_process(tmp_path, running)
    try:
        folder = zone.cinema_day_dir("ticket_events", DAY, "ALA-0001")
        debris = {
            f"data-{killed}.parquet",
            f".quarantine-{killed}.parquet.tmp",
            f"._manifest.json.{killed}.0badc0de.tmp",
            f".attempt-{killed}.lock",
        }
        assert debris <= {p.name for p in folder.iterdir()}

        committed = _land(zone, 3)

        left = {p.name for p in folder.iterdir()}
        assert left.isdisjoint(debris)
        # The killed attempt is on record in the new manifest's history; the running one is not.
        [found] = zone.read_manifest("ticket_events", DAY, "ALA-0001")["history"]
        assert (found["attempt_id"], found["status"], found["error_type"]) == (
            killed,
            "failed",
            "AttemptKilled",
        )
        assert found["pid"] == victim.pid and found["error"].startswith("attempt killed: run unknown")
        assert left == {
            "_manifest.json",
            committed["files"]["data"],
            f"data-{running}.parquet",
            f".quarantine-{running}.parquet.tmp",
            f"._manifest.json.{running}.0badc0de.tmp",
            f".attempt-{running}.lock",
        }
    finally:
        alive.kill()
        alive.wait()
    # Once that attempt is dead too, the commit after removes its files as well.
    committed = _land(zone, 4)
    assert {p.name for p in folder.iterdir()} == {"_manifest.json", committed["files"]["data"]}


# An attempt killed after writing its manifest into its lock file, before renaming it into place.
_KILLED_AT_RENAME = textwrap.dedent(
    """
    import os, sys, time
    from datetime import date
    from pathlib import Path
    from ekino_pipeline.ingestion.landing import LandingZone

    zone, attempt = LandingZone(Path(sys.argv[1])), sys.argv[2]
    lock = zone.attempt("ticket_events", date(2024, 3, 5), "ALA-0001", attempt, run_id="run-killed")
    def replace(*args):
        print("ready", flush=True)
        time.sleep(600)
    os.replace = replace
    # A manifest of many kilobytes, as a long history makes it.
    manifest = {"attempt_id": attempt, "run_id": "run-killed", "started_at": "2024-03-05T20:00:00+00:00",
                "files": {}, "note": "x" * 20_000}
    zone.commit("ticket_events", date(2024, 3, 5), "ALA-0001", manifest, lock=lock)
    """
)


def test_an_attempt_killed_between_its_manifest_and_the_rename_is_put_on_record_with_its_run(tmp_path):
    zone = LandingZone(tmp_path)
    killed = "cccc000000000003"
    victim = subprocess.Popen(
        [sys.executable, "-c", _KILLED_AT_RENAME, str(tmp_path), killed], stdout=subprocess.PIPE, text=True
    )
    assert victim.stdout.readline() == "ready\n"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    folder = zone.cinema_day_dir("ticket_events", DAY, "ALA-0001")
    assert f".attempt-{killed}.lock" in os.listdir(folder)  # the manifest never took its place
    assert zone.read_manifest("ticket_events", DAY, "ALA-0001") is None

    committed = _land(zone, 3)

    assert sorted(os.listdir(folder)) == sorted(["_manifest.json", committed["files"]["data"]])
    [found] = zone.read_manifest("ticket_events", DAY, "ALA-0001")["history"]
    assert (found["attempt_id"], found["error_type"], found["run_id"]) == (
        killed,
        "AttemptKilled",
        "run-killed",
    )
    assert found["started_at"] == "2024-03-05T20:00:00+00:00"


def test_a_manifest_the_disk_refuses_leaves_the_previous_one_whole_and_no_temporary_file(
    tmp_path, monkeypatch
):
    zone = LandingZone(tmp_path)
    committed = _land(zone, 3)
    folder = zone.cinema_day_dir("ticket_events", DAY, "ALA-0001")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        zone.commit("ticket_events", DAY, "ALA-0001", {"attempt_id": new_attempt_id(), "files": {}})
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert zone.read_manifest("ticket_events", DAY, "ALA-0001") == committed
