"""Business days: Asia/Almaty calendar days, stored timestamps in UTC.

Kazakhstan moved to a single zone (UTC+5) on 2024-03-01, so the business day
2024-02-29 lasts 25 hours. Everything that turns a day into a time window goes
through here so that the rule lives in one place.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Almaty")

# How far ahead of its session's business day a ticket may be sold, in days (the contract promises
# presales, not their reach; the simulator sells 7 days ahead). The ticket events that can hold the sales
# and refunds of session day D occur on business days D - PRESALE_HORIZON_DAYS .. D + 1. The dbt var
# presale_horizon_days has the same value (a test holds them together).
PRESALE_HORIZON_DAYS = 8


def business_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC window [start, end) of a business day."""
    start = datetime.combine(day, time.min, tzinfo=BUSINESS_TZ)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=BUSINESS_TZ)
    return start.astimezone(UTC), end.astimezone(UTC)


def business_date_of(ts: datetime) -> date:
    """The business day an aware timestamp falls in."""
    if ts.tzinfo is None:
        raise ValueError("business_date_of needs an aware timestamp")
    return ts.astimezone(BUSINESS_TZ).date()


def parse_date(text: str) -> date:
    """Parse YYYY-MM-DD strictly (no week dates or other ISO forms)."""
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise ValueError(f"expected a date as YYYY-MM-DD, got {text!r}")
    return date.fromisoformat(text)


def daterange(first: date, last: date):
    """Every day from first to last, both included."""
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


# Film weeks run Thursday to Wednesday (releases open on Thursdays); the trade's weekend is Friday to
# Sunday. The dbt macros film_week_start and weekend_start (macros/film_week.sql) follow the same rule.
FILM_WEEK_FIRST_WEEKDAY = 3  # date.weekday() of Thursday
WEEKEND_FIRST_WEEKDAY = 4  # date.weekday() of Friday


def film_week_start(day: date) -> date:
    """The Thursday that opens the film week holding `day`."""
    return day - timedelta(days=(day.weekday() - FILM_WEEK_FIRST_WEEKDAY) % 7)


def weekend_start(day: date) -> date | None:
    """The Friday that opens the weekend holding `day`, or None for Monday to Thursday."""
    offset = (day.weekday() - WEEKEND_FIRST_WEEKDAY) % 7
    return day - timedelta(days=offset) if offset < 3 else None
