"""A cinema the run cannot reach costs it one round of retries, not one per cinema-day: its other days
are tried once each, without retries, and say so; a run of its own starts afresh."""

from __future__ import annotations

import json
import socket
from datetime import date, timedelta

from ekino_pipeline.ingestion.landing import LandingZone
from ekino_pipeline.ingestion.resources import ExchangeResource
from ekino_pipeline.ingestion.workers import PullPlan, PullTask, pull_in_threads

DAYS = [date(2024, 3, 4) + timedelta(days=n) for n in range(4)]


def _closed_port() -> int:
    """A loopback port nobody listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pull(tmp_path, run_id: str | None) -> list[dict]:
    options = ExchangeResource(retries=2, backoff_factor=0.01).client_options()
    plan = PullPlan(
        dataset="sessions",
        landing_root=str(tmp_path / "landing"),
        client_options=options,
        base_url=f"http://127.0.0.1:{_closed_port()}",
        tokens={"ALA-0001": "a-token"},
        run_id=run_id,
    )
    tasks = [PullTask("ALA-0001", "https://ala-0001.example", day) for day in DAYS]
    # One thread: the days one after the other, as a cinema's days mostly are within a chunk.
    return sorted(pull_in_threads(plan, tasks, threads=1), key=lambda m: m["business_date"])


def _committed(tmp_path, day: str) -> dict:
    zone = LandingZone(tmp_path / "landing")
    folder = zone.cinema_day_dir("sessions", date.fromisoformat(day), "ALA-0001")
    return json.loads((folder / "_manifest.json").read_text(encoding="utf-8"))


def test_a_cinema_down_for_the_run_is_tried_once_a_day_after_its_first_failure(tmp_path):
    first, *rest = _pull(tmp_path, "run-1")
    assert first["status"] == "failed" and first["error_type"] == "ExchangeConnectionError"
    assert first["attempts"] == 2 and "tried once" not in first["error"]
    for manifest in rest:
        assert manifest["status"] == "failed" and manifest["error_type"] == "ExchangeConnectionError"
        assert manifest["attempts"] == 1
        assert manifest["error"].endswith("(tried once: unreachable earlier in this run)")
        # As committed: what the sensor, the loader and the asset's table read.
        committed = _committed(tmp_path, manifest["business_date"])
        assert (committed["attempts"], committed["error"]) == (1, manifest["error"])
    # Another run does not inherit the verdict, and a pull outside any run never keeps one.
    assert _pull(tmp_path, "run-2")[0]["attempts"] == 2
    assert [m["attempts"] for m in _pull(tmp_path, None)] == [2] * len(DAYS)
