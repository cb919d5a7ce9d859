"""What a forecast knows of a film after its first k whole film weeks, as model inputs.

A film's run is read in film weeks (Thursday to Wednesday, week 1 the week of its release): the weekly
reports and the tracked days speak alike in them. A week in progress is completed from its first days
by how the tracked weeks on record split over their days (`week_shares`), so that a film's first
weekend already gives its first week, with the spread of that split carried into the interval.

Tracked days say more than the gross: how many sessions and screens the cinemas gave the film and how
that changed since its first days, its share of the nation's sessions, and the tickets already sold for
its coming days (`Trends`). A run known only from weekly reports has none of these (missing features).
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
# Sessions and screens over the last seven days (from the release on), against the film's first days.
TREND_FEATURES = ("log_sessions_per_day", "sessions_change", "screens_change", "session_share")
# The advance sales of the next seven days as sold by the day: against the last seven days' gross, and
# against what had been sold a week before for the seven days just gone.
ADVANCE_FEATURES = ("advance_vs_last_week", "advance_change")
OPENING_DAYS = 4  # Thursday to Sunday: the first days the trends are measured from
TREND_DAYS = 7


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


def feature_row(
    film: pd.Series, gross: list[float], day: date, calendar: Calendar, trends: Trends | None = None
) -> dict:
    """The inputs of one forecast: the film's first k whole weeks (k = len(gross)), its attributes, the
    calendar ahead of `day` (the day the forecast stands on) and its sessions, screens and advance sales
    as known on `day` (`film.name` is its id)."""
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
        **(
            trends.features(film.name, film["release_date"], day)
            if trends is not None
            else dict.fromkeys((*TREND_FEATURES, *ADVANCE_FEATURES), np.nan)
        ),
    }


def week_end(release: date, k: int) -> date:
    """The last day of a film's k-th film week."""
    return film_week_start(release) + timedelta(days=WEEK * k - 1)


class Trends:
    """The films' sessions, screens and advance sales, to be read as known on any day (`features`).

    Built once from a `Runs`; a day's features use the tracked days and sales up to that day only.
    A day of tracking on which a film has no row had no session of it (zero sessions and screens).
    """

    def __init__(self, runs: Runs):
        days = runs.days[runs.days["sessions"].notna()] if "sessions" in runs.days else runs.days.iloc[:0]
        self.start = min(days["business_date"]).toordinal() if len(days) else None
        ordinals = _ordinals(days["business_date"])
        self.base = int(ordinals.min()) if len(ordinals) else 0
        span = int(ordinals.max()) - self.base + 1 if len(ordinals) else 0
        self.national = np.bincount(ordinals - self.base, days["sessions"].to_numpy(float), span)
        self.films: dict[str, tuple[np.ndarray, ...]] = {}
        columns = (ordinals, days["sessions"].to_numpy(float), days["screens"].to_numpy(float))
        for film_id, index in days.groupby("film_id").indices.items():
            self.films[film_id] = tuple(c[index] for c in columns)
        gross_days = runs.days
        gross_ordinals = _ordinals(gross_days["business_date"])
        self.gross = {
            film_id: (gross_ordinals[index], gross_days["gross"].to_numpy(float)[index])
            for film_id, index in gross_days.groupby("film_id").indices.items()
        }
        advance = runs.advance
        self.advance_start = min(advance["sold_on"]).toordinal() if len(advance) else None
        sold = _ordinals(advance["sold_on"])
        session = _ordinals(advance["session_date"])
        self.sales = {
            film_id: (sold[index], session[index], advance["gross"].to_numpy(float)[index])
            for film_id, index in advance.groupby("film_id").indices.items()
        }

    def features(self, film_id: str, release: date, day: date) -> dict[str, float]:
        out = dict.fromkeys((*TREND_FEATURES, *ADVANCE_FEATURES), np.nan)
        d, r = day.toordinal(), release.toordinal()
        if self.start is not None and d >= max(self.start, r):
            lo = max(d - TREND_DAYS + 1, r, self.start)
            n = d - lo + 1
            ordinals, sessions, screens = self.films.get(film_id, (np.array([], dtype=np.int64),) * 3)
            recent = (ordinals >= lo) & (ordinals <= d)
            per_day = sessions[recent].sum() / n
            out["log_sessions_per_day"] = float(np.log1p(per_day))
            national = self.national[max(0, lo - self.base) : max(0, d - self.base + 1)].sum()
            out["session_share"] = float(sessions[recent].sum() / national) if national > 0 else np.nan
            if self.start <= r:  # the first days are on record
                hi = min(r + OPENING_DAYS - 1, d)
                first = (ordinals >= r) & (ordinals <= hi)
                m = hi - r + 1
                out["sessions_change"] = float(np.log((per_day + 1) / (sessions[first].sum() / m + 1)))
                out["screens_change"] = float(
                    np.log((screens[recent].sum() / n + 1) / (screens[first].sum() / m + 1))
                )
        if self.advance_start is not None and d >= max(self.advance_start + TREND_DAYS, r):
            sold, session, gross = self.sales.get(film_id, (np.array([], dtype=np.int64),) * 3)
            ahead = gross[(sold <= d) & (session > d) & (session <= d + TREND_DAYS)].sum()
            before = gross[(sold <= d - TREND_DAYS) & (session > d - TREND_DAYS) & (session <= d)].sum()
            g_ordinals, g = self.gross.get(film_id, (np.array([], dtype=np.int64), np.array([])))
            lo = max(d - TREND_DAYS + 1, r)
            last = g[(g_ordinals >= lo) & (g_ordinals <= d)].sum() / (d - lo + 1)
            out["advance_vs_last_week"] = float(np.log((ahead / TREND_DAYS + 1) / (last + 1)))
            out["advance_change"] = float(np.log((ahead + 1) / (before + 1)))
        return out


def _ordinals(dates: pd.Series) -> np.ndarray:
    """Dates as their proleptic ordinals (days), for day arithmetic in numpy."""
    return np.array([d.toordinal() for d in dates], dtype=np.int64)
