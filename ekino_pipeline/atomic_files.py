"""Files replaced atomically: written beside their target under a temporary name, flushed to disk, then
renamed over it. A reader sees the previous file or the new one, never a part of either, and a failed
write (a full disk, no permission) leaves the target as it was and no temporary file behind.

The one routine for every file the pipeline replaces: landing and live manifests, the marts' exports,
the warehouse's published copy, the distributors' statements. A temporary name starts with a dot and
ends in `.tmp`; the landing zone puts the attempt id in it (`tag`), so that a later commit of the
cinema-day can tell whose debris a leftover is (a process killed between the write and the rename).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


def temporary_path(target: Path, tag: str | None = None) -> Path:
    """`.<name>.[<tag>.]<random>.tmp` beside `target`: unique, so that writers never share one."""
    middle = f"{tag}." if tag else ""
    return target.with_name(f".{target.name}.{middle}{uuid.uuid4().hex[:8]}.tmp")


@contextlib.contextmanager
def replacing(target: Path, tag: str | None = None) -> Iterator[Path]:
    """Yields a temporary path beside `target` for the caller to write (itself, or through DuckDB);
    when the block ends without an error, the file is flushed to disk and renamed over `target`. On
    any error, the temporary file is removed and the error goes on."""
    tmp = temporary_path(target, tag)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(target: Path, payload: bytes, tag: str | None = None) -> None:
    with replacing(target, tag) as tmp:
        tmp.write_bytes(payload)
