"""The box office report's pages: for a business day, the day's top 10, its film week's chart, the trend
of the leading films over the weeks before it, gross by region, the cinemas that did not report, the
funding outcomes and, when the live marts hold that day, today so far.

Everything is read from the exports through the analysts' API (never the warehouse). Money is exact in
the tables (`Decimal`, thousand separators, tenge) and converted to float only to draw. Every figure says
what it covers: cinemas reporting / connected / in the registry, and whether it is provisional and why.

Pages are written to `<exports>/report/<day>.html`, atomically (a reader sees the old page or the new
one); `index.html` is the latest day on record, with links to every day kept. The plotly library is
written once beside them (`plotly-<version>.min.js`, named by version so that older pages keep theirs):
nothing is fetched from the network when a page is opened.
"""

from __future__ import annotations

import html
import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import plotly
from plotly.offline import get_plotlyjs

from ekino_pipeline.analysis import exports_dir, marts, read_mart
from ekino_pipeline.calendar import BUSINESS_TZ, film_week_start

REPORT_FOLDER = "report"
INDEX = "index.html"
TOP = 10
LEADING_FILMS = 5
TREND_DAYS = 28
# The marts a page is built from; the live ones are used when the live job has exported them.
MARTS = (
    "film_daily_box_office",
    "national_daily",
    "region_daily",
    "film_weekly_box_office",
    "funding_outcomes_by_year",
    "cinema_reporting_daily",
    "cinema_reporting_status",
)
LIVE_MARTS = ("live_today", "live_films_today")

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
STATES = {
    "reported": "#2a9d8f",
    "no_sessions": "#8ab17d",
    "silent": "#e9c46a",
    "quarantined": "#f4a261",
    "failed": "#e76f51",
    "not_pulled": "#9e9e9e",
}
PALETTE = ["#1d3557", "#e63946", "#2a9d8f", "#f4a261", "#6a4c93", "#457b9d", "#8ab17d", "#b5838d"]
FONT = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif"


class ReportError(RuntimeError):
    """The exports cannot make a report (one line)."""


@dataclass
class Marts:
    """The marts a report reads, loaded once for all the pages of a build (money exact)."""

    folder: Path
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> Marts:
        available = set(marts(exports=folder))
        missing = [name for name in MARTS if name not in available]
        if missing:
            raise ReportError(
                f"the exports in {folder} lack {', '.join(missing)}: a daily_job build makes them"
            )
        frames = {name: read_mart(name, exports=folder) for name in MARTS}
        for name in LIVE_MARTS:
            if name in available:
                frames[name] = read_mart(name, exports=folder)
        return cls(folder, frames)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]

    def get(self, name: str) -> pd.DataFrame | None:
        return self.frames.get(name)

    def days_on_record(self) -> list[date]:
        """Business days some connected cinema was pulled for: the days a page can speak of."""
        return sorted(set(self["cinema_reporting_daily"]["business_date"]))


@dataclass(frozen=True)
class Page:
    day: date
    path: Path
    charts: int
    provisional_reasons: tuple[str, ...]


# ---------------------------------------------------------------- formatting


def _esc(value) -> str:
    return html.escape("" if value is None else str(value))


