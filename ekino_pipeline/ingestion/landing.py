"""The landing zone: immutable Parquet per dataset, business day and cinema, committed by a manifest.

Layout: `<root>/<dataset>/business_date=YYYY-MM-DD/cinema_id=<id>/` holding
`data-<attempt>.parquet`, `quarantine-<attempt>.parquet` and `_manifest.json`.

The manifest is the commit point. Data files carry the attempt id in their name and are renamed into
place before the manifest that names them; the manifest itself is replaced with one atomic rename.
A reader that follows the manifest therefore sees exactly one complete attempt, whatever was killed
when, and a re-pull replaces exactly that cinema-day. Files no manifest names are leftovers of a killed
attempt (or of the attempt just replaced) and are removed by the next commit.
"""

from __future__ import annotations

import functools
import io
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ekino_pipeline.exchange.registry import validate_cinema_id

MANIFEST = "_manifest.json"
STALE_TMP_SECONDS = 6 * 3600
NATIONAL = "national"  # the cinema_id slot of datasets that belong to no cinema (the registries)


def new_attempt_id() -> str:
    return uuid.uuid4().hex[:16]


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with tmp.open("wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


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
        """Rename the file into place; None for an optional writer that got no rows (no file)."""
        if self._writer is None and not self._pending:
            if self.optional:
                return None
            self._tmp.write_bytes(_empty_parquet(self.schema))
        else:
            self._flush()
            self._close()
        self._tmp.replace(self.path)
        return self.path

    def abort(self) -> None:
        self._pending = []
        self._close()
        self._tmp.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._sink is not None:
            self._sink.close()
            self._sink = None


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

    def read_manifest(self, dataset: str, business_date: date, cinema_id: str) -> dict | None:
        path = self.cinema_day_dir(dataset, business_date, cinema_id) / MANIFEST
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def commit(self, dataset: str, business_date: date, cinema_id: str, manifest: dict) -> Path:
        """Replace the cinema-day's manifest atomically, then drop the files it no longer names."""
        directory = self.cinema_day_dir(dataset, business_date, cinema_id)
        directory.mkdir(parents=True, exist_ok=True)
        previous = self.read_manifest(dataset, business_date, cinema_id) or {}
        # One line: json's indenting encoder is pure Python, a cost paid for every cinema-day.
        payload = json.dumps(manifest, sort_keys=True, default=str).encode("utf-8")
        _atomic_write_bytes(directory / MANIFEST, payload)
        keep = {MANIFEST, *manifest.get("files", {}).values()}
        replaced = set(previous.get("files", {}).values()) - keep
        # Anything else unnamed may belong to an attempt still running elsewhere: only old debris goes.
        stale_before = time.time() - STALE_TMP_SECONDS
        for child in directory.iterdir():
            if child.name in keep:
                continue
            if child.name in replaced or child.stat().st_mtime < stale_before:
                child.unlink(missing_ok=True)
        return directory / MANIFEST

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
                    yield day, cinema_id, json.loads(manifest_path.read_text(encoding="utf-8"))

    def committed_files(self, dataset: str, days: Iterable[date], kind: str = "data") -> list[Path]:
        """The files that committed manifests name, for readers (the warehouse loader)."""
        files = []
        for day, cinema_id, manifest in self.manifests(dataset, days):
            name = manifest.get("files", {}).get(kind)
            if name:
                files.append(self.cinema_day_dir(dataset, day, cinema_id) / name)
        return files
