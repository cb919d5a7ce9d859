"""The landing zone: immutable Parquet per dataset, business day and cinema, committed by a manifest.

Layout: `<root>/<dataset>/business_date=YYYY-MM-DD/cinema_id=<id>/` holding
`data-<attempt>.parquet`, `quarantine-<attempt>.parquet` and `_manifest.json`.

The manifest is the commit point. Data files carry the attempt id in their name and are renamed into
place before the manifest that names them; the manifest itself is replaced with one atomic rename.
A reader that follows the manifest therefore sees exactly one complete attempt, whatever was killed
when, and a re-pull replaces exactly that cinema-day.

An attempt holds a lock (`flock` on `.attempt-<id>.lock` in the cinema-day's folder) from its first
file to its manifest, and the kernel drops it when the process dies, however it dies. The lock file
says whose attempt it is (run id, pid, start time; nothing secret). Each commit removes every file of
the cinema-day that its manifest does not name and whose attempt holds no lock: the files the new
manifest replaced and the debris of killed or failed attempts (temporary and unnamed Parquet files,
temporary manifests, their lock files), while an attempt still running in another process keeps its
files.

A lock file that no process holds, of an attempt no manifest names, is the trace of an attempt that
died before committing (SIGKILL, the OOM killer, a reboot): a finished attempt removes its lock file. A
pull that finds one records it as a failed manifest before it pulls again (ingestion/pull.py), and every
commit keeps the cinema-day's history: the manifest lists the commits it superseded and the attempts
found killed since (`history`, oldest first), so a killed attempt followed by a successful re-pull
shows both, while the manifest's own status is the newest one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import io
import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ekino_pipeline.errors import ConfigError
from ekino_pipeline.exchange.registry import validate_cinema_id

MANIFEST = "_manifest.json"
NATIONAL = "national"  # the cinema_id slot of datasets that belong to no cinema (the registries)
KILLED = "AttemptKilled"  # the error_type of an attempt found dead without a commit
# The newest entries a manifest's history keeps (an intraday refresh commits a day every hour).
HISTORY_LIMIT = 20
# A lock file without its owner's record is being created (the owner writes it right after taking the
# lock); one that stays without it this long belongs to an attempt that died at its very start.
_UNRECORDED_LOCK_SECONDS = 60.0


def new_attempt_id() -> str:
    return uuid.uuid4().hex[:16]


def _atomic_write_bytes(path: Path, payload: bytes, attempt_id: str) -> None:
    """Write to a temporary file named after the attempt, then rename it over `path`: a failed write
    (a full disk) leaves `path` as it was and removes its temporary file."""
    tmp = path.with_name(f".{path.name}.{attempt_id}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# The attempt a file of a cinema-day's folder belongs to: data-<id>.parquet, .quarantine-<id>.parquet.tmp,
# ._manifest.json.<id>.<random>.tmp, .attempt-<id>.lock.
_ATTEMPT_OF_FILE = re.compile(
    r"^\.?(?:(?:data|quarantine)-(?P<file>[0-9a-f]+)\.parquet(?:\.tmp)?"
    r"|_manifest\.json\.(?P<manifest>[0-9a-f]+)\.[0-9a-f]+\.tmp"
    r"|attempt-(?P<lock>[0-9a-f]+)\.lock)$"
)


def _attempt_of(name: str) -> str | None:
    match = _ATTEMPT_OF_FILE.match(name)
    return next((g for g in match.groups() if g), None) if match else None


def _lock_path(directory: Path, attempt_id: str) -> Path:
    return directory / f".attempt-{attempt_id}.lock"


class AttemptLock:
    """An attempt's claim on its files in a cinema-day's folder, held until `release` or its death.

    The lock file records its owner (attempt id, run id, pid, start time), written once the lock is
    held, so that whoever finds it unheld later can say which run died."""

    def __init__(self, directory: Path, attempt_id: str, run_id: str | None = None):
        self.path = _lock_path(directory, attempt_id)
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

    def release(self) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AttemptLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _attempt_alive(directory: Path, attempt_id: str) -> bool:
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
        raw, modified = os.read(fd, 4096), os.fstat(fd).st_mtime
    finally:
        os.close(fd)
    if not raw and time.time() - modified < _UNRECORDED_LOCK_SECONDS:
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


def _known_attempts(manifest: dict | None) -> set[str]:
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


def _lock_attempts(directory: Path) -> list[str]:
    """The attempts with a lock file in a cinema-day's folder (none when the folder does not exist)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return [name[9:-5] for name in names if name.startswith(".attempt-") and _attempt_of(name)]


def _killed_attempts(directory: Path, candidates: list[str], known: set[str]) -> list[DeadAttempt]:
    """The dead attempts among `candidates` that `known` does not account for, oldest first."""
    found = []
    for attempt in candidates:
        if attempt not in known:
            dead = _dead_attempt(directory, attempt)
            if dead is not None:
                found.append(dead)
    return sorted(found, key=lambda d: (d.started_at, d.attempt_id))