def _missing(value) -> bool:
    """None, NA, NaN or NaT (a scalar; a list is never missing)."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def tenge(value, *, cents: bool = False) -> str:
    """Exact tenge with thousand separators; tiyn only when there are some (always, for averages)."""
    if _missing(value):
        return "–"
    text = f"{Decimal(value):,.2f}"
    return text if cents else text.removesuffix(".00")


def short_tenge(value) -> str:
    """A headline amount: 536.8 M ₸ (the exact figure is in the tables)."""
    if _missing(value):
        return "–"
    amount = Decimal(value)
    for unit, size in (("bn", Decimal(10) ** 9), ("M", Decimal(10) ** 6), ("k", Decimal(10) ** 3)):
        if abs(amount) >= size:
            return f"{(amount / size).quantize(Decimal('0.1'), ROUND_HALF_UP)} {unit} ₸"
    return f"{tenge(amount)} ₸"


def _short(value) -> str:
    """A bar's label: 4.7M, 12.3k (drawing only)."""
    if _missing(value):
        return ""
    amount = float(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(amount) >= size:
            return f"{amount / size:.1f}{unit}"
    return f"{amount:,.0f}"


def count(value) -> str:
    return "–" if _missing(value) else f"{int(value):,}"


def rate(value, *, sign: bool = True) -> str:
    if _missing(value):
        return "–"
    percent = Decimal(str(value)) * 100
    return f"{percent:+.1f}%" if sign else f"{percent:.1f}%"


def coverage(row) -> str:
    return (
        f"{count(row['cinemas_reporting'])}/{count(row['cinemas_connected'])}/{count(row['cinemas_total'])}"
    )


def reasons_of(value) -> tuple[str, ...]:
    if _missing(value):
        return ()
    return tuple(str(reason) for reason in value)


def status_badge(reasons: Iterable[str]) -> str:
    reasons = tuple(reasons)
    if not reasons:
        return '<span class="badge final">final</span>'
    shown = "".join(
        f'<span class="badge provisional" title="{_esc(REASONS.get(r, r))}">{_esc(r)}</span>' for r in reasons
    )
    return shown


def _local(ts) -> str:
    if _missing(ts):
        return "–"
    return pd.Timestamp(ts).tz_convert(BUSINESS_TZ).strftime("%d %b %H:%M")


def _long_day(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def _cause(error) -> str:
    """The first line of an error, shortened: the exports keep it whole."""
    if _missing(error) or not str(error).strip():
        return ""
    first = str(error).strip().splitlines()[0]
    return first if len(first) <= 90 else first[:87] + "…"


# ---------------------------------------------------------------- charts


def _layout(*, height: int = 340, money_axis: str | None = "x", **extra) -> dict:
    """A figure's layout as plotly.js takes it. Figures are plain dicts: plotly's Python figure objects
    validate every property on each update, which took seconds a page."""
    axis = {"gridcolor": "#ebf0f8", "zerolinecolor": "#dfe3eb", "linecolor": "#dfe3eb", "automargin": True}
    layout = {
        "height": height,
        "margin": {"l": 10, "r": 30, "t": 10, "b": 10},
        "font": {"family": FONT, "size": 12, "color": "#222"},
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "colorway": PALETTE,
        "legend": {"orientation": "h", "y": -0.15},
        "separators": ".,",
        "hoverlabel": {"font": {"family": FONT}},
        "xaxis": dict(axis),
        "yaxis": dict(axis),
    }
    if money_axis:
        # 5B ₸, 250M ₸: billions as B, not the SI G.
        layout[f"{money_axis}axis"] |= {"exponentformat": "B", "ticksuffix": " ₸"}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = layout[key] | value
        else:
            layout[key] = value
    return layout


def _day_axis(days: list[date]) -> dict:
    """A date axis over the days on record, one tick a day (or every few days), never hours."""
    step = max(1, -(-len(days) // 10))
    return {
        "type": "date",
        "tickformat": "%d %b",
        "dtick": step * 86_400_000,
        "range": [f"{min(days) - timedelta(days=1)} 12:00", f"{max(days)} 12:00"],
    }


def _floats(values) -> list[float | None]:
    # Drawing only: the tables beside each chart carry the exact amounts.
    return [None if _missing(v) else float(v) for v in values]


def chart_html(data: list[dict], layout: dict, name: str) -> str:
    """A chart: its div and the script that draws it with plotly.js (loaded in the page's head)."""
    figure = json.dumps(
        {"data": data, "layout": layout, "config": {"displayModeBar": False, "responsive": True}},
        separators=(",", ":"),
    ).replace("</", "<\\/")  # a title cannot close the script
    return (
        f'<div class="chart" data-chart="{name}"><div id="chart-{name}" style="height:{layout["height"]}px">'
        f'</div><script>(function () {{ var f = {figure}; Plotly.newPlot("chart-{name}", f.data, f.layout, '
        "f.config); })();</script></div>"
    )


def _bars(labels: list[str], values, name: str, color: str) -> str:
    """A horizontal bar chart of amounts, largest on top, each bar labelled."""
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "x": _floats(values),
            "y": labels,
            "name": name,
            "marker": {"color": color},
            "text": [_short(v) for v in values],
            "textposition": "outside",
            "cliponaxis": False,
            "hovertemplate": "%{y}: %{x:,.2f} ₸<extra></extra>",
        }
    ]
    layout = _layout(height=max(220, 34 * len(labels) + 60), yaxis={"autorange": "reversed"})
    return data, layout


# ---------------------------------------------------------------- sections


def _table(headers: list[tuple[str, str]], rows: list[list[str]], cls: str = "") -> str:
    """headers: (text, 'num' | ''); rows of escaped HTML cells."""
    head = "".join(f'<th class="{kind}">{text}</th>' for text, kind in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{kind}">{cell}</td>' for (_, kind), cell in zip(headers, row, strict=True))
        + "</tr>"
        for row in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _section(anchor: str, title: str, covers: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{title}</h2><p class="covers">{covers}</p>{body}</section>'


def _film(row) -> str:
    title = row.get("title")
    return _esc(row["film_id"] if _missing(title) else title)


def top_section(m: Marts, day: date) -> tuple[str, int]:
    films = m["film_daily_box_office"]
    films = films[films["business_date"] == day].sort_values(["rank_of_day", "film_id"]).head(TOP)
    if films.empty:
        return _section(
            "top", f"Top {TOP} films", "", '<p class="empty">No screenings on record for this day.</p>'
        ), 0
    first = films.iloc[0]
    covers = (
        f"Sessions of {day}, every connected cinema that reported: {coverage(first)} cinemas "
        f"reporting/connected/in the registry. {status_badge(reasons_of(first['provisional_reasons']))}"
    )
    labels = [_film(r) for _, r in films.iterrows()]
    chart = chart_html(*_bars(labels, films["gross_kzt"], "gross", PALETTE[0]), "top")
    rows = [
        [
            count(r["rank_of_day"]),
            _film(r),
            tenge(r["gross_kzt"]),
            rate(r["gross_change_dod_rate"]),
            count(r["admissions"]),
            count(r["n_screenings"]),
            count(r["n_cinemas"]),
            tenge(r["avg_ticket_price_kzt"], cents=True),
            count(r["days_in_release"]),
            f'{tenge(r["cumulative_gross_kzt"])} <span class="src">{_esc(r["gross_source"])}</span>',
            "provisional" if r["is_provisional"] else "final",
        ]
        for _, r in films.iterrows()
    ]
    table = _table(
        [
            ("#", "num"),
            ("film", ""),
            ("gross, ₸", "num"),
            ("vs day before", "num"),
            ("admissions", "num"),
            ("screenings", "num"),
            ("cinemas", "num"),
            ("avg ticket, ₸", "num"),
            ("day of release", "num"),
            ("since release, ₸", "num"),
            ("status", ""),
        ],
        rows,
    )
    return _section("top", f"Top {TOP} films of the day", covers, chart + table), 1


def week_section(m: Marts, day: date) -> tuple[str, int]:
    start = film_week_start(day)
    weeks = m["film_weekly_box_office"]
    week = weeks[weeks["film_week_start"] == start].sort_values(["chart_rank", "film_id"]).head(TOP)
    title = f"Film week {start:%d %b} – {start + timedelta(days=6):%d %b %Y} (Thursday to Wednesday)"
    if week.empty:
        return _section("week", title, "", '<p class="empty">No film week chart on record.</p>'), 0
    first = week.iloc[0]
    compared = first.get("days_compared")
    # A week to date is compared with the same days of the week before, never with a whole week.
    versus = (
        f"vs same {count(compared)} days of week before"
        if not _missing(compared) and compared < first["days_in_period"]
        else "vs week before"
    )
    covers = (
        f"Sums of the week's days on record: {count(first['days_covered'])} of "
        f"{count(first['days_in_period'])} days; at least {count(first['cinemas_reporting_min'])} of "
        f"{count(first['cinemas_connected_max'])} "
        f"connected cinemas reporting each day ({count(first['cinemas_total_max'])} in the registry). "
        f"{status_badge(reasons_of(first['provisional_reasons']))}"
    )

    def movement(r) -> str:
        if r["is_new_entry"]:
            return '<span class="new">new</span>'
        change = r["rank_change"]
        if _missing(change) or change == 0:
            return "="
        return (
            f'<span class="up">▲{int(change)}</span>'
            if change > 0
            else f'<span class="down">▼{-int(change)}</span>'
        )

    labels = [_film(r) for _, r in week.iterrows()]
    chart = chart_html(*_bars(labels, week["gross_kzt"], "week gross", PALETTE[5]), "week")
    rows = [
        [
            count(r["chart_rank"]),
            movement(r),
            _film(r),
            tenge(r["gross_kzt"]),
            rate(r["gross_change_rate"]),
            count(r["admissions"]),
            count(r["n_cinemas"]),
            tenge(r["gross_per_cinema_kzt"], cents=True),
            count(r["weeks_in_release"]),
        ]
        for _, r in week.iterrows()
    ]
    table = _table(
        [
            ("#", "num"),
            ("move", ""),
            ("film", ""),
            ("week gross, ₸", "num"),
            (versus, "num"),
            ("admissions", "num"),
            ("cinemas", "num"),
            ("per cinema, ₸", "num"),
            ("week of release", "num"),
        ],
        rows,
    )
    return _section("week", title, covers, chart + table), 1


def trend_section(m: Marts, day: date) -> tuple[str, int]:
    first_day = day - timedelta(days=TREND_DAYS - 1)
    daily = m["film_daily_box_office"]
    window = daily[(daily["business_date"] >= first_day) & (daily["business_date"] <= day)]
    title = f"Leading films, {first_day:%d %b} – {day:%d %b %Y}"
    if window.empty:
        return _section("trend", title, "", '<p class="empty">No screenings on record in the window.</p>'), 0
    totals = window.groupby("film_id")["gross_kzt"].sum().sort_values(ascending=False)
    leaders = list(totals.index[:LEADING_FILMS])
    days = sorted(set(window["business_date"]))
    x = [d.isoformat() for d in days]
    data = []
    for n, film_id in enumerate(leaders):
        rows = window[window["film_id"] == film_id].set_index("business_date")
        name = _esc(rows["title"].dropna().iloc[0] if rows["title"].notna().any() else film_id)
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": x,
                "y": _floats(rows["gross_kzt"].get(d) for d in days),
                "name": name,
                "line": {"color": PALETTE[n % len(PALETTE)], "width": 2},
                "hovertemplate": f"{name}<br>%{{x|%d %b}}: %{{y:,.2f}} ₸<extra></extra>",
            }
        )
    national = m["national_daily"].set_index("business_date")
    reasons = {d: reasons_of(national.loc[d, "provisional_reasons"]) for d in days if d in national.index}
    provisional = [d for d in days if reasons.get(d, ("coverage_unknown",))]
    # The days that have not closed will still move: shaded.
    open_days = [d for d in days if "day_open" in reasons.get(d, ())]
    shapes, notes = [], []
    if open_days:
        x0, x1 = f"{min(open_days) - timedelta(days=1)} 12:00", f"{max(open_days)} 12:00"
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": x0,
                "x1": x1,
                "y0": 0,
                "y1": 1,
                "fillcolor": "#f4a261",
                "opacity": 0.12,
                "line": {"width": 0},
                "layer": "below",
            }
        )
        notes.append(
            {
                "xref": "x",
                "yref": "paper",
                "x": x0,
                "y": 1,
                "xanchor": "left",
                "yanchor": "top",
                "text": "not closed yet",
                "showarrow": False,
                "font": {"size": 11, "color": "#8a5300"},
            }
        )
    layout = _layout(
        height=360,
        money_axis="y",
        xaxis=_day_axis(days),
        shapes=shapes,
        annotations=notes,
    )
    covers = (
        f"Daily gross of the {len(leaders)} films that grossed most over the {len(days)} days on record in "
        f"the window (gaps: no screening). "
        + (
            f"{len(provisional)} of these days are provisional (see each day's page for why), "
            f"{len(days) - len(provisional)} final; {len(open_days)} have not closed yet (shaded)."
            if provisional
            else "All these days are final."
        )
    )
    return _section("trend", title, covers, chart_html(data, layout, "trend")), 1


