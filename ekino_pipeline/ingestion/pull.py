"""Pulling one cinema's business day from the exchange into the landing zone.

No Dagster here: the assets call this per cinema-day. Pages are fetched lazily and buffered only up to
the landing writer's flush size, so memory does not grow with the size of a day. Every record the
cinema served ends up in exactly one place: landed, quarantined (with its reason) or counted as a
duplicate dropped.

A page is handled as one Arrow table (deduplication, counts, lineage columns), whether the client
validated it in Arrow or record by record: per-record Python is the cost of a large network's day.
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from ekino_pipeline.calendar import business_day_bounds
from ekino_pipeline.exchange.client import (
    ExchangeAuthError,
    ExchangeClient,
    ExchangeConfigError,
    ExchangeError,
    Page,
    ResponseTooLarge,
)
from ekino_pipeline.ingestion.landing import KILLED, LandingZone, new_attempt_id
from ekino_pipeline.ingestion.schemas import DATASET_KEYS, DATASET_SCHEMAS, QUARANTINE

log = logging.getLogger(__name__)

DATASETS = ("sessions", "ticket_events")
# Errors a second try cannot fix: a wrong or missing token, an address the token must not go to, or a
# cinema that serves pages over our limit.
PERMANENT_ERRORS = (ExchangeAuthError, ExchangeConfigError, ResponseTooLarge)


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
    return {"ticket_events": "occurred_at", "declared_returns": "declared_at"}.get(dataset, "starts_at")


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
            req.dataset, req.business_date, req.cinema_id, "quarantine", attempt_id, QUARANTINE, optional=True
        )
        schema = DATASET_SCHEMAS[req.dataset]
        self.record_schema = pa.schema([f for f in schema if f.name not in self.lineage])
        self.lineage_columns = [
            (schema.field(name), pa.scalar(value, schema.field(name).type))
            for name, value in self.lineage.items()
        ]
        # Key -> position of its first valid record among the pages' tables (kept until commit), so a
        # key served again can be told an identical duplicate or a conflicting one.
        self.seen: dict[str, int] = {}
        self.tables: list[pa.Table] = []
        self.offsets: list[int] = []
        self.rows = 0
        self.counts = {"served": 0, "landed": 0, "quarantined": 0, "duplicates_dropped": 0}
        self.counts.update({"pages": 0, "bytes": 0, "extra_fields": 0})
        self.first_ts: datetime | None = None
        self.last_ts: datetime | None = None
        self.sales = self.refunds = 0
        self.sales_kzt = self.refunds_kzt = Decimal("0.00")
        self.declared_kzt = Decimal("0.00")

    def add_page(self, page: Page) -> None:
        self.counts["served"] += page.served
        self.counts["pages"] += 1
        self.counts["bytes"] += page.bytes
        self.counts["extra_fields"] += page.extra_fields
        table = page.table if page.table is not None else self._table(page.valid)
        bad: list[tuple[str | None, object, str]] = []
        keys = table.column(self.key).to_pylist()
        base = self.rows
        if table.num_rows:
            self.tables.append(table)
            self.offsets.append(base)
            self.rows += table.num_rows
        if len(set(keys)) == len(keys) and self.seen.keys().isdisjoint(keys):
            self.seen.update(zip(keys, itertools.count(base), strict=False))
            landed = table
        else:
            keep = []
            for index, key in enumerate(keys):
                known = self.seen.get(key)
                if known is None:
                    self.seen[key] = base + index
                    keep.append(index)
                    continue
                record = table.slice(index, 1).to_pylist()[0]
                if record == self._record(known):
                    self.counts["duplicates_dropped"] += 1
                else:
                    reason = f"conflicting duplicate: {self.key} {key} served twice, differently"
                    bad.append((key, record, reason))
            landed = table.take(pa.array(keep, pa.int64()))
        for rejected in page.rejected:
            raw = rejected.raw
            key = raw.get(self.key) if isinstance(raw, dict) else None
            bad.append((key if isinstance(key, str) else None, raw, rejected.reason))
        if landed.num_rows:
            self._observe(landed)
            n = landed.num_rows
            for field, value in self.lineage_columns:
                landed = landed.append_column(field, pa.repeat(value, n))
            self.data.write(landed)
            self.counts["landed"] += n
        if bad:
            self._quarantine(page.number, bad)

    def _table(self, records: list[dict]) -> pa.Table:
        return pa.Table.from_pylist(records, schema=self.record_schema)

    def _record(self, position: int) -> dict:
        which = bisect.bisect_right(self.offsets, position) - 1
        return self.tables[which].slice(position - self.offsets[which], 1).to_pylist()[0]

    def _observe(self, landed: pa.Table) -> None:
        first, last = (s.as_py() for s in pc.min_max(landed.column(self.ts_field)).values())
        if self.first_ts is None or first < self.first_ts:
            self.first_ts = first
        if self.last_ts is None or last > self.last_ts:
            self.last_ts = last
        if self.req.dataset == "ticket_events":
            is_sale = pc.equal(landed.column("event_type"), "sale")
            amounts = landed.column("amount_kzt")
            sales = pc.sum(is_sale).as_py() or 0
            self.sales += sales
            self.refunds += landed.num_rows - sales
            self.sales_kzt += pc.sum(amounts.filter(is_sale)).as_py() or 0
            self.refunds_kzt += pc.sum(amounts.filter(pc.invert(is_sale))).as_py() or 0
        elif self.req.dataset == "declared_returns":
            self.declared_kzt += pc.sum(landed.column("gross_kzt")).as_py() or 0

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
        """The committed files by kind; a cinema-day that quarantined nothing has no quarantine file."""
        files = {"data": self.data.commit().name}
        quarantine = self.quarantine.commit()
        if quarantine is not None:
            files["quarantine"] = quarantine.name
        return files

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
        elif self.req.dataset == "declared_returns":
            out["gross_kzt"] = str(self.declared_kzt)
        return out


def _pages(client: ExchangeClient, req: PullRequest) -> Iterator[Page]:
    if req.dataset == "ticket_events":
        start, end = business_day_bounds(req.business_date)
        return client.iter_ticket_event_pages(start, end, columnar=True)
    if req.dataset == "sessions":
        return client.iter_session_pages(req.business_date)
    if req.dataset == "declared_returns":  # business_date is the film week's Thursday
        return client.iter_box_office_return_pages(req.business_date)
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
    cinema's own failures nor for the disk's: those are recorded in the manifest with their reason, and
    when the disk refuses even the manifest (full, read-only), the failure is returned uncommitted.

    An earlier attempt of the cinema-day that died uncommitted (its run killed) is first recorded as a
    failed manifest; this pull's commit then supersedes it, and the manifest's history keeps both."""
    secrets = tuple(secrets)
    started = time.monotonic()
    started_at = datetime.now(UTC)
    attempt_id = new_attempt_id()
    try:
        with landing.attempt(req.dataset, req.business_date, req.cinema_id, attempt_id, run_id=run_id):
            record_killed_attempts(req, landing, run_id=run_id, running=attempt_id)
            return _pull_and_commit(
                req, client_factory, landing, attempt_id, run_id, max_attempts, secrets, started_at, started
            )
    except OSError as exc:
        # The landing zone refused a write outside the pull itself (the lock, the manifest). The lock
        # is gone: the failed manifest's commit removes what the attempt left.
        log.warning("%s %s %s: landing failed: %s", req.dataset, req.cinema_id, req.business_date, exc)
        error = redact(f"{type(exc).__name__}: {exc}", secrets)
        manifest = _manifest(req, attempt_id, run_id, error, type(exc).__name__, 1, started_at, started)
        manifest.update(discarded_served=None, discarded_pages=None)
        return _commit_failed(req, landing, manifest)


