"""The forecasts backtested on a seeded simulated history: the simulator's films, grants and reported
box office (weekly distributor reports from 2020), generated for a seed other than the sample
registry's, read as the pipeline would read them from its warehouse, then rolled over origins a
quarter apart (`ekino_pipeline.forecasting.backtest`)."""

from __future__ import annotations

import time

import pandas as pd

from ekino_pipeline.forecasting.backtest import origins, run_backtest, summary_markdown
from ekino_pipeline.forecasting.runs import Runs, make_runs

SEED = 11


def simulated_runs(seed: int = SEED) -> Runs:
    from ekino_sim.history import add_release_records, generate_history
    from ekino_sim.reference import generate_films, generate_grants

    films = generate_films(seed)
    grants = generate_grants(films, seed)
    add_release_records(films, seed)
    history = pd.DataFrame(generate_history(films, grants, seed))
    weekly = history[(history["period"] == "film_week") & (history["source"] == "distributor_report")]
    funded = {g["film_id"]: float(g["amount_kzt"]) for g in grants if g["film_id"]}
    frame = pd.DataFrame(films)
    frame = frame.assign(
        genres=frame["genres"].str.split("|"),
        is_domestic=frame["is_domestic"] == "true",
        funding_project_id=frame["funding_project_id"].replace("", None),
        funded_amount_kzt=frame["film_id"].map(funded),
    )
    weeks = pd.DataFrame(
        {
            "film_id": weekly["film_id"],
            "week_start": weekly["period_start"],
            "gross": weekly["gross_kzt"].astype(float),
            "admissions": weekly["admissions"].astype(float),
            "known_on": weekly["source_date"],
        }
    )
    days = pd.DataFrame({"film_id": [], "business_date": [], "gross": [], "admissions": []})
    return make_runs(frame, weeks, days)


def measure(last_origins: int | None = None) -> dict:
    """The backtest's figures per horizon and method; `last_origins` keeps only a few late origins (the
    quick run)."""
    started = time.perf_counter()
    runs = simulated_runs()
    at = origins(runs)
    if last_origins:
        # The latest origins whose films' runs have all ended (the last year's have not).
        at = at[-last_origins - 4 : -4]
    result = run_backtest(runs, at)
    summary = result.summary
    figures = {
        f"{r.method}_day{r.horizon}": {
            "films": r.films,
            "mape": r.mape,
            "median_ape": r.median_ape,
            "coverage": r.coverage,
        }
        for r in summary.itertuples()
    }
    return {
        "seed": SEED,
        "origins": len(result.training),
        "training_seconds_max": max(t["seconds"] for t in result.training),
        "figures": figures,
        "table": summary_markdown(summary),
        "seconds": round(time.perf_counter() - started, 1),
    }