def national_header(m: Marts, day: date) -> tuple[str, tuple[str, ...]]:
    national = m["national_daily"]
    rows = national[national["business_date"] == day]
    if rows.empty:
        return '<p class="covers">No national figure on record for this day.</p>', ()
    r = rows.iloc[0]
    previous = national[national["business_date"] == day - timedelta(days=1)]
    change = ""
    if not previous.empty and previous.iloc[0]["gross_kzt"]:
        before = previous.iloc[0]["gross_kzt"]
        change = f'<div class="delta">{rate((r["gross_kzt"] - before) / before)} vs the day before</div>'
    reasons = reasons_of(r["provisional_reasons"])
    excluded = reasons_of(r.get("exclusions"))
    kpis = [
        ("National gross", short_tenge(r["gross_kzt"]), f"{tenge(r['gross_kzt'])} ₸" + change),
        ("Admissions", count(r["admissions"]), ""),
        ("Screenings", count(r.get("n_screenings")), ""),
        (
            "Cinemas reporting",
            f"{count(r['cinemas_reporting'])} / {count(r['cinemas_connected'])}",
            f"connected to e-Kino; {count(r['cinemas_total'])} in the registry",
        ),
    ]
    cards = "".join(
        f'<div class="kpi"><div class="label">{label}</div><div class="value">{value}</div>'
        f'<div class="detail">{detail}</div></div>'
        for label, value, detail in kpis
    )
    status = (
        '<p class="status provisional-day">Provisional: '
        + "; ".join(f"<b>{_esc(x)}</b> ({_esc(REASONS.get(x, x))})" for x in reasons)
        + ".</p>"
        if reasons
        else '<p class="status final-day">Final: the day has closed; these figures exclude: '
        + "; ".join(f"<b>{_esc(x)}</b> ({_esc(REASONS.get(x, x))})" for x in excluded)
        + f" ({count(r.get('n_cinemas_missing'))} connected cinemas missing, "
        f"{count(r.get('n_cinemas_silent'))} silent).</p>"
        if excluded
        else '<p class="status final-day">Final: every connected cinema reported and the day has closed.</p>'
    )
    quarantined = r.get("quarantined_gross_kzt_claimed")
    note = (
        f'<p class="covers">Quarantined records claim {tenge(quarantined)} ₸ more, kept out of these '
        "figures.</p>"
        if not _missing(quarantined) and quarantined
        else ""
    )
    return f'<div class="kpis">{cards}</div>{status}{note}', reasons


