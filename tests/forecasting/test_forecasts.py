"""The forecasts on small hand-made histories: what a forecast may know, what the backtest may learn
from, what an interval holds, and who gets none."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from ekino_pipeline.forecasting import backtest as backtest_module
from ekino_pipeline.forecasting import publish
from ekino_pipeline.forecasting.features import Trends
from ekino_pipeline.forecasting.model import train, training_rows
from tests.forecasting.histories import TRACKING_FROM, history

DAY = date(2025, 7, 20)  # a Sunday, six weeks into tracking
AT = datetime(2025, 7, 21, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def runs():
    return history()


@pytest.fixture(scope="module")
def model(runs):
    return train(runs, DAY)


def _shuffle_after(frame: pd.DataFrame, column: str, day: date, seed: int) -> pd.DataFrame:
    """The rows after `day` with their amounts (and sessions and screens) dealt out again at random,
    and some dropped."""
    rng = random.Random(seed)
    future = frame[frame[column] > day]
    past = frame[frame[column] <= day]
    dealt = {}
    for name in ("gross", "sessions", "screens"):
        if name in future.columns:
            values = list(future[name])
            rng.shuffle(values)
            dealt[name] = [v * rng.uniform(0.2, 5) for v in values]
    future = future.assign(**dealt).sample(frac=0.7, random_state=seed)
    return pd.concat([past, future], ignore_index=True)


def test_shuffling_the_future_gives_the_same_forecast(runs, model):
    forecasts, _ = publish.forecasts_of_day(runs, model, DAY, AT)
    assert len(forecasts) >= 5
    shuffled = replace(
        runs,
        days=_shuffle_after(runs.days, "business_date", DAY, 1),
        weeks=_shuffle_after(runs.weeks, "known_on", DAY, 2),
        advance=_shuffle_after(runs.advance, "sold_on", DAY, 3),
    )
    again, _ = publish.forecasts_of_day(shuffled, train(shuffled, DAY), DAY, AT)
    pd.testing.assert_frame_equal(forecasts, again)
    # The sessions, screens and advance sales are read, as known on the day: the same after the
    # shuffle, and known for the films in release.
    films = runs.films.set_index("film_id")
    before, after = Trends(runs), Trends(shuffled)
    for film_id in forecasts["film_id"]:
        release = films.loc[film_id, "release_date"]
        features = before.features(film_id, release, DAY)
        assert features == after.features(film_id, release, DAY)
        assert not pd.isna(features["log_sessions_per_day"]) and not pd.isna(features["advance_change"])
    tomorrow = runs.advance["session_date"] == DAY + timedelta(days=1)
    less_sold = replace(runs, advance=runs.advance.assign(gross=runs.advance["gross"].where(~tomorrow, 0.0)))
    film_id = forecasts["film_id"].iloc[0]
    release = films.loc[film_id, "release_date"]
    assert (
        Trends(less_sold).features(film_id, release, DAY)["advance_vs_last_week"]
        < features_of(runs, film_id, release)["advance_vs_last_week"]
    )
    # The forecast does move when what it knows moves.
    earlier = replace(runs, days=runs.days[runs.days["business_date"] != DAY - timedelta(days=1)])
    moved, _ = publish.forecasts_of_day(earlier, train(earlier, DAY), DAY, AT)
    assert not moved["predicted_gross_kzt"].equals(forecasts["predicted_gross_kzt"])


def features_of(runs, film_id: str, release: date) -> dict:
    return Trends(runs).features(film_id, release, DAY)


def test_the_backtest_never_trains_on_a_film_released_after_its_origin(runs, monkeypatch):
    seen = []
    real_train = backtest_module.train

    def recording_train(all_runs, origin):
        rows = training_rows(all_runs.known_on(origin))
        released = all_runs.films.set_index("film_id").loc[rows["film_id"].unique(), "release_date"]
        seen.append((origin, max(released)))
        return real_train(all_runs, origin)

    monkeypatch.setattr(backtest_module, "train", recording_train)
    origins = [date(2025, 1, 2), date(2025, 4, 3)]
    result = backtest_module.run_backtest(runs, origins, step_days=91)
    assert [origin for origin, _ in seen] == origins
    assert all(last_released < origin for origin, last_released in seen)
    tested = result.forecasts.merge(runs.films[["film_id", "release_date"]], on="film_id")
    assert len(tested) and (tested["release_date"] >= tested["origin"]).all()
    assert set(result.summary["horizon"]) == {3, 7, 14, 28}


def test_an_interval_always_holds_its_median(runs, model):
    # Even with quantiles that cross (a negative widening), the interval is put around the median.
    for widen in (model.widen, -2.0):
        forecasts, _ = publish.forecasts_of_day(runs, replace(model, widen=widen), DAY, AT)
        assert (forecasts["predicted_gross_low_kzt"] <= forecasts["predicted_gross_kzt"]).all()
        assert (forecasts["predicted_gross_kzt"] <= forecasts["predicted_gross_high_kzt"]).all()
        assert (forecasts["predicted_admissions_low"] <= forecasts["predicted_admissions"]).all()
        assert (forecasts["predicted_admissions"] <= forecasts["predicted_admissions_high"]).all()
        assert (forecasts["gross_to_date_kzt"] <= forecasts["predicted_gross_low_kzt"]).all()


def test_a_film_with_no_tracked_day_gets_no_forecast(runs, model):
    forecasts, skipped = publish.forecasts_of_day(runs, model, DAY, AT)
    screened = set(runs.days.loc[runs.days["business_date"] == DAY, "film_id"])
    assert set(forecasts["film_id"]) <= screened
    reported_only = set(runs.weeks["film_id"]) - set(runs.days["film_id"])
    assert reported_only and not reported_only & set(forecasts["film_id"])
    # A film on its opening Thursday has one day on record and no more: no guess either, but a reason.
    thursday = DAY - timedelta(days=3)
    opening = runs.films.iloc[-1]
    first_day = pd.DataFrame(
        [{"film_id": opening["film_id"], "business_date": thursday, "gross": 5e6, "admissions": 2500.0}]
    )
    released = runs.films["release_date"].where(runs.films["film_id"] != opening["film_id"], thursday)
    fresh = replace(
        runs,
        films=runs.films.assign(release_date=released),
        days=pd.concat([runs.days[runs.days["film_id"] != opening["film_id"]], first_day], ignore_index=True),
    )
    forecasts, skipped = publish.forecasts_of_day(fresh, model, thursday, AT)
    assert opening["film_id"] not in set(forecasts["film_id"]) and opening["film_id"] in skipped


def test_every_forecast_says_what_it_stands_on_and_revisions_are_kept(runs, model, tmp_path):
    forecasts, _ = publish.forecasts_of_day(runs, model, DAY, AT)
    assert (forecasts["model_version"] == model.version).all()
    assert (forecasts["data_as_of"] == DAY).all() and (forecasts["training_cutoff"] == DAY).all()
    assert (forecasts["days_since_release"] == [(DAY - r).days for r in forecasts["release_date"]]).all()
    funded = forecasts[forecasts["funded_amount_kzt"].notna()]
    assert len(funded) and funded["predicted_recoupment_rate"].notna().all()
    publish.publish(tmp_path, forecasts)
    later = forecasts.assign(published_at=AT + timedelta(hours=1), predicted_weeks_in_release=99)
    publish.publish(tmp_path, later)
    assert len(publish.read_history(tmp_path)) == 2 * len(forecasts)
    current = pd.read_parquet(tmp_path / "film_forecasts.parquet")
    assert len(current) == len(forecasts) and (current["predicted_weeks_in_release"] == 99).all()


def test_the_first_weekend_is_forecast_from_the_weeks_tracked_before(runs, model):
    # A film opening on a tracked Thursday is forecast from its first weekend on (days 0..3).
    # Tracking began two weeks before: its whole weeks say how a week splits over its days.
    opening = runs.films[runs.films["release_date"] >= TRACKING_FROM + timedelta(days=14)].iloc[0]
    sunday = opening["release_date"] + timedelta(days=3)
    forecasts, _ = publish.forecasts_of_day(runs, train(runs, sunday), sunday, AT)
    row = forecasts[forecasts["film_id"] == opening["film_id"]].iloc[0]
    assert row["weeks_known"] == 1 and row["week_completed_from_days"] == 4
    assert row["predicted_gross_low_kzt"] < row["predicted_gross_kzt"] < row["predicted_gross_high_kzt"]


SEEN_INSIDE_A_TRAINING = """
import json
from threadpoolctl import threadpool_info
from ekino_pipeline.forecasting.model import single_threaded

@single_threaded
def seen():
    from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: F401 - what a training imports
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"]

print(json.dumps(seen()))
"""


def test_a_training_runs_the_boosting_on_one_thread_even_in_a_process_without_scikit_learn_yet():
    # A fresh process, as a run's: a limit set before scikit-learn brought its OpenMP runtime in reached
    # nothing, and its threads spun on each other on a busy 2-core machine.
    done = subprocess.run(
        [sys.executable, "-c", SEEN_INSIDE_A_TRAINING], capture_output=True, text=True, check=True
    )
    threads = json.loads(done.stdout.strip().splitlines()[-1])
    assert threads and set(threads) == {1}
