"""The silent-cinema assessment reads today's live manifests: a cinema whose live feed stops is seen in
minutes, and only while the live mode runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ekino_pipeline.exchange.client import Page
from ekino_pipeline.exchange.registry import load_registry
from ekino_pipeline.ingestion.landing import LandingZone
from ekino_pipeline.live.pull import pull_live_increment
from ekino_pipeline.monitoring.reporting import LIVE_STOPPED, OK, assess_cinemas
from ekino_sim import SAMPLE_REGISTRY_DIR

DAY = date(2025, 6, 14)
START = datetime(2025, 6, 14, 14, 0, tzinfo=UTC)
REGISTRY = load_registry(SAMPLE_REGISTRY_DIR)
ALIVE, STOPPED = (c.cinema_id for c in REGISTRY.connected_cinemas[:2])


class QuietExchange:
    def __call__(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def iter_session_pages(self, day):
        yield Page(number=1, served=0)

    def iter_ticket_event_pages(self, start, end, *, columnar=False):
        yield Page(number=1, served=0)


def broken():
    raise ConnectionError("connection refused")


def _tick(zone: LandingZone, at: datetime, stopped: bool) -> None:
    pull_live_increment(ALIVE, DAY, QuietExchange(), zone, now=at)
    pull_live_increment(STOPPED, DAY, broken if stopped else QuietExchange(), zone, now=at)


def _states(zone: LandingZone, at: datetime) -> dict[str, str]:
    states = assess_cinemas(
        zone, REGISTRY, at, newest_day=DAY, threshold=timedelta(hours=8), live_threshold=timedelta(minutes=15)
    )
    return {s.cinema_id: s.state for s in states}


def test_a_cinema_whose_live_polls_fail_past_the_threshold_is_flagged(tmp_path):
    zone = LandingZone(tmp_path)
    _tick(zone, START, stopped=False)
    for minute in range(1, 21):
        _tick(zone, START + timedelta(minutes=minute), stopped=True)
        states = _states(zone, START + timedelta(minutes=minute))
        assert states[ALIVE] == OK
        assert states[STOPPED] == (LIVE_STOPPED if minute >= 15 else OK), minute


def test_live_manifests_left_from_a_stopped_live_mode_flag_nobody(tmp_path):
    zone = LandingZone(tmp_path)
    _tick(zone, START, stopped=False)
    _tick(zone, START + timedelta(minutes=1), stopped=True)
    # An hour later no live tick has run: the live mode is off, its old failures say nothing now.
    assert _states(zone, START + timedelta(hours=1))[STOPPED] == OK