def region_section(m: Marts, day: date) -> tuple[str, int]:
    regions = m["region_daily"]
    regions = regions[regions["business_date"] == day].sort_values(
        "gross_kzt", ascending=False, na_position="last"
    )
    if regions.empty:
        return _section(
            "regions", "Gross by region", "", '<p class="empty">No regional figures on record.</p>'
        ), 0
    with_figure = regions[regions["gross_kzt"].notna()]
    chart = chart_html(
        *_bars([_esc(n) for n in with_figure["region_name"]], with_figure["gross_kzt"], "gross", PALETTE[2]),
        "regions",
    )
    rows = [
        [
            _esc(r["region_name"]),
            tenge(r["gross_kzt"]),
            count(r["admissions"]),
            tenge(r["avg_ticket_price_kzt"], cents=True),
            rate(r["domestic_gross_share"], sign=False),
            coverage(r),
            status_badge(reasons_of(r["provisional_reasons"])),
        ]
        for _, r in regions.iterrows()
    ]
    table = _table(
        [
            ("region", ""),
            ("gross, ₸", "num"),
            ("admissions", "num"),
            ("avg ticket, ₸", "num"),
            ("domestic share", "num"),
            ('<span title="cinemas reporting / connected / in the registry">coverage</span>', "num"),
            ("status", ""),
        ],
        rows,
        "compact",
    )
    covers = (
        f"{len(with_figure)} of {len(regions)} regions have a figure (a region without a connected cinema "
        "has none); coverage is cinemas reporting / connected / in the registry."
    )
    return _section("regions", f"Gross by region, {day:%d %b %Y}", covers, chart + table), 1


