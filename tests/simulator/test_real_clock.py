"""The simulator on the real clock: sales appear over HTTP as their time comes, at a rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from ekino_sim.network import SimulatedClock
from ekino_sim.server import SimulatorServer

CINEMA = "ALA-0002"
# A Saturday evening: every cinema sells several tickets a minute.
EVENING = datetime(2025, 6, 14, 13, 0, tzinfo=UTC)


class FakeWall:
    def __init__(self, start: float):
        self.t = start

    def __call__(self) -> float:
        return self.t


def served_events(sim: SimulatorServer, start: datetime, end: datetime) -> list[dict]:
    events, token = [], None
    while True:
        params = {"from": start.isoformat(), "to": end.isoformat(), "limit": 1000}
        if token:
            params["page_token"] = token
        answer = requests.get(
            f"{sim.url}/cinemas/{CINEMA}/v1/ticket-events",
            params=params,
            headers={"Authorization": f"Bearer {sim.tokens[CINEMA]}"},
            timeout=30,
        )
        answer.raise_for_status()
        body = answer.json()
        events.extend(body["events"])
        token = body.get("next_page_token")
        if not token:
            return events


def test_the_clock_at_rate_k_runs_k_seconds_per_wall_second_from_its_start():
    wall = FakeWall(1_000_000.0)
    clock = SimulatedClock(rate=10, start=EVENING, wall=wall)
    assert clock.now() == EVENING
    wall.t += 6
    assert clock.now() == EVENING + timedelta(seconds=60)


def test_the_clock_refuses_a_rate_that_is_not_positive():
    with pytest.raises(ValueError, match="positive"):
        SimulatedClock(rate=0)


def test_sales_appear_over_http_only_once_their_time_has_come():
    wall = FakeWall(1_000_000.0)
    with SimulatorServer(seed=7, clock=SimulatedClock(rate=1, start=EVENING, wall=wall)) as sim:
        window = (EVENING - timedelta(hours=1), EVENING + timedelta(hours=1))
        before = served_events(sim, *window)
        assert before, "an evening hour before now has sales"
        assert all(datetime.fromisoformat(e["occurred_at"]) <= EVENING for e in before)
        wall.t += 600
        after = served_events(sim, *window)
        later = [e for e in after if datetime.fromisoformat(e["occurred_at"]) > EVENING]
        assert later, "ten minutes on, the sales of those minutes are served"
        assert all(datetime.fromisoformat(e["occurred_at"]) <= EVENING + timedelta(minutes=10) for e in after)
        assert {e["event_id"] for e in before} <= {e["event_id"] for e in after}


def test_at_ten_times_the_rate_ten_times_the_simulated_time_is_served_per_wall_second():
    wall_1, wall_10 = FakeWall(0.0), FakeWall(0.0)
    window = (EVENING, EVENING + timedelta(hours=2))
    with (
        SimulatorServer(seed=7, clock=SimulatedClock(rate=1, start=EVENING, wall=wall_1)) as pilot,
        SimulatorServer(seed=7, clock=SimulatedClock(rate=10, start=EVENING, wall=wall_10)) as fast,
    ):
        wall_1.t = wall_10.t = 360.0
        at_pilot_rate = served_events(pilot, *window)
        at_ten_times = served_events(fast, *window)
    assert at_ten_times[-1]["occurred_at"] > at_pilot_rate[-1]["occurred_at"]
    assert len(at_ten_times) >= 5 * len(at_pilot_rate) > 0
