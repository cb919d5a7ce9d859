"""The forecasts as published: one row per film in release per business day, kept as a revision history.

`<exports>/film_forecasts_history.parquet` keeps every forecast ever published (a day forecast again
adds a revision, stamped `published_at`); `<exports>/film_forecasts.parquet` is the latest revision of
each film's forecast for each day, what analysts, the report and the API read. Amounts are rounded to
whole tenge as exact decimals; every row says what it stands on (model version, data as of, days since
release, training cut-off).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ekino_pipeline.atomic_files import replacing
from ekino_pipeline.forecasting.features import Calendar, Trends, known_runs, week_shares
from ekino_pipeline.forecasting.model import Model, Question, forecast
from ekino_pipeline.forecasting.names import ACCURACY, FORECASTS, HISTORY
from ekino_pipeline.forecasting.runs import Runs, ended_runs, film_weeks

MONEY = pa.decimal128(18, 2)
RATE = pa.decimal128(18, 6)
KEY = ["film_id", "as_of_date"]
# Horizons the accuracy is told by: a forecast counts under the last one it had reached.
HORIZON_BUCKETS = (0, 3, 7, 14, 28)


def forecasts_of_day(
    runs: Runs, model: Model, day: date, published_at: datetime
) -> tuple[pd.DataFrame, dict]:
    """The forecasts of every film tracked on `day` (screened that day), from what was known by its end;
    and the films left without one, with why."""
    then = runs.known_on(day)
    screened = then.days[then.days["business_date"] == day]
    in_release = sorted(set(screened.loc[screened["gross"] > 0, "film_id"]))
    films = then.films.set_index("film_id")
    weeks = film_weeks(then)
    # How a week splits over its days is read from the weeks tracked by the day itself (the model may
    # have been trained before tracking held a whole week).
    known = known_runs(weeks[weeks["film_id"].isin(in_release)], week_shares(then) or model.shares)
    to_date = weeks.groupby("film_id")["gross"].sum()
    if "cumulative_gross" in screened.columns:
        # The lifetime the marts publish (reported before tracking, then tracked) is a floor too.
        to_date = to_date.combine(screened.set_index("film_id")["cumulative_gross"], max, fill_value=0)
    questions, skipped = [], {}
    for film_id in in_release:
        if film_id not in films.index:
            skipped[film_id] = "not in the film registry"
        elif film_id not in known:
            skipped[film_id] = "its first weekend is not on record yet (or a week of its run is missing)"
        else:
            questions.append(
                Question(films.loc[film_id], known[film_id], day, float(to_date.get(film_id, 0.0)))
            )
    answers = forecast(model, questions, Calendar.of(then.films), Trends(then))
    rows = []
    for question, answer in zip(questions, answers, strict=True):
        film = question.film
        funded = film["funded_amount_kzt"]
        rows.append(
            {
                "film_id": answer.film_id,
                "as_of_date": day,
                "title": film["title"],
                "release_date": film["release_date"],
                "days_since_release": (day - film["release_date"]).days,
                "weeks_known": answer.weeks_known,
                "week_completed_from_days": answer.completed_from,
                "gross_to_date_kzt": _tenge(answer.to_date),
                "predicted_gross_kzt": _tenge(answer.gross[1]),
                "predicted_gross_low_kzt": _tenge(answer.gross[0]),
                "predicted_gross_high_kzt": _tenge(answer.gross[2]),
                "predicted_admissions": round(answer.admissions[1]),
                "predicted_admissions_low": round(answer.admissions[0]),
                "predicted_admissions_high": round(answer.admissions[2]),
                "predicted_weeks_in_release": answer.weeks_in_release,
                "funding_project_id": film["funding_project_id"]
                if pd.notna(film["funding_project_id"])
                else None,
                "funded_amount_kzt": _tenge(funded) if pd.notna(funded) else None,
                "predicted_recoupment_rate": _rate(answer.gross[1], funded),
                "predicted_recoupment_low": _rate(answer.gross[0], funded),
                "predicted_recoupment_high": _rate(answer.gross[2], funded),
                "model_version": model.version,
                "data_as_of": day,
                "training_cutoff": model.cutoff,
                "published_at": published_at,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS), skipped


def _tenge(value: float) -> Decimal:
    return Decimal(round(value)).quantize(Decimal("0.01"))


def _rate(gross: float, funded) -> Decimal | None:
    """The predicted gross over the amount funded, both as published (whole tenge), divided exactly and
    rounded half up to 6 decimals: the rule of the marts' `exact_ratio`, so `funding_outcomes_forecast`
    and this agree to the last digit."""
    if funded is None or pd.isna(funded) or not funded:
        return None
    return (_tenge(gross) / _tenge(funded)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


SCHEMA = pa.schema(
    [
        ("film_id", pa.string()),
        ("as_of_date", pa.date32()),
        ("title", pa.string()),
        ("release_date", pa.date32()),
        ("days_since_release", pa.int32()),
        ("weeks_known", pa.int32()),
        ("week_completed_from_days", pa.int32()),
        ("gross_to_date_kzt", MONEY),
        ("predicted_gross_kzt", MONEY),
        ("predicted_gross_low_kzt", MONEY),
        ("predicted_gross_high_kzt", MONEY),
        ("predicted_admissions", pa.int64()),
        ("predicted_admissions_low", pa.int64()),
        ("predicted_admissions_high", pa.int64()),
        ("predicted_weeks_in_release", pa.int32()),
        ("funding_project_id", pa.string()),
        ("funded_amount_kzt", MONEY),
        ("predicted_recoupment_rate", RATE),
        ("predicted_recoupment_low", RATE),
        ("predicted_recoupment_high", RATE),
        ("model_version", pa.string()),
        ("data_as_of", pa.date32()),
        ("training_cutoff", pa.date32()),
        ("published_at", pa.timestamp("us", tz="UTC")),
    ]
)
COLUMNS = SCHEMA.names


def _read(path: Path, schema: pa.Schema) -> pa.Table:
    return pq.read_table(path).cast(schema) if path.exists() else schema.empty_table()


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_frame(path: Path, frame: pd.DataFrame) -> Path:
    """A frame as Parquet, replaced atomically like every export."""
    _write(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def publish(exports: Path, new: pd.DataFrame) -> tuple[Path, Path]:
    """Adds `new` to the revision history and rewrites the latest forecasts from it."""
    history_path, current_path = exports / f"{HISTORY}.parquet", exports / f"{FORECASTS}.parquet"
    added = pa.Table.from_pandas(new, schema=SCHEMA, preserve_index=False)
    history = pa.concat_tables([_read(history_path, SCHEMA), added])
    _write(history, history_path)
    _write(latest(history), current_path)
    return current_path, history_path


def latest(history: pa.Table) -> pa.Table:
    """Each film's last published forecast for each day."""
    frame = history.to_pandas(date_as_object=True)
    frame = frame.sort_values([*KEY, "published_at"]).drop_duplicates(KEY, keep="last")
    return pa.Table.from_pandas(frame.sort_values(KEY), schema=SCHEMA, preserve_index=False)


