"""A warehouse's `raw` schema straight from the network, for the integrity benchmark and tests.

Pulling weeks of many cinemas over HTTP would take the whole budget, so this writes what the cinemas
serve (their sessions and ticket events, each record checked by the product's contract, as the pull
checks it) with the loader's own Arrow schemas, a successful manifest per cinema-day and the registry
snapshot. The sessions are those of `days`; their ticket events all of them, presales included, so
every session is whole. Records the contract rejects are left out (no integrity fault makes any).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from ekino_pipeline.calendar import business_day_bounds, daterange
from ekino_pipeline.exchange.contract import Rejected, validate_session, validate_ticket_event
from ekino_pipeline.exchange.registry import Registry
from ekino_pipeline.ingestion.loading import DECLARED_RETURNS_SCHEMAS, MANIFEST_SCHEMA
from ekino_pipeline.ingestion.registries import registry_tables
from ekino_pipeline.ingestion.schemas import QUARANTINE, SESSIONS, TICKET_EVENTS
from ekino_sim.network import PRESALE_DAYS, Network

ATTEMPT = "simulated0000001"


def _manifest(dataset: str, cinema_id: str, day: date, landed: int, finished: datetime) -> dict:
    return {
        "dataset": dataset,
        "cinema_id": cinema_id,
        "business_date": day,
        "status": "success",
        "attempts": 1,
        "served": landed,
        "landed": landed,
        "quarantined": 0,
        "duplicates_dropped": 0,
        "extra_fields": 0,
        "discarded_served": 0,
        "replayed": 0,
        "finished_at": finished,
        "duration_seconds": 0.0,
        "attempt_id": ATTEMPT,
        "data_attempt_id": ATTEMPT,
        "run_id": "simulated",
        "killed_attempts": 0,
        "history": "[]",
    }


def raw_tables(network: Network, cinema_ids: Sequence[str], days: Sequence[date]) -> dict[str, pa.Table]:
    """The raw tables of the cinemas' sessions on `days` and all their ticket events."""
    first, last = min(days), max(days)
    now = network.now
    lineage = {"attempt_id": ATTEMPT, "extracted_at": now}
    sessions, events, manifests = [], [], []
    for cinema_id in cinema_ids:
        listed: set[str] = set()
        for day in daterange(first, last):
            landed = [
                s
                for raw in network.sessions(cinema_id, day)
                if not isinstance(s := validate_session(raw, cinema_id=cinema_id, business_day=day), Rejected)
            ]
            listed.update(s["session_id"] for s in landed)
            sessions.extend({**s, **lineage, "cinema_id": cinema_id, "business_date": day} for s in landed)
            manifests.append(_manifest("sessions", cinema_id, day, len(landed), now))
        for day in daterange(first - timedelta(days=PRESALE_DAYS + 1), last + timedelta(days=1)):
            window = business_day_bounds(day)
            landed = [
                e
                for raw in network.ticket_events(cinema_id, *window)
                if not isinstance(
                    e := validate_ticket_event(raw, cinema_id=cinema_id, window=window, now=now), Rejected
                )
                and e["session_id"] in listed
            ]
            events.extend({**e, **lineage, "cinema_id": cinema_id, "business_date": day} for e in landed)
            if first <= day <= last:
                manifests.append(_manifest("ticket_events", cinema_id, day, len(landed), now))
    registry = network.registry
    tables = {
        "sessions": pa.Table.from_pylist(sessions, schema=SESSIONS),
        "ticket_events": pa.Table.from_pylist(events, schema=TICKET_EVENTS),
        "quarantine": QUARANTINE.empty_table(),
        "landing_manifests": pa.Table.from_pylist(manifests, schema=MANIFEST_SCHEMA),
        **{
            name.removeprefix("raw."): schema.empty_table()
            for name, schema in DECLARED_RETURNS_SCHEMAS.items()
        },
        **registry_tables(registry),
        "cinemas_daily": cinemas_daily(registry, daterange(first, last), set(cinema_ids)),
    }
    return tables


def cinemas_daily(registry: Registry, days: Iterable[date], connected: set[str]) -> pa.Table:
    """raw.cinemas_daily: each registered cinema on each day, with its region and whether it was connected."""
    return pa.Table.from_pylist(
        [
            {
                "business_date": day,
                "cinema_id": c.cinema_id,
                "region_code": c.region_code,
                "is_connected": c.cinema_id in connected,
            }
            for day in days
            for c in registry.cinemas
        ]
    )


def write_raw(warehouse: Path, tables: dict[str, pa.Table]) -> None:
    """Replace the named tables of the warehouse's raw schema (the tests' hand-made fixtures too)."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute("create schema if not exists raw")
        for name, table in tables.items():
            con.register("arrow_table", table)
            con.execute(f"create or replace table raw.{name} as select * from arrow_table")
            con.unregister("arrow_table")
    finally:
        con.close()


def simulated_warehouse(
    warehouse: Path, network: Network, cinema_ids: Iterable[str], first: date, last: date
) -> dict[str, int]:
    """Write the raw schema of the cinemas' session days first..last; the rows of each table written."""
    # The simulator's clock two days after the last: every late sale and refund has happened.
    network.now = business_day_bounds(last + timedelta(days=2))[0].astimezone(UTC)
    tables = raw_tables(network, list(cinema_ids), list(daterange(first, last)))
    write_raw(warehouse, tables)
    return {name: table.num_rows for name, table in tables.items()}
