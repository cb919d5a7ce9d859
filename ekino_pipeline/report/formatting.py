"""How the report writes a figure: exact tenge with thousand separators, counts, rates, coverage,
Almaty times and the provisional reasons. The templates use these as filters; the tables carry the exact
amounts, the charts' float labels are drawing only."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from ekino_pipeline.calendar import BUSINESS_TZ

REASONS = {
    "day_open": "the day has not closed yet (3 days after it): late sales and refunds can still change it",
    "coverage_unknown": "no coverage is known for the day",
    "cinemas_missing": "a connected cinema's pull failed or was not made",
    "cinemas_silent": "a connected cinema sent no sales although it listed sessions",
    "presales_not_loaded": "presales sold on the days before were not loaded",
    "late_sales_not_loaded": "sales after midnight (next business day) were not loaded",
    "records_quarantined": "records were kept out of the figures (see the quarantine mart)",
    "days_not_loaded": "days of the period are not on record yet",
    "no_connected_cinema": "no cinema of the region is connected: its figures are unknown",
    "days_provisional": "days of the period are provisional",
    "year_open": "the year is not over",
    "live": "live figures so far; the daily run replaces them once the day is pulled whole",
    "not_polled": "a connected cinema was not polled yet",
}


def missing(value) -> bool:
    """None, NA, NaN or NaT (a scalar; a list is never missing)."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def tenge(value, *, cents: bool = False) -> str:
    """Exact tenge with thousand separators; tiyn only when there are some (always, for averages)."""
    if missing(value):
        return "–"
    text = f"{Decimal(value):,.2f}"
    return text if cents else text.removesuffix(".00")


def short_tenge(value) -> str:
    """A headline amount: 536.8 M ₸ (the exact figure is in the tables)."""
    if missing(value):
        return "–"
    amount = Decimal(value)
    for unit, size in (("bn", Decimal(10) ** 9), ("M", Decimal(10) ** 6), ("k", Decimal(10) ** 3)):
        if abs(amount) >= size:
            return f"{(amount / size).quantize(Decimal('0.1'), ROUND_HALF_UP)} {unit} ₸"
    return f"{tenge(amount)} ₸"


def short_label(value) -> str:
    """A bar's label: 4.7M, 12.3k (drawing only)."""
    if missing(value):
        return ""
    amount = float(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(amount) >= size:
            return f"{amount / size:.1f}{unit}"
    return f"{amount:,.0f}"


def count(value) -> str:
    return "–" if missing(value) else f"{int(value):,}"


def rate(value, *, sign: bool = True) -> str:
    if missing(value):
        return "–"
    percent = Decimal(str(value)) * 100
    return f"{percent:+.1f}%" if sign else f"{percent:.1f}%"


def coverage(row) -> str:
    """Cinemas reporting / connected / in the registry."""
    return (
        f"{count(row['cinemas_reporting'])}/{count(row['cinemas_connected'])}/{count(row['cinemas_total'])}"
    )


def reasons_of(value) -> tuple[str, ...]:
    if missing(value):
        return ()
    return tuple(str(reason) for reason in value)


def reason_text(code: str) -> str:
    return REASONS.get(code, code)


def film_name(row) -> str:
    """Its title, else its id."""
    title = row.get("title")
    return str(row["film_id"] if missing(title) else title)


def local_time(ts) -> str:
    if missing(ts):
        return "–"
    return pd.Timestamp(ts).tz_convert(BUSINESS_TZ).strftime("%d %b %H:%M")


def long_day(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def cause(error) -> str:
    """The first line of an error, shortened: the exports keep it whole."""
    if missing(error) or not str(error).strip():
        return ""
    first = str(error).strip().splitlines()[0]
    return first if len(first) <= 90 else first[:87] + "…"


def optional(value, default: str = "") -> str:
    """A text cell: empty (or `default`) when missing."""
    return default if missing(value) else str(value)
