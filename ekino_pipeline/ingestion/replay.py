"""Quarantine replay: validating quarantined records again and landing those that now pass, without
asking the exchange again.

Records are quarantined against the rules and the registry of the day they were pulled. When the
registry catches up (a film registered after cinemas sold its sessions) or a rule is corrected, the
quarantine file still holds every such record exactly as served (`raw_record`), so it can be validated
again here. No Dagster here: the `ekino replay-quarantine` command and the replay asset both call
`replay_quarantine`.

A replay of a cinema-day is one more attempt of it, committed like a pull: a new data file (the rows
landed before plus the replayed ones) and a new quarantine file (what still fails, none when nothing
does) are renamed into place, then a manifest that copies the old one with the counts moved from
`quarantined` to `landed` (served = landed + quarantined + duplicates dropped still holds) replaces it
atomically. A crash before that leaves the old manifest naming the old files. A replay that finds
nothing new writes nothing, so running it again is a no-op.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ekino_pipeline.calendar import business_day_bounds
from ekino_pipeline.exchange.contract import Rejected, validate_session, validate_ticket_event
from ekino_pipeline.exchange.registry import Registry, validate_cinema_id
from ekino_pipeline.ingestion.landing import LandingZone, new_attempt_id
from ekino_pipeline.ingestion.schemas import DATASET_KEYS, DATASET_SCHEMAS, QUARANTINE

log = logging.getLogger(__name__)

DATASETS = ("sessions", "ticket_events")
# The pull writes this reason for a key served twice with different content. Its raw_record is the
# normalized record (not the JSON as served), and which of the two versions is right is a question for
# the cinema, not for a validation rule: such rows are never replayed.
CONFLICTING_DUPLICATE = "conflicting duplicate"


@dataclass(frozen=True)
class ReplayResult:
    """What a replay did to one cinema-day whose manifest names a quarantine file."""

    dataset: str
    business_date: date
    cinema_id: str
    replayed: int = 0  # quarantined records now landed
    duplicates_dropped: int = 0  # quarantined copies of a record replayed in the same pass
    remaining: int = 0  # records still quarantined
    reasons: dict[str, int] = field(default_factory=dict)  # original reason -> records replayed
    attempt_id: str | None = None  # the replay's attempt, when it committed one
    # Set when the cinema-day was committed again (a re-pull) while the replay ran: nothing was changed.
    skipped: str | None = None

    @property
    def changed(self) -> bool:
        return self.attempt_id is not None


class _Validator:
    """Today's rules for one dataset of one cinema-day."""

    def __init__(self, dataset: str, cinema_id: str, day: date, registry: Registry, now: datetime):
        self.dataset, self.cinema_id, self.day = dataset, cinema_id, day
        self.film_ids = registry.film_ids
        self.window = business_day_bounds(day)
        self.now = now

    def __call__(self, raw: object) -> dict | Rejected:
        if self.dataset == "sessions":
            return validate_session(
                raw, cinema_id=self.cinema_id, business_day=self.day, known_film_ids=self.film_ids
            )
        return validate_ticket_event(raw, cinema_id=self.cinema_id, window=self.window, now=self.now)


def replay_quarantine(
    zone: LandingZone,
    registry: Registry,
    days: Iterable[date],
    *,
    cinemas: Iterable[str] | None = None,
    now: datetime | None = None,
) -> list[ReplayResult]:
    """Replay the quarantine of every committed cinema-day (sessions and ticket events) of `days`,
    optionally only of `cinemas`; one result per cinema-day whose manifest names a quarantine file."""
    now = now or datetime.now(UTC)
    if now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    wanted = {validate_cinema_id(c) for c in cinemas} if cinemas else None
    days = sorted(set(days))
    results = []
    for dataset in DATASETS:
        for day, cinema_id, manifest in zone.manifests(dataset, days):
            if wanted is not None and cinema_id not in wanted:
                continue
            if not manifest.get("files", {}).get("quarantine"):
                continue
            validator = _Validator(dataset, cinema_id, day, registry, now)
            results.append(_replay_cinema_day(zone, dataset, day, cinema_id, manifest, validator, now))
    return results


