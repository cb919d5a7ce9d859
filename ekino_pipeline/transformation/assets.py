"""The dbt models as two partitioned multi-assets: `dbt build` over the run's window, so dbt tests become
asset checks, then the marts are published for analysts. The daily one builds everything but the
models tagged `film_week` (settlement); the weekly one builds those per film week, once the week has
closed, and writes the distributors' statements.

Publishing happens inside this asset rather than in a downstream one: the warehouse pool slot is still
held (nothing writes while the copy is taken), a failing build publishes nothing, and no run can
rebuild the marts without also refreshing what analysts read.
"""

from datetime import date, timedelta

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from pydantic import Field

from ekino_pipeline.calendar import parse_date
from ekino_pipeline.parent_death import step_process_dies_with_its_run
from ekino_pipeline.partitions import DAILY_PARTITIONS, FILM_WEEK_PARTITIONS, partition_days
from ekino_pipeline.settings import Settings
from ekino_pipeline.transformation.dbt_args import dbt_build_args
from ekino_pipeline.transformation.exports import ExportsResource
from ekino_pipeline.transformation.project import dbt_executable, dbt_project
from ekino_pipeline.transformation.statements import write_statements
from ekino_pipeline.transformation.translator import LayerGroupTranslator
from ekino_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource

MARTS_GROUP = "marts"
# Models built per film week rather than per day (dbt tag, set in their YAML).
FILM_WEEK_SELECTION = "tag:film_week"
# What the daily dbt asset leaves out: the weekly models, and the live models of the live job
# (transformation/live.py), refreshed every minute.
DAILY_EXCLUDE = f"{FILM_WEEK_SELECTION} tag:live"


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
    dagster_dbt_translator=LayerGroupTranslator(),
    exclude=DAILY_EXCLUDE,
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
    # The dbt process itself dies with us: its next line of output meets a closed pipe.
    step_process_dies_with_its_run()
    days = partition_days(context)
    args = dbt_build_args(days[0], days[-1], warehouse.path, full_history_tests=config.full_history_tests)
    # A run of some of the models (quarantine_replay_job's) names them one by one, and dbt then adds
    # every test that touches one of them, including a relationship test of a weekly model that may
    # not exist yet: the same exclusion keeps those out.
    yield from dbt.cli([*args, "--exclude", DAILY_EXCLUDE], context=context).stream()

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


def film_week_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The first Thursday and the last Wednesday of the run's film weeks (one, or a backfill's range)."""
    key_range = context.partition_key_range
    return parse_date(key_range.start), parse_date(key_range.end) + timedelta(days=6)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=LayerGroupTranslator(),
    select=FILM_WEEK_SELECTION,
    name="ekino_film_week_models",
    partitions_def=FILM_WEEK_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
def ekino_film_week_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    exports: ExportsResource,
):
    """Settles the run's film weeks. The window is the weeks' own days: the completeness the models
    read (presales before those days, late sales after) comes from the daily runs, built already."""
    step_process_dies_with_its_run()  # an orphan would hold the warehouse's write lock
    first, last = film_week_days(context)
    yield from dbt.cli(dbt_build_args(first, last, warehouse.path), context=context).stream()

    weeks = [first + timedelta(days=7 * n) for n in range((last - first).days // 7 + 1)]
    marts, copy = exports.publish(warehouse.path)
    statements = write_statements(warehouse.path, exports.directory_path, weeks)
    context.log.info(f"published {len(marts)} marts and {len(statements)} distributor statements")
    key = next((k for k in context.selected_asset_keys if k.path[-1] == "settlement_weekly"), None)
    if key is not None:
        yield dg.AssetObservation(
            asset_key=key,
            partition=context.partition_key_range.end,
            metadata={
                "statements": len(statements),
                "statements_path": dg.MetadataValue.path(str(exports.directory_path / "statements")),
                "provisional_statements": sum(s.is_provisional for s in statements),
                "rental_due_kzt": str(sum((s.totals["rental_due_kzt"] for s in statements), start=0)),
                "warehouse_copy": dg.MetadataValue.path(str(copy)),
            },
        )


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


ASSETS = [ekino_dbt_models, ekino_film_week_models]
