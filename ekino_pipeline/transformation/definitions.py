"""Transformation's definitions: the dbt project built per business day and per film week, the
warehouse it writes and the Parquet exports analysts read."""

import dagster as dg

from ekino_pipeline.settings import Settings
from ekino_pipeline.transformation import assets
from ekino_pipeline.transformation.freshness import with_mart_freshness
from ekino_pipeline.warehouse import WarehouseResource


def resources(settings: Settings) -> dict:
    return {
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        **assets.transformation_resources(settings),
    }


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[a.map_asset_specs(with_mart_freshness) for a in assets.ASSETS], resources=resources(settings)
    )
