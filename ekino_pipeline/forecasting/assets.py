"""The forecasts as Dagster assets. In `daily_job`, after the marts are published: `film_forecasts` (every
film in release on each day of the run, from what was known by that day's end) and `forecast_accuracy`
(the forecasts published so far against the finals of the films whose runs have ended). In
`forecast_model_job`: `forecast_model` (the model on everything on record, its training rows) and
`forecast_backtest` (rolling origins over the ended runs, beside the two baselines).

They read the exports only (the read-only copy of the warehouse), never the warehouse itself, so they
take no slot of the `warehouse` pool. The modules that compute them (pandas, scikit-learn) are imported
when an asset runs, not when the definitions load.
"""

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from ekino_pipeline.display import kzt
from ekino_pipeline.forecasting import names
from ekino_pipeline.ownership import BOX_OFFICE
from ekino_pipeline.partitions import DAILY_PARTITIONS, partition_days
from ekino_pipeline.settings import Settings
from ekino_pipeline.transformation.assets import ekino_dbt_models
from ekino_pipeline.transformation.exports import ExportsResource

FORECASTS_GROUP = "forecasts"
MODEL_GROUP = "forecast_model"
FORECAST_TAGS = {**BOX_OFFICE, "forecast": ""}
OWNERS = ["team:box-office"]
# The models the forecasts read from the published warehouse copy (forecasting/runs.py): they follow the
# daily build of these. Not funding_outcomes: the forecasts feed it (funding_outcomes_forecast, built
# after them by the dbt asset ekino_forecast_models).
INPUT_MODELS = (
    "film_daily_box_office",
    "int_reported_periods_reconciled",
    "int_ticket_events_attributed",
    "stg_raw__films",
    "stg_raw__funding_grants",
    "stg_raw__sessions",
)
INPUT_KEYS = sorted(key for key in ekino_dbt_models.keys if key.path[-1] in INPUT_MODELS)
assert len(INPUT_KEYS) == len(INPUT_MODELS), (
    f"the daily dbt build lacks a model the forecasts read: {INPUT_MODELS}"
)
TOP = 10

if TYPE_CHECKING:
    import pandas as pd

    from ekino_pipeline.forecasting.runs import Runs


def _runs(exports: ExportsResource) -> "Runs":
    from ekino_pipeline.forecasting.runs import read_runs

    copy = exports.directory_path / Settings.from_env().warehouse_path.name
    if not copy.exists():
        raise dg.Failure(f"no warehouse copy at {copy}: a daily_job build publishes it")
    return read_runs(copy)


def _top_markdown(frame: "pd.DataFrame") -> str:
    if frame.empty:
        return "No film forecast."
    lines = [
        "| film | days | to date, KZT | forecast final, KZT (80% interval) | weeks |",
        "|---|---:|---:|---|---:|",
    ]
    for r in frame.sort_values("predicted_gross_kzt", ascending=False).head(TOP).itertuples():
        lines.append(
            f"| {r.title} | {r.days_since_release} | {kzt(r.gross_to_date_kzt)} "
            f"| {kzt(r.predicted_gross_kzt)} ({kzt(r.predicted_gross_low_kzt)} – "
            f"{kzt(r.predicted_gross_high_kzt)}) | {r.predicted_weeks_in_release} |"
        )
    return "\n".join(lines)


@dg.asset(
    key=names.FORECASTS,
    deps=INPUT_KEYS,
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=FORECASTS_GROUP,
    kinds={"python", "scikit-learn", "parquet"},
    owners=OWNERS,
    tags=FORECAST_TAGS,
    description=(
        "How each film in release on the day will end: predicted lifetime gross and admissions (median "
        "and 80% interval), weeks in release and, for state-funded films, recoupment; from what was known "
        "by the day's end only. Kept as a revision history (`film_forecasts_history.parquet`); the latest "
        "of each film and day in `film_forecasts.parquet` among the exports, which the dbt mart "
        "`funding_outcomes_forecast` reads (source `forecasts.film_forecasts`)."
    ),
)
def film_forecasts(context: dg.AssetExecutionContext, exports: ExportsResource) -> dg.MaterializeResult:
    import pandas as pd

    from ekino_pipeline.forecasting import publish
    from ekino_pipeline.forecasting.model import NotEnoughHistory, train

    days = partition_days(context)
    started = time.perf_counter()
    runs = _runs(exports)
    try:
        # One model for the run, trained on what was known on its first day: no day of the run sees later.
        model = train(runs, days[0])
    except NotEnoughHistory as exc:
        context.log.warning(f"no forecasts: {exc}")
        return dg.MaterializeResult(metadata={"forecasts": 0, "why_none": str(exc)})
    published_at = datetime.now(UTC)
    frames, skipped = [], {}
    for day in days:
        frame, left = publish.forecasts_of_day(runs, model, day, published_at)
        frames.append(frame)
        skipped |= {f"{day} {film}": why for film, why in left.items()}
    new = pd.concat(frames, ignore_index=True)
    current, history = publish.publish(exports.directory_path, new)
    last = new[new["as_of_date"] == days[-1]]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(new),
            "forecasts_of_day": len(last),
            "films_not_forecast": len(skipped),
            "not_forecast": dg.MetadataValue.json(dict(list(skipped.items())[:20])),
            "model_version": model.version,
            "training_cutoff": str(model.cutoff),
            "training_films": model.films,
            "seconds": round(time.perf_counter() - started, 2),
            "export_path": dg.MetadataValue.path(str(current)),
            "history_path": dg.MetadataValue.path(str(history)),
            "top_films": dg.MetadataValue.md(_top_markdown(last)),
        }
    )


