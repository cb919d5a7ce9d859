"""Who is reporting: the state of every connected cinema, read from the landing manifests.

Never the warehouse: a sensor must not contend with the run that writes it. A cinema is judged on the
newest business days that were pulled, each day by the one reporting rule of
ekino_pipeline.reporting_states: a day is *down* when a pull failed (the API did not answer usably),
*no sales* when it is silent (the API is up, sessions were scheduled, nothing was sold), *all
quarantined* when every record it served was rejected, *not pulled* when a pull of the day is missing.
A day reported or without sessions is fine. A streak of flagged days, newest first, is an episode; it
is flagged once it has lasted longer than the threshold.

When the live mode is on (today's live manifests are being written), a cinema fine by the days above
whose live polls have failed for longer than the live threshold is *live stopped*: seen in minutes,
not at the next morning's run. The live manifests sit in the landing zone too (live/pull.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from ekino_pipeline import reporting_states as rs
from ekino_pipeline.calendar import business_day_bounds
from ekino_pipeline.display import almaty_time
from ekino_pipeline.exchange.registry import Registry
from ekino_pipeline.ingestion.landing import MANIFEST, LandingZone

OK = "ok"
API_DOWN = "api_down"
NO_SALES = "no_sales"
NOT_PULLED = "not_pulled"
ALL_QUARANTINED = "all_quarantined"
LIVE_STOPPED = "live_stopped"

DESCRIPTIONS = {
    API_DOWN: "API down: no successful pull",
    NO_SALES: "API up but nothing sold while sessions were scheduled",
    ALL_QUARANTINED: "every record served was quarantined: nothing landed",
    NOT_PULLED: "not pulled on a day the others were",
    LIVE_STOPPED: "today's live polls fail while the others answer",
}
FLAGS = (API_DOWN, NO_SALES, ALL_QUARANTINED, NOT_PULLED, LIVE_STOPPED)
# The live mode counts as on while some cinema's live poll was attempted this recently.
LIVE_MODE_ON_WITHIN = timedelta(minutes=5)

# The sensor's word for each reporting state of a day.
_FLAG_OF = {
    rs.NOT_PULLED: NOT_PULLED,
    rs.FAILED: API_DOWN,
    rs.QUARANTINED: ALL_QUARANTINED,
    rs.SILENT: NO_SALES,
    rs.REPORTED: OK,
    rs.NO_SESSIONS: OK,
}


@dataclass(frozen=True)
class CinemaState:
    cinema_id: str
    state: str
    since: datetime | None = None
    days: int = 0
    detail: str = ""

    @property
    def flagged(self) -> bool:
        return self.state != OK


def _read(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


def pulled_days(zone: LandingZone, newest: date, lookback_days: int) -> list[date]:
    """Business days with any ticket-event manifest, newest first, within the lookback."""
    root = zone.root / "ticket_events"
    days = []
    for offset in range(lookback_days):
        day = newest - timedelta(days=offset)
        if (root / f"business_date={day.isoformat()}").is_dir():
            days.append(day)
    return days


def _day_state(zone: LandingZone, cinema_id: str, day: date) -> tuple[str, str, datetime | None]:
    """(state, detail, time of the last event seen) of one cinema-day."""
    base = f"business_date={day.isoformat()}{os.sep}cinema_id={cinema_id}{os.sep}{MANIFEST}"
    events = _read(zone.root / "ticket_events" / base)
    sessions = _read(zone.root / "sessions" / base)
    state = rs.cinema_day_state(sessions, events)
    last = None
    if events is not None and events.get("last_record_at"):
        last = datetime.fromisoformat(events["last_record_at"])
    return _FLAG_OF[state], _detail(state, sessions, events), last


def _detail(state: str, sessions: dict | None, events: dict | None) -> str:
    if state == rs.NOT_PULLED:
        missing = [name for name, m in (("sessions", sessions), ("ticket events", events)) if m is None]
        return f"no manifest of {' and '.join(missing)}"
    if state == rs.FAILED:
        failed = events if events.get("status") != "success" else sessions
        return failed.get("error") or failed.get("error_type") or "failed"
    if state == rs.QUARANTINED:
        return (
            f"{events.get('quarantined') or 0} events and {sessions.get('quarantined') or 0} sessions "
            "quarantined, no event landed"
        )
    if state == rs.SILENT:
        return f"{sessions['landed']} sessions scheduled, no events"
    if state == rs.NO_SESSIONS:
        return "no sessions scheduled"
    return ""


def assess_cinemas(
    zone: LandingZone,
    registry: Registry,
    now: datetime,
    *,
    newest_day: date,
    threshold: timedelta,
    lookback_days: int = 7,
    live_threshold: timedelta | None = None,
) -> list[CinemaState]:
    """The state of every connected cinema (the registry as it is now) on the newest pulled days, and
    with `live_threshold`, on today's live polls."""
    states = _assess_days(zone, registry, now, newest_day, threshold, lookback_days)
    if live_threshold is None:
        return states
    live = _live_stopped(zone, newest_day, now, live_threshold)
    return [live.get(s.cinema_id, s) if not s.flagged else s for s in states]


def _live_stopped(
    zone: LandingZone, day: date, now: datetime, threshold: timedelta
) -> dict[str, CinemaState]:
    from ekino_pipeline.live.pull import live_manifests

    manifests = live_manifests(zone, day)
    attempts = [datetime.fromisoformat(m["last_attempt_at"]) for m in manifests if m.get("last_attempt_at")]
    if not attempts or now - max(attempts) > LIVE_MODE_ON_WITHIN:
        return {}
    stopped = {}
    for m in manifests:
        if m.get("status") == "success":
            continue
        # Never answered today: the episode began with the day's first live attempt we know of.
        since = datetime.fromisoformat(m.get("last_polled_at") or m["last_attempt_at"])
        if now - since >= threshold:
            detail = f"live polls failing since {almaty_time(since)}: {m.get('error') or 'failed'}"
            stopped[m["cinema_id"]] = CinemaState(m["cinema_id"], LIVE_STOPPED, since, 0, detail)
    return stopped


def _assess_days(
    zone: LandingZone,
    registry: Registry,
    now: datetime,
    newest_day: date,
    threshold: timedelta,
    lookback_days: int,
) -> list[CinemaState]:
    days = pulled_days(zone, newest_day, lookback_days)
    states = []
    for cinema in registry.connected_cinemas:
        if not days:
            states.append(CinemaState(cinema.cinema_id, OK, detail="no pulled days yet"))
            continue
        streak_kind, streak_detail, since, n_days = None, "", None, 0
        for day in days:
            kind, detail, last_event = _day_state(zone, cinema.cinema_id, day)
            if kind == OK:
                # The episode began right after this day's last event.
                if streak_kind is not None and last_event is not None:
                    since = last_event
                break
            if streak_kind is None:
                streak_kind, streak_detail = kind, detail
            n_days += 1
            since = business_day_bounds(day)[0]
        if streak_kind is None or since is None or now - since < threshold:
            states.append(CinemaState(cinema.cinema_id, OK))
        else:
            states.append(CinemaState(cinema.cinema_id, streak_kind, since, n_days, streak_detail))
    return states
