"""Pulling one cinema's business day from the exchange into the landing zone.

No Dagster here: the assets call this per cinema-day, and the benchmarks call it directly. Pages stream
straight into Parquet so memory does not grow with the size of a day. Every record the cinema served
ends up in exactly one place: landed, quarantined (with its reason) or counted as a duplicate dropped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa

from ekino_pipeline.calendar import business_day_bounds
from ekino_pipeline.exchange.client import (
    ExchangeAuthError,
    ExchangeClient,
    ExchangeError,
    Page,
    ResponseTooLarge,
)
from ekino_pipeline.ingestion.landing import LandingZone, new_attempt_id
from ekino_pipeline.ingestion.schemas import DATASET_KEYS, DATASET_SCHEMAS, QUARANTINE

log = logging.getLogger(__name__)

DATASETS = ("sessions", "ticket_events")
# Errors a second try cannot fix: a wrong token, or a cinema that serves pages over our limit.
PERMANENT_ERRORS = (ExchangeAuthError, ResponseTooLarge)


@dataclass(frozen=True)
class PullRequest:
    dataset: str
    cinema_id: str
    business_date: date


def redact(text: str, secrets: Iterable[str]) -> str:
    """Belt and braces: the client never puts a token in a message, and we check anyway."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _timestamp_field(dataset: str) -> str:
    return "occurred_at" if dataset == "ticket_events" else "starts_at"


class _DayWriter:
    """Accumulates one attempt of a cinema-day: landed rows, quarantine rows and the counts."""

    def __init__(self, landing: LandingZone, req: PullRequest, attempt_id: str, extracted_at: datetime):
        self.req = req
        self.key = DATASET_KEYS[req.dataset]
        self.ts_field = _timestamp_field(req.dataset)
        self.lineage = {
            "cinema_id": req.cinema_id,
            "business_date": req.business_date,
            "attempt_id": attempt_id,
            "extracted_at": extracted_at,
        }
        self.data = landing.open_writer(
            req.dataset, req.business_date, req.cinema_id, "data", attempt_id, DATASET_SCHEMAS[req.dataset]
        )
        self.quarantine = landing.open_writer(
            req.dataset, req.business_date, req.cinema_id, "quarantine", attempt_id, QUARANTINE
        )
        self.seen: dict[str, int] = {}
        self.counts = {"served": 0, "landed": 0, "quarantined": 0, "duplicates_dropped": 0}
        self.counts.update({"pages": 0, "bytes": 0, "extra_fields": 0})
        self.first_ts: datetime | None = None
        self.last_ts: datetime | None = None
        self.sales = self.refunds = 0
        self.sales_kzt = self.refunds_kzt = Decimal("0.00")

    def add_page(self, page: Page) -> None:
        self.counts["served"] += page.served
        self.counts["pages"] += 1
        self.counts["bytes"] += page.bytes
        self.counts["extra_fields"] += page.extra_fields
        rows, bad = [], []
        for record in page.valid:
            key = record[self.key]
            fingerprint = hash(tuple(record.values()))
            known = self.seen.get(key)
            if known is None:
                self.seen[key] = fingerprint
                rows.append(record)
                self._observe(record)
            elif known == fingerprint:
                self.counts["duplicates_dropped"] += 1
            else:
                bad.append(
                    (key, record, f"conflicting duplicate: {self.key} {key} served twice, differently")
                )
        for rejected in page.rejected:
            raw = rejected.raw
            key = raw.get(self.key) if isinstance(raw, dict) else None
            bad.append((key if isinstance(key, str) else None, raw, rejected.reason))
        if rows:
            columns = {name: [r[name] for r in rows] for name in rows[0]}
            columns.update({name: [value] * len(rows) for name, value in self.lineage.items()})
            self.data.write(pa.table(columns))
            self.counts["landed"] += len(rows)
        if bad:
            self._quarantine(page.number, bad)

    def _observe(self, record: dict) -> None:
        ts = record[self.ts_field]
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
        if self.req.dataset == "ticket_events":
            if record["event_type"] == "sale":
                self.sales += 1
                self.sales_kzt += record["amount_kzt"]
            else:
                self.refunds += 1
                self.refunds_kzt += record["amount_kzt"]

    def _quarantine(self, page_number: int, bad: list[tuple[str | None, object, str]]) -> None:
        n = len(bad)
        table = pa.table(
            {
                "dataset": [self.req.dataset] * n,
                "page": [page_number] * n,
                "record_key": [key for key, _, _ in bad],
                "raw_record": [json.dumps(raw, default=str, ensure_ascii=False) for _, raw, _ in bad],
                "reason": [reason for _, _, reason in bad],
                **{name: [value] * n for name, value in self.lineage.items()},
            }
        )
        self.quarantine.write(table)
        self.counts["quarantined"] += n

    def commit(self) -> dict[str, str]:
        return {"data": self.data.commit().name, "quarantine": self.quarantine.commit().name}

    def abort(self) -> None:
        self.data.abort()
        self.quarantine.abort()

    def summary(self) -> dict:
        out = dict(self.counts)
        out["first_record_at"] = self.first_ts.isoformat() if self.first_ts else None
        out["last_record_at"] = self.last_ts.isoformat() if self.last_ts else None
        if self.req.dataset == "ticket_events":
            out.update(
                sales=self.sales,
                refunds=self.refunds,
                sales_kzt=str(self.sales_kzt),
                refunds_kzt=str(self.refunds_kzt),
                gross_kzt=str(self.sales_kzt - self.refunds_kzt),
            )
        return out


