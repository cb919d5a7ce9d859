"""Publications: the marts of one build as one unit, so that a reader never mixes two builds.

Every mart export is replaced atomically on its own (`<exports>/<mart>.parquet`), so a reader of several
of them while a build publishes can see some of the old build and some of the new. A publication ties
them together: after a build's exports are written, their files are hard linked (no copy, no extra
space while they are current) into `<exports>/publications/<id>/` with a `publication.json` naming the
marts and their rows, the folder is renamed into place, and only then does the pointer
`<exports>/publications/current.json` (replaced atomically) name it. A reader resolves the pointer once
and reads that folder: the files there never change. The next build's exports replace the files in
`<exports>/`, never the linked ones, which keep the previous build's bytes until their folder is pruned
(the newest `KEEP` publications stay).

A publication holds the build's marts and the other Parquet exports beside them at that moment (a
forecast written by its own step, say), but not the live marts (`live_*`, replaced every minute).
Readers of `<exports>/<mart>.parquet` (the analysts' API, the report, the sensors) see no change.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from ekino_pipeline.atomic_files import write_atomically

PUBLICATIONS_DIR = "publications"
POINTER = "current.json"
MANIFEST = "publication.json"
KEEP = 3
LIVE_PREFIX = "live_"
# A folder still being linked is hidden; one left by a killed publisher is removed after this long.
STALE_STAGING_SECONDS = 3600


@dataclass(frozen=True)
class Publication:
    id: str
    published_at: datetime
    directory: Path
    marts: dict[str, int]  # mart name -> rows

    def path(self, mart: str) -> Path:
        return self.directory / f"{mart}.parquet"


def publications_dir(exports_dir: Path) -> Path:
    return Path(exports_dir) / PUBLICATIONS_DIR


def pointer_path(exports_dir: Path) -> Path:
    return publications_dir(exports_dir) / POINTER


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links: a copy holds the same bytes
        shutil.copy2(source, target)


def publish(exports_dir: Path, exported: Iterable[Path], now: datetime | None = None) -> Publication:
    """Make the exported files (and the other non-live Parquet exports beside them) the current
    publication; returns it."""
    exports_dir = Path(exports_dir)
    root = publications_dir(exports_dir)
    root.mkdir(parents=True, exist_ok=True)
    published_at = (now or datetime.now(UTC)).astimezone(UTC)
    pub_id = f"{published_at:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:6]}"
    files = {Path(p).stem: Path(p) for p in exported}
    for other in exports_dir.glob("*.parquet"):
        if not other.name.startswith((".", LIVE_PREFIX)):
            files.setdefault(other.stem, other)
    staging = root / f".{pub_id}.tmp"
    staging.mkdir()
    try:
        marts = {}
        for name, source in sorted(files.items()):
            _link(source, staging / f"{name}.parquet")
            marts[name] = pq.read_metadata(staging / f"{name}.parquet").num_rows
        manifest = {"id": pub_id, "published_at": published_at.isoformat(), "marts": marts}
        write_atomically(staging / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
        staging.rename(root / pub_id)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    pointer = {"id": pub_id, "published_at": published_at.isoformat()}
    write_atomically(root / POINTER, json.dumps(pointer).encode("utf-8"))
    prune(exports_dir, current_id=pub_id)
    return Publication(pub_id, published_at, root / pub_id, marts)


def prune(exports_dir: Path, current_id: str, keep: int = KEEP) -> list[str]:
    """Remove all but the newest `keep` publications (never the current one) and staging folders a
    killed publisher left behind."""
    root = publications_dir(exports_dir)
    removed = []
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)
    for folder in folders[keep:]:
        if folder.name != current_id and _remove_unless_read(folder):
            removed.append(folder.name)
    for staging in root.glob(".*.tmp"):
        if staging.is_dir() and time.time() - staging.stat().st_mtime > STALE_STAGING_SECONDS:
            shutil.rmtree(staging, ignore_errors=True)
    return removed


def _remove_unless_read(folder: Path) -> bool:
    """Remove a publication's folder unless a reader holds it (`reading`); a held one goes at a later
    prune. Taking the folder's lock first means a reader never loads half a removed publication."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    try:
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(fd)
    return True


@contextlib.contextmanager
def reading(publication: Publication):
    """Hold a publication against pruning while its files are read (a shared lock on its folder, which
    the kernel drops if the reader dies). Raises FileNotFoundError when it was removed meanwhile."""
    fd = os.open(publication.directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        if not (publication.directory / MANIFEST).exists():  # removed while we waited for the lock
            raise FileNotFoundError(publication.directory)
        yield publication
    finally:
        os.close(fd)


def current(exports_dir: Path) -> Publication | None:
    """The publication the pointer names; None before the first one."""
    root = publications_dir(exports_dir)
    try:
        pointer = json.loads((root / POINTER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return read_publication(root / pointer["id"])


def read_publication(directory: Path) -> Publication:
    manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    return Publication(
        id=manifest["id"],
        published_at=datetime.fromisoformat(manifest["published_at"]),
        directory=directory,
        marts={name: int(rows) for name, rows in manifest["marts"].items()},
    )
