"""The landing's page handling: every record served ends up landed, quarantined or counted as a
duplicate dropped, whether a key comes again on its own page or on a later one."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from ekino_pipeline.exchange.client import Page
from ekino_pipeline.exchange.contract import TICKET_EVENT_SCHEMA
from ekino_pipeline.ingestion.landing import CinemaDay, DayWriter, LandingZone

DAY = date(2024, 3, 5)
CINEMA = "ALA-0001"


def _event(n: int, amount: str = "2500.00") -> dict:
    return {
        "event_id": f"{CINEMA}:e{n}",
        "event_type": "sale",
        "ticket_id": f"{CINEMA}:t{n}",
        "session_id": f"{CINEMA}:s1",
        "occurred_at": datetime(2024, 3, 5, 12, n, tzinfo=UTC),
        "amount_kzt": Decimal(amount),
        "seat_row": 1,
        "seat_number": n,
        "channel": "online",
        "category": "adult",
    }


def _page(number: int, events: list[dict], columnar: bool) -> Page:
    if columnar:
        table = pa.Table.from_pylist(events, schema=TICKET_EVENT_SCHEMA)
        return Page(number=number, served=len(events), table=table)
    return Page(number=number, served=len(events), valid=events)


def _land(tmp_path, pages: list[list[dict]], columnar: bool) -> tuple[dict, list[str], list[str]]:
    zone = LandingZone(tmp_path)
    day = CinemaDay("ticket_events", CINEMA, DAY)
    zone.cinema_day_dir(day.dataset, DAY, CINEMA).mkdir(parents=True)
    writer = DayWriter(zone, day, "0123456789abcdef", datetime(2024, 3, 6, tzinfo=UTC))
    for number, events in enumerate(pages, start=1):
        writer.add_page(_page(number, events, columnar))
    files = writer.commit()
    folder = zone.cinema_day_dir(day.dataset, DAY, CINEMA)
    landed = pq.read_table(folder / files["data"]).column("event_id").to_pylist()
    reasons = (
        pq.read_table(folder / files["quarantine"]).column("reason").to_pylist()
        if "quarantine" in files
        else []
    )
    return writer.summary(), landed, reasons


def test_keys_served_twice_on_one_page_or_across_pages_are_dropped_or_quarantined(tmp_path):
    for columnar in (True, False):
        first = [_event(1), _event(2), _event(1), _event(3), _event(2, "3000.00")]
        second = [_event(4), _event(3), _event(1, "100.00"), _event(5)]
        summary, landed, reasons = _land(tmp_path / str(columnar), [first, second], columnar)
        assert landed == [f"{CINEMA}:e{n}" for n in (1, 2, 3, 4, 5)]
        assert summary["served"] == 9 and summary["landed"] == 5
        assert summary["duplicates_dropped"] == 2  # e1 again on page 1, e3 again on page 2
        assert summary["quarantined"] == 2
        assert reasons == [
            f"conflicting duplicate: event_id {CINEMA}:e{n} served twice, differently" for n in (2, 1)
        ]
        assert summary["sales_kzt"] == "12500.00"


def test_pages_of_new_keys_land_whole(tmp_path):
    summary, landed, reasons = _land(tmp_path, [[_event(1), _event(2)], [], [_event(3)]], columnar=True)
    assert landed == [f"{CINEMA}:e{n}" for n in (1, 2, 3)]
    assert (summary["landed"], summary["duplicates_dropped"], summary["quarantined"]) == (3, 0, 0)
    assert reasons == []