def reporting_section(m: Marts, day: date) -> tuple[str, int]:
    daily = m["cinema_reporting_daily"]
    first_day = day - timedelta(days=TREND_DAYS - 1)
    window = daily[(daily["business_date"] >= first_day) & (daily["business_date"] <= day)]
    charts = 0
    body = ""
    if not window.empty:
        counts = window.groupby(["business_date", "reporting_state"]).size().unstack(fill_value=0)
        data = [
            {
                "type": "bar",
                "x": [d.isoformat() for d in counts.index],
                "y": [int(v) for v in counts[state]],
                "name": state,
                "marker": {"color": color},
                "hovertemplate": f"%{{x|%d %b}}: %{{y}} {state}<extra></extra>",
            }
            for state, color in STATES.items()
            if state in counts.columns
        ]
        layout = _layout(
            height=260,
            money_axis=None,
            barmode="stack",
            bargap=0.15,
            xaxis=_day_axis(list(counts.index)),
        )
        body += chart_html(data, layout, "reporting")
        charts += 1
    today = daily[(daily["business_date"] == day) & ~daily["is_reported"].fillna(False).astype(bool)]
    status = m["cinema_reporting_status"].set_index("cinema_id")
    reported = daily[(daily["business_date"] <= day) & daily["is_reported"].fillna(False).astype(bool)]
    last_report = reported.groupby("cinema_id")["business_date"].max()
    # Its last sale up to the day, whatever day that was (none the day itself, for most of them).
    last_sale = daily[daily["business_date"] <= day].groupby("cinema_id")["last_event_at"].max()
    rows = [
        [
            _esc(r["cinema_id"]),
            _esc(status["cinema_name"].get(r["cinema_id"], "")),
            _esc(r["region_code"]),
            f'<span class="state" style="background:{STATES.get(r["reporting_state"], "#ccc")}">'
            f"{_esc(r['reporting_state'])}</span>",
            _esc(last_report.get(r["cinema_id"], "never")),
            _local(last_sale.get(r["cinema_id"])),
            _esc(_cause(r["error"])),
        ]
        for _, r in today.sort_values(["reporting_state", "cinema_id"]).iterrows()
    ]
    n_connected = int((daily["business_date"] == day).sum())
    if rows:
        body += _table(
            [
                ("cinema", ""),
                ("name", ""),
                ("region", ""),
                ("state", ""),
                ("last reported", ""),
                ("last sale (Almaty)", ""),
                ("cause", ""),
            ],
            rows,
            "compact",
        )
    else:
        body += f'<p class="empty">Every one of the {n_connected} connected cinemas reported on {day}.</p>'
    covers = (
        f"Connected cinemas by reporting state over the {TREND_DAYS} days to {day:%d %b}; below, the "
        f"{len(rows)} of {n_connected} connected cinemas flagged on {day:%d %b}: silent (sessions listed, "
        "no sales), failed (the pull failed), quarantined or not pulled. Their sales are missing from the "
        "figures."
    )
    return _section("cinemas", "Cinemas that did not report", covers, body), charts


