"""What a forecast knows of a film after its first k whole film weeks, as model inputs.

A film's run is read in film weeks (Thursday to Wednesday, week 1 the week of its release): the weekly
reports and the tracked days speak alike in them. A week in progress is completed from its first days
by how the tracked weeks on record split over their days (`week_shares`), so that a film's first
weekend already gives its first week, with the spread of that split carried into the interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ekino_pipeline.calendar import film_week_start
from ekino_pipeline.forecasting.runs import WEEK, Runs

GENRES = (
    "action",
    "adventure",
    "animation",
    "comedy",
    "crime",
    "documentary",
    "drama",
    "family",
    "fantasy",
    "historical",
    "horror",
    "romance",
    "science_fiction",
    "thriller",
)
# Kazakhstan's fixed-date public holidays (month, day): the calendar a forecast looks ahead on.
HOLIDAYS = frozenset(
    {(1, 1), (1, 2), (1, 7), (3, 8), (3, 21), (3, 22), (3, 23), (5, 1), (5, 7), (5, 9), (7, 6), (8, 30)}
    | {(10, 25), (12, 16)}
)
MAX_WEEKS = 12  # training rows of a film: after each of its first 1..12 whole weeks
# A week in progress is completed from its first days only from its Saturday on: a Thursday alone says
# little of the week (a film's first weekend, Thursday to Sunday, does).
NOWCAST_MIN_DAYS = 3
MIN_SHARE_WEEKS = 5
FEATURES = (
    "weeks_known",
    "log_cum",
    "log_first_week",
    "log_last_week",
    "last_change",
    "mean_change",
    "is_domestic",
    "is_kazakh",
    "is_funded",
    "n_genres",
    *(f"genre_{g}" for g in GENRES),
    "release_month",
    "holidays_ahead",
    "openings_ahead",
)


@dataclass(frozen=True)
class Shares:
    """How much of a whole film week its first j days hold (j = 1..6): median, 10th and 90th
    percentile, learnt from the tracked weeks on record."""

    median: dict[int, float]
    low: dict[int, float]
    high: dict[int, float]
    weeks: int


def week_shares(runs: Runs) -> Shares | None:
    """From every whole tracked film week (first weeks alone when there are enough of them)."""
    days = runs.days
    tracking = runs.tracking_start
    if days.empty:
        return None
    release = runs.films.set_index("film_id")["release_date"]
    days = days[days["film_id"].isin(release.index)]
    starts = [film_week_start(d) for d in days["business_date"]]
    frame = days.assign(
        week_start=starts,
        offset=[(d - s).days for d, s in zip(days["business_date"], starts, strict=True)],
        first=[film_week_start(release[f]) == s for f, s in zip(days["film_id"], starts, strict=True)],
    )
    whole = frame[
        (frame["week_start"] >= tracking)
        & (frame["week_start"] + timedelta(days=WEEK - 1) <= runs.last_day)
        & (frame["week_start"] >= frame["film_id"].map(release))
    ]
    if whole.empty:
        return None
    table = whole.pivot_table(
        index=["film_id", "week_start", "first"],
        columns="offset",
        values="gross",
        aggfunc="sum",
        fill_value=0,
    ).reindex(columns=range(WEEK), fill_value=0)
    table = table[table.sum(axis=1) > 0]
    firsts = table[table.index.get_level_values("first")]
    if len(firsts) >= MIN_SHARE_WEEKS:
        table = firsts
    if len(table) < MIN_SHARE_WEEKS:
        return None
    cumulative = table.cumsum(axis=1).div(table.sum(axis=1), axis=0)
    median, low, high = {}, {}, {}
    for j in range(1, WEEK):
        column = cumulative[j - 1].clip(lower=1e-3)
        median[j], low[j], high[j] = (float(column.quantile(q)) for q in (0.5, 0.1, 0.9))
    return Shares(median, low, high, len(table))


@dataclass(frozen=True)
class Known:
    """A film's run as known on a day, read as whole weeks (the last one maybe completed from its first
    days: `completed_from` days, with `spread` the low and high factors on that week)."""

    film_id: str
    weeks: list[float]
    admissions: list[float]
    completed_from: int = 0
    spread: tuple[float, float] = (1.0, 1.0)


def known_runs(weeks: pd.DataFrame, shares: Shares | None) -> dict[str, Known]:
    """Each film's whole weeks, in order, up to its first week missing or not whole (none after it
    counts); a week in progress of NOWCAST_MIN_DAYS days or more completed by `shares`."""
    out = {}
    weeks = weeks.sort_values(["film_id", "week"])
    columns = [weeks[c].to_numpy() for c in ("film_id", "week", "gross", "admissions", "days", "complete")]
    runs: dict[str, list[tuple]] = {}
    for film_id, *rest in zip(*columns, strict=True):
        runs.setdefault(film_id, []).append(tuple(rest))
    for film_id, run in runs.items():
        gross, admissions, completed, spread = [], [], 0, (1.0, 1.0)
        expected = 1
        for week, g, a, n, whole in run:
            if week != expected:
                break
            if whole:
                gross.append(g), admissions.append(a)
                expected += 1
                continue
            if shares is not None and NOWCAST_MIN_DAYS <= n < WEEK:
                share = shares.median[n]
                gross.append(g / share), admissions.append(a / share)
                completed, spread = n, (share / shares.high[n], share / shares.low[n])
            break
        if gross:
            out[film_id] = Known(film_id, gross, admissions, completed, spread)
    return out


@dataclass(frozen=True)
class Calendar:
    """The registry's release calendar: each film's release and certificate day (day ordinals)."""

    release: np.ndarray
    certificate: np.ndarray

    @classmethod
    def of(cls, films: pd.DataFrame) -> Calendar:
        certificate = [
            (d if pd.notna(d) else r).toordinal()
            for d, r in zip(films["certificate_date"], films["release_date"], strict=True)
        ]
        return cls(np.array([d.toordinal() for d in films["release_date"]]), np.array(certificate))

    def openings(self, day: date, days: int = 21) -> int:
        """Films opening in the `days` after `day`, as far as the registry knew on it (certificates
        issued by then)."""
        d = day.toordinal()
        return int(((self.release > d) & (self.release <= d + days) & (self.certificate <= d)).sum())


def feature_row(film: pd.Series, gross: list[float], day: date, calendar: Calendar) -> dict:
    """The inputs of one forecast: the film's first k whole weeks (k = len(gross)), its attributes and the
    calendar ahead of `day` (the day the forecast stands on)."""
    k = len(gross)
    first, last = gross[0], gross[-1]
    genres = set(film["genres"])
    ahead = [day + timedelta(days=n) for n in range(1, 29)]
    return {
        "weeks_known": k,
        "log_cum": np.log1p(sum(gross)),
        "log_first_week": np.log1p(first),
        "log_last_week": np.log1p(last),
        "last_change": np.log((last + 1) / (gross[-2] + 1)) if k >= 2 else np.nan,
        "mean_change": np.log((last + 1) / (first + 1)) / (k - 1) if k >= 2 else np.nan,
        "is_domestic": float(film["is_domestic"]),
        "is_kazakh": float(film["original_language"] == "kk"),
        "is_funded": float(pd.notna(film["funding_project_id"])),
        "n_genres": len(genres),
        **{f"genre_{g}": float(g in genres) for g in GENRES},
        "release_month": film["release_date"].month,
        "holidays_ahead": sum((d.month, d.day) in HOLIDAYS for d in ahead),
        "openings_ahead": calendar.openings(day),
    }


def week_end(release: date, k: int) -> date:
    """The last day of a film's k-th film week."""
    return film_week_start(release) + timedelta(days=WEEK * k - 1)
