"""The report's charts as plotly.js takes them: plain dicts, drawn in the reader's browser by the plotly
library kept beside the pages. Plotly's Python figure objects validate every property on each update,
which took seconds a page.

Plotly reads a little HTML in its labels, so every title or name handed to it is escaped here. Amounts
become floats for drawing only: the tables beside each chart carry the exact ones.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from ekino_pipeline.report.formatting import missing, short_label

PALETTE = ["#1d3557", "#e63946", "#2a9d8f", "#f4a261", "#6a4c93", "#457b9d", "#8ab17d", "#b5838d"]
# Reporting states and their colours, in the order they are stacked.
STATES = {
    "reported": "#2a9d8f",
    "no_sessions": "#8ab17d",
    "silent": "#e9c46a",
    "quarantined": "#f4a261",
    "failed": "#e76f51",
    "not_pulled": "#9e9e9e",
}
FONT = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif"
OPEN_DAYS_SHADE = "#f4a261"
CONFIG = {"displayModeBar": False, "responsive": True}


@dataclass(frozen=True)
class Chart:
    name: str  # the page's `data-chart` and element id
    data: list[dict]
    layout: dict

    @property
    def height(self) -> int:
        return self.layout["height"]

    @property
    def figure(self) -> dict:
        return {"data": self.data, "layout": self.layout, "config": CONFIG}


def label(value) -> str:
    # Quotes stay as they are: plotly decodes &lt; &gt; &amp; but would show &quot; as such.
    return html.escape(str(value), quote=False)


def floats(values) -> list[float | None]:
    return [None if missing(v) else float(v) for v in values]


def layout(*, height: int = 340, money_axis: str | None = "x", **extra) -> dict:
    """The house style; `extra` entries are merged into it (dicts key by key)."""
    axis = {"gridcolor": "#ebf0f8", "zerolinecolor": "#dfe3eb", "linecolor": "#dfe3eb", "automargin": True}
    result = {
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
        result[f"{money_axis}axis"] |= {"exponentformat": "B", "ticksuffix": " ₸"}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = result[key] | value
        else:
            result[key] = value
    return result


def day_axis(days: list[date]) -> dict:
    """A date axis over the days on record, one tick a day (or every few days), never hours."""
    step = max(1, -(-len(days) // 10))
    return {
        "type": "date",
        "tickformat": "%d %b",
        "dtick": step * 86_400_000,
        "range": [f"{min(days) - timedelta(days=1)} 12:00", f"{max(days)} 12:00"],
    }


def bars(name: str, labels: list[str], values, series: str, color: str) -> Chart:
    """Horizontal bars of amounts, largest on top, each bar labelled."""
    values = list(values)
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "x": floats(values),
            "y": [label(text) for text in labels],
            "name": series,
            "marker": {"color": color},
            "text": [short_label(v) for v in values],
            "textposition": "outside",
            "cliponaxis": False,
            "hovertemplate": "%{y}: %{x:,.2f} ₸<extra></extra>",
        }
    ]
    return Chart(name, data, layout(height=max(220, 34 * len(labels) + 60), yaxis={"autorange": "reversed"}))


def trend(days: list[date], lines: list[tuple[str, list]], open_days: list[date]) -> Chart:
    """Daily gross per film (`lines`: name and one amount or None per day); days not closed shaded."""
    x = [d.isoformat() for d in days]
    data = []
    for n, (name, amounts) in enumerate(lines):
        name = label(name)
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": x,
                "y": floats(amounts),
                "name": name,
                "line": {"color": PALETTE[n % len(PALETTE)], "width": 2},
                "hovertemplate": f"{name}<br>%{{x|%d %b}}: %{{y:,.2f}} ₸<extra></extra>",
            }
        )
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
                "fillcolor": OPEN_DAYS_SHADE,
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
    return Chart(
        "trend",
        data,
        layout(height=360, money_axis="y", xaxis=day_axis(days), shapes=shapes, annotations=notes),
    )


def forecast_bands(names: list[str], to_date, low, median, high) -> Chart:
    """Each leading film's gross so far and its forecast final gross: the median with its 80% band."""
    y = [label(name) for name in names]
    low, median, high = floats(low), floats(median), floats(high)
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "x": floats(to_date),
            "y": y,
            "name": "gross so far",
            "marker": {"color": PALETTE[5]},
            "hovertemplate": "%{y}: %{x:,.0f} ₸ so far<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "markers",
            "x": median,
            "y": y,
            "name": "forecast final (80% interval)",
            "marker": {"color": PALETTE[1], "size": 10, "symbol": "diamond"},
            "error_x": {
                "type": "data",
                "symmetric": False,
                "array": [
                    None if h is None or m is None else h - m for h, m in zip(high, median, strict=True)
                ],
                "arrayminus": [
                    None if lo is None or m is None else m - lo for lo, m in zip(low, median, strict=True)
                ],
                "color": PALETTE[1],
                "thickness": 6,
                "width": 0,
            },
            "hovertemplate": "%{y}: forecast %{x:,.0f} ₸<extra></extra>",
        },
    ]
    return Chart(
        "forecast", data, layout(height=max(220, 44 * len(names) + 80), yaxis={"autorange": "reversed"})
    )


def reporting(counts: pd.DataFrame) -> Chart:
    """Connected cinemas per day stacked by reporting state (`counts`: days by states)."""
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
    return Chart(
        "reporting",
        data,
        layout(height=260, money_axis=None, barmode="stack", bargap=0.15, xaxis=day_axis(list(counts.index))),
    )


def funding(funding: pd.DataFrame) -> Chart:
    """Amount funded beside the box office since release, by grant year."""
    years = [str(y) for y in funding["grant_year"]]
    data = [
        {
            "type": "bar",
            "x": years,
            "y": floats(funding[column]),
            "name": name,
            "marker": {"color": color},
            "hovertemplate": f"%{{x}} {name}: %{{y:,.0f}} ₸<extra></extra>",
        }
        for column, name, color in (
            ("funded_amount_kzt", "funded", PALETTE[0]),
            ("lifetime_gross_kzt", "box office since release", PALETTE[3]),
        )
    ]
    return Chart(
        "funding", data, layout(height=300, money_axis="y", barmode="group", xaxis={"type": "category"})
    )
