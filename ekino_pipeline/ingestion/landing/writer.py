"""One attempt at a cinema-day, page by page: landed rows, quarantined records and the counts that its
manifest will carry. Pages are held as Arrow tables only until the Parquet writer's flush size, so
memory does not grow with the size of a day; every record served ends up in exactly one place: landed,
quarantined (with its reason) or counted as a duplicate dropped.

A page is handled as one Arrow table (deduplication, counts, lineage columns), whether the client
validated it in Arrow or record by record: per-record Python is the cost of a large network's day.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
from datetime import datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from ekino_pipeline.exchange.client import Page
from ekino_pipeline.ingestion.landing.zone import CinemaDay, LandingZone
from ekino_pipeline.ingestion.schemas import DATASET_KEYS, DATASET_SCHEMAS, LINEAGE_COLUMNS, QUARANTINE


def _timestamp_field(dataset: str) -> str:
    return {"ticket_events": "occurred_at", "declared_returns": "declared_at"}.get(dataset, "starts_at")


@functools.cache
def _record_schema(dataset: str) -> pa.Schema:
    """A landed record before its lineage columns."""
    return pa.schema([f for f in DATASET_SCHEMAS[dataset] if f.name not in LINEAGE_COLUMNS])


class DayWriter:
    """Accumulates one attempt of a cinema-day: landed rows, quarantine rows and the counts."""

    def __init__(self, landing: LandingZone, cinema_day: CinemaDay, attempt_id: str, extracted_at: datetime):
        self.cinema_day = cinema_day
        self.key = DATASET_KEYS[cinema_day.dataset]
        self.ts_field = _timestamp_field(cinema_day.dataset)
        self.lineage = {
            "cinema_id": cinema_day.cinema_id,
            "business_date": cinema_day.business_date,
            "attempt_id": attempt_id,
            "extracted_at": extracted_at,
        }
        dataset, day, cinema_id = cinema_day.dataset, cinema_day.business_date, cinema_day.cinema_id
        schema = DATASET_SCHEMAS[dataset]
        self.data = landing.open_writer(dataset, day, cinema_id, "data", attempt_id, schema)
        self.quarantine = landing.open_writer(
            dataset, day, cinema_id, "quarantine", attempt_id, QUARANTINE, optional=True
        )
        self.record_schema = _record_schema(dataset)
        self.lineage_columns = [
            (schema.field(name), pa.scalar(value, schema.field(name).type))
            for name, value in self.lineage.items()
        ]
        # Key -> position of its first valid record among the pages' tables (kept until commit), so a
        # key served again can be told an identical duplicate or a conflicting one. Built from a
        # cinema-day's second page on, or once a key of its first comes twice (most days: never).
        self.seen: dict[str, int] | None = None
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
        base, earlier = self.rows, len(self.tables)
        if table.num_rows:
            self.tables.append(table)
            self.offsets.append(base)
            self.rows += table.num_rows
        keys = self._keys_served_before(table, base, earlier)
        if keys is None:
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

    def _keys_served_before(self, table: pa.Table, base: int, earlier: int) -> list[str] | None:
        """None when every key of the page (at row `base`, after `earlier` tables) is new, else the
        page's keys, to be told apart one by one. A cinema-day's first page is checked in Arrow (most
        days are one page); `seen` is built from the second page on, or once a key comes twice."""
        column = table.column(self.key)
        if self.seen is None:
            if not earlier and pc.count_distinct(column).as_py() == len(column):
                return None
            self.seen = {}
            for offset, before in zip(self.offsets[:earlier], self.tables[:earlier], strict=True):
                self.seen.update(zip(before.column(self.key).to_pylist(), itertools.count(offset)))
        keys = column.to_pylist()
        if len(set(keys)) == len(keys) and self.seen.keys().isdisjoint(keys):
            self.seen.update(zip(keys, itertools.count(base)))
            return None
        return keys

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
        if self.cinema_day.dataset == "ticket_events":
            is_sale = pc.equal(landed.column("event_type"), "sale")
            amounts = landed.column("amount_kzt")
            sales = pc.sum(is_sale).as_py() or 0
            self.sales += sales
            self.refunds += landed.num_rows - sales
            self.sales_kzt += pc.sum(amounts.filter(is_sale)).as_py() or 0
            self.refunds_kzt += pc.sum(amounts.filter(pc.invert(is_sale))).as_py() or 0
        elif self.cinema_day.dataset == "declared_returns":
            self.declared_kzt += pc.sum(landed.column("gross_kzt")).as_py() or 0

    def _quarantine(self, page_number: int, bad: list[tuple[str | None, object, str]]) -> None:
        n = len(bad)
        table = pa.table(
            {
                "dataset": [self.cinema_day.dataset] * n,
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
        if self.cinema_day.dataset == "ticket_events":
            out.update(
                sales=self.sales,
                refunds=self.refunds,
                sales_kzt=str(self.sales_kzt),
                refunds_kzt=str(self.refunds_kzt),
                gross_kzt=str(self.sales_kzt - self.refunds_kzt),
            )
        elif self.cinema_day.dataset == "declared_returns":
            out["gross_kzt"] = str(self.declared_kzt)
        return out