def _history_entry(manifest: dict) -> dict:
    """What the history keeps of a manifest that a newer commit superseded."""
    entry = {
        name: manifest.get(name)
        for name in ("attempt_id", "data_attempt_id", "run_id", "status", "error_type", "started_at")
    }
    entry["error"] = (manifest.get("error") or "")[:300] or None
    entry["finished_at"] = manifest.get("finished_at")
    if manifest.get("error_type") == KILLED:
        entry.update(pid=manifest.get("pid"), found_dead_by_run_id=manifest.get("found_dead_by_run_id"))
    return entry


# Columns whose values hardly repeat: a dictionary page for them is work thrown away.
_UNIQUE_COLUMNS = frozenset({"event_id", "ticket_id", "record_key", "raw_record"})


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Text and date columns that repeat (enumerations, ids of sessions and films, lineage)."""
    return [
        f.name
        for f in schema
        if f.name not in _UNIQUE_COLUMNS and (pa.types.is_string(f.type) or pa.types.is_date(f.type))
    ]


def _parquet_writer(sink, schema: pa.Schema) -> pq.ParquetWriter:
    return pq.ParquetWriter(sink, schema, compression="zstd", use_dictionary=_dictionary_columns(schema))


@functools.cache
def _empty_parquet(schema: pa.Schema) -> bytes:
    """The bytes of a Parquet file of `schema` with no rows, as a writer closed unused leaves them."""
    sink = io.BytesIO()
    _parquet_writer(sink, schema).close()
    return sink.getvalue()


class AtomicParquetWriter:
    """Writes tables to a temporary file and renames it into place on commit.

    Tables are held until FLUSH_ROWS rows have come (a cinema-day is usually one row group, written
    once, rather than one small row group per page), and the file is written through a buffer, so a
    cinema-day costs a few system calls rather than one per column chunk. A writer made with
    `optional=True` that never gets a row writes no file at all (most cinema-days quarantine nothing);
    otherwise an empty file is written from ready-made bytes.
    """

    FLUSH_ROWS = 50_000
    BUFFER_BYTES = 1 << 20

    def __init__(self, path: Path, schema: pa.Schema, *, optional: bool = False):
        self.path = path
        self.schema = schema
        self.optional = optional
        self.rows = 0
        self._tmp = path.with_name(f".{path.name}.tmp")
        self._sink: pa.NativeFile | None = None
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            if not table.schema.equals(self.schema):
                table = table.cast(self.schema)
            self._pending.append(table)
            self.rows += table.num_rows
            self._pending_rows += table.num_rows
            if self._pending_rows >= self.FLUSH_ROWS:
                self._flush()

    def _flush(self) -> None:
        if self._writer is None:
            self._sink = pa.output_stream(str(self._tmp), buffer_size=self.BUFFER_BYTES)
            self._writer = _parquet_writer(self._sink, self.schema)
        if self._pending:
            self._writer.write_table(pa.concat_tables(self._pending))
            self._pending, self._pending_rows = [], 0

    def commit(self) -> Path | None:
        """Rename the file into place; None for an optional writer that got no rows (no file). A
        failed write (a full disk) raises, leaving no file behind."""
        try:
            if self._writer is None and not self._pending:
                if self.optional:
                    return None
                self._tmp.write_bytes(_empty_parquet(self.schema))
            else:
                self._flush()
                self._close()
            self._tmp.replace(self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop the attempt's file. Never raises: it runs after a failure, often of the disk itself."""
        self._pending = []
        with contextlib.suppress(OSError):
            self._close()
        self._writer = self._sink = None
        with contextlib.suppress(OSError):
            self._tmp.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._sink is not None:
            self._sink.close()
            self._sink = None


def _read_previous(directory: Path) -> dict | None:
    """The cinema-day's committed manifest, or None when there is none or it cannot be read (its
    history is then lost, never the new commit)."""
    try:
        previous = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return previous if isinstance(previous, dict) else None


