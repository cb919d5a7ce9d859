"""The measured comparison behind the forecasts' library (docs/forecasting.md): the same training rows
and features, the same split in time, four quantile learners.

    python -m benchmarks.forecast_libraries

Training rows: the films of the seeded simulated history (benchmarks/forecast.py) whose runs had ended
by CUTOFF; tested: the films released in the year after it, forecast after their first and second
weeks. The intervals here are each learner's own quantiles, before the conformal widening the product
adds (which any of them would get alike).
"""

from __future__ import annotations

import importlib.util
import time
from datetime import date

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks.forecast import simulated_runs
from ekino_pipeline.forecasting.model import MODEL_FEATURES, PARAMS, genre_legs, legs_of, training_rows

CUTOFF = date(2024, 7, 4)
QUANTILES = (0.1, 0.5, 0.9)


def learners() -> dict:
    from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import QuantileRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = {
        "sklearn HistGradientBoosting (quantile)": lambda q: HistGradientBoostingRegressor(
            loss="quantile", quantile=q, random_state=0, **PARAMS
        ),
        "sklearn GradientBoosting (quantile)": lambda q: make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True),
            GradientBoostingRegressor(
                loss="quantile", alpha=q, n_estimators=150, max_leaf_nodes=15, random_state=0
            ),
        ),
        "sklearn QuantileRegressor (log-linear)": lambda q: make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True),
            StandardScaler(),
            QuantileRegressor(quantile=q, alpha=0.0, solver="highs"),
        ),
    }
    if importlib.util.find_spec("lightgbm"):
        import lightgbm

        out["lightgbm (quantile)"] = lambda q: lightgbm.LGBMRegressor(
            objective="quantile", alpha=q, n_estimators=150, learning_rate=0.06, num_leaves=15,
            min_child_samples=20, verbose=-1, random_state=0, n_jobs=1,
        )  # fmt: skip
    return out


def main() -> pd.DataFrame:
    runs = simulated_runs()
    everything = training_rows(runs)
    train = training_rows(runs.known_on(CUTOFF))
    films = runs.films.set_index("film_id")["release_date"]
    released = everything["film_id"].map(films)
    test = everything[(released >= CUTOFF) & (released < date(CUTOFF.year + 1, CUTOFF.month, CUTOFF.day))]
    legs = genre_legs(train)
    for frame in (train, test):
        frame["genre_legs"] = [legs_of(g, legs) for g in frame["genres"]]
    rows = []
    with threadpool_limits(limits=1):
        for name, make in learners().items():
            started = time.perf_counter()
            fitted = {q: make(q).fit(train[list(MODEL_FEATURES)], train["target"]) for q in QUANTILES}
            seconds = time.perf_counter() - started
            for k in (1, 2):
                part = test[test["weeks_known"] == k]
                x = part[list(MODEL_FEATURES)]
                low, mid, high = (fitted[q].predict(x) for q in QUANTILES)
                final = np.exp(part["target"])
                ape = np.abs(np.exp(mid) - final) / final
                rows.append(
                    {
                        "learner": name,
                        "weeks_known": k,
                        "films": len(part),
                        "mape": ape.mean(),
                        "median_ape": np.median(ape),
                        "coverage": np.mean((part["target"] >= low) & (part["target"] <= high)),
                        "fit_seconds_3_quantiles": seconds,
                    }
                )
    table = pd.DataFrame(rows)
    n_train, n_test = train["film_id"].nunique(), test["film_id"].nunique()
    print(f"training rows {len(train)} ({n_train} films) ended by {CUTOFF}; tested {n_test} films")
    print(
        table.to_markdown(index=False, floatfmt=".3f")
        if importlib.util.find_spec("tabulate")
        else table.to_string()
    )
    return table


if __name__ == "__main__":
    main()
