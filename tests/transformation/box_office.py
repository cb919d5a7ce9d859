"""An independent computation of box office in plain Python, to hold the marts against.

A sale counts for the session it names, a refund for the session of its ticket's sale (its own when the
ticket was never sold); every figure goes to the business day of the session, whatever day the event
occurred. Only sessions that were landed count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal


def session_of_each_event(events: Iterable[dict]) -> dict[str, str]:
    events = sorted(events, key=lambda e: (e["occurred_at"], e["event_id"]))
    sold: dict[str, str] = {}
    for event in events:
        if event["event_type"] == "sale":
            sold.setdefault(event["ticket_id"], event["session_id"])
    return {
        e["event_id"]: sold.get(e["ticket_id"], e["session_id"])
        if e["event_type"] == "refund"
        else e["session_id"]
        for e in events
    }


def box_office(events: list[dict], sessions: list[dict], key) -> dict[tuple, dict]:
    """Gross, sales, refunds and admissions per `key(session)` (say, film and session day)."""
    by_id = {s["session_id"]: s for s in sessions}
    attributed = session_of_each_event(events)
    totals: dict[tuple, dict] = defaultdict(
        lambda: {
            "gross_kzt": Decimal("0.00"),
            "sales_kzt": Decimal("0.00"),
            "refunds_kzt": Decimal("0.00"),
            "admissions": 0,
        }
    )
    for session in sessions:
        totals[key(session)]  # a screening with no tickets still shows up
    for event in events:
        session = by_id.get(attributed[event["event_id"]])
        if session is None:
            continue
        row = totals[key(session)]
        amount = Decimal(event["amount_kzt"])
        if event["event_type"] == "sale":
            row["sales_kzt"] += amount
            row["gross_kzt"] += amount
            row["admissions"] += 1
        else:
            row["refunds_kzt"] += amount
            row["gross_kzt"] -= amount
            row["admissions"] -= 1
    return dict(totals)


def by_film_day(session: dict) -> tuple[str, date]:
    return session["film_id"], session["business_date"]