def _committed_manifest(path: Path) -> dict:
    """A manifest that readers follow; one that cannot be read names its file (a pull of the cinema-day
    replaces it)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path} is not a readable manifest: {exc}; pull that cinema-day again") from None
    if not isinstance(manifest, dict):
        raise ConfigError(f"{path} is not a readable manifest: not a JSON object; pull that cinema-day again")
    return manifest


@dataclass(frozen=True)
class LandingZone:
    root: Path

    def cinema_day_dir(self, dataset: str, business_date: date, cinema_id: str) -> Path:
        if cinema_id != NATIONAL:
            validate_cinema_id(cinema_id)
        return self.root / dataset / f"business_date={business_date.isoformat()}" / f"cinema_id={cinema_id}"

    def open_writer(
        self,
        dataset: str,
        business_date: date,
        cinema_id: str,
        kind: str,
        attempt_id: str,
        schema: pa.Schema,
        *,
        optional: bool = False,
    ) -> AtomicParquetWriter:
        directory = self.cinema_day_dir(dataset, business_date, cinema_id)
        directory.mkdir(parents=True, exist_ok=True)
        return AtomicParquetWriter(directory / f"{kind}-{attempt_id}.parquet", schema, optional=optional)

    def attempt(
        self, dataset: str, business_date: date, cinema_id: str, attempt_id: str, *, run_id: str | None = None
    ) -> AttemptLock:
        """Hold this for the whole attempt, from its first file to its manifest: a commit of the
        cinema-day in another process leaves the files of a held attempt alone."""
        directory = self.cinema_day_dir(dataset, business_date, cinema_id)
        directory.mkdir(parents=True, exist_ok=True)
        return AttemptLock(directory, attempt_id, run_id)

    def read_manifest(self, dataset: str, business_date: date, cinema_id: str) -> dict | None:
        path = self.cinema_day_dir(dataset, business_date, cinema_id) / MANIFEST
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def killed_attempts(
        self, dataset: str, business_date: date, cinema_id: str, *, running: str | None = None
    ) -> list[DeadAttempt]:
        """The cinema-day's attempts that died without committing and are not on record yet, oldest
        first. A held lock (an attempt running in any process, `running` the caller's) is never one of
        them. The common case, no lock but the caller's, costs one listing of the folder."""
        directory = self.cinema_day_dir(dataset, business_date, cinema_id)
        candidates = [attempt for attempt in _lock_attempts(directory) if attempt != running]
        if not candidates:
            return []
        known = _known_attempts(self.read_manifest(dataset, business_date, cinema_id))
        return _killed_attempts(directory, candidates, known)

    def commit(self, dataset: str, business_date: date, cinema_id: str, manifest: dict) -> Path:
        """Replace the cinema-day's manifest atomically, then remove every file it does not name whose
        attempt is not running: the files it replaced, and the debris of killed or failed attempts.

        The manifest gets the cinema-day's `history` (set in the dict given): the previous manifest's,
        then the previous manifest itself, then the attempts found killed since, the newest
        HISTORY_LIMIT kept. A failed write (a full disk, no permission) raises and leaves the previous
        manifest in place, never a part of the new one."""
        directory = self.cinema_day_dir(dataset, business_date, cinema_id)
        directory.mkdir(parents=True, exist_ok=True)
        attempt_id = manifest.get("attempt_id") or new_attempt_id()
        previous = _read_previous(directory)
        candidates = [attempt for attempt in _lock_attempts(directory) if attempt != attempt_id]
        killed = _killed_attempts(directory, candidates, _known_attempts(previous)) if candidates else []
        history = [*previous.get("history", []), _history_entry(previous)] if previous else []
        found = [dead.record(manifest.get("run_id")) for dead in killed]
        manifest["history"] = [*history, *found][-HISTORY_LIMIT:]
        # One line: json's indenting encoder is pure Python, a cost paid for every cinema-day.
        payload = json.dumps(manifest, sort_keys=True, default=str).encode("utf-8")
        _atomic_write_bytes(directory / MANIFEST, payload, attempt_id)
        self._remove_debris(directory, keep={MANIFEST, *manifest.get("files", {}).values()})
        return directory / MANIFEST

    @staticmethod
    def _remove_debris(directory: Path, keep: set[str]) -> None:
        alive: dict[str, bool] = {}
        for child in directory.iterdir():
            attempt = _attempt_of(child.name)
            if child.name in keep or attempt is None:
                continue  # a file we did not write is not ours to remove
            if attempt not in alive:
                alive[attempt] = _attempt_alive(directory, attempt)
            if alive[attempt]:
                continue
            try:
                child.unlink(missing_ok=True)
            except OSError as exc:  # debris that stays is removed by a later commit
                if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                    raise

    def manifests(self, dataset: str, days: Iterable[date]) -> Iterator[tuple[date, str, dict]]:
        """Every committed manifest of a dataset on the given days: (business_date, cinema_id, manifest)."""
        for day in days:
            day_dir = self.root / dataset / f"business_date={day.isoformat()}"
            if not day_dir.is_dir():
                continue
            for cinema_dir in sorted(day_dir.iterdir()):
                if not cinema_dir.name.startswith("cinema_id="):
                    continue
                manifest_path = cinema_dir / MANIFEST
                if manifest_path.is_file():
                    cinema_id = cinema_dir.name.removeprefix("cinema_id=")
                    yield day, cinema_id, _committed_manifest(manifest_path)

    def committed_files(self, dataset: str, days: Iterable[date], kind: str = "data") -> list[Path]:
        """The files that committed manifests name, for readers (the warehouse loader)."""
        files = []
        for day, cinema_id, manifest in self.manifests(dataset, days):
            name = manifest.get("files", {}).get(kind)
            if name:
                files.append(self.cinema_day_dir(dataset, day, cinema_id) / name)
        return files
