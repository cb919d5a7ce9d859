"""A hand-made warehouse `raw` schema for dbt tests: the shipped registries plus sessions, ticket
events and manifests written with the loader's own Arrow schemas, so types match what ingestion lands."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from ekino_pipeline.calendar import BUSINESS_TZ, business_date_of, daterange
from ekino_pipeline.exchange.registry import load_registry
from ekino_pipeline.ingestion.loading import DECLARED_RETURNS_SCHEMAS, MANIFEST_SCHEMA
from ekino_pipeline.ingestion.registries import registry_tables
from ekino_pipeline.ingestion.schemas import QUARANTINE, SESSIONS, TICKET_EVENTS
from ekino_sim import SAMPLE_REGISTRY_DIR
from ekino_sim.raw_warehouse import cinemas_daily, write_raw

EXTRACTED_AT = datetime(2024, 3, 10, tzinfo=UTC)
ATTEMPT = "fixture000000001"


def local(day: date, hh: int, mm: int = 0) -> datetime:
    """A wall-clock time in Asia/Almaty on a day, as aware UTC (UTC+6 until 2024-02-29, UTC+5 after)."""
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=BUSINESS_TZ).astimezone(UTC)


@dataclass
class RawFixture:
    """Sessions and ticket events of a few cinemas; every cinema in `cinemas` reports every day in
    `days` unless marked failed, and every other connected cinema answers with nothing (no sessions, no
    events: closed, which counts as reporting). `listed_ahead` are days whose sessions alone were pulled
    (listed in advance), so that the absence of a session can be proven for presales."""

    cinemas: list[str]
    days: list[date]
    sessions: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    failed: set[tuple[str, date]] = field(default_factory=set)
    # Cinema-days whose ticket-events pull was killed once before the pull that succeeded.
    killed: set[tuple[str, date]] = field(default_factory=set)
    quarantined: list[dict] = field(default_factory=list)
    listed_ahead: list[date] = field(default_factory=list)
    others_answer: bool = True
    # Declared returns (DECLARED_RETURNS rows without lineage) and the film weeks whose returns were
    # pulled per cinema: (cinema_id, film_week_start) -> success.
    declared_returns: list[dict] = field(default_factory=list)
    returns_pulled: dict[tuple[str, date], bool] = field(default_factory=dict)
    _tickets: int = 0

    def session(
        self,
        session_id: str,
        film_id: str,
        hall: str,
        starts_at: datetime,
        audio_language: str = "ru",
        fmt: str = "2D",
    ) -> str:
        cinema_id = session_id.split(":")[0]
        self.sessions.append(
            {
                "session_id": session_id,
                "film_id": film_id,
                "hall_id": f"{cinema_id}:{hall}",
                "starts_at": starts_at,
                "utc_offset_minutes": int(
                    starts_at.astimezone(BUSINESS_TZ).utcoffset().total_seconds() // 60
                ),
                "format": fmt,
                "audio_language": audio_language,
                "subtitle_language": None,
                "cinema_id": cinema_id,
                "business_date": business_date_of(starts_at),
            }
        )
        return session_id

    def _event(self, event_type, ticket_id, session_id, occurred_at, amount, seat, category) -> dict:
        cinema_id = session_id.split(":")[0]
        event = {
            "event_id": f"{cinema_id}:E{len(self.events) + 1:06d}",
            "event_type": event_type,
            "ticket_id": ticket_id,
            "session_id": session_id,
            "occurred_at": occurred_at,
            "amount_kzt": Decimal(amount),
            "seat_row": seat[0],
            "seat_number": seat[1],
            "channel": "online",
            "category": category,
            "cinema_id": cinema_id,
            "business_date": business_date_of(occurred_at),
        }
        self.events.append(event)
        return event

    def sell(
        self,
        session_id: str,
        occurred_at: datetime,
        amount: str,
        seat: tuple[int, int] | None = None,
        category: str = "adult",
        ticket_id: str | None = None,
    ) -> str:
        self._tickets += 1
        if ticket_id is None:
            cinema_id, number = session_id.split(":S")
            ticket_id = f"{cinema_id}:T{number}-{self._tickets:04d}"
        self._event("sale", ticket_id, session_id, occurred_at, amount, seat or (1, self._tickets), category)
        return ticket_id

    def refund(self, ticket_id: str, occurred_at: datetime, session_id: str | None = None) -> dict:
        sale = next(
            (e for e in self.events if e["ticket_id"] == ticket_id and e["event_type"] == "sale"), None
        )
        if sale is None:  # a refund of a ticket never sold
            assert session_id is not None
            return self._event("refund", ticket_id, session_id, occurred_at, "2000.00", (9, 9), "adult")
        return self._event(
            "refund",
            ticket_id,
            session_id or sale["session_id"],
            occurred_at,
            str(sale["amount_kzt"]),
            (sale["seat_row"], sale["seat_number"]),
            sale["category"],
        )

    # ------------------------------------------------------------------------------------------

    def manifests(self) -> list[dict]:
        connected = [c.cinema_id for c in load_registry(SAMPLE_REGISTRY_DIR).connected_cinemas]
        quiet = [c for c in connected if c not in self.cinemas] if self.others_answer else []
        rows = []
        for dataset, records in (("sessions", self.sessions), ("ticket_events", self.events)):
            days = self.days + (self.listed_ahead if dataset == "sessions" else [])
            for day in days:
                for cinema_id in [*self.cinemas, *quiet]:
                    mine = [r for r in records if r["cinema_id"] == cinema_id and r["business_date"] == day]
                    quarantined = [
                        q
                        for q in self.quarantined
                        if q["dataset"] == dataset
                        and q["cinema_id"] == cinema_id
                        and q["business_date"] == day
                    ]
                    ok = (cinema_id, day) not in self.failed
                    landed = len(mine) if ok else 0
                    rows.append(
                        {
                            "dataset": dataset,
                            "cinema_id": cinema_id,
                            "business_date": day,
                            "status": "success" if ok else "failed",
                            "error": None if ok else "ConnectTimeout: cinema did not answer",
                            "error_type": None if ok else "timeout",
                            "attempts": 1 if ok else 2,
                            "served": landed + len(quarantined) if ok else 0,
                            "landed": landed,
                            "quarantined": len(quarantined) if ok else 0,
                            "duplicates_dropped": 0,
                            "extra_fields": 0,
                            "discarded_served": 0 if ok else 7,
                            "replayed": 0,
                            "first_record_at": None,
                            "last_record_at": max(
                                (r.get("occurred_at") or r["starts_at"] for r in mine), default=None
                            )
                            if ok
                            else None,
                            "finished_at": EXTRACTED_AT,
                            "duration_seconds": 0.1,
                            "attempt_id": ATTEMPT,
                            "data_attempt_id": ATTEMPT if ok else None,
                            "run_id": "fixture",
                            **self._killed_before(dataset, cinema_id, day),
                        }
                    )
        return rows

    def _killed_before(self, dataset: str, cinema_id: str, day: date) -> dict:
        if dataset != "ticket_events" or (cinema_id, day) not in self.killed:
            return {"killed_attempts": 0, "history": "[]"}
        killed = {
            "attempt_id": "dead00000000dead",
            "run_id": "killed-run",
            "status": "failed",
            "error": "attempt killed: run killed-run (started 2024-03-02T20:00:00+00:00) ended without "
            "committing",
            "error_type": "AttemptKilled",
        }
        return {"killed_attempts": 1, "history": json.dumps([killed])}

    def _declared_returns_tables(self, lineage: dict) -> dict[str, pa.Table]:
        data, quarantine, manifests = DECLARED_RETURNS_SCHEMAS.values()
        pulls = [
            {
                "dataset": "declared_returns",
                "cinema_id": cinema_id,
                "business_date": week,
                "status": "success" if ok else "failed",
                "error": None if ok else "HTTP 503 maintenance",
                "attempts": 1 if ok else 2,
                "served": sum(
                    r["cinema_id"] == cinema_id and r["film_week_start"] == week
                    for r in self.declared_returns
                )
                if ok
                else 0,
                "quarantined": 0,
                "finished_at": EXTRACTED_AT,
                "attempt_id": ATTEMPT,
            }
            for (cinema_id, week), ok in sorted(self.returns_pulled.items())
        ]
        for pull in pulls:
            pull["landed"] = pull["served"]
        rows = [
            {**r, **lineage, "business_date": r["film_week_start"]}
            for r in self.declared_returns
            if self.returns_pulled.get((r["cinema_id"], r["film_week_start"]))
        ]
        return {
            "declared_returns": pa.Table.from_pylist(rows, schema=data),
            "declared_returns_quarantine": quarantine.empty_table(),
            "declared_returns_manifests": pa.Table.from_pylist(pulls, schema=manifests),
        }

    def quarantine(self, dataset: str, cinema_id: str, day: date, record: dict, reason: str) -> None:
        """A record the contract check rejected, kept as served (JSON) with its reason."""
        self.quarantined.append(
            {
                "dataset": dataset,
                "page": 1,
                "record_key": record.get("event_id") or record.get("session_id"),
                "raw_record": json.dumps(record, default=str),
                "reason": reason,
                "cinema_id": cinema_id,
                "business_date": day,
            }
        )

    def write(self, warehouse: Path) -> None:
        """Replaces the raw schema of `warehouse` with this fixture (a failed cinema-day lands nothing)."""
        lineage = {"attempt_id": ATTEMPT, "extracted_at": EXTRACTED_AT}
        landed = lambda rows: [  # noqa: E731
            {**r, **lineage} for r in rows if (r["cinema_id"], r["business_date"]) not in self.failed
        ]
        tables = {
            "ticket_events": pa.Table.from_pylist(landed(self.events), schema=TICKET_EVENTS),
            "sessions": pa.Table.from_pylist(landed(self.sessions), schema=SESSIONS),
            "quarantine": pa.Table.from_pylist(
                [{**q, **lineage} for q in self.quarantined], schema=QUARANTINE
            ),
            "landing_manifests": pa.Table.from_pylist(self.manifests(), schema=MANIFEST_SCHEMA),
        }
        tables.update(self._declared_returns_tables(lineage))
        registry = load_registry(SAMPLE_REGISTRY_DIR)
        tables.update(registry_tables(registry))
        connected = {c.cinema_id for c in registry.cinemas if c.connected}
        tables["cinemas_daily"] = cinemas_daily(registry, self.days, connected)
        write_raw(warehouse, tables)


def days(first: date, last: date) -> list[date]:
    return list(daterange(first, last))


def one_minute_before(ts: datetime) -> datetime:
    return ts - timedelta(minutes=1)
