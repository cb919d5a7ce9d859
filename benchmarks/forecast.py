"""The forecasts backtested on a seeded simulated history: the simulator's films, grants and reported
box office (weekly distributor reports from 2020), generated for a seed other than the sample
registry's, read as the pipeline would read them from its warehouse, then rolled over origins a
quarter apart (`ekino_pipeline.forecasting.backtest`).

`measure_tracked` backtests on tracked days instead: the simulated network's session plans (the sample
registry's cinemas and films, network seed 11), read as the marts would give them (each film's gross,
admissions, sessions and screens per day) with the advance sales of each day, over three years of
tracking: what the sessions, screens and advance-sales features can be judged on (the weekly history
has none of them)."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date, timedelta

import pandas as pd

from ekino_pipeline.forecasting.backtest import origins, run_backtest, summary_markdown
from ekino_pipeline.forecasting.runs import Runs, make_runs

SEED = 11
TRACKED_FROM, TRACKED_THROUGH = date(2022, 1, 6), date(2024, 12, 31)
# The adult price is what a session's plan gives; the ticket mix pays this share of it on average.
MEAN_PRICE_SHARE = 0.87


def _figures(summary) -> dict[str, dict]:
    """A backtest summary's figures by `<method>_day<horizon>`: films, MAPE, median APE, coverage."""
    return {
        f"{r.method}_day{r.horizon}": {
            "films": r.films,
            "mape": r.mape,
            "median_ape": r.median_ape,
            "coverage": r.coverage,
        }
        for r in summary.itertuples()
    }


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
    figures = _figures(summary)
    return {
        "seed": SEED,
        "origins": len(result.training),
        "training_seconds_max": max(t["seconds"] for t in result.training),
        "figures": figures,
        "table": summary_markdown(summary),
        "seconds": round(time.perf_counter() - started, 1),
    }


def tracked_runs(seed: int = SEED, first: date = TRACKED_FROM, last: date = TRACKED_THROUGH) -> Runs:
    """The network's days as the marts give them, and its advance sales, from its session plans (each
    session's tickets and the days they were sold on; refunds and faults left out)."""
    from ekino_pipeline.exchange.registry import load_registry
    from ekino_sim import SAMPLE_REGISTRY_DIR, faults
    from ekino_sim.network.planning import Planner
    from ekino_sim.network.tickets import PRESALE_DAYS

    registry = load_registry(SAMPLE_REGISTRY_DIR)
    planner = Planner(registry, seed, faults.FaultPlan())
    by_day: dict[tuple, list] = {}
    advance: dict[tuple, list] = defaultdict(lambda: [0.0, 0.0])
    day = first - timedelta(days=PRESALE_DAYS)
    while day <= last + timedelta(days=PRESALE_DAYS):
        for cinema in registry.cinemas:
            for s in planner.plan(cinema, day):
                gross = s.n * s.tails[0][2] / 100 * MEAN_PRICE_SHARE
                if first <= day <= last:
                    row = by_day.setdefault((s.film.film_id, day), [0.0, 0.0, 0, set()])
                    row[0] += gross
                    row[1] += s.n
                    row[2] += 1
                    row[3].add(s.hall.hall_id)
                for k in range(1, PRESALE_DAYS + 1):
                    lo, hi = s.ranges[k]
                    sold_on = day - timedelta(days=k)
                    if hi > lo and first <= sold_on <= last and s.n:
                        sale = advance[s.film.film_id, sold_on, day]
                        sale[0] += gross * (hi - lo) / s.n
                        sale[1] += hi - lo
        planner.clear_caches()
        day += timedelta(days=1)
    films = pd.DataFrame(
        {
            "film_id": f.film_id,
            "title": f.title,
            "release_date": f.release_date,
            "certificate_date": f.certificate_date,
            "genres": list(f.genres),
            "is_domestic": f.is_domestic,
            "original_language": f.original_language,
            "distributor": f.distributor,
            "funding_project_id": f.funding_project_id,
            "funded_amount_kzt": None,
        }
        for f in registry.films
    )
    days = pd.DataFrame(
        [(f, d, g, a, n, len(h)) for (f, d), (g, a, n, h) in by_day.items()],
        columns=["film_id", "business_date", "gross", "admissions", "sessions", "screens"],
    )
    sales = pd.DataFrame(
        [(f, sold, on, g, t) for (f, sold, on), (g, t) in advance.items()],
        columns=["film_id", "sold_on", "session_date", "gross", "tickets"],
    )
    weeks = pd.DataFrame(columns=["film_id", "week_start", "gross", "admissions", "known_on"])
    return make_runs(films, weeks, days, sales)


def measure_tracked(features: tuple[str, ...] | None = None, runs: Runs | None = None) -> dict:
    """The backtest on tracked days, origins a quarter apart from a year into tracking; `features`
    replaces the model's own (an ablation)."""
    from ekino_pipeline.forecasting import model

    started = time.perf_counter()
    runs = runs or tracked_runs()
    built = time.perf_counter() - started
    at = [d for d in origins(runs) if d >= TRACKED_FROM + timedelta(days=365)]
    kept = model.MODEL_FEATURES
    model.MODEL_FEATURES = features or kept
    try:
        result = run_backtest(runs, at)
    finally:
        model.MODEL_FEATURES = kept
    summary = result.summary
    return {
        "seed": SEED,
        "origins": len(result.training),
        "figures": _figures(summary),
        "table": summary_markdown(summary),
        "seconds_building": round(built, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


def ablation() -> str:
    """The tracked backtest with the weekly features alone, then with the sessions and screens trends,
    the advance sales, and both (what docs/forecasting.md reports)."""
    from ekino_pipeline.forecasting.features import ADVANCE_FEATURES, FEATURES, TREND_FEATURES

    runs = tracked_runs()
    sets = {
        "weekly features only": (*FEATURES, "genre_legs"),
        "+ sessions and screens trends": (*FEATURES, *TREND_FEATURES, "genre_legs"),
        "+ advance sales": (*FEATURES, *ADVANCE_FEATURES, "genre_legs"),
        "+ both": (*FEATURES, *TREND_FEATURES, *ADVANCE_FEATURES, "genre_legs"),
    }
    out = []
    for name, features in sets.items():
        result = measure_tracked(features, runs)
        out.append(f"### {name} ({result['origins']} origins)\n\n{result['table']}\n")
    return "\n".join(out)


if __name__ == "__main__":  # python -m benchmarks.forecast: the tracked ablation (about 7 minutes)
    print(ablation())