def _pull_and_commit(
    req: PullRequest,
    client_factory: Callable[[], ExchangeClient],
    landing: LandingZone,
    attempt_id: str,
    run_id: str | None,
    max_attempts: int,
    secrets: tuple[str, ...],
    started_at: datetime,
    started: float,
) -> dict:
    error: str | None = None
    error_type: str | None = None
    attempts = 0
    result: dict | None = None
    files: dict[str, str] = {}
    # What failed attempts were served before they were thrown away: it comes again on the next try,
    # so it is not part of served = landed + quarantined + duplicates, but the manifest says it was sent.
    discarded = {"discarded_served": 0, "discarded_pages": 0}
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
            _discard(writer, discarded)
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
        except OSError as exc:  # the disk (full, no permission): another try would fail the same way
            _discard(writer, discarded)
            error, error_type = redact(f"{type(exc).__name__}: {exc}", secrets), type(exc).__name__
            log.warning("%s %s %s: landing failed: %s", req.dataset, req.cinema_id, req.business_date, error)
            break
        except Exception as exc:  # a bug must still not take other cinemas down
            _discard(writer, discarded)
            error, error_type = redact(f"{type(exc).__name__}: {exc}", secrets), type(exc).__name__
            log.exception("%s %s %s: unexpected error", req.dataset, req.cinema_id, req.business_date)
            break
    manifest = _manifest(req, attempt_id, run_id, error, error_type, attempts, started_at, started)
    manifest.update(discarded)
    if result is None:
        return _commit_failed(req, landing, manifest)
    manifest.update(result, files=files, data_attempt_id=attempt_id)
    landing.commit(req.dataset, req.business_date, req.cinema_id, manifest)
    return manifest