def funding_section(m: Marts) -> tuple[str, int]:
    funding = m["funding_outcomes_by_year"].sort_values("grant_year")
    if funding.empty:
        return _section(
            "funding", "State film funding outcomes", "", '<p class="empty">No grants on record.</p>'
        ), 0
    years = [str(y) for y in funding["grant_year"]]
    data = [
        {
            "type": "bar",
            "x": years,
            "y": _floats(funding[column]),
            "name": name,
            "marker": {"color": color},
            "hovertemplate": f"%{{x}} {name}: %{{y:,.0f}} ₸<extra></extra>",
        }
        for column, name, color in (
            ("funded_amount_kzt", "funded", PALETTE[0]),
            ("lifetime_gross_kzt", "box office since release", PALETTE[3]),
        )
    ]
    layout = _layout(height=300, money_axis="y", barmode="group", xaxis={"type": "category"})
    rows = [
        [
            _esc(r["grant_year"]),
            count(r["n_projects"]),
            tenge(r["funded_amount_kzt"]),
            f"{count(r['n_reached_theatres'])} ({rate(r['reached_theatres_share'], sign=False)})",
            tenge(r["lifetime_gross_kzt"]),
            f'<span class="src">{_esc(r["gross_source"])}</span>',
            rate(r["recoupment_rate"], sign=False),
        ]
        for _, r in funding.iterrows()
    ]
    table = _table(
        [
            ("grant year", ""),
            ("projects", "num"),
            ("funded, ₸", "num"),
            ("reached theatres", "num"),
            ("box office since release, ₸", "num"),
            ("source", ""),
            ("recoupment", "num"),
        ],
        rows,
        "compact",
    )
    covers = (
        "Funded projects by grant year: reached theatres by their release records; box office since release "
        "is the distributors' and ministry's reports before e-Kino plus what e-Kino tracked (source: "
        "reported, tracked or mixed); recoupment is that box office over the amount funded. All days on "
        "record."
    )
    return _section(
        "funding", "State film funding outcomes", covers, chart_html(data, layout, "funding") + table
    ), 1


