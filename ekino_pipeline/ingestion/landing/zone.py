"""The landing zone's folders and commits: one folder per dataset, business day and cinema, committed by
its manifest (the package's docstring says how).

Each commit removes every file of the cinema-day that its manifest does not name and whose attempt
holds no lock: the files the new manifest replaced and the debris of killed or failed attempts
(temporary and unnamed Parquet files, temporary manifests, their lock files), while an attempt still
running in another process keeps its files. Every commit keeps the cinema-day's history: the manifest
lists the commits it superseded and the attempts found killed since (`history`, oldest first), so a
killed attempt followed by a successful re-pull shows both, while the manifest's own status is the
newest one.
"""

from __future__ import annotations

import errno
import functools
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa

from ekino_pipeline.atomic_files import write_atomically
from ekino_pipeline.errors import ConfigError
from ekino_pipeline.exchange.registry import validate_cinema_id
from ekino_pipeline.ingestion.landing.attempts import (
    KILLED,
    AttemptLock,
    DeadAttempt,
    attempt_alive,
    attempt_of,
    attempts_locked,
    dead_attempts,
    known_attempts,
    lock_attempts,
    new_attempt_id,
)
from ekino_pipeline.ingestion.landing.parquet import AtomicParquetWriter

MANIFEST = "_manifest.json"
NATIONAL = "national"  # the cinema_id slot of datasets that belong to no cinema (the registries)
# The newest entries a manifest's history keeps (an intraday refresh commits a day every hour).
HISTORY_LIMIT = 20


@dataclass(frozen=True)
class CinemaDay:
    """What one manifest commits: a dataset's day of one cinema (a film week's Thursday for the
    declared returns), the key from an asset's partition to a folder of the landing zone."""

    dataset: str
    cinema_id: str
    business_date: date


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


def _read_previous(directory: Path) -> dict | None:
    """The cinema-day's committed manifest, or None when there is none or it cannot be read (its
    history is then lost, never the new commit)."""
    try:
        previous = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return previous if isinstance(previous, dict) else None


def committed_manifest(path: Path) -> dict:
    """A manifest that readers follow; one that cannot be read names its file (a pull of the cinema-day
    replaces it)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path} is not a readable manifest: {exc}; pull that cinema-day again") from None
    if not isinstance(manifest, dict):
        raise ConfigError(f"{path} is not a readable manifest: not a JSON object; pull that cinema-day again")
    return manifest


# A pull asks for its cinema-day's folder several times (lock, writers, commit): paths are built once.
@functools.lru_cache(maxsize=4096)
def _cinema_day_dir(root: Path, dataset: str, business_date: date, cinema_id: str) -> Path:
    if cinema_id != NATIONAL:
        validate_cinema_id(cinema_id)
    return root / dataset / f"business_date={business_date.isoformat()}" / f"cinema_id={cinema_id}"


@dataclass(frozen=True)
class LandingZone:
    root: Path

    def cinema_day_dir(self, dataset: str, business_date: date, cinema_id: str) -> Path:
        return _cinema_day_dir(self.root, dataset, business_date, cinema_id)

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
        candidates = [attempt for attempt in lock_attempts(directory) if attempt != running]
        if not candidates:
            return []
        known = known_attempts(self.read_manifest(dataset, business_date, cinema_id))
        return dead_attempts(directory, candidates, known)

    def commit(
        self,
        dataset: str,
        business_date: date,
        cinema_id: str,
        manifest: dict,
        *,
        lock: AttemptLock | None = None,
    ) -> Path:
        """Replace the cinema-day's manifest atomically, then remove every file it does not name whose
        attempt is not running: the files it replaced, and the debris of killed or failed attempts.
        With the caller's `lock` (held, of the manifest's attempt), the lock file becomes the manifest.

        The manifest gets the cinema-day's `history` (set in the dict given): the previous manifest's,
        then the previous manifest itself, then the attempts found killed since, the newest
        HISTORY_LIMIT kept. A failed write (a full disk, no permission) raises and leaves the previous
        manifest in place, never a part of the new one.

        The folder is listed once: what a commit in another process adds after that is that
        commit's to look after, or the next one's."""
        directory = self.cinema_day_dir(dataset, business_date, cinema_id)
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            directory.mkdir(parents=True, exist_ok=True)
            names = []
        attempt_id = manifest.get("attempt_id") or new_attempt_id()
        previous = _read_previous(directory) if MANIFEST in names else None
        candidates = [attempt for attempt in attempts_locked(names) if attempt != attempt_id]
        killed = dead_attempts(directory, candidates, known_attempts(previous)) if candidates else []
        history = [*previous.get("history", []), _history_entry(previous)] if previous else []
        found = [dead.record(manifest.get("run_id")) for dead in killed]
        manifest["history"] = [*history, *found][-HISTORY_LIMIT:]
        # One line: json's indenting encoder is pure Python, a cost paid for every cinema-day.
        payload = json.dumps(manifest, sort_keys=True, default=str).encode("utf-8")
        if lock is not None and lock.attempt_id == attempt_id:
            lock.commit_as(directory / MANIFEST, payload)
        else:
            write_atomically(directory / MANIFEST, payload, tag=attempt_id)
        keep = {MANIFEST, *manifest.get("files", {}).values()}
        holding = lock.attempt_id if lock is not None else None
        self._remove_debris(directory, [name for name in names if name not in keep], holding)
        return directory / MANIFEST

    @staticmethod
    def _remove_debris(directory: Path, names: list[str], holding: str | None) -> None:
        alive: dict[str, bool] = {holding: True} if holding else {}
        for name in names:
            attempt = attempt_of(name)
            if attempt is None:
                continue  # a file we did not write is not ours to remove
            if attempt not in alive:
                alive[attempt] = attempt_alive(directory, attempt)
            if alive[attempt]:
                continue
            try:
                os.unlink(directory / name)
            except FileNotFoundError:
                pass
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
                    yield day, cinema_id, committed_manifest(manifest_path)

    def committed_files(self, dataset: str, days: Iterable[date], kind: str = "data") -> list[Path]:
        """The files that committed manifests name, for readers (the warehouse loader)."""
        files = []
        for day, cinema_id, manifest in self.manifests(dataset, days):
            name = manifest.get("files", {}).get(kind)
            if name:
                files.append(self.cinema_day_dir(dataset, day, cinema_id) / name)
        return files
