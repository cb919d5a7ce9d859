"""The dbt models as three partitioned multi-assets: `dbt build` over the run's window, so dbt tests become
asset checks, then the marts are published for analysts. The daily one builds everything but the
models tagged `film_week` (settlement) and `after_forecasts`; the weekly one builds those per film week,
once the week has closed, and writes the distributors' statements. The models tagged `after_forecasts`
read the forecasts the Python asset `film_forecasts` computes from the daily marts (a dbt source keyed
to that asset): a multi-asset of their own builds them after it in the same daily run, so the asset
graph stays acyclic and dbt stays the only writer of the warehouse.

Publishing happens inside this asset rather than in a downstream one: the warehouse pool slot is still
held (nothing writes while the copy is taken), a failing build publishes nothing, and no run can
rebuild the marts without also refreshing what analysts read.
"""

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from pydantic import Field

from ekino_pipeline.calendar import parse_date
from ekino_pipeline.display import count, kzt
from ekino_pipeline.partitions import DAILY_PARTITIONS, FILM_WEEK_PARTITIONS, partition_days
from ekino_pipeline.processes import step_process_dies_with_its_run
from ekino_pipeline.settings import Settings
from ekino_pipeline.transformation.dbt_args import dbt_build_args
from ekino_pipeline.transformation.exports import ExportedTable, ExportsResource
from ekino_pipeline.transformation.project import dbt_executable, dbt_project
from ekino_pipeline.transformation.statements import write_statements
from ekino_pipeline.transformation.translator import LayerGroupTranslator
from ekino_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource

MARTS_GROUP = "marts"
# The column that says which partition a mart's row belongs to, by partitioning: the first the mart has.
DAILY_COLUMNS = ("business_date", "through_date")
WEEKLY_COLUMNS = ("film_week_start",)
# The marts whose overview carries each day's national figures and coverage, and the top films'.
OVERVIEW_MARTS = frozenset({"film_daily_box_office", "national_daily", "region_daily"})
TOP_FILMS_MART = "film_daily_box_office"
# Models built per film week rather than per day (dbt tag, set in their YAML).
FILM_WEEK_SELECTION = "tag:film_week"
# Models that read the published forecasts, built once these are (ekino_forecast_models).
AFTER_FORECASTS_SELECTION = "tag:after_forecasts"
# What the daily dbt asset leaves out: the weekly models, the live models of the live job
# (live/dbt.py), refreshed every minute, and the models built after the forecasts.
DAILY_EXCLUDE = f"{FILM_WEEK_SELECTION} tag:live {AFTER_FORECASTS_SELECTION}"


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
    groups = context.assets_def.group_names_by_key
    marts = {
        key.path[-1]: key
        for key, group in groups.items()
        if group == MARTS_GROUP and key in context.selected_asset_keys
    }
    # A run of some of the models (quarantine_replay_job's) names them one by one, and dbt then adds
    # every test that touches one of them, including a relationship test of a weekly model that may
    # not exist yet: the same exclusion keeps those out.
    yield from _build_and_publish(
        context, dbt, [*args, "--exclude", DAILY_EXCLUDE], warehouse, exports, marts
    )


def _build_and_publish(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    args: list[str],
    warehouse: WarehouseResource,
    exports: ExportsResource,
    marts: dict[str, dg.AssetKey],
) -> Iterator:
    """`dbt build` with `args`, then, when it built any of `marts`, the exports published and the marts
    described; each mart's first event waits for the publication (hold_back)."""
    held: list = []
    stream = dbt.cli(args, context=context).stream()
    yield from hold_back(context, stream, set(marts.values()), held)
    if not marts:
        return
    try:
        exported, copy = exports.publish(warehouse.path)
        context.log.info(
            f"published {len(exported)} marts and the warehouse copy {copy} to {exports.directory}"
        )
        describe_marts(context, warehouse, marts, exported, copy, DAILY_COLUMNS)
    finally:  # what dbt built is recorded even when publishing fails
        yield from held


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=LayerGroupTranslator(),
    select=AFTER_FORECASTS_SELECTION,
    name="ekino_forecast_models",
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
def ekino_forecast_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    exports: ExportsResource,
):
    """The marts that join the day's published forecasts (`funding_outcomes_forecast`), read from the
    exports folder, then the marts published again."""
    step_process_dies_with_its_run()
    days = partition_days(context)
    args = dbt_build_args(days[0], days[-1], warehouse.path, exports_dir=str(exports.directory_path))
    marts = {key.path[-1]: key for key in context.selected_asset_keys}
    yield from _build_and_publish(context, dbt, args, warehouse, exports, marts)


