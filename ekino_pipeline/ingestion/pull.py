"""Pulling one cinema's business day from the exchange into the landing zone.

No Dagster here: the assets call this per cinema-day. The pull fetches pages lazily and hands each to
the landing's writer (ingestion/landing/writer.py), which lands, quarantines and counts; it retries a
failed attempt, then commits the manifest, a failed one included (ingestion/landing/manifests.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from ekino_pipeline.calendar import business_day_bounds
from ekino_pipeline.exchange.client import (
    ExchangeAuthError,
    ExchangeClient,
    ExchangeConfigError,
    ExchangeError,
    Page,
    ResponseTooLarge,
)
from ekino_pipeline.ingestion.landing import (
    AttemptLock,
    CinemaDay,
    DayWriter,
    LandingZone,
    commit_failed,
    manifest_head,
    new_attempt_id,
    record_killed_attempts,
)

log = logging.getLogger(__name__)

# Errors a second try cannot fix: a wrong or missing token, an address the token must not go to, or a
# cinema that serves pages over our limit.
PERMANENT_ERRORS = (ExchangeAuthError, ExchangeConfigError, ResponseTooLarge)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Belt and braces: the client never puts a token in a message, and we check anyway."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _pages(client: ExchangeClient, req: CinemaDay) -> Iterator[Page]:
    if req.dataset == "ticket_events":
        start, end = business_day_bounds(req.business_date)
        return client.iter_ticket_event_pages(start, end, columnar=True)
    if req.dataset == "sessions":
        return client.iter_session_pages(req.business_date)
    if req.dataset == "declared_returns":  # business_date is the film week's Thursday
        return client.iter_box_office_return_pages(req.business_date)
    raise ValueError(f"unknown dataset {req.dataset!r}")


def pull_cinema_day(
    req: CinemaDay,
    client_factory: Callable[[], ExchangeClient],
    landing: LandingZone,
    *,
    run_id: str | None = None,
    max_attempts: int = 2,
    secrets: Iterable[str] = (),
    failure_note: str | None = None,
) -> dict:
    """Pull, land and commit one cinema-day; returns the committed manifest (a failure's error ends with
    `failure_note` in parentheses, when given). Never raises for the
    cinema's own failures nor for the disk's: those are recorded in the manifest with their reason, and
    when the disk refuses even the manifest (full, read-only), the failure is returned uncommitted.

    An earlier attempt of the cinema-day that died uncommitted (its run killed) is first recorded as a
    failed manifest; this pull's commit then supersedes it, and the manifest's history keeps both."""
    secrets = tuple(secrets)
    started = time.monotonic()
    started_at = datetime.now(UTC)
    attempt_id = new_attempt_id()
    try:
        with landing.attempt(
            req.dataset, req.business_date, req.cinema_id, attempt_id, run_id=run_id
        ) as lock:
            record_killed_attempts(req, landing, run_id=run_id, running=attempt_id)
            return _pull_and_commit(
                req,
                client_factory,
                landing,
                lock,
                run_id,
                max_attempts,
                secrets,
                started_at,
                started,
                failure_note,
            )
    except OSError as exc:
        # The landing zone refused a write outside the pull itself (the lock, the manifest). The lock
        # is gone: the failed manifest's commit removes what the attempt left.
        log.warning("%s %s %s: landing failed: %s", req.dataset, req.cinema_id, req.business_date, exc)
        error = redact(f"{type(exc).__name__}: {exc}", secrets)
        manifest = manifest_head(req, attempt_id, run_id, error, type(exc).__name__, 1, started_at, started)
        manifest.update(discarded_served=None, discarded_pages=None)
        return commit_failed(req, landing, manifest)


def _pull_and_commit(
    req: CinemaDay,
    client_factory: Callable[[], ExchangeClient],
    landing: LandingZone,
    lock: AttemptLock,
    run_id: str | None,
    max_attempts: int,
    secrets: tuple[str, ...],
    started_at: datetime,
    started: float,
    failure_note: str | None = None,
) -> dict:
    attempt_id = lock.attempt_id
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
        writer = DayWriter(landing, req, attempt_id, datetime.now(UTC))
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
    if error is not None and failure_note:
        error = f"{error} ({failure_note})"
    manifest = manifest_head(req, attempt_id, run_id, error, error_type, attempts, started_at, started)
    manifest.update(discarded)
    if result is None:
        return commit_failed(req, landing, manifest)
    manifest.update(result, files=files, data_attempt_id=attempt_id)
    landing.commit(req.dataset, req.business_date, req.cinema_id, manifest, lock=lock)
    return manifest


def _discard(writer: DayWriter, discarded: dict[str, int]) -> None:
    discarded["discarded_served"] += writer.counts["served"]
    discarded["discarded_pages"] += writer.counts["pages"]
    writer.abort()
