"""The dbt models as one partitioned multi-asset: `dbt build` over the run's window, so dbt tests become
asset checks, then the marts are published for analysts.

Publishing happens inside this asset rather than in a downstream one: the warehouse pool slot is still
held (nothing writes while the copy is taken), a failing build publishes nothing, and no run can
rebuild the marts without also refreshing what analysts read.
"""

from datetime import date

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from pydantic import Field

from ekino_pipeline.partitions import DAILY_PARTITIONS, partition_days
from ekino_pipeline.settings import Settings
from ekino_pipeline.transformation.dbt_args import dbt_build_args
from ekino_pipeline.transformation.exports import ExportsResource
from ekino_pipeline.transformation.project import dbt_executable, dbt_project
from ekino_pipeline.transformation.translator import LayerGroupTranslator
from ekino_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource

MARTS_GROUP = "marts"


class DbtBuildConfig(dg.Config):
    full_history_tests: bool = Field(
        default=False,
        description=(
            "Data tests of the event-level models read the whole history instead of the rows the build "
            "read (event_id uniqueness across every day). The daily schedule sets it once a week."
        ),
    )


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    # The live models are the live job's (transformation/live.py), refreshed every minute.
    exclude="tag:live",
    dagster_dbt_translator=LayerGroupTranslator(),
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
def ekino_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    exports: ExportsResource,
    config: DbtBuildConfig,
):
    days = partition_days(context)
    args = dbt_build_args(days[0], days[-1], warehouse.path, full_history_tests=config.full_history_tests)
    yield from dbt.cli(args, context=context).stream()

    groups = context.assets_def.group_names_by_key
    mart_keys = {key.path[-1]: key for key, group in groups.items() if group == MARTS_GROUP}
    if context.selected_asset_keys.isdisjoint(mart_keys.values()):
        return
    marts, copy = exports.publish(warehouse.path)
    context.log.info(f"published {len(marts)} marts and the warehouse copy {copy} to {exports.directory}")
    for mart in marts:
        key = mart_keys.get(mart.name)
        if key is None:
            continue
        metadata = {
            "export_path": dg.MetadataValue.path(str(mart.path)),
            "exported_rows": mart.rows,
            "warehouse_copy": dg.MetadataValue.path(str(copy)),
        }
        if mart.name == "film_daily_box_office":
            metadata["top_films"] = dg.MetadataValue.md(top_films_markdown(warehouse, days[-1]))
        yield dg.AssetObservation(asset_key=key, partition=context.partition_key_range.end, metadata=metadata)


def top_films_markdown(warehouse: WarehouseResource, day: date, limit: int = 10) -> str:
    """The day's top films with the coverage behind the figures, for people reading the asset."""
    with warehouse.connect(read_only=True) as con:
        cursor = con.cursor()
        cursor.execute(
            "select rank_of_day, coalesce(title, film_id), gross_kzt, admissions, n_screenings, "
            "cinemas_reporting, cinemas_connected, provisional_reasons "
            "from marts.film_daily_box_office where business_date = ? order by rank_of_day, film_id limit ?",
            [day, limit],
        )
        rows = cursor.fetchall()
    if not rows:
        return f"No screenings on record for {day}."
    _, _, _, _, _, reporting, connected, reasons = rows[0]
    status = f"provisional ({', '.join(reasons)})" if reasons else "final"
    lines = [
        f"**{day}**, {status}: {reporting} of {connected} connected cinemas reported.",
        "",
        "| # | film | gross, KZT | admissions | screenings |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {rank} | {title} | {gross:,} | {adm:,} | {n:,} |" for rank, title, gross, adm, n, *_ in rows
    ]
    return "\n".join(lines)


def transformation_resources(settings: Settings) -> dict:
    return {
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
        "exports": ExportsResource(directory=str(settings.exports_dir)),
    }


ASSETS = [ekino_dbt_models]
