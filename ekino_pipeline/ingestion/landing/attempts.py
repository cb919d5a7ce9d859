"""Attempts at a cinema-day and their locks: which files are whose, which attempt is running, which died.

An attempt holds a lock (`flock` on `.attempt-<id>.lock` in the cinema-day's folder) from its first
file to its manifest, and the kernel drops it when the process dies, however it dies. The lock file
says whose attempt it is (run id, pid, start time; nothing secret). A lock file that no process holds,
of an attempt no manifest names, is the trace of an attempt that died before committing (SIGKILL, the
OOM killer, a reboot): a finished attempt removes its lock file, or a pull's commit renames it into
the cinema-day's manifest (`AttemptLock.commit_as`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

KILLED = "AttemptKilled"  # the error_type of an attempt found dead without a commit
# A lock file without its owner's record is being created (the owner writes it right after taking the
# lock); one that stays without it this long belongs to an attempt that died at its very start.
UNRECORDED_LOCK_SECONDS = 60.0

# The attempt a file of a cinema-day's folder belongs to: data-<id>.parquet, .quarantine-<id>.parquet.tmp,
# ._manifest.json.<id>.<random>.tmp, .attempt-<id>.lock.
_ATTEMPT_OF_FILE = re.compile(
    r"^\.?(?:(?:data|quarantine)-(?P<file>[0-9a-f]+)\.parquet(?:\.tmp)?"
    r"|_manifest\.json\.(?P<manifest>[0-9a-f]+)\.[0-9a-f]+\.tmp"
    r"|attempt-(?P<lock>[0-9a-f]+)\.lock)$"
)


def new_attempt_id() -> str:
    return uuid.uuid4().hex[:16]


def attempt_of(name: str) -> str | None:
    """The attempt a file of a cinema-day's folder belongs to; None for a file the landing did not write."""
    match = _ATTEMPT_OF_FILE.match(name)
    return next((g for g in match.groups() if g), None) if match else None


def _lock_path(directory: Path, attempt_id: str) -> Path:
    return directory / f".attempt-{attempt_id}.lock"


class AttemptLock:
    """An attempt's claim on its files in a cinema-day's folder, held until `release` or its death.

    The lock file records its owner (attempt id, run id, pid, start time), written once the lock is
    held, so that whoever finds it unheld later can say which run died."""

    def __init__(self, directory: Path, attempt_id: str, run_id: str | None = None):
        self.attempt_id = attempt_id
        self.path = _lock_path(directory, attempt_id)
        self._committed = False
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                # A commit may have removed the file between our open and our lock (it found it
                # unlocked): a lock on a removed file protects nothing, so take a fresh one.
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    self._fd: int | None = fd
                    break
            except FileNotFoundError:
                pass
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        owner = {
            "attempt_id": attempt_id,
            "run_id": run_id,
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(),
        }
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(owner).encode("utf-8"))
        except OSError:  # a full disk: the lock still holds; a finder would only lack the owner's name
            pass

    def commit_as(self, target: Path, payload: bytes) -> None:
        """The attempt's last act: its lock file becomes `target` (the cinema-day's manifest), holding
        `payload`, written, flushed and renamed over it. A pull creates one file less per cinema-day
        than a lock file and a temporary manifest would, and the lock holds until `release`, so a
        commit in another process sees the attempt running until its manifest is in place. A failed
        write (a full disk) raises and leaves `target` as it was; the lock file goes on release."""
        if self._fd is None or self._committed:
            raise RuntimeError(f"{self.path.name}: the attempt is released or already committed")
        os.ftruncate(self._fd, 0)
        view, offset = memoryview(payload), 0
        while offset < len(view):
            offset += os.pwrite(self._fd, view[offset:], offset)
        os.fsync(self._fd)
        os.replace(self.path, target)
        self._committed = True

    def release(self) -> None:
        if self._fd is not None:
            if not self._committed:
                self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AttemptLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def attempt_alive(directory: Path, attempt_id: str) -> bool:
    """Whether a process holds the attempt's lock (this one included). An attempt without a lock file
    is over: its lock file goes only once the attempt is released or found dead."""
    try:
        fd = os.open(_lock_path(directory, attempt_id), os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@dataclass(frozen=True)
class DeadAttempt:
    """An attempt whose lock file no process holds and that no manifest names: it died uncommitted."""

    attempt_id: str
    run_id: str | None
    pid: int | None
    started_at: str  # from its lock file's owner record, else the lock file's modification time

    @property
    def reason(self) -> str:
        return (
            f"attempt killed: run {self.run_id or 'unknown'} (started {self.started_at}) "
            "ended without committing"
        )

    def record(self, found_by_run_id: str | None) -> dict:
        """Its entry in a manifest's history, found by the run committing that manifest."""
        return {
            "attempt_id": self.attempt_id,
            "run_id": self.run_id,
            "pid": self.pid,
            "status": "failed",
            "error": self.reason,
            "error_type": KILLED,
            "started_at": self.started_at,
            "finished_at": None,
            "found_dead_by_run_id": found_by_run_id,
        }


def _dead_attempt(directory: Path, attempt_id: str) -> DeadAttempt | None:
    """The attempt of a lock file when no process holds it, None while one does (or it is being made,
    or it was released meanwhile)."""
    try:
        fd = os.open(_lock_path(directory, attempt_id), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        # The owner record, or the manifest itself when the attempt died between writing it into its
        # lock file and renaming that (commit_as): a manifest runs to a few kilobytes.
        status = os.fstat(fd)
        raw, modified = os.read(fd, min(status.st_size, 1 << 20)), status.st_mtime
    finally:
        os.close(fd)
    if not raw and time.time() - modified < UNRECORDED_LOCK_SECONDS:
        return None
    try:
        owner = json.loads(raw)
    except ValueError:  # killed while writing it, or a reboot lost it: the attempt is still dead
        owner = None
    if not isinstance(owner, dict):
        owner = {}
    run_id, pid = owner.get("run_id"), owner.get("pid")
    return DeadAttempt(
        attempt_id=attempt_id,
        run_id=run_id if isinstance(run_id, str) else None,
        pid=pid if isinstance(pid, int) else None,
        started_at=str(owner.get("started_at") or datetime.fromtimestamp(modified, UTC).isoformat()),
    )


def known_attempts(manifest: dict | None) -> set[str]:
    """The attempts a manifest accounts for: its own, its data's, its replays' and its history's."""
    if not manifest:
        return set()
    entries = [manifest, *manifest.get("history", []), *manifest.get("replays", [])]
    return {
        attempt
        for entry in entries
        if isinstance(entry, dict)
        for attempt in (entry.get("attempt_id"), entry.get("data_attempt_id"))
        if attempt
    }


def lock_attempts(directory: Path) -> list[str]:
    """The attempts with a lock file in a cinema-day's folder (none when the folder does not exist)."""
    try:
        return attempts_locked(os.listdir(directory))
    except FileNotFoundError:
        return []


def attempts_locked(names: list[str]) -> list[str]:
    """The attempts with a lock file among the names of a cinema-day's folder."""
    return [name[9:-5] for name in names if name.startswith(".attempt-") and attempt_of(name)]


def dead_attempts(directory: Path, candidates: list[str], known: set[str]) -> list[DeadAttempt]:
    """The dead attempts among `candidates` that `known` does not account for, oldest first."""
    found = []
    for attempt in candidates:
        if attempt not in known:
            dead = _dead_attempt(directory, attempt)
            if dead is not None:
                found.append(dead)
    return sorted(found, key=lambda d: (d.started_at, d.attempt_id))
