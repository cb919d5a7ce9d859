"""Loading the live zone into the warehouse: appending the batches of today not loaded yet.

The live tables (`raw.live_*`) hold the live day only; the daily loader and the daily marts never read
them, so a day that closes is counted once, from the daily run's own whole-day pull. Batches are
immutable and named in their cinema-day's manifest, so a load appends exactly the batches whose id the
warehouse does not hold yet: a minute's load costs the minute's increment, not the day so far.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pyarrow as pa

from ekino_pipeline.exchange.registry import Registry
from ekino_pipeline.ingestion.landing import LandingZone
from ekino_pipeline.ingestion.loading import ensure_table, insert_files
from ekino_pipeline.ingestion.schemas import QUARANTINE, TICKET_EVENTS
from ekino_pipeline.ingestion.schemas import SESSIONS as SESSIONS_SCHEMA
from ekino_pipeline.live.pull import (
    EVENTS,
    SESSIONS,
    batch_files,
    live_manifests,
    live_zone,
    session_days,
)

STATUS_SCHEMA = pa.schema(
    [
        ("cinema_id", pa.string()),
        ("cinema_name", pa.string()),
        ("region_code", pa.string()),
        ("region_name", pa.string()),
        ("is_connected", pa.bool_()),
        ("business_date", pa.date32()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("last_event_at", pa.timestamp("us", tz="UTC")),
        ("last_polled_at", pa.timestamp("us", tz="UTC")),
        ("last_attempt_at", pa.timestamp("us", tz="UTC")),
        ("ticks", pa.int32()),
        ("served", pa.int64()),
        ("landed", pa.int64()),
        ("quarantined", pa.int64()),
        ("duplicates_dropped", pa.int64()),
        ("batches", pa.int32()),
    ]
)
FILMS_SCHEMA = pa.schema([("film_id", pa.string()), ("title", pa.string()), ("distributor", pa.string())])
STATE_SCHEMA = pa.schema([("business_date", pa.date32()), ("as_of", pa.timestamp("us", tz="UTC"))])

LIVE_TABLES = {
    "raw.live_ticket_events": TICKET_EVENTS,
    "raw.live_sessions": SESSIONS_SCHEMA,
    "raw.live_quarantine": QUARANTINE,
    "raw.live_cinema_status": STATUS_SCHEMA,
    "raw.live_films": FILMS_SCHEMA,
    "raw.live_state": STATE_SCHEMA,
}


def _ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def status_table(registry: Registry, manifests: list[dict], day: date) -> pa.Table:
    """Every cinema of the registry, with its live manifest's state when it has one (coverage is
    reporting / connected / all, so the unconnected cinemas are rows too)."""
    regions = {r.region_code: r.name for r in registry.regions}
    by_cinema = {m["cinema_id"]: m for m in manifests}
    rows = []
    for cinema in registry.cinemas:
        m = by_cinema.get(cinema.cinema_id, {})
        rows.append(
            {
                "cinema_id": cinema.cinema_id,
                "cinema_name": cinema.name,
                "region_code": cinema.region_code,
                "region_name": regions.get(cinema.region_code),
                "is_connected": cinema.connected,
                "business_date": day,
                "status": m.get("status"),
                "error": m.get("error"),
                "last_event_at": _ts(m.get("watermark")),
                "last_polled_at": _ts(m.get("last_polled_at")),
                "last_attempt_at": _ts(m.get("last_attempt_at")),
                "ticks": m.get("ticks"),
                "served": m.get("served"),
                "landed": m.get("landed"),
                "quarantined": m.get("quarantined"),
                "duplicates_dropped": m.get("duplicates_dropped"),
                "batches": len(m["batches"]) if m else None,
            }
        )
    return pa.Table.from_pylist(rows, schema=STATUS_SCHEMA)


def load_live(
    con: duckdb.DuckDBPyConnection, landing: LandingZone, registry: Registry, day: date, as_of: datetime
) -> dict[str, int]:
    """Append today's new batches, refresh the live sessions that changed and the cinemas' status, in
    one transaction; the live day's rows of other days are dropped. Returns rows added per table."""
    manifests = live_manifests(landing, day)
    con.execute("create schema if not exists raw")
    con.execute("begin")
    for table, schema in LIVE_TABLES.items():
        ensure_table(con, table, schema)
    for table in ("raw.live_ticket_events", "raw.live_quarantine", "raw.live_cinema_status"):
        con.execute(f"delete from {table} where business_date <> ?", [day])
    loaded = {
        batch
        for table in ("raw.live_ticket_events", "raw.live_quarantine")
        for (batch,) in con.execute(f"select distinct attempt_id from {table}").fetchall()
    }
    data = [path for m in manifests for batch, path in batch_files(landing, m) if batch not in loaded]
    bad = [
        path
        for m in manifests
        for batch, path in batch_files(landing, m, "quarantine")
        if batch not in loaded
    ]
    counts = {
        "live_ticket_events": insert_files(con, "raw.live_ticket_events", data),
        "live_quarantine": insert_files(con, "raw.live_quarantine", bad),
        "batches_loaded": len(data),
    }
    counts["live_sessions"] = _replace_changed_sessions(con, landing, day)
    status = status_table(registry, manifests, day)  # noqa: F841 - read by DuckDB's replacement scan
    con.execute("delete from raw.live_cinema_status")
    con.execute("insert into raw.live_cinema_status by name select * from status")
    films = pa.table(
        {
            "film_id": [f.film_id for f in registry.films],
            "title": [f.title for f in registry.films],
            "distributor": [f.distributor for f in registry.films],
        },
        schema=FILMS_SCHEMA,
    )
    if con.execute("select count(*) from raw.live_films").fetchone()[0] != films.num_rows:
        con.execute("delete from raw.live_films")
        con.execute("insert into raw.live_films by name select * from films")
    con.execute("delete from raw.live_state")
    con.execute("insert into raw.live_state values (?, ?)", [day, as_of])
    con.execute("commit")
    counts["cinemas_polled"] = len(manifests)
    return counts


def _replace_changed_sessions(con: duckdb.DuckDBPyConnection, landing: LandingZone, day: date) -> int:
    """The live session cinema-days whose committed attempt the warehouse does not hold yet."""
    days = session_days(day)
    con.execute("delete from raw.live_sessions where business_date not between ? and ?", [days[0], days[-1]])
    loaded = set(
        con.execute("select distinct cinema_id, business_date, attempt_id from raw.live_sessions").fetchall()
    )
    zone = live_zone(landing)
    changed = []
    for session_day, cinema_id, manifest in zone.manifests(SESSIONS, days):
        name = manifest.get("files", {}).get("data")
        attempt = manifest.get("data_attempt_id")
        if name and (cinema_id, session_day, attempt) not in loaded:
            changed.append(
                (cinema_id, session_day, zone.cinema_day_dir(SESSIONS, session_day, cinema_id) / name)
            )
    for cinema_id, session_day, _ in changed:
        con.execute(
            "delete from raw.live_sessions where cinema_id = ? and business_date = ?",
            [cinema_id, session_day],
        )
    return insert_files(con, "raw.live_sessions", [path for _, _, path in changed])


__all__ = ["EVENTS", "LIVE_TABLES", "load_live", "status_table"]