def read_history(exports: Path) -> pd.DataFrame:
    return _read(exports / f"{HISTORY}.parquet", SCHEMA).to_pandas(date_as_object=True)


def accuracy(history: pd.DataFrame, runs: Runs, day: date) -> pd.DataFrame:
    """Every forecast published for a film whose run had ended by `day`, against its final gross:
    absolute percentage error of the median, and whether the final fell inside the interval."""
    known = runs.known_on(day)
    ended = ended_runs(film_weeks(known), known).set_index("film_id")
    done = history[history["film_id"].isin(ended.index) & (history["as_of_date"] <= day)].copy()
    if done.empty:
        return pd.DataFrame(columns=[*ACCURACY_COLUMNS])
    final = done["film_id"].map(ended["final_gross"]).astype(float)
    median = done["predicted_gross_kzt"].astype(float)
    done["final_gross_kzt"] = [_tenge(v) for v in final]
    done["absolute_percentage_error"] = ((median - final).abs() / final).round(6)
    done["is_inside_interval"] = (done["predicted_gross_low_kzt"].astype(float) <= final) & (
        final <= done["predicted_gross_high_kzt"].astype(float)
    )
    done["horizon_days"] = [max(h for h in HORIZON_BUCKETS if h <= d) for d in done["days_since_release"]]
    done["measured_on"] = day
    return done[list(ACCURACY_COLUMNS)].reset_index(drop=True)


ACCURACY_COLUMNS = (
    "film_id",
    "as_of_date",
    "published_at",
    "model_version",
    "days_since_release",
    "horizon_days",
    "predicted_gross_kzt",
    "predicted_gross_low_kzt",
    "predicted_gross_high_kzt",
    "final_gross_kzt",
    "absolute_percentage_error",
    "is_inside_interval",
    "measured_on",
)


def accuracy_summary(rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return pd.DataFrame(columns=["horizon_days", "forecasts", "films", "mape", "median_ape", "coverage"])
    return (
        rows.groupby("horizon_days")
        .agg(
            forecasts=("film_id", "size"),
            films=("film_id", "nunique"),
            mape=("absolute_percentage_error", "mean"),
            median_ape=("absolute_percentage_error", "median"),
            coverage=("is_inside_interval", lambda s: float(np.mean(s))),
        )
        .reset_index()
    )


def write_accuracy(exports: Path, rows: pd.DataFrame) -> Path:
    path = exports / f"{ACCURACY}.parquet"
    frame = rows.copy()
    for column in (
        "predicted_gross_kzt",
        "predicted_gross_low_kzt",
        "predicted_gross_high_kzt",
        "final_gross_kzt",
    ):
        frame[column] = [Decimal(str(v)).quantize(Decimal("0.01")) for v in frame[column]]
    _write(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path