def _replay_cinema_day(
    zone: LandingZone,
    dataset: str,
    day: date,
    cinema_id: str,
    manifest: dict,
    validator: _Validator,
    now: datetime,
) -> ReplayResult:
    directory = zone.cinema_day_dir(dataset, day, cinema_id)
    files = manifest["files"]
    key = DATASET_KEYS[dataset]
    quarantine = pq.read_table(directory / files["quarantine"])
    data = _read_data(directory, files.get("data"), DATASET_SCHEMAS[dataset])
    landed_keys = set(data.column(key).to_pylist())

    replayed: dict[str, dict] = {}  # key -> the normalized record landed by this pass
    replayed_rows: list[int] = []
    kept: list[int] = []
    new_reasons: dict[int, str] = {}  # kept rows whose reason changes (found conflicting in this pass)
    duplicates = 0
    reasons: Counter[str] = Counter()
    rows = quarantine.select(["raw_record", "reason"]).to_pylist()
    for index, row in enumerate(rows):
        record = _revalidate(row, validator)
        if record is None or record[key] in landed_keys:
            # Still invalid, or its key was landed from another record: the landed one stays the truth.
            kept.append(index)
            continue
        earlier = replayed.get(record[key])
        if earlier is None:
            replayed[record[key]] = record
            replayed_rows.append(index)
            reasons[row["reason"]] += 1
        elif earlier == record:
            duplicates += 1  # served twice identically, as the pull counts it
        else:
            kept.append(index)
            new_reasons[index] = f"{CONFLICTING_DUPLICATE}: {key} {record[key]} served twice, differently"
    result = ReplayResult(dataset, day, cinema_id, remaining=len(kept))
    if not replayed:
        return result

    attempt_id = new_attempt_id()
    replayed_table = _landed_table(dataset, quarantine, replayed_rows, list(replayed.values()), attempt_id)
    new_data = pa.concat_tables([data, replayed_table])
    remaining = _remaining_table(quarantine, kept, new_reasons)
    # Held until the manifest names our files: a commit of this cinema-day elsewhere leaves them alone.
    with zone.attempt(dataset, day, cinema_id, attempt_id):
        data_writer = zone.open_writer(dataset, day, cinema_id, "data", attempt_id, DATASET_SCHEMAS[dataset])
        quarantine_writer = zone.open_writer(
            dataset, day, cinema_id, "quarantine", attempt_id, QUARANTINE, optional=True
        )
        written: list[Path] = []
        try:
            data_writer.write(new_data)
            quarantine_writer.write(remaining)
            written.append(data_writer.commit())
            new_files = {"data": data_writer.path.name}
            quarantine_path = quarantine_writer.commit()
            if quarantine_path is not None:
                written.append(quarantine_path)
                new_files["quarantine"] = quarantine_path.name
            # A re-pull that committed while we read and wrote has the newer truth: leave it alone. (The
            # window between this check and the rename below is small; pulls take no lock to close it.)
            if zone.read_manifest(dataset, day, cinema_id) != manifest:
                raise _CommittedMeanwhile
        except _CommittedMeanwhile:
            for path in written:
                path.unlink(missing_ok=True)
            log.warning("%s %s %s: committed again during the replay; left as it is", dataset, cinema_id, day)
            return ReplayResult(dataset, day, cinema_id, remaining=len(rows), skipped="committed meanwhile")
        except BaseException:
            data_writer.abort()
            quarantine_writer.abort()
            for path in written:
                path.unlink(missing_ok=True)
            raise

        n = len(replayed)
        updated = dict(manifest)
        updated["landed"] = manifest.get("landed", 0) + n
        updated["quarantined"] = manifest.get("quarantined", 0) - n - duplicates
        updated["duplicates_dropped"] = manifest.get("duplicates_dropped", 0) + duplicates
        updated["replayed"] = manifest.get("replayed", 0) + n
        updated["replays"] = [
            *manifest.get("replays", []),
            {
                "at": now.isoformat(),
                "attempt_id": attempt_id,
                "records": n,
                "duplicates_dropped": duplicates,
                "reasons": dict(sorted(reasons.items())),
            },
        ]
        # `attempt_id`, `status` and `error` stay those of the last pull: a replay asks the exchange nothing,
        # so a failed re-pull stays failed (its data is the earlier attempt's, now with the replayed rows).
        updated["files"] = new_files
        updated["data_attempt_id"] = attempt_id
        updated.update(_summary(dataset, new_data))
        zone.commit(dataset, day, cinema_id, updated)
    log.info("%s %s %s: replayed %d quarantined records (%s)", dataset, cinema_id, day, n, dict(reasons))
    return ReplayResult(
        dataset,
        day,
        cinema_id,
        replayed=n,
        duplicates_dropped=duplicates,
        remaining=len(kept),
        reasons=dict(sorted(reasons.items())),
        attempt_id=attempt_id,
    )


