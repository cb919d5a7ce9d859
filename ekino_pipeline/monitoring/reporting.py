"""Who is reporting: the state of every connected cinema, read from the landing manifests.

Never the warehouse: a sensor must not contend with the run that writes it. A cinema is judged on the
newest business days that were pulled: a day is *down* when its ticket-event pull failed (the API did
not answer usably), *silent* when the pull succeeded with no events while the cinema had sessions
scheduled (the API is up but nothing was sold). A streak of such days, newest first, is an episode;
it is flagged once it has lasted longer than the threshold.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from ekino_pipeline.calendar import business_day_bounds
from ekino_pipeline.exchange.registry import Registry
from ekino_pipeline.ingestion.landing import MANIFEST, LandingZone

OK = "ok"
API_DOWN = "api_down"
NO_SALES = "no_sales"
NOT_PULLED = "not_pulled"

DESCRIPTIONS = {
    API_DOWN: "API down: no successful pull",
    NO_SALES: "API up but nothing sold while sessions were scheduled",
    NOT_PULLED: "not pulled on a day the others were",
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
    if events is None:
        return NOT_PULLED, "no manifest", None
    last = datetime.fromisoformat(events["last_record_at"]) if events.get("last_record_at") else None
    if events["status"] != "success":
        return API_DOWN, events.get("error") or events.get("error_type") or "failed", last
    if events.get("landed", 0) > 0:
        return OK, "", last
    sessions = _read(zone.root / "sessions" / base)
    if sessions is not None and sessions.get("landed", 0) > 0:
        return NO_SALES, f"{sessions['landed']} sessions scheduled, no events", last
    return OK, "no sessions scheduled", last


def assess_cinemas(
    zone: LandingZone,
    registry: Registry,
    now: datetime,
    *,
    newest_day: date,
    threshold: timedelta,
    lookback_days: int = 7,
) -> list[CinemaState]:
    """The state of every connected cinema (the registry as it is now) on the newest pulled days."""
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
