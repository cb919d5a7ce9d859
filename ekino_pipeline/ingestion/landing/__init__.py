"""The landing zone: immutable Parquet per dataset, business day and cinema, committed by a manifest.

Layout: `<root>/<dataset>/business_date=YYYY-MM-DD/cinema_id=<id>/` holding
`data-<attempt>.parquet`, `quarantine-<attempt>.parquet` and `_manifest.json`.

The manifest is the commit point. Data files carry the attempt id in their name and are renamed into
place before the manifest that names them; the manifest itself is replaced with one atomic rename
(a pull's attempt writes it into its own lock file and renames that: one file fewer per cinema-day).
A reader that follows the manifest therefore sees exactly one complete attempt, whatever was killed
when, and a re-pull replaces exactly that cinema-day.

All of the landing's bookkeeping is here, one concern a module:
- `zone`: the folders, the commit (history kept, debris of other attempts removed), the readers;
- `attempts`: an attempt's lock and owner record, and the attempts that died without committing;
- `parquet`: an attempt's Parquet files, renamed into place on commit;
- `writer`: one attempt at a cinema-day, page by page (landed, quarantined, duplicates, counts);
- `manifests`: a manifest's head, and failures put on record without losing an earlier good day.
The pull (ingestion/pull.py) only fetches pages and hands them to the writer.
"""

from ekino_pipeline.ingestion.landing.attempts import KILLED, AttemptLock, DeadAttempt, new_attempt_id
from ekino_pipeline.ingestion.landing.manifests import (
    DATA_FIELDS,
    commit_failed,
    manifest_head,
    record_failed_pull,
    record_killed_attempts,
)
from ekino_pipeline.ingestion.landing.parquet import AtomicParquetWriter
from ekino_pipeline.ingestion.landing.writer import DayWriter
from ekino_pipeline.ingestion.landing.zone import HISTORY_LIMIT, MANIFEST, NATIONAL, CinemaDay, LandingZone

__all__ = [
    "DATA_FIELDS",
    "HISTORY_LIMIT",
    "KILLED",
    "MANIFEST",
    "NATIONAL",
    "AtomicParquetWriter",
    "AttemptLock",
    "CinemaDay",
    "DayWriter",
    "DeadAttempt",
    "LandingZone",
    "commit_failed",
    "manifest_head",
    "new_attempt_id",
    "record_failed_pull",
    "record_killed_attempts",
]