def _pages(client: ExchangeClient, req: PullRequest) -> Iterator[Page]:
    if req.dataset == "ticket_events":
        start, end = business_day_bounds(req.business_date)
        return client.iter_ticket_event_pages(start, end)
    if req.dataset == "sessions":
        return client.iter_session_pages(req.business_date)
    raise ValueError(f"unknown dataset {req.dataset!r}")


# Counts a manifest carries over from the attempt whose files it names.
DATA_FIELDS = (
    "served",
    "landed",
    "quarantined",
    "duplicates_dropped",
    "pages",
    "bytes",
    "extra_fields",
    "first_record_at",
    "last_record_at",
    "sales",
    "refunds",
    "sales_kzt",
    "refunds_kzt",
    "gross_kzt",
)


def pull_cinema_day(
    req: PullRequest,
    client_factory: Callable[[], ExchangeClient],
    landing: LandingZone,
    *,
    run_id: str | None = None,
    max_attempts: int = 2,
    secrets: Iterable[str] = (),
) -> dict:
    """Pull, land and commit one cinema-day; returns the committed manifest. Never raises for the
    cinema's own failures: those are recorded in the manifest with their reason."""
    secrets = tuple(secrets)
    started = time.monotonic()
    started_at = datetime.now(UTC)
    attempt_id = new_attempt_id()
    error: str | None = None
    error_type: str | None = None
    attempts = 0
    result: dict | None = None
    files: dict[str, str] = {}
    while attempts < max_attempts:
        attempts += 1
        writer = _DayWriter(landing, req, attempt_id, datetime.now(UTC))
        try:
            with client_factory() as client:
                for page in _pages(client, req):
                    writer.add_page(page)
            files = writer.commit()
            result = writer.summary()
            error = error_type = None
            break
        except ExchangeError as exc:
            writer.abort()
            error, error_type = redact(str(exc), secrets), type(exc).__name__
            log.warning(
                "%s %s %s: attempt %d failed: %s",
                req.dataset,
                req.cinema_id,
                req.business_date,
                attempts,
                error,
            )
            if isinstance(exc, PERMANENT_ERRORS):
                break
        except Exception as exc:  # a bug or an I/O error must still not take other cinemas down
            writer.abort()
            error, error_type = redact(f"{type(exc).__name__}: {exc}", secrets), type(exc).__name__
            log.exception("%s %s %s: unexpected error", req.dataset, req.cinema_id, req.business_date)
            break
    manifest = {
        "dataset": req.dataset,
        "cinema_id": req.cinema_id,
        "business_date": req.business_date.isoformat(),
        "attempt_id": attempt_id,
        "run_id": run_id,
        "status": "success" if result is not None else "failed",
        "error": error,
        "error_type": error_type,
        "attempts": attempts,
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "duration_seconds": round(time.monotonic() - started, 3),
    }
    if req.dataset == "ticket_events":
        start, end = business_day_bounds(req.business_date)
        manifest["window"] = {"from": start.isoformat(), "to": end.isoformat()}
    if result is not None:
        manifest.update(result, files=files, data_attempt_id=attempt_id)
    else:
        # A failed re-pull must not throw away what an earlier attempt landed: keep naming its files.
        previous = landing.read_manifest(req.dataset, req.business_date, req.cinema_id) or {}
        kept = previous.get("files", {}) if previous.get("data_attempt_id") else {}
        manifest.update({k: previous.get(k, 0) for k in DATA_FIELDS if k in previous})
        for field in ("served", "landed", "quarantined", "duplicates_dropped"):
            manifest.setdefault(field, 0)
        manifest.update(files=kept, data_attempt_id=previous.get("data_attempt_id") if kept else None)
    landing.commit(req.dataset, req.business_date, req.cinema_id, manifest)
    return manifest
