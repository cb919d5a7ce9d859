"""The forecast: how much more a film will earn than it has, learnt from the runs that ended.

The target is log(final gross / gross of the first k whole weeks), learnt by scikit-learn's histogram
gradient boosting with quantile loss at the 10th, 50th and 90th percentiles (docs/forecasting.md says
why this library). The interval is then conformalised: a fifth of the training films is held out, and
the interval widened (or narrowed) until it holds 80% of them. Training takes a few seconds.
"""

from __future__ import annotations

import functools
import hashlib
import time
import zlib
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # scikit-learn takes seconds to import: only a training or a forecast pays for it
    from sklearn.ensemble import HistGradientBoostingRegressor

from ekino_pipeline.forecasting.features import (
    ADVANCE_FEATURES,
    FEATURES,
    MAX_WEEKS,
    Calendar,
    Known,
    Shares,
    Trends,
    feature_row,
    week_end,
    week_shares,
)
from ekino_pipeline.forecasting.runs import Runs, ended_runs, film_weeks

MODEL_NAME = "gbq"
MODEL_REVISION = 2  # raise when what the model learns or how changes
QUANTILES = (0.1, 0.5, 0.9)
COVERAGE = 0.8
HELD_OUT_SHARE = 0.2
MIN_TRAINING_FILMS = 30
# The sessions and screens trends (TREND_FEATURES) are computed but left out: on the tracked backtest
# they made the day-7 interval's coverage and the day-3 and day-14 errors worse (docs/forecasting.md).
MODEL_FEATURES = (*FEATURES, *ADVANCE_FEATURES, "genre_legs")
PARAMS = {"max_iter": 150, "learning_rate": 0.06, "max_leaf_nodes": 15, "min_samples_leaf": 20}


def single_threaded(function):
    """The boosting runs on one thread: on a small, shared machine its OpenMP threads spend far longer
    waiting on each other than working (a minute instead of two seconds for a training, measured)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        # threadpoolctl limits the thread pools loaded when it is called: scikit-learn's boosting (and
        # the OpenMP runtime it brings) is imported first, else the limit reached nothing (16 CPU s
        # instead of 4 for the benchmark's quick backtest on a busy machine, the same forecasts).
        import sklearn.ensemble  # noqa: F401
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return function(*args, **kwargs)

    return wrapper


def sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


class NotEnoughHistory(ValueError):
    """Too few runs have ended to learn from (one line)."""


@dataclass
class Model:
    version: str
    cutoff: date
    films: int
    rows: int
    seconds: float
    quantiles: dict[float, HistGradientBoostingRegressor]
    weeks: HistGradientBoostingRegressor
    widen: float  # added to each side of the interval (log scale), from the held-out films
    multipliers: dict[int, tuple[float, float, float]]  # per weeks known: final over them, 10/50/90th
    decay: float  # the training films' median second week over their first
    legs: dict[str, float]  # each genre's median legs among the training films
    shares: Shares | None
    held_out_coverage: float = field(default=float("nan"))
    features: tuple[str, ...] = MODEL_FEATURES  # those the training rows had values of


def training_rows(runs: Runs) -> pd.DataFrame:
    """One row per ended film and per k = 1..its weeks (up to MAX_WEEKS): the features after its first k
    weeks, `target` (log of its final over those weeks), `remaining` weeks and the film's id."""
    weeks = film_weeks(runs)
    ended = ended_runs(weeks, runs).set_index("film_id")
    films = runs.films.set_index("film_id")
    calendar, trends = Calendar.of(runs.films), Trends(runs)
    rows = []
    for film_id, run in weeks[weeks["film_id"].isin(ended.index)].groupby("film_id"):
        gross = list(run.sort_values("week")["gross"])
        film, final = films.loc[film_id], ended.loc[film_id, "final_gross"]
        for k in range(1, min(len(gross), MAX_WEEKS) + 1):
            row = feature_row(film, gross[:k], week_end(film["release_date"], k), calendar, trends)
            row |= {
                "film_id": film_id,
                "target": float(np.log(final / sum(gross[:k]))),
                "remaining": len(gross) - k,
                "second_over_first": gross[1] / gross[0] if len(gross) > 1 else 0.0,
                "genres": tuple(film["genres"]),
            }
            rows.append(row)
    return pd.DataFrame(rows)


def genre_legs(rows: pd.DataFrame) -> dict[str, float]:
    """Each genre's median legs (log of the final over the first week) among the training films: a
    film's genres say more together through the one that holds best."""
    first = rows[rows["weeks_known"] == 1].explode("genres")
    return {str(g): float(t.median()) for g, t in first.groupby("genres")["target"] if len(t) >= 5}


def legs_of(genres, legs: dict[str, float]) -> float:
    """The largest legs among a film's genres that have enough history; NaN when none has."""
    known = [legs[g] for g in genres if g in legs]
    return max(known) if known else np.nan


def _held_out(film_ids: pd.Series) -> np.ndarray:
    return np.array([zlib.crc32(f.encode()) % 100 < HELD_OUT_SHARE * 100 for f in film_ids])


def _fit(x: pd.DataFrame, y: pd.Series, quantile: float) -> HistGradientBoostingRegressor:
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(loss="quantile", quantile=quantile, random_state=0, **PARAMS)
    return model.fit(x, y)