def live_section(m: Marts, day: date) -> tuple[str, int]:
    today, films = m.get("live_today"), m.get("live_films_today")
    if today is None or today.empty:
        return "", 0
    national = today[(today["scope"] == "national") & (today["business_date"] == day)]
    if national.empty:
        return "", 0
    n = national.iloc[0]
    body = (
        f'<div class="kpis"><div class="kpi"><div class="label">Gross so far</div>'
        f'<div class="value">{short_tenge(n["gross_kzt"])}</div><div class="detail">{tenge(n["gross_kzt"])} ₸'
        f'</div></div><div class="kpi"><div class="label">Admissions so far</div><div class="value">'
        f'{count(n["admissions"])}</div><div class="detail">{count(n["sessions_sold"])} screenings sold</div>'
        f"</div></div>"
    )
    charts = 0
    if films is not None:
        top = films[films["business_date"] == day].sort_values("rank_so_far").head(TOP)
        if not top.empty:
            labels = [
                _esc(r["film_id"] if _missing(r["title"]) else r["title"])
                if not _missing(r["film_id"])
                else "(session not listed yet)"
                for _, r in top.iterrows()
            ]
            body += chart_html(*_bars(labels, top["gross_kzt"], "gross so far", PALETTE[1]), "live")
            charts = 1
    covers = (
        f"Live as of {_local(n['as_of'])} (Asia/Almaty): {coverage(n)} cinemas reporting/connected/in the "
        f"registry; largest lag {count(n['max_lag_seconds'])} s. "
        f"{status_badge(reasons_of(n['provisional_reasons']))}"
    )
    return _section("live", "Today so far (live)", covers, body), charts


# ---------------------------------------------------------------- the page


# Inlined into every page: a page is one file plus the plotly library beside it.
STYLE = (Path(__file__).parent / "report.css").read_text(encoding="utf-8")


def plotly_script_name() -> str:
    return f"plotly-{plotly.__version__}.min.js"