def _discard(writer: _DayWriter, discarded: dict[str, int]) -> None:
    discarded["discarded_served"] += writer.counts["served"]
    discarded["discarded_pages"] += writer.counts["pages"]
    writer.abort()


def record_killed_attempts(
    req: PullRequest, landing: LandingZone, *, run_id: str | None = None, running: str | None = None
) -> dict | None:
    """Commit a failed manifest for the newest attempt of the cinema-day that died without committing
    (the older ones go to its history), keeping the files the cinema-day had; None when there is none.
    `running` is the caller's own attempt. Recording is best effort: a disk that refuses it must not
    stop the pull that follows."""
    try:
        killed = landing.killed_attempts(req.dataset, req.business_date, req.cinema_id, running=running)
    except OSError as exc:
        log.warning(
            "%s %s %s: killed attempts not looked for: %s", req.dataset, req.cinema_id, req.business_date, exc
        )
        return None
    if not killed:
        return None
    dead = killed[-1]
    log.warning("%s %s %s: %s", req.dataset, req.cinema_id, req.business_date, dead.reason)
    manifest = _manifest(
        req, dead.attempt_id, dead.run_id, dead.reason, KILLED, 0, started_at=None, started=None
    )
    # What the dead attempt was served and when it ended went with it: unknown, not zero.
    manifest.update(
        pid=dead.pid,
        started_at=dead.started_at,
        found_dead_at=datetime.now(UTC).isoformat(),
        found_dead_by_run_id=run_id,
        discarded_served=None,
        discarded_pages=None,
    )
    return _commit_failed(req, landing, manifest)


def record_failed_pull(
    req: PullRequest, landing: LandingZone, *, error: str, error_type: str, run_id: str | None = None
) -> dict:
    """Commit a failure for a cinema-day whose pull never reported (its worker process died)."""
    manifest = _manifest(
        req, new_attempt_id(), run_id, error, error_type, 0, datetime.now(UTC), time.monotonic()
    )
    # The dead worker's attempts took their counts with them: unknown, not zero.
    manifest.update(discarded_served=None, discarded_pages=None)
    return _commit_failed(req, landing, manifest)


def _manifest(
    req: PullRequest,
    attempt_id: str,
    run_id: str | None,
    error: str | None,
    error_type: str | None,
    attempts: int,
    started_at: datetime | None,
    started: float | None,
) -> dict:
    """A manifest's head; `started_at` None for an attempt found dead (its end is not known)."""
    manifest = {
        "dataset": req.dataset,
        "cinema_id": req.cinema_id,
        "business_date": req.business_date.isoformat(),
        "attempt_id": attempt_id,
        "run_id": run_id,
        "status": "failed" if error else "success",
        "error": error,
        "error_type": error_type,
        "attempts": attempts,
        "started_at": started_at.isoformat() if started_at else None,
        "finished_at": datetime.now(UTC).isoformat() if started_at else None,
        "duration_seconds": round(time.monotonic() - started, 3) if started is not None else None,
    }
    if req.dataset == "ticket_events":
        start, end = business_day_bounds(req.business_date)
        manifest["window"] = {"from": start.isoformat(), "to": end.isoformat()}
    return manifest


def _commit_failed(req: PullRequest, landing: LandingZone, manifest: dict) -> dict:
    """A failed re-pull must not throw away what an earlier attempt landed: keep naming its files.

    When the disk refuses the manifest too, the failure is returned with `committed: false` and the
    reason, so that the run still counts and shows this cinema-day as failed; the cinema-day keeps its
    previous manifest (or none), never a part of this one."""
    try:
        previous = landing.read_manifest(req.dataset, req.business_date, req.cinema_id) or {}
    except (OSError, ValueError) as exc:  # unreadable: nothing of it can be kept
        previous = {}
        manifest["error"] = f"{manifest['error']} (the previous manifest was unreadable: {exc})"
    kept = previous.get("files", {}) if previous.get("data_attempt_id") else {}
    manifest.update({k: previous.get(k, 0) for k in DATA_FIELDS if k in previous})
    for name in ("served", "landed", "quarantined", "duplicates_dropped"):
        manifest.setdefault(name, 0)
    manifest.update(files=kept, data_attempt_id=previous.get("data_attempt_id") if kept else None)
    try:
        landing.commit(req.dataset, req.business_date, req.cinema_id, manifest)
    except OSError as exc:
        log.warning(
            "%s %s %s: failed manifest not written: %s", req.dataset, req.cinema_id, req.business_date, exc
        )
        manifest["error"] = f"{manifest['error']} (the failed manifest could not be written: {exc})"
        manifest["committed"] = False
    return manifest
