"""What each part of a day's page shows, gathered from the marts: the rows of its table, the figures its
sentences quote and its chart. The templates (`templates/`) write them out; nothing here is HTML.

Every figure says what it covers: cinemas reporting / connected / in the registry, and whether it is
provisional and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from ekino_pipeline.calendar import film_week_start
from ekino_pipeline.report import charts
from ekino_pipeline.report.charts import PALETTE, Chart
from ekino_pipeline.report.formatting import film_name, missing, reasons_of
from ekino_pipeline.report.marts import Marts

TOP = 10
LEADING_FILMS = 5
TREND_DAYS = 28


@dataclass(frozen=True)
class Section:
    template: str  # under templates/sections/
    context: dict = field(default_factory=dict)
    charts: tuple[Chart, ...] = ()


def records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


def national(m: Marts, day: date) -> Section:
    """The day's headline figures and whether they are final."""
    national = m["national_daily"]
    rows = national[national["business_date"] == day]
    if rows.empty:
        return Section("national.html.j2", {"n": None, "reasons": ()})
    n = rows.iloc[0].to_dict()
    previous = national[national["business_date"] == day - timedelta(days=1)]
    change = None
    if not previous.empty and previous.iloc[0]["gross_kzt"]:
        before = previous.iloc[0]["gross_kzt"]
        change = (n["gross_kzt"] - before) / before
    quarantined = n.get("quarantined_gross_kzt_claimed")
    return Section(
        "national.html.j2",
        {
            "n": n,
            "change": change,
            "reasons": reasons_of(n["provisional_reasons"]),
            "exclusions": reasons_of(n.get("exclusions")),
            "quarantined": None if missing(quarantined) or not quarantined else quarantined,
        },
    )


def forecasts_of(m: Marts, day: date) -> pd.DataFrame:
    """The films' forecasts published for `day` (none when the forecasts are not exported)."""
    forecasts = m.get("film_forecasts")
    if forecasts is None:
        return pd.DataFrame(columns=["film_id"])
    return forecasts[forecasts["as_of_date"] == day].set_index("film_id")


def top(m: Marts, day: date) -> Section:
    films = m["film_daily_box_office"]
    films = films[films["business_date"] == day].sort_values(["rank_of_day", "film_id"]).head(TOP)
    forecasts = forecasts_of(m, day)
    rows = [
        row
        | {"forecast": forecasts.loc[row["film_id"]].to_dict() if row["film_id"] in forecasts.index else None}
        for row in records(films)
    ]
    context = {"day": day, "top": TOP, "films": rows}
    if not rows:
        return Section("top.html.j2", context)
    chart = charts.bars("top", [film_name(r) for r in rows], films["gross_kzt"], "gross", PALETTE[0])
    return Section("top.html.j2", context, (chart,))


def _movement(row: dict) -> tuple[str, int]:
    """In the chart since the week before: new, same, up or down by so many places."""
    if row["is_new_entry"]:
        return "new", 0
    change = row["rank_change"]
    if missing(change) or change == 0:
        return "same", 0
    return ("up", int(change)) if change > 0 else ("down", -int(change))


def week(m: Marts, day: date) -> Section:
    start = film_week_start(day)
    weeks = m["film_weekly_box_office"]
    week = weeks[weeks["film_week_start"] == start].sort_values(["chart_rank", "film_id"]).head(TOP)
    rows = [row | {"move": _movement(row)} for row in records(week)]
    context = {"start": start, "end": start + timedelta(days=6), "films": rows, "versus": "vs week before"}
    if not rows:
        return Section("week.html.j2", context)
    compared, days = rows[0].get("days_compared"), rows[0]["days_in_period"]
    # A week to date is compared with the same days of the week before, never with a whole week.
    if not missing(compared) and compared < days:
        context["versus"] = f"vs same {compared} days of week before"
    chart = charts.bars("week", [film_name(r) for r in rows], week["gross_kzt"], "week gross", PALETTE[5])
    return Section("week.html.j2", context, (chart,))


def trend(m: Marts, day: date) -> Section:
    """The leading films of the weeks to the day, and which of those days will still move."""
    first_day = day - timedelta(days=TREND_DAYS - 1)
    daily = m["film_daily_box_office"]
    window = daily[(daily["business_date"] >= first_day) & (daily["business_date"] <= day)]
    context = {"first_day": first_day, "day": day, "days": []}
    if window.empty:
        return Section("trend.html.j2", context)
    totals = window.groupby("film_id")["gross_kzt"].sum().sort_values(ascending=False)
    leaders = list(totals.index[:LEADING_FILMS])
    days = sorted(set(window["business_date"]))
    lines = []
    for film_id in leaders:
        rows = window[window["film_id"] == film_id].set_index("business_date")
        name = rows["title"].dropna().iloc[0] if rows["title"].notna().any() else film_id
        lines.append((name, [rows["gross_kzt"].get(d) for d in days]))
    national = m["national_daily"].set_index("business_date")
    reasons = {d: reasons_of(national.loc[d, "provisional_reasons"]) for d in days if d in national.index}
    provisional = [d for d in days if reasons.get(d, ("coverage_unknown",))]
    # The days that have not closed will still move: shaded.
    open_days = [d for d in days if "day_open" in reasons.get(d, ())]
    context |= {"days": days, "leaders": leaders, "provisional": provisional, "open_days": open_days}
    drawn = [charts.trend(days, lines, open_days)]
    forecasts = forecasts_of(m, day)
    banded = [
        (name, film_id)
        for (name, _), film_id in zip(lines, leaders, strict=True)
        if film_id in forecasts.index
    ]
    if banded:
        f = forecasts.loc[[film_id for _, film_id in banded]]
        drawn.append(
            charts.forecast_bands(
                [name for name, _ in banded],
                f["gross_to_date_kzt"],
                f["predicted_gross_low_kzt"],
                f["predicted_gross_kzt"],
                f["predicted_gross_high_kzt"],
            )
        )
        context["forecast"] = f.iloc[0].to_dict()
    return Section("trend.html.j2", context, tuple(drawn))