class _CommittedMeanwhile(Exception):
    pass


def _read_data(directory: Path, name: str | None, schema: pa.Schema) -> pa.Table:
    if not name:
        return schema.empty_table()
    table = pq.read_table(directory / name)
    return table if table.schema.equals(schema) else table.cast(schema)


def _revalidate(row: dict, validator: _Validator) -> dict | None:
    """The record normalized by today's rules, or None when it must stay in quarantine."""
    if row["reason"].startswith(CONFLICTING_DUPLICATE):
        return None
    try:
        raw = json.loads(row["raw_record"])
    except ValueError:
        return None
    result = validator(raw)
    return None if isinstance(result, Rejected) else result


def _landed_table(
    dataset: str, quarantine: pa.Table, rows: list[int], records: list[dict], attempt_id: str
) -> pa.Table:
    """The replayed records with their lineage. `extracted_at` stays the time the exchange served them
    (from their quarantine row): a replay extracts nothing, and freshness or as-of questions must not
    take a replay for a newer answer of the cinema. `attempt_id` is the replay's, which ties every row
    to its entry in the manifest's `replays`."""
    table = pa.Table.from_pylist(records, schema=_record_schema(dataset))
    lineage = quarantine.take(pa.array(rows, pa.int64()))
    schema = DATASET_SCHEMAS[dataset]
    for name in ("cinema_id", "business_date", "extracted_at"):
        table = table.append_column(schema.field(name), lineage.column(name).cast(schema.field(name).type))
    table = table.append_column(
        schema.field("attempt_id"), pa.repeat(pa.scalar(attempt_id, pa.string()), table.num_rows)
    )
    return table.select(schema.names).cast(schema)


def _record_schema(dataset: str) -> pa.Schema:
    lineage = {"cinema_id", "business_date", "attempt_id", "extracted_at"}
    return pa.schema([f for f in DATASET_SCHEMAS[dataset] if f.name not in lineage])


def _remaining_table(quarantine: pa.Table, kept: list[int], new_reasons: dict[int, str]) -> pa.Table:
    remaining = quarantine.take(pa.array(kept, pa.int64()))
    if not new_reasons:
        return remaining
    old = remaining["reason"].to_pylist()
    reasons = [new_reasons.get(index, reason) for index, reason in zip(kept, old, strict=True)]
    position = remaining.schema.get_field_index("reason")
    return remaining.set_column(position, remaining.schema.field("reason"), pa.array(reasons, pa.string()))


def _summary(dataset: str, data: pa.Table) -> dict:
    """The manifest's summary of the landed rows, computed as the pull computes it (_DayWriter.summary)."""
    ts_field = "occurred_at" if dataset == "ticket_events" else "starts_at"
    out: dict = {"first_record_at": None, "last_record_at": None}
    if data.num_rows:
        first, last = (s.as_py() for s in pc.min_max(data.column(ts_field)).values())
        out.update(first_record_at=first.isoformat(), last_record_at=last.isoformat())
    if dataset == "ticket_events":
        is_sale = pc.equal(data.column("event_type"), "sale")
        amounts = data.column("amount_kzt")
        sales = pc.sum(is_sale).as_py() or 0
        sales_kzt = Decimal("0.00") + (pc.sum(amounts.filter(is_sale)).as_py() or 0)
        refunds_kzt = Decimal("0.00") + (pc.sum(amounts.filter(pc.invert(is_sale))).as_py() or 0)
        out.update(
            sales=sales,
            refunds=data.num_rows - sales,
            sales_kzt=str(sales_kzt),
            refunds_kzt=str(refunds_kzt),
            gross_kzt=str(sales_kzt - refunds_kzt),
        )
    return out