@single_threaded
def train(runs: Runs, cutoff: date) -> Model:
    """Learns from the runs that had ended by `cutoff`, with only what was known then."""
    started = time.perf_counter()
    known = runs.known_on(cutoff)
    rows = training_rows(known)
    n_films = rows["film_id"].nunique() if len(rows) else 0
    if n_films < MIN_TRAINING_FILMS:
        raise NotEnoughHistory(
            f"{n_films} films' runs had ended by {cutoff} with their weeks on record; "
            f"a forecast needs {MIN_TRAINING_FILMS}"
        )
    legs = genre_legs(rows)
    rows["genre_legs"] = [legs_of(genres, legs) for genres in rows["genres"]]
    # A feature the training history never had (sessions and advance sales before tracking began) is
    # left out: nothing can be learnt of it.
    features = tuple(f for f in MODEL_FEATURES if rows[f].nunique(dropna=True) >= 2)
    x, y = rows[list(features)], rows["target"]
    held = _held_out(rows["film_id"])
    fitted = {q: _fit(x[~held], y[~held], q) for q in QUANTILES}
    low, high = fitted[QUANTILES[0]].predict(x[held]), fitted[QUANTILES[-1]].predict(x[held])
    # Conformalised quantile regression: how far outside its interval each held-out row fell.
    scores = np.maximum(low - y[held], y[held] - high)
    n = len(scores)
    widen = float(np.quantile(scores, min(1.0, np.ceil((n + 1) * COVERAGE) / n))) if n else 0.0
    coverage = float(np.mean((y[held] >= low - widen) & (y[held] <= high + widen))) if n else float("nan")
    from sklearn.ensemble import HistGradientBoostingRegressor

    weeks_model = HistGradientBoostingRegressor(loss="absolute_error", random_state=0, **PARAMS).fit(
        x, rows["remaining"]
    )
    multipliers = {
        int(k): tuple(float(np.exp(t.quantile(q))) for q in QUANTILES)
        for k, t in rows.groupby("weeks_known")["target"]
    }
    first_rows = rows[rows["weeks_known"] == 1]
    decay = float(first_rows["second_over_first"].median())
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(rows[["film_id", "target"]], index=False).values.tobytes()
        + f"{MODEL_REVISION}:{sklearn_version()}:{sorted(PARAMS.items())}:{features}".encode()
    ).hexdigest()[:10]
    return Model(
        version=f"{MODEL_NAME}-{MODEL_REVISION}-{digest}",
        cutoff=cutoff,
        films=int(n_films),
        rows=len(rows),
        seconds=time.perf_counter() - started,
        quantiles=fitted,
        weeks=weeks_model,
        widen=widen,
        multipliers=multipliers,
        decay=decay,
        legs=legs,
        features=features,
        shares=week_shares(known),
        held_out_coverage=coverage,
    )


@dataclass(frozen=True)
class Forecast:
    film_id: str
    weeks_known: int
    completed_from: int
    gross: tuple[float, float, float]  # final gross: 10th, 50th, 90th percentile
    admissions: tuple[float, float, float]
    weeks_in_release: int
    to_date: float  # gross on record so far (the floor of every figure)


@dataclass(frozen=True)
class Question:
    """A film to forecast: its registry row, its run as known on `day`, and its gross on record so far
    (the floor of every figure)."""

    film: pd.Series
    known: Known
    day: date
    to_date: float


@single_threaded
def forecast(
    model: Model, questions: list[Question], calendar: Calendar, trends: Trends | None = None
) -> list[Forecast]:
    """The final gross and admissions of each film (median and 80% interval), in one batch; `trends`
    holds the films' sessions, screens and advance sales (each read as known on its question's day)."""
    if not questions:
        return []
    rows = pd.DataFrame([feature_row(q.film, q.known.weeks, q.day, calendar, trends) for q in questions])
    rows["genre_legs"] = [legs_of(q.film["genres"], model.legs) for q in questions]
    rows = rows[list(model.features)]
    low, mid, high = (model.quantiles[q].predict(rows) for q in QUANTILES)
    remaining = model.weeks.predict(rows)
    return [
        _forecast(model, question, low[n], mid[n], high[n], remaining[n])
        for n, question in enumerate(questions)
    ]


def _forecast(
    model: Model, question: Question, low: float, mid: float, high: float, remaining: float
) -> Forecast:
    known = question.known
    low, high = min(low, mid) - model.widen, max(high, mid) + model.widen
    low, high = min(low, mid), max(high, mid)
    cum = sum(known.weeks)
    # A week completed from its first days moves the whole base by as much as that week might differ.
    last = known.weeks[-1] if known.completed_from else 0.0
    base_low, base_high = cum - last + last * known.spread[0], cum - last + last * known.spread[1]
    gross = (base_low * np.exp(low), cum * np.exp(mid), base_high * np.exp(high))
    gross = tuple(max(question.to_date, float(g)) for g in gross)
    per_ticket = sum(known.admissions) / cum if cum else 0.0
    admissions = tuple(g * per_ticket for g in gross)
    weeks = len(known.weeks) + round(max(0.0, float(remaining)))
    return Forecast(
        known.film_id, len(known.weeks), known.completed_from, gross, admissions, weeks, question.to_date
    )