def regions(m: Marts, day: date) -> Section:
    regions = m["region_daily"]
    regions = regions[regions["business_date"] == day].sort_values(
        "gross_kzt", ascending=False, na_position="last"
    )
    with_figure = regions[regions["gross_kzt"].notna()]
    context = {"day": day, "regions": records(regions), "with_figure": len(with_figure)}
    if regions.empty:
        return Section("regions.html.j2", context)
    chart = charts.bars(
        "regions", list(with_figure["region_name"]), with_figure["gross_kzt"], "gross", PALETTE[2]
    )
    return Section("regions.html.j2", context, (chart,))


def cinemas(m: Marts, day: date) -> Section:
    """Connected cinemas by reporting state over the weeks to the day, and those flagged on the day."""
    daily = m["cinema_reporting_daily"]
    first_day = day - timedelta(days=TREND_DAYS - 1)
    window = daily[(daily["business_date"] >= first_day) & (daily["business_date"] <= day)]
    drawn = ()
    if not window.empty:
        counts = window.groupby(["business_date", "reporting_state"]).size().unstack(fill_value=0)
        drawn = (charts.reporting(counts),)
    reported_flag = daily["is_reported"].fillna(False).astype(bool)
    flagged = daily[(daily["business_date"] == day) & ~reported_flag]
    names = m["cinema_reporting_status"].set_index("cinema_id")["cinema_name"]
    reported = daily[(daily["business_date"] <= day) & reported_flag]
    last_report = reported.groupby("cinema_id")["business_date"].max()
    # Its last sale up to the day, whatever day that was (none the day itself, for most of them).
    last_sale = daily[daily["business_date"] <= day].groupby("cinema_id")["last_event_at"].max()
    rows = [
        row
        | {
            "cinema_name": names.get(row["cinema_id"], ""),
            "last_report": last_report.get(row["cinema_id"], "never"),
            "last_sale": last_sale.get(row["cinema_id"]),
            "color": charts.STATES.get(row["reporting_state"], "#ccc"),
        }
        for row in records(flagged.sort_values(["reporting_state", "cinema_id"]))
    ]
    context = {
        "day": day,
        "trend_days": TREND_DAYS,
        "cinemas": rows,
        "connected": int((daily["business_date"] == day).sum()),
    }
    return Section("cinemas.html.j2", context, drawn)


def funding(m: Marts, day: date) -> Section:
    funding = m["funding_outcomes_by_year"].sort_values("grant_year")
    forecasts = forecasts_of(m, day)
    if "funded_amount_kzt" in forecasts.columns:
        showing = forecasts[forecasts["funded_amount_kzt"].notna()].sort_values(
            "predicted_gross_kzt", ascending=False
        )
    else:
        showing = forecasts.iloc[:0]
    context = {"years": records(funding), "showing": records(showing.reset_index()), "day": day}
    if funding.empty:
        return Section("funding.html.j2", context)
    return Section("funding.html.j2", context, (charts.funding(funding),))


def live(m: Marts, day: date) -> Section | None:
    """Today so far, when the live marts hold the day."""
    today, films = m.get("live_today"), m.get("live_films_today")
    if today is None or today.empty:
        return None
    national = today[(today["scope"] == "national") & (today["business_date"] == day)]
    if national.empty:
        return None
    context = {"n": national.iloc[0].to_dict()}
    if films is None:
        return Section("live.html.j2", context)
    top = films[films["business_date"] == day].sort_values("rank_so_far").head(TOP)
    if top.empty:
        return Section("live.html.j2", context)
    labels = ["(session not listed yet)" if missing(r["film_id"]) else film_name(r) for r in records(top)]
    chart = charts.bars("live", labels, top["gross_kzt"], "gross so far", PALETTE[1])
    return Section("live.html.j2", context, (chart,))


def integrity(m: Marts, day: date) -> Section | None:
    """The integrity findings of the film week holding the day and of the week before, largest money
    first: suspicions with their evidence, for an inspector."""
    findings = m.get("integrity_findings")
    if findings is None:
        return None
    start = film_week_start(day)
    weeks = (start - timedelta(days=7), start)
    shown = findings[findings["film_week_start"].isin(weeks)]
    shown = shown.sort_values(["money_kzt", "finding_id"], ascending=[False, True])
    return Section(
        "integrity.html.j2", {"first": weeks[0], "end": start + timedelta(days=6), "findings": records(shown)}
    )


def of_day(m: Marts, day: date) -> list[Section]:
    """The sections of a day's page, in order (today so far first, when live)."""
    found = [
        live(m, day),
        top(m, day),
        week(m, day),
        trend(m, day),
        regions(m, day),
        cinemas(m, day),
        integrity(m, day),
        funding(m, day),
    ]
    return [section for section in found if section is not None]
