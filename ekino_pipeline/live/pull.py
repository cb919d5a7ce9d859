"""Live increments of today's ticket events: each tick lands only what a cinema served since its watermark.

The live zone is `<landing root>/live/`, laid out like the landing zone. A live cinema-day's folder
holds one immutable batch per tick that landed something (`data-<batch>.parquet`, and
`quarantine-<batch>.parquet` when records broke the contract) and `_manifest.json`, replaced atomically
after the batch files are in place, that names every batch. The manifest is the commit point, as in the
landing zone: a batch no manifest names was never committed and is never loaded.

The manifest keeps the cinema-day's watermark (the latest occurred_at landed) beside the batches. A tick
asks for the events from watermark - overlap to the end of the day: a late record whose occurred_at is
within the overlap of what was landed is still caught; the ones the overlap serves again are dropped as
duplicates by event id (the manifest remembers the ids landed within the overlap, and a digest of every
quarantined record). Summed over the batches and ticks, served = landed + quarantined + duplicates.

A record served later than the overlap (occurred_at older than watermark - overlap when it first
appears) is not seen live; the daily run, which pulls the whole day, stays the authority and does not
read the live zone at all, so live batches can never be counted twice.

No Dagster and no warehouse here: the live assets call `pull_live_increments`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ekino_pipeline.atomic_files import write_atomically
from ekino_pipeline.calendar import PRESALE_HORIZON_DAYS, business_day_bounds
from ekino_pipeline.errors import ConfigError
from ekino_pipeline.exchange.client import ExchangeClient, ExchangeError, Page
from ekino_pipeline.ingestion.landing import MANIFEST, CinemaDay, DayWriter, LandingZone, new_attempt_id
from ekino_pipeline.ingestion.pull import pull_cinema_day, redact

log = logging.getLogger(__name__)

LIVE_DIR = "live"
EVENTS = "ticket_events"
SESSIONS = "sessions"
# Late arrivals: a record is asked for again while its occurred_at is within this of the watermark.
DEFAULT_OVERLAP = timedelta(minutes=2)
# A cinema's screenings of today are pulled again this often (a session added during the day).
SESSIONS_REFRESH = timedelta(minutes=30)


def live_zone(landing: LandingZone) -> LandingZone:
    return LandingZone(landing.root / LIVE_DIR)


def _digest(raw: object) -> str:
    text = json.dumps(raw, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _write_manifest(directory: Path, manifest: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / MANIFEST, json.dumps(manifest, sort_keys=True, default=str).encode("utf-8"))


def read_live_manifest(landing: LandingZone, day: date, cinema_id: str) -> dict | None:
    return live_zone(landing).read_manifest(EVENTS, day, cinema_id)


def live_manifests(landing: LandingZone, day: date) -> list[dict]:
    return [m for _, _, m in live_zone(landing).manifests(EVENTS, [day])]


def _new_manifest(cinema_id: str, day: date) -> dict:
    return {
        "dataset": "live_ticket_events",
        "cinema_id": cinema_id,
        "business_date": day.isoformat(),
        "status": None,
        "error": None,
        "error_type": None,
        "watermark": None,
        "last_polled_at": None,
        "last_attempt_at": None,
        "sessions_pulled_at": None,
        "ticks": 0,
        "served": 0,
        "landed": 0,
        "quarantined": 0,
        "duplicates_dropped": 0,
        "sales": 0,
        "refunds": 0,
        "sales_kzt": "0.00",
        "refunds_kzt": "0.00",
        "gross_kzt": "0.00",
        "batches": [],
        "recent_event_ids": {},
        "quarantined_digests": [],
    }


class _IncrementWriter(DayWriter):
    """A batch of one tick: the landing's page handling, after dropping what earlier batches hold."""

    def __init__(self, *args, recent_ids: Iterable[str], digests: Iterable[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.known_ids = set(recent_ids)
        self.known_digests = set(digests)
        self.new_digests: list[str] = []

    def add_page(self, page: Page) -> None:
        dropped = 0
        table, valid = page.table, page.valid
        if table is not None and table.num_rows and self.known_ids:
            seen = pc.is_in(table.column(self.key), pa.array(sorted(self.known_ids), pa.string()))
            dropped += pc.sum(seen).as_py() or 0
            table = table.filter(pc.invert(seen))
        elif valid and self.known_ids:
            kept = [r for r in valid if r.get(self.key) not in self.known_ids]
            dropped += len(valid) - len(kept)
            valid = kept
        rejected = []
        for item in page.rejected:
            digest = _digest(item.raw)
            if digest in self.known_digests:
                dropped += 1
            else:
                self.known_digests.add(digest)
                self.new_digests.append(digest)
                rejected.append(item)
        if dropped:
            page = replace(page, served=page.served - dropped, table=table, valid=valid, rejected=rejected)
            self.counts["served"] += dropped
            self.counts["duplicates_dropped"] += dropped
        super().add_page(page)

    def landed_ids(self) -> list[tuple[str, datetime]]:
        out = []
        for table in self.tables:
            out.extend(
                zip(table.column(self.key).to_pylist(), table.column(self.ts_field).to_pylist(), strict=True)
            )
        return out


@dataclass(frozen=True)
class LiveTask:
    cinema_id: str
    client_factory: Callable[[], ExchangeClient]


def pull_live_increment(
    cinema_id: str,
    day: date,
    client_factory: Callable[[], ExchangeClient],
    landing: LandingZone,
    *,
    now: datetime | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    run_id: str | None = None,
    secrets: Iterable[str] = (),
    sessions_refresh: timedelta = SESSIONS_REFRESH,
) -> dict:
    """One tick for one cinema-day: land the events after its watermark - overlap as a new batch and
    commit the manifest. Never raises for the cinema's own failures: the manifest says what failed."""
    secrets = tuple(secrets)
    now = now or datetime.now(UTC)
    zone = live_zone(landing)
    manifest = zone.read_manifest(EVENTS, day, cinema_id) or _new_manifest(cinema_id, day)
    manifest["last_attempt_at"] = now.isoformat()
    manifest["run_id"] = run_id
    started = time.monotonic()
    _refresh_sessions(
        manifest, cinema_id, day, client_factory, landing, now, run_id, secrets, sessions_refresh
    )
    day_start, day_end = business_day_bounds(day)
    watermark = datetime.fromisoformat(manifest["watermark"]) if manifest["watermark"] else None
    start = max(day_start, watermark - overlap) if watermark else day_start
    batch_id = new_attempt_id()
    writer = _IncrementWriter(
        zone,
        CinemaDay(EVENTS, cinema_id, day),
        batch_id,
        datetime.now(UTC),
        recent_ids=manifest["recent_event_ids"],
        digests=manifest["quarantined_digests"],
    )
    try:
        with client_factory() as client:
            for page in client.iter_ticket_event_pages(start, day_end, columnar=True):
                writer.add_page(page)
    except Exception as exc:  # a failing cinema is recorded, never allowed to fail the others
        writer.abort()
        # Exchange faults and configuration faults (a missing token) name their cause in one line.
        expected = isinstance(exc, ExchangeError | ConfigError)
        text = str(exc) if expected else f"{type(exc).__name__}: {exc}"
        manifest.update(status="failed", error=redact(text, secrets), error_type=type(exc).__name__)
        if not expected:
            log.exception("live %s %s: unexpected error", cinema_id, day)
        _write_manifest(zone.cinema_day_dir(EVENTS, day, cinema_id), manifest)
        return manifest
    summary = writer.summary()
    if summary["landed"] or summary["quarantined"]:
        files = writer.commit()
        manifest["batches"].append(
            {
                "batch_id": batch_id,
                "files": files,
                "from": start.isoformat(),
                "extracted_at": writer.lineage["extracted_at"].isoformat(),
                **{k: summary[k] for k in ("served", "landed", "quarantined", "duplicates_dropped")},
            }
        )
    else:
        writer.abort()
    for name in ("served", "landed", "quarantined", "duplicates_dropped", "sales", "refunds"):
        manifest[name] += summary.get(name) or 0
    for name in ("sales_kzt", "refunds_kzt", "gross_kzt"):
        manifest[name] = str(Decimal(manifest[name]) + Decimal(summary.get(name) or "0"))
    landed = writer.landed_ids()
    if landed:
        newest = max(ts for _, ts in landed)
        watermark = max(watermark, newest) if watermark else newest
    # Only the ids the next window can serve again need remembering.
    recent = {**manifest["recent_event_ids"], **{key: ts.isoformat() for key, ts in landed}}
    if watermark is not None:
        floor = watermark - overlap
        recent = {key: ts for key, ts in recent.items() if datetime.fromisoformat(ts) >= floor}
    manifest.update(
        status="success",
        error=None,
        error_type=None,
        watermark=watermark.isoformat() if watermark else None,
        last_polled_at=now.isoformat(),
        ticks=manifest["ticks"] + 1,
        recent_event_ids=recent,
        quarantined_digests=manifest["quarantined_digests"] + writer.new_digests,
        duration_seconds=round(time.monotonic() - started, 3),
    )
    _write_manifest(zone.cinema_day_dir(EVENTS, day, cinema_id), manifest)
    return manifest


def session_days(day: date) -> list[date]:
    """The session days today's events can touch: yesterday's late screenings to the presale horizon."""
    return [day + timedelta(days=n) for n in range(-1, PRESALE_HORIZON_DAYS + 1)]


def _refresh_sessions(
    manifest: dict,
    cinema_id: str,
    day: date,
    client_factory: Callable[[], ExchangeClient],
    landing: LandingZone,
    now: datetime,
    run_id: str | None,
    secrets: tuple[str, ...],
    every: timedelta,
) -> None:
    """The screenings live sales can be for, so that they find their film: every session day on the
    first tick of the day, then today's again now and then (a screening added during the day). A failed
    sessions pull keeps the previous one (the landing's failed-commit rule) and is tried next tick."""
    pulled = manifest.get("sessions_pulled_at")
    if pulled and now - datetime.fromisoformat(pulled) < every:
        return
    days = [day] if pulled else session_days(day)
    ok = True
    for session_day in days:
        result = pull_cinema_day(
            CinemaDay(SESSIONS, cinema_id, session_day),
            client_factory,
            live_zone(landing),
            run_id=run_id,
            max_attempts=1,
            secrets=secrets,
        )
        ok &= result["status"] == "success"
    if ok:
        manifest["sessions_pulled_at"] = now.isoformat()


def pull_live_increments(
    tasks: list[LiveTask],
    day: date,
    landing: LandingZone,
    *,
    now: datetime | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    run_id: str | None = None,
    secrets: Iterable[str] = (),
    max_concurrency: int = 16,
) -> list[dict]:
    """One tick for every cinema, each isolated from the others; the committed manifests."""
    now = now or datetime.now(UTC)
    secrets = tuple(secrets)

    def one(task: LiveTask) -> dict:
        return pull_live_increment(
            task.cinema_id,
            day,
            task.client_factory,
            landing,
            now=now,
            overlap=overlap,
            run_id=run_id,
            secrets=secrets,
        )

    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrency, len(tasks)))) as pool:
        return list(pool.map(one, tasks))


def batch_files(landing: LandingZone, manifest: dict, kind: str = "data") -> list[tuple[str, Path]]:
    """(batch_id, path) of the committed batches of a live cinema-day that hold a file of `kind`."""
    directory = live_zone(landing).cinema_day_dir(
        EVENTS, date.fromisoformat(manifest["business_date"]), manifest["cinema_id"]
    )
    return [(b["batch_id"], directory / b["files"][kind]) for b in manifest["batches"] if kind in b["files"]]
