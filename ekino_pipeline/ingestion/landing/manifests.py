"""What a cinema-day's manifest says, and the failures put on record: a failed pull, a pull whose worker
never reported, an attempt found killed. A failure is committed like a success, keeping the files (and
their counts) of the last attempt that landed data, so that a failed re-pull never throws a good day
away; the manifest's own status and error say what happened last.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from ekino_pipeline.calendar import business_day_bounds
from ekino_pipeline.ingestion.landing.attempts import KILLED, new_attempt_id
from ekino_pipeline.ingestion.landing.zone import CinemaDay, LandingZone

log = logging.getLogger(__name__)

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


def manifest_head(
    cinema_day: CinemaDay,
    attempt_id: str,
    run_id: str | None,
    error: str | None,
    error_type: str | None,
    attempts: int,
    started_at: datetime | None,
    started: float | None,
) -> dict:
    """A manifest's head; `started_at` None for an attempt found dead (its end is not known),
    `started` the attempt's time.monotonic() at its start."""
    manifest = {
        "dataset": cinema_day.dataset,
        "cinema_id": cinema_day.cinema_id,
        "business_date": cinema_day.business_date.isoformat(),
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
    if cinema_day.dataset == "ticket_events":
        start, end = business_day_bounds(cinema_day.business_date)
        manifest["window"] = {"from": start.isoformat(), "to": end.isoformat()}
    return manifest


def commit_failed(cinema_day: CinemaDay, landing: LandingZone, manifest: dict) -> dict:
    """A failed re-pull must not throw away what an earlier attempt landed: keep naming its files.

    When the disk refuses the manifest too, the failure is returned with `committed: false` and the
    reason, so that the run still counts and shows this cinema-day as failed; the cinema-day keeps its
    previous manifest (or none), never a part of this one."""
    dataset, day, cinema_id = cinema_day.dataset, cinema_day.business_date, cinema_day.cinema_id
    try:
        previous = landing.read_manifest(dataset, day, cinema_id) or {}
    except (OSError, ValueError) as exc:  # unreadable: nothing of it can be kept
        previous = {}
        manifest["error"] = f"{manifest['error']} (the previous manifest was unreadable: {exc})"
    kept = previous.get("files", {}) if previous.get("data_attempt_id") else {}
    manifest.update({k: previous.get(k, 0) for k in DATA_FIELDS if k in previous})
    for name in ("served", "landed", "quarantined", "duplicates_dropped"):
        manifest.setdefault(name, 0)
    manifest.update(files=kept, data_attempt_id=previous.get("data_attempt_id") if kept else None)
    try:
        landing.commit(dataset, day, cinema_id, manifest)
    except OSError as exc:
        log.warning("%s %s %s: failed manifest not written: %s", dataset, cinema_id, day, exc)
        manifest["error"] = f"{manifest['error']} (the failed manifest could not be written: {exc})"
        manifest["committed"] = False
    return manifest


def record_killed_attempts(
    cinema_day: CinemaDay, landing: LandingZone, *, run_id: str | None = None, running: str | None = None
) -> dict | None:
    """Commit a failed manifest for the newest attempt of the cinema-day that died without committing
    (the older ones go to its history), keeping the files the cinema-day had; None when there is none.
    `running` is the caller's own attempt. Recording is best effort: a disk that refuses it must not
    stop the pull that follows."""
    dataset, day, cinema_id = cinema_day.dataset, cinema_day.business_date, cinema_day.cinema_id
    try:
        killed = landing.killed_attempts(dataset, day, cinema_id, running=running)
    except OSError as exc:
        log.warning("%s %s %s: killed attempts not looked for: %s", dataset, cinema_id, day, exc)
        return None
    if not killed:
        return None
    dead = killed[-1]
    log.warning("%s %s %s: %s", dataset, cinema_id, day, dead.reason)
    manifest = manifest_head(
        cinema_day, dead.attempt_id, dead.run_id, dead.reason, KILLED, 0, started_at=None, started=None
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
    return commit_failed(cinema_day, landing, manifest)


def record_failed_pull(
    cinema_day: CinemaDay, landing: LandingZone, *, error: str, error_type: str, run_id: str | None = None
) -> dict:
    """Commit a failure for a cinema-day whose pull never reported (its worker process died)."""
    manifest = manifest_head(
        cinema_day, new_attempt_id(), run_id, error, error_type, 0, datetime.now(UTC), time.monotonic()
    )
    # The dead worker's attempts took their counts with them: unknown, not zero.
    manifest.update(discarded_served=None, discarded_pages=None)
    return commit_failed(cinema_day, landing, manifest)
