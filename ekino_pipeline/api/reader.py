"""The API's view of the published marts: one publication at a time, held whole in memory.

Each request takes the current `LoadedPublication` once and answers from it alone: its rows, its id
(the ETag) and its time (Last-Modified), so no answer mixes two publications. When the pointer names a
new publication, the first request to notice loads its marts into an in-memory DuckDB database (the
files are never read again, so pruning them cannot hurt) while the others keep answering from the
previous one; then the new one takes over. Never the pipeline's warehouse: only the exports.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import duckdb

from ekino_pipeline import publications
from ekino_pipeline.publications import Publication

# The marts the API serves (and the downloads it offers); a mart missing from a publication (the
# forecasts before their first build) is simply absent.
PUBLIC_MARTS = (
    "advance_sales",
    "cinema_reporting_status",
    "distributor_market_share",
    "distributor_year_to_date",
    "film_breakdowns_daily",
    "film_daily_box_office",
    "film_forecasts",
    "film_performance",
    "film_region_daily",
    "film_weekend_box_office",
    "film_weekly_box_office",
    "film_year_to_date",
    "funding_outcomes",
    "funding_outcomes_by_year",
    "national_daily",
    "national_yearly",
    "region_daily",
)
RESTRICTED_MARTS = ("settlement_weekly",)


class NoPublication(LookupError):
    """Nothing published yet."""


def _quoted(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


class LoadedPublication:
    def __init__(self, publication: Publication):
        self.publication = publication
        self.con = duckdb.connect(":memory:")
        self.con.execute("set TimeZone = 'UTC'")
        self.marts: set[str] = set()
        for name in (*PUBLIC_MARTS, *RESTRICTED_MARTS):
            if name in publication.marts:
                path = _quoted(publication.path(name))
                self.con.execute(f'create table "{name}" as select * from read_parquet({path})')
                self.marts.add(name)

    @property
    def id(self) -> str:
        return self.publication.id

    @property
    def published_at(self) -> datetime:
        return self.publication.published_at

    def has(self, mart: str) -> bool:
        return mart in self.marts

    def select(self, sql: str, params: list | tuple = ()) -> tuple[list[str], list[dict]]:
        """The column names and the rows as dicts, fetched whole through a cursor of their own (DuckDB
        streams results: a second query on a shared connection would empty the first)."""
        cursor = self.con.cursor()
        try:
            cursor.execute(sql, list(params))
            names = [d[0] for d in cursor.description]
            return names, [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def query(self, sql: str, params: list | tuple = ()) -> list[dict]:
        return self.select(sql, params)[1]

    def columns(self, sql: str, params: list | tuple = ()) -> list[tuple[str, str]]:
        """The (name, DuckDB type) of what `sql` returns, without fetching it."""
        cursor = self.con.cursor()
        try:
            cursor.execute(f"select * from ({sql}) limit 0", list(params))
            return [(d[0], str(d[1])) for d in cursor.description]
        finally:
            cursor.close()


class PublicationReader:
    def __init__(self, exports_dir: Path):
        self.exports_dir = Path(exports_dir)
        self._pointer = publications.pointer_path(self.exports_dir)
        self._lock = threading.Lock()
        self._loaded: LoadedPublication | None = None
        self._seen: tuple[int, int] | None = None

    def current(self) -> LoadedPublication:
        try:
            stat = self._pointer.stat()
            seen = (stat.st_ino, stat.st_mtime_ns)
        except FileNotFoundError:
            seen = None
        loaded = self._loaded
        if seen == self._seen and loaded is not None:
            return loaded
        # Another request is loading the new one: answer from the previous one meanwhile.
        if not self._lock.acquire(blocking=loaded is None):
            return loaded  # type: ignore[return-value]
        try:
            if seen != self._seen or self._loaded is None:
                self._load(seen)
        finally:
            self._lock.release()
        if self._loaded is None:
            raise NoPublication(f"nothing is published in {self.exports_dir} yet")
        return self._loaded

    def _load(self, seen: tuple[int, int] | None) -> None:
        # A publication pruned between reading the pointer and locking its folder: the pointer has
        # moved on (once held, a publication is not pruned until it is loaded).
        for _ in range(3):
            try:
                publication = publications.current(self.exports_dir)
            except FileNotFoundError:  # its folder pruned before its manifest was read
                continue
            if publication is None:
                self._seen = seen
                return
            if self._loaded is not None and self._loaded.id == publication.id:
                self._seen = seen
                return
            try:
                with publications.reading(publication):  # held from here: never pruned halfway
                    self._loaded = LoadedPublication(publication)
            except (FileNotFoundError, duckdb.IOException):
                continue
            self._seen = seen
            return