def film_week_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The first Thursday and the last Wednesday of the run's film weeks (one, or a backfill's range)."""
    key_range = context.partition_key_range
    return parse_date(key_range.start), parse_date(key_range.end) + timedelta(days=6)


@dbt_assets(
    manifest=dbt_project.manifest_path,
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
    held: list = []
    stream = dbt.cli(dbt_build_args(first, last, warehouse.path), context=context).stream()
    yield from hold_back(context, stream, set(context.selected_asset_keys), held)

    try:
        _settle_and_publish(context, warehouse, exports, first, last)
    finally:  # what dbt built is recorded even when publishing fails
        yield from held


def _settle_and_publish(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    exports: ExportsResource,
    first: date,
    last: date,
) -> None:
    weeks = [first + timedelta(days=7 * n) for n in range((last - first).days // 7 + 1)]
    exported, copy = exports.publish(warehouse.path)
    statements = write_statements(warehouse.path, exports.directory_path, weeks)
    context.log.info(f"published {len(exported)} marts and {len(statements)} distributor statements")
    marts = {key.path[-1]: key for key in context.selected_asset_keys}
    describe_marts(context, warehouse, marts, exported, copy, WEEKLY_COLUMNS)
    if "settlement_weekly" in marts:
        context.add_asset_metadata(
            {
                "statements": len(statements),
                "statements_path": dg.MetadataValue.path(str(exports.directory_path / "statements")),
                "provisional_statements": sum(s.is_provisional for s in statements),
                "rental_due_kzt": kzt(
                    sum((s.totals["rental_due_kzt"] for s in statements), start=Decimal(0))
                ),
            },
            asset_key=marts["settlement_weekly"],
        )


def hold_back(
    context: dg.AssetExecutionContext, events: Iterable, keys: set[dg.AssetKey], held: list
) -> Iterator:
    """Yields dbt's events until the first of `keys` (a materialization or a check), and keeps that one
    and every later one in `held`: their metadata is known only once the build is published, a
    materialization's metadata must be added before it is yielded, and outputs must keep dbt's order
    (a snapshot after its mart). A failing build yields them as they came, then fails."""
    try:
        for event in events:
            key = (
                context.asset_key_for_output(event.output_name)
                if isinstance(event, dg.Output)
                else getattr(event, "asset_key", None)
            )
            if held or key in keys:
                held.append(event)
            else:
                yield event
    except Exception:
        yield from held
        held.clear()
        raise


def _mart_columns(con) -> dict[str, set[str]]:
    cursor = con.cursor()
    cursor.execute("select table_name, column_name from duckdb_columns() where schema_name = 'marts'")
    columns: dict[str, set[str]] = {}
    for table, column in cursor.fetchall():
        columns.setdefault(table, set()).add(column)
    return columns


def _rows_by_day(con, mart: str, column: str, first: date, last: date) -> dict[date, int]:
    cursor = con.cursor()
    cursor.execute(
        f'select "{column}", count(*) from marts."{mart}" where "{column}" between ? and ? group by 1',
        [first, last],
    )
    return dict(cursor.fetchall())


def day_figures(con, day: date) -> dict:
    """The nation's figures of one business day and the coverage behind them (national_daily)."""
    cursor = con.cursor()
    cursor.execute(
        "select gross_kzt, admissions, n_screenings, cinemas_reporting, cinemas_connected, cinemas_total, "
        "provisional_reasons, exclusions from marts.national_daily where business_date = ?",
        [day],
    )
    row = cursor.fetchone()
    if row is None:
        return {"coverage": f"{day}: no screenings on record"}
    gross, admissions, screenings, reporting, connected, total, reasons, exclusions = row
    return {
        "gross_kzt": kzt(gross),
        "admissions": int(admissions),
        "screenings": int(screenings),
        "cinemas_reporting": int(reporting),
        "cinemas_connected": int(connected),
        "cinemas_total": int(total),
        "coverage": f"{day}: {reporting:,} reporting / {connected:,} connected / {total:,} cinemas",
        "provisional": f"provisional: {', '.join(reasons)}" if reasons else _final(exclusions),
    }