@dg.asset(
    key=names.ACCURACY,
    deps=[film_forecasts],
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=FORECASTS_GROUP,
    kinds={"python", "parquet"},
    owners=OWNERS,
    tags=FORECAST_TAGS,
    description=(
        "The forecasts actually published, against the final gross of each film whose run has ended: "
        "absolute percentage error and whether the final fell inside the 80% interval, by days since "
        "release (`forecast_accuracy.parquet` among the exports)."
    ),
)
def forecast_accuracy(context: dg.AssetExecutionContext, exports: ExportsResource) -> dg.MaterializeResult:
    from ekino_pipeline.forecasting import publish

    day = partition_days(context)[-1]
    rows = publish.accuracy(publish.read_history(exports.directory_path), _runs(exports), day)
    path = publish.write_accuracy(exports.directory_path, rows)
    summary = publish.accuracy_summary(rows)
    table = [
        "| day | forecasts | films | MAPE | median APE | coverage |",
        "|---:|---:|---:|---:|---:|---:|",
    ] + [
        f"| {r.horizon_days} | {r.forecasts} | {r.films} | {r.mape:.1%} | {r.median_ape:.1%} "
        f"| {r.coverage:.1%} |"
        for r in summary.itertuples()
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "films_ended": int(rows["film_id"].nunique()) if len(rows) else 0,
            "export_path": dg.MetadataValue.path(str(path)),
            "accuracy": dg.MetadataValue.md(
                "\n".join(table) if len(summary) else "No film forecast has ended yet."
            ),
        }
    )


@dg.asset(
    group_name=MODEL_GROUP,
    kinds={"python", "scikit-learn"},
    owners=OWNERS,
    tags=FORECAST_TAGS,
    description=(
        "The forecast model trained on every run that has ended, with what is on record today: its "
        "training rows (`forecast_training_rows.parquet` among the exports), version and held-out coverage."
    ),
)
def forecast_model(context: dg.AssetExecutionContext, exports: ExportsResource) -> dg.MaterializeResult:
    from ekino_pipeline.forecasting import publish
    from ekino_pipeline.forecasting.model import train, training_rows

    runs = _runs(exports)
    model = train(runs, runs.last_day)
    rows = training_rows(runs.known_on(runs.last_day))
    path = publish.write_frame(exports.directory_path / "forecast_training_rows.parquet", rows)
    return dg.MaterializeResult(
        metadata={
            "model_version": model.version,
            "training_cutoff": str(model.cutoff),
            "training_films": model.films,
            "training_rows": model.rows,
            "training_seconds": round(model.seconds, 2),
            "held_out_coverage": round(model.held_out_coverage, 3),
            "interval_widening_log": round(model.widen, 4),
            "training_rows_path": dg.MetadataValue.path(str(path)),
        }
    )


@dg.asset(
    deps=[forecast_model],
    group_name=MODEL_GROUP,
    kinds={"python", "scikit-learn", "parquet"},
    owners=OWNERS,
    tags=FORECAST_TAGS,
    description=(
        "Rolling-origin backtest over the films whose runs have ended, each origin's model trained only on "
        "films released before it: per horizon (days 3, 7, 14, 28) the MAPE and median absolute "
        "percentage error of the final gross and the 80% interval's coverage, beside the multiplier and "
        "last-week-decay baselines (`forecast_backtest.parquet` among the exports)."
    ),
)
def forecast_backtest(context: dg.AssetExecutionContext, exports: ExportsResource) -> dg.MaterializeResult:
    from ekino_pipeline.forecasting import publish
    from ekino_pipeline.forecasting.backtest import run_backtest, summary_markdown

    started = time.perf_counter()
    result = run_backtest(_runs(exports))
    path = publish.write_frame(exports.directory_path / "forecast_backtest.parquet", result.summary)
    return dg.MaterializeResult(
        metadata={
            "backtest": dg.MetadataValue.md(summary_markdown(result.summary)),
            "origins": len(result.training),
            "forecasts": len(result.forecasts),
            "seconds": round(time.perf_counter() - started, 1),
            "export_path": dg.MetadataValue.path(str(path)),
        }
    )


DAILY_ASSETS = [film_forecasts, forecast_accuracy]
MODEL_ASSETS = [forecast_model, forecast_backtest]
