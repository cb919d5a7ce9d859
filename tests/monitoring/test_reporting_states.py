"""The one reporting rule of a cinema-day, from its sessions and ticket-events manifests."""

from __future__ import annotations

import pytest

from ekino_pipeline import reporting_states as rs


def _manifest(status: str = "success", landed: int = 0, quarantined: int = 0) -> dict:
    return {"status": status, "landed": landed, "quarantined": quarantined}


@pytest.mark.parametrize(
    ("sessions", "events", "state"),
    [
        (None, _manifest(landed=5), rs.NOT_PULLED),
        (_manifest(landed=3), None, rs.NOT_PULLED),
        (_manifest("failed"), _manifest(landed=5), rs.FAILED),
        (_manifest(landed=3), _manifest("failed"), rs.FAILED),
        (_manifest(landed=3), _manifest(landed=5, quarantined=2), rs.REPORTED),
        (_manifest(landed=3), _manifest(quarantined=2), rs.QUARANTINED),
        (_manifest(quarantined=4), _manifest(), rs.QUARANTINED),
        (_manifest(landed=3), _manifest(), rs.SILENT),
        (_manifest(landed=3, quarantined=1), _manifest(), rs.SILENT),
        (_manifest(), _manifest(), rs.NO_SESSIONS),
    ],
)
def test_each_pair_of_manifests_has_exactly_one_state(sessions, events, state):
    assert rs.cinema_day_state(sessions, events) == state


def test_only_reported_and_no_sessions_count_as_reporting():
    # Regression: the landing asset called a cinema silent that had neither sessions nor events.
    assert rs.is_reporting(rs.cinema_day_state(_manifest(), _manifest()))
    reporting = {state for state in rs.STATES if rs.is_reporting(state)}
    assert reporting == {rs.REPORTED, rs.NO_SESSIONS}


def test_a_window_summary_takes_the_worst_day():
    assert rs.worst([rs.REPORTED, rs.NO_SESSIONS, rs.SILENT]) == rs.SILENT
    assert rs.worst([rs.QUARANTINED, rs.FAILED, rs.NOT_PULLED]) == rs.FAILED
    assert rs.worst([rs.NO_SESSIONS, rs.REPORTED]) == rs.REPORTED