def _final(exclusions: list[str]) -> str:
    """A closed day is final; what its figures leave out is said all the same."""
    return f"final, excluding: {', '.join(exclusions)}" if exclusions else "final"


def describe_marts(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    marts: dict[str, dg.AssetKey],
    exported: list[ExportedTable],
    copy: Path,
    partition_columns: tuple[str, ...],
) -> None:
    """Adds to each mart's coming materialization what a person opening it wants: its rows (the table's,
    and the partition's), where analysts read it, and for the main marts each day's own figures, coverage
    and top films. Each partition of a run over many days gets its own day's figures, not the window's."""
    by_name = {table.name: table for table in exported}
    keys = context.partition_keys
    with warehouse.connect(read_only=True) as con:
        columns = _mart_columns(con)
        for name, key in marts.items():
            table = by_name.get(name)
            if table is None:
                continue
            context.add_asset_metadata(
                {
                    "dagster/row_count": table.rows,
                    "export_path": dg.MetadataValue.path(str(table.path)),
                    "warehouse_copy": dg.MetadataValue.path(str(copy)),
                },
                asset_key=key,
            )
            column = next((c for c in partition_columns if c in columns.get(name, ())), None)
            if column is None:
                continue
            first, last = parse_date(keys[0]), parse_date(keys[-1])
            counts = _rows_by_day(con, name, column, first, last)
            for partition in keys:
                day = parse_date(partition)
                metadata: dict = {"dagster/partition_row_count": counts.get(day, 0)}
                if name in OVERVIEW_MARTS:
                    metadata.update(day_figures(con, day))
                if name == TOP_FILMS_MART:
                    metadata["top_films"] = dg.MetadataValue.md(_top_films(con, day))
                context.add_asset_metadata(metadata, asset_key=key, partition_key=partition)


def top_films_markdown(warehouse: WarehouseResource, day: date, limit: int = 10) -> str:
    """The day's top films with the coverage behind the figures, for people reading the asset."""
    with warehouse.connect(read_only=True) as con:
        return _top_films(con, day, limit)


def _top_films(con, day: date, limit: int = 10) -> str:
    cursor = con.cursor()
    cursor.execute(
        "select rank_of_day, coalesce(title, film_id), gross_kzt, admissions, n_screenings, "
        "cinemas_reporting, cinemas_connected, provisional_reasons, exclusions "
        "from marts.film_daily_box_office where business_date = ? order by rank_of_day, film_id limit ?",
        [day, limit],
    )
    rows = cursor.fetchall()
    if not rows:
        return f"No screenings on record for {day}."
    _, _, _, _, _, reporting, connected, reasons, exclusions = rows[0]
    status = f"provisional ({', '.join(reasons)})" if reasons else _final(exclusions)
    lines = [
        f"**{day}**, {status}: {reporting} of {connected} connected cinemas reported.",
        "",
        "| # | film | gross, KZT | admissions | screenings |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {rank} | {title} | {kzt(gross)} | {count(adm)} | {count(n)} |"
        for rank, title, gross, adm, n, *_ in rows
    ]
    return "\n".join(lines)


def transformation_resources(settings: Settings) -> dict:
    return {
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
        "exports": ExportsResource(directory=str(settings.exports_dir)),
    }


ASSETS = [ekino_dbt_models, ekino_forecast_models, ekino_film_week_models]
