"""The forecast tried on the past: rolling origins over the films whose runs have ended.

At each origin a model is trained on what was known that day (so only on films released before it,
whose runs had ended by then), and each film released in the origin's period is forecast as it stood
3 (its first weekend), 7, 14 and 28 days after its release, with what was known on that day only.
Beside it, two baselines: the multiplier of the weeks known learnt from the training films (after the
first week, the opening-week multiplier), and extrapolating the last week's decay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ekino_pipeline.forecasting.features import Calendar, Known, Trends, known_runs
from ekino_pipeline.forecasting.model import (
    Model,
    NotEnoughHistory,
    Question,
    forecast,
    single_threaded,
    train,
)
from ekino_pipeline.forecasting.runs import WEEK, Runs, ended_runs, film_weeks

HORIZONS = (3, 7, 14, 28)
METHODS = ("model", "multiplier", "decay")
STEP_DAYS = 91
# The first origin leaves this many days of runs behind it to learn from.
WARM_UP_DAYS = 730
MAX_DECAY = 0.95


@dataclass(frozen=True)
class Backtest:
    forecasts: pd.DataFrame  # origin, film_id, horizon, method, low, median, high, final
    summary: pd.DataFrame  # horizon, method, films, mape, median_ape, coverage
    origins: list[date]
    training: list[dict]  # per origin: cutoff, films, rows, seconds


def origins(runs: Runs, step_days: int = STEP_DAYS, warm_up_days: int = WARM_UP_DAYS) -> list[date]:
    first = min(runs.films["release_date"]) + timedelta(days=warm_up_days)
    last = runs.last_day
    out, day = [], first
    while day <= last:
        out.append(day)
        day += timedelta(days=step_days)
    return out


def baselines(model: Model, known: Known) -> dict[str, tuple[float, float, float] | None]:
    k, cum = len(known.weeks), sum(known.weeks)
    multiplier = model.multipliers.get(k) or model.multipliers[max(model.multipliers)]
    last = known.weeks[-1]
    decay = min(MAX_DECAY, known.weeks[-1] / known.weeks[-2] if k >= 2 else model.decay)
    extrapolated = cum + last * decay / (1 - decay)
    return {
        "multiplier": tuple(cum * m for m in multiplier),
        "decay": (np.nan, extrapolated, np.nan),
    }


@single_threaded
def run_backtest(runs: Runs, at: list[date] | None = None, step_days: int = STEP_DAYS) -> Backtest:
    at = at or origins(runs, step_days)
    final = ended_runs(film_weeks(runs), runs).set_index("film_id")
    films = runs.films.set_index("film_id")
    # Read as known on each forecast's own day (`Trends.features`).
    calendar, trends = Calendar.of(runs.films), Trends(runs)
    weeks_of = dict(tuple(runs.weeks.groupby("film_id")))
    days_of = dict(tuple(runs.days.groupby("film_id")))
    rows, training = [], []
    for n, origin in enumerate(at):
        until = at[n + 1] if n + 1 < len(at) else origin + timedelta(days=step_days)
        tested = [f for f in final.index if origin <= films.loc[f, "release_date"] < until]
        if not tested:
            continue
        try:
            model = train(runs, origin)
        except NotEnoughHistory:
            continue
        training.append(
            {"cutoff": origin, "films": model.films, "rows": model.rows, "seconds": model.seconds}
        )
        questions, asked = [], []
        for film_id in tested:
            film = films.loc[film_id]
            for horizon in HORIZONS:
                day = film["release_date"] + timedelta(days=horizon)
                then = _film_known_on(runs, film, weeks_of, days_of, day)
                weeks = film_weeks(then)
                known = known_runs(weeks, model.shares).get(film_id)
                if known is None:
                    continue
                to_date = float(weeks.loc[weeks["film_id"] == film_id, "gross"].sum())
                questions.append(Question(film, known, day, to_date))
                asked.append((film_id, horizon, known))
        for (film_id, horizon, known), answer in zip(
            asked, forecast(model, questions, calendar, trends), strict=True
        ):
            predicted = {"model": answer.gross, **baselines(model, known)}
            for method, (low, mid, high) in predicted.items():
                rows.append(
                    {
                        "origin": origin,
                        "film_id": film_id,
                        "horizon": horizon,
                        "method": method,
                        "weeks_known": len(known.weeks),
                        "low": low,
                        "median": mid,
                        "high": high,
                        "final": float(final.loc[film_id, "final_gross"]),
                    }
                )
    forecasts = pd.DataFrame(rows)
    return Backtest(forecasts, summarise(forecasts), at, training)


def _film_known_on(runs: Runs, film: pd.Series, weeks_of: dict, days_of: dict, day: date) -> Runs:
    """A film's run through `day`, for the film forecast on it. Its own weeks count once they are over,
    whenever they were reported: a film in release is tracked day by day, so a forecast of it knows
    its days at once, and the history's reports stand in for those days here. What the model learns
    from is cut by the day each report was made (`train`)."""
    film_id = film.name
    weeks = weeks_of.get(film_id, runs.weeks.iloc[:0])
    weeks = weeks[weeks["week_start"] + timedelta(days=WEEK - 1) <= day]
    weeks = weeks.assign(known_on=[min(k, day) for k in weeks["known_on"]])
    days = days_of.get(film_id, runs.days.iloc[:0])
    days = days[days["business_date"] <= day]
    tracking = runs.tracking_start
    if tracking is not None and tracking <= day:
        # Two empty days of no film at the first tracked day and at `day`: they keep what tracking
        # covered (whole weeks are judged by it) without adding to the film's gross.
        bounds = pd.DataFrame(
            {"film_id": "", "business_date": [tracking, day], "gross": 0.0, "admissions": 0.0}
        )
        days = pd.concat([days, bounds], ignore_index=True)
    return Runs(runs.films[runs.films["film_id"] == film_id], weeks, days)


def summarise(forecasts: pd.DataFrame) -> pd.DataFrame:
    """Per horizon and method: films forecast, MAPE and median absolute percentage error of the final
    gross, and the share of finals inside the 80% interval (none for the decay extrapolation)."""
    rows = []
    for horizon in HORIZONS:
        for method in METHODS:
            part = (
                forecasts[(forecasts["horizon"] == horizon) & (forecasts["method"] == method)]
                if len(forecasts)
                else forecasts
            )
            if part.empty:
                rows.append({"horizon": horizon, "method": method, "films": 0})
                continue
            ape = (part["median"] - part["final"]).abs() / part["final"]
            inside = (part["final"] >= part["low"]) & (part["final"] <= part["high"])
            has_interval = part["low"].notna().any()
            rows.append(
                {
                    "horizon": horizon,
                    "method": method,
                    "films": len(part),
                    "mape": float(ape.mean()),
                    "median_ape": float(ape.median()),
                    "coverage": float(inside.mean()) if has_interval else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=["horizon", "method", "films", "mape", "median_ape", "coverage"])


def summary_markdown(summary: pd.DataFrame) -> str:
    lines = [
        "| day | method | films | MAPE | median APE | 80% interval coverage |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in summary.itertuples():
        cells = [
            "n/a" if pd.isna(getattr(r, c, np.nan)) else f"{getattr(r, c):.1%}"
            for c in ("mape", "median_ape", "coverage")
        ]
        lines.append(f"| {r.horizon} | {r.method} | {r.films} | {' | '.join(cells)} |")
    return "\n".join(lines)
