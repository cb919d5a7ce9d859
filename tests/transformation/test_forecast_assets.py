"""The forecast assets on the scenario's real warehouse (the sample registry's reported history, the
scenario's tracked days), read as they always are: from the published exports."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from ekino_pipeline.forecasting.assets import film_forecasts, forecast_accuracy
from ekino_pipeline.transformation.exports import ExportsResource
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
    assert (tmp_path / "exports" / "funding_outcomes_forecast.parquet").exists()
