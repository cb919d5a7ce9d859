"""The reporting state of a connected cinema on a business day, from its two manifests of that day.

One rule for every place that counts cinemas: the landing asset's metadata, the
`connected_cinemas_reporting` check, the silent-cinema sensor and the dbt marts (`cinemas_reporting`),
which state it in SQL with the same names. It lives outside both rooms so that ingestion and
monitoring import it without importing each other.

In order, the first that applies:

- `not_pulled`: the sessions or the ticket-events manifest of the day is missing;
- `failed`: either has status failed;
- `reported`: ticket events landed;
- `quarantined`: no event landed, and something was quarantined (events, or every session served);
  a cinema whose whole feed was rejected is not a success;
- `silent`: no event landed or quarantined while sessions were scheduled (answered, sold nothing);
- `no_sessions`: no session and no event (closed that day: its zero is true).

A cinema counts as reporting when its state is `reported` or `no_sessions`.
"""

from __future__ import annotations

NOT_PULLED = "not_pulled"
FAILED = "failed"
REPORTED = "reported"
QUARANTINED = "quarantined"
SILENT = "silent"
NO_SESSIONS = "no_sessions"

# Worst first: the order a summary over several days picks a cinema's state by.
STATES = (FAILED, NOT_PULLED, QUARANTINED, SILENT, REPORTED, NO_SESSIONS)
REPORTING_STATES = frozenset({REPORTED, NO_SESSIONS})


def cinema_day_state(sessions: dict | None, events: dict | None) -> str:
    """The state of one cinema-day from its sessions and ticket-events manifests (None when missing)."""
    if sessions is None or events is None:
        return NOT_PULLED
    if sessions.get("status") != "success" or events.get("status") != "success":
        return FAILED
    if (events.get("landed") or 0) > 0:
        return REPORTED
    sessions_landed = sessions.get("landed") or 0
    if (events.get("quarantined") or 0) > 0 or (
        (sessions.get("quarantined") or 0) > 0 and sessions_landed == 0
    ):
        return QUARANTINED
    if sessions_landed > 0:
        return SILENT
    return NO_SESSIONS


def is_reporting(state: str) -> bool:
    return state in REPORTING_STATES


def worst(states) -> str:
    """The worst of several days' states (a cinema's summary over a window)."""
    return min(states, key=STATES.index)
