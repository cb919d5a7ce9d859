"""Live increments: watermarks with overlap, duplicates dropped by event id, batches that reconcile."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from ekino_pipeline.exchange.client import ExchangeClient, Page
from ekino_pipeline.ingestion.landing import LandingZone
from ekino_pipeline.live.pull import batch_files, pull_live_increment, read_live_manifest
from ekino_sim import faults as F
from ekino_sim.network import SimulatedClock
from ekino_sim.server import SimulatorServer

DAY = date(2025, 6, 14)  # a Saturday
CINEMA = "ALA-0002"


def event(event_id: str, at: str, amount: str = "1500.00") -> dict:
    return {
        "event_id": event_id,
        "event_type": "sale",
        "ticket_id": f"T-{event_id}",
        "session_id": "S-1",
        "occurred_at": datetime.fromisoformat(f"2025-06-14T{at}:00+05:00").astimezone(UTC),
        "amount_kzt": Decimal(amount),
        "seat_row": 1,
        "seat_number": 1,
        "channel": "online",
        "category": "adult",
    }


class ScriptedExchange:
    """What the exchange serves on each tick, whatever window is asked; it records the windows."""

    def __init__(self, ticks: list[list[dict]]):
        self.ticks = ticks
        self.windows: list[tuple[datetime, datetime]] = []

    def __call__(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def iter_session_pages(self, day):
        yield Page(number=1, served=0)

    def iter_ticket_event_pages(self, start, end, *, columnar=False):
        self.windows.append((start, end))
        records = [r for r in self.ticks[len(self.windows) - 1] if start <= r["occurred_at"] < end]
        yield Page(number=1, served=len(records), valid=records)


def landed_ids(zone: LandingZone, cinema_id: str = CINEMA) -> list[str]:
    manifest = read_live_manifest(zone, DAY, cinema_id)
    return [i for _, path in batch_files(zone, manifest) for i in pq.read_table(path)["event_id"].to_pylist()]


def test_a_late_arriving_event_within_the_overlap_is_landed_once(tmp_path):
    zone = LandingZone(tmp_path / "landing")
    a, b, late, d = event("E1", "20:00"), event("E2", "20:05"), event("E3", "20:04"), event("E4", "20:06")
    exchange = ScriptedExchange([[a, b], [a, b, late, d], [a, b, late, d]])
    now = datetime(2025, 6, 14, 15, 10, tzinfo=UTC)
    first = pull_live_increment(CINEMA, DAY, exchange, zone, now=now)
    assert first["watermark"] == b["occurred_at"].isoformat()
    second = pull_live_increment(CINEMA, DAY, exchange, zone, now=now + timedelta(minutes=1))
    third = pull_live_increment(CINEMA, DAY, exchange, zone, now=now + timedelta(minutes=2))
    # the second tick asked from watermark - 2 minutes, so it saw b again and the late e3
    assert exchange.windows[1][0] == b["occurred_at"] - timedelta(minutes=2)
    assert sorted(landed_ids(zone)) == ["E1", "E2", "E3", "E4"]
    assert second["duplicates_dropped"] == 1 and third["duplicates_dropped"] == 1 + 3
    assert third["served"] == third["landed"] + third["quarantined"] + third["duplicates_dropped"]
    assert len(third["batches"]) == 2, "a tick that lands nothing adds no batch"
    assert third["gross_kzt"] == "6000.00"


def test_an_event_later_than_the_overlap_is_left_to_the_daily_run(tmp_path):
    zone = LandingZone(tmp_path / "landing")
    a, b, too_late = event("E1", "20:00"), event("E2", "20:10"), event("E3", "20:01")
    exchange = ScriptedExchange([[a, b], [a, b, too_late]])
    now = datetime(2025, 6, 14, 15, 20, tzinfo=UTC)
    pull_live_increment(CINEMA, DAY, exchange, zone, now=now)
    manifest = pull_live_increment(CINEMA, DAY, exchange, zone, now=now + timedelta(minutes=1))
    assert sorted(landed_ids(zone)) == ["E1", "E2"]
    assert manifest["served"] == manifest["landed"] + manifest["duplicates_dropped"] == 3


def test_a_cinema_that_fails_keeps_its_batches_and_says_why(tmp_path):
    zone = LandingZone(tmp_path / "landing")
    exchange = ScriptedExchange([[event("E1", "20:00")]])
    now = datetime(2025, 6, 14, 15, 20, tzinfo=UTC)
    pull_live_increment(CINEMA, DAY, exchange, zone, now=now)

    def broken():
        raise ConnectionError("the cinema's line is cut")

    manifest = pull_live_increment(CINEMA, DAY, broken, zone, now=now + timedelta(minutes=1))
    assert manifest["status"] == "failed" and "line is cut" in manifest["error"]
    assert manifest["last_polled_at"] == now.isoformat()
    assert landed_ids(zone) == ["E1"]


class Wall:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize("scenario", [None, F.DUPLICATE_EVENTS, F.BAD_AMOUNTS, F.OUT_OF_ORDER])
def test_the_batches_of_a_cinema_day_reconcile_with_the_exchange(tmp_path, scenario):
    faults = [
        {"cinema_id": CINEMA, "scenario": scenario, "from_date": "2025-06-14", "until_date": "2025-06-14"}
    ]
    wall = Wall()
    start = datetime(2025, 6, 14, 14, 0, tzinfo=UTC)  # 19:00 in Almaty: a busy evening
    clock = SimulatedClock(rate=1, start=start, wall=wall)
    zone = LandingZone(tmp_path / "landing")
    with SimulatorServer(seed=7, faults=faults if scenario else None, clock=clock) as sim:

        def client():
            return ExchangeClient(
                f"{sim.url}/cinemas/{CINEMA}", sim.tokens[CINEMA], cinema_id=CINEMA, page_size=100
            )

        for tick in range(4):
            wall.t = tick * 13 * 60  # ticks wider than the overlap, so each asks a window of its own
            manifest = pull_live_increment(CINEMA, DAY, client, zone, now=clock.now())
        truth = sim.truth(CINEMA, DAY)["ticket_events"]
    ids = landed_ids(zone)
    assert len(ids) == len(set(ids)) == truth["valid_unique"] == manifest["landed"]
    assert manifest["gross_kzt"] == truth["gross_kzt"]
    assert manifest["served"] == manifest["landed"] + manifest["quarantined"] + manifest["duplicates_dropped"]
    assert manifest["quarantined"] == truth["invalid"]
    assert len(manifest["batches"]) >= 2