def render_page(
    m: Marts, day: date, *, days_kept: list[date], built_at: datetime, index: bool = False
) -> tuple[str, int, tuple[str, ...]]:
    """The page of a business day as HTML, the number of charts on it and its provisional reasons."""
    header, reasons = national_header(m, day)
    sections, charts = [], 0
    for html_text, n in (
        live_section(m, day),
        top_section(m, day),
        week_section(m, day),
        trend_section(m, day),
        region_section(m, day),
        reporting_section(m, day),
        funding_section(m),
    ):
        sections.append(html_text)
        charts += n
    kept = sorted(set(days_kept))
    before = [d for d in kept if d < day]
    after = [d for d in kept if d > day]
    nav = ['<a href="index.html">latest day</a>']
    if before:
        nav.append(f'<a href="{before[-1]}.html">◀ {before[-1]:%d %b}</a>')
    if after:
        nav.append(f'<a href="{after[0]}.html">{after[0]:%d %b} ▶</a>')
    nav.append('<a href="#days">every day kept</a>')
    days_list = "".join(f'<li><a href="{d}.html">{d} {d:%a}</a></li>' for d in reversed(kept))
    legend = "".join(f"<dt>{_esc(code)}</dt><dd>{_esc(text)}</dd>" for code, text in REASONS.items())
    title = f"e-Kino box office · {_long_day(day)}"
    return (
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{_esc(title)}</title>
<style>{STYLE}</style>
<script src="{plotly_script_name()}"></script>
</head><body>
<header class="top"><div class="nav">
<span>e-Kino · national box office{" · latest day" if index else ""}</span>{" ".join(nav)}</div>
<h1>Box office, {_long_day(day)}</h1></header>
<main>
{header}
{"".join(sections)}
<section id="days"><h2>Every day kept</h2><p class="covers">One page per business day; each was built when
its day was last rebuilt.</p><ul class="days">{days_list}</ul></section>
</main>
<footer>
<p>Built {built_at.astimezone(BUSINESS_TZ):%d %b %Y %H:%M} (Asia/Almaty) from the exported marts
({", ".join(MARTS)}{", live marts" if m.get("live_today") is not None else ""}) in {_esc(m.folder)}.
Figures are ticket sales of the cinemas connected to e-Kino, by the business day of the session
(Asia/Almaty), net of refunds; amounts in tenge (₸), exact in the tables, rounded on the charts' axes.
A day's figures are provisional until the day closes, 3 days after it; then they are final, and what
they exclude is stated (a later change is kept as a revision). The reasons and exclusions:</p>
<dl>{legend}</dl>
</footer>
</body></html>
""",
        charts,
        reasons,
    )


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_plotly_script(folder: Path) -> Path:
    target = folder / plotly_script_name()
    if not target.exists():
        _write_atomically(target, get_plotlyjs())
    return target


def pages_kept(folder: Path) -> list[date]:
    kept = []
    for path in folder.glob("????-??-??.html"):
        try:
            kept.append(date.fromisoformat(path.stem))
        except ValueError:
            continue
    return sorted(kept)


@dataclass(frozen=True)
class Report:
    folder: Path
    index: Path
    latest_day: date | None
    pages: list[Page]


def build_report(
    days: Iterable[date],
    *,
    home: str | Path | None = None,
    exports: str | Path | None = None,
    built_at: datetime | None = None,
) -> Report:
    """Writes the pages of `days` and the index (the latest day on record) under `<exports>/report/`."""
    folder_in = exports_dir(home, exports)
    m = Marts.load(folder_in)
    built_at = built_at or datetime.now(UTC)
    folder = folder_in / REPORT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    ensure_plotly_script(folder)
    days = sorted(set(days))
    on_record = m.days_on_record()
    latest = on_record[-1] if on_record else (days[-1] if days else None)
    kept = sorted(set(pages_kept(folder)) | set(days) | ({latest} if latest else set()))
    pages = []
    for day in sorted(set(days) | ({latest} if latest else set())):
        text, charts, reasons = render_page(m, day, days_kept=kept, built_at=built_at)
        path = folder / f"{day}.html"
        _write_atomically(path, text)
        pages.append(Page(day, path, charts, reasons))
    index = folder / INDEX
    if latest is not None:
        text, _, _ = render_page(m, latest, days_kept=kept, built_at=built_at, index=True)
    else:
        text = "<!doctype html><html><body><p>No business day on record yet.</p></body></html>"
    _write_atomically(index, text)
    return Report(folder, index, latest, pages)
