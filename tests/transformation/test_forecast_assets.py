"""The forecast assets on the scenario's real warehouse (the sample registry's reported history, the
scenario's tracked days), read as they always are: from the published exports."""

from __future__ import annotations

import shutil
from decimal import ROUND_HALF_UP, Decimal

import dagster as dg
import pandas as pd

from ekino_pipeline.forecasting.assets import film_forecasts, forecast_accuracy
from ekino_pipeline.transformation.exports import ExportsResource
from tests.transformation.conftest import AS_OF
from tests.transformation.dbt_helpers import query, run_dbt
from tests.transformation.scenarios import MAR2


def test_the_daily_forecasts_read_the_exports_and_say_what_they_stand_on(built_scenario, tmp_path):
    exports = ExportsResource(directory=str(tmp_path / "exports"))
    exports.publish(built_scenario.warehouse)
    result = dg.materialize(
        [film_forecasts, forecast_accuracy],
        resources={"exports": exports},
        partition_key=MAR2.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    [materialization] = result.asset_materializations_for_node(film_forecasts.op.name)
    metadata = materialization.metadata
    assert metadata["training_cutoff"].value == str(MAR2) and metadata["training_films"].value >= 30
    forecasts = pd.read_parquet(tmp_path / "exports" / "film_forecasts.parquet")
    day = pd.read_parquet(tmp_path / "exports" / "film_daily_box_office.parquet")
    screened = set(day.loc[(day["business_date"] == MAR2) & (day["gross_kzt"] > 0), "film_id"])
    assert set(forecasts["film_id"]) <= screened
    assert len(forecasts) + metadata["films_not_forecast"].value == len(screened)
    assert (forecasts["model_version"] == metadata["model_version"].value).all()
    assert (forecasts["predicted_gross_low_kzt"] <= forecasts["predicted_gross_kzt"]).all()
    assert (tmp_path / "exports" / "film_forecasts_history.parquet").exists()
    assert (tmp_path / "exports" / "forecast_accuracy.parquet").exists()


def test_funding_outcomes_carry_the_forecast_of_a_funded_film_still_showing(built_scenario, tmp_path):
    """`funding_outcomes_forecast`, built by dbt after the forecasts from the published file: the
    forecast of a funded film screened on the day, exact decimals with their provenance; none, and
    why, for the others."""
    exports = ExportsResource(directory=str(tmp_path / "exports"))
    exports.publish(built_scenario.warehouse)
    assert dg.materialize(
        [film_forecasts],
        resources={"exports": exports},
        partition_key=MAR2.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
    ).success
    forecasts = pd.read_parquet(tmp_path / "exports" / "film_forecasts.parquet")
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built_scenario.warehouse, warehouse)
    variables = {"as_of_date": AS_OF, "start_date": MAR2.isoformat(), "end_date": MAR2.isoformat()}
    run_dbt(warehouse, "build", "--select", "funding_outcomes_forecast", **variables)
    rows = {r["project_id"]: r for r in query(warehouse, "select * from marts.funding_outcomes_forecast")}
    outcomes = query(warehouse, "select project_id from marts.funding_outcomes")
    assert set(rows) == {r["project_id"] for r in outcomes}
    assert {r["forecast_as_of_date"] for r in rows.values()} == {MAR2}
    forecast = {r["film_id"]: r for r in rows.values() if r["forecast_status"] == "forecast"}
    funded = forecasts[forecasts["funding_project_id"].notna()].set_index("film_id")
    assert len(funded) and set(forecast) == set(funded.index)
    for film_id, row in forecast.items():
        published = funded.loc[film_id]
        assert row["predicted_gross_kzt"] == published["predicted_gross_kzt"]
        assert isinstance(row["predicted_gross_kzt"], Decimal)
        assert row["predicted_recoupment_rate"] == (row["predicted_gross_kzt"] / row["amount_kzt"]).quantize(
            Decimal("0.000001"), ROUND_HALF_UP
        )
        assert row["predicted_recoupment_rate"] == published["predicted_recoupment_rate"]
        assert row["predicted_recoupment_low"] <= row["predicted_recoupment_rate"]
        assert row["predicted_recoupment_rate"] <= row["predicted_recoupment_high"]
        assert row["forecast_model_version"] == published["model_version"]
        assert row["forecast_data_as_of"] == MAR2 and row["forecast_training_cutoff"] == MAR2
    others = [r for r in rows.values() if r["forecast_status"] != "forecast"]
    assert others and all(
        r["predicted_gross_kzt"] is None
        and r["predicted_recoupment_rate"] is None
        and r["forecast_model_version"] is None
        for r in others
    )
    # A funded film released and screened before, with no ticket sold on the day: its run has ended.
    ended = [r for r in others if r["reached_theatres"] and r["lifetime_gross_kzt"] > 0]
    assert ended and all(r["forecast_status"] in ("not_showing", "no_forecast") for r in ended)
    assert any(r["forecast_status"] == "not_showing" for r in ended)
    assert all(r["forecast_status"] == "not_in_theatres" for r in others if not r["reached_theatres"])
    types = dict(
        (r["column_name"], r["data_type"])
        for r in query(
            warehouse,
            "select column_name, data_type from information_schema.columns "
            "where table_name = 'funding_outcomes_forecast'",
        )
    )
    assert types["predicted_gross_kzt"] == "DECIMAL(18,2)"
    assert types["predicted_recoupment_rate"] == "DECIMAL(18,6)"
