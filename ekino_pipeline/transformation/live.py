"""The live marts: `dbt build` of the models tagged live only, then their export for analysts.

A live refresh runs every minute, so dbt must not pay for the project each time. It selects the live
models alone (they read the live raw tables and a few registry rows, never history), runs in a target
folder of its own so dbt's partial parsing survives from one refresh to the next (Dagster gives every
other invocation a fresh one), and passes no var that changes between refreshes: the live day and
instant are rows of raw.live_state, not `--vars`, which would force a full re-parse.
"""

import hashlib
import json
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from ekino_pipeline.display import almaty_time, kzt
from ekino_pipeline.parent_death import step_process_dies_with_its_run
from ekino_pipeline.transformation.assets import hold_back
from ekino_pipeline.transformation.exports import ExportsResource, export_marts
from ekino_pipeline.transformation.project import dbt_project
from ekino_pipeline.transformation.translator import LayerGroupTranslator
from ekino_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource

LIVE_SCHEMA = "live"
LIVE_SELECTION = "tag:live"


def live_target(warehouse_path: str) -> Path:
    """The live build's own target folder, one per warehouse: runs for different homes (tests, the
    benchmark) never share a partial-parse file, and a deployment's is the same every minute."""
    digest = hashlib.blake2b(str(Path(warehouse_path).resolve()).encode(), digest_size=5).hexdigest()
    return Path(dbt_project.project_dir) / "target" / f"live-{digest}"


def live_build_args(warehouse_path: str) -> list[str]:
    """The same arguments every refresh: anything that changed here would re-parse the project."""
    # Unit tests check the SQL, not the data: the daily build runs them, a minute's refresh need not.
    variables = json.dumps({"warehouse_path": str(warehouse_path)}, sort_keys=True)
    return ["build", "--exclude-resource-type", "unit_test", "--vars", variables]


@dbt_assets(
    manifest=dbt_project.manifest_path,
    select=LIVE_SELECTION,
    name="live_dbt_models",
    dagster_dbt_translator=LayerGroupTranslator(),
    pool=WAREHOUSE_POOL,
)
def live_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    exports: ExportsResource,
):
    step_process_dies_with_its_run()  # an orphan would hold the warehouse's write lock
    target = live_target(warehouse.path)
    held: list = []
    stream = dbt.cli(live_build_args(warehouse.path), context=context, target_path=target).stream()
    yield from hold_back(context, stream, set(context.selected_asset_keys), held)
    exported = export_marts(Path(warehouse.path), Path(exports.directory), schema=LIVE_SCHEMA)
    keys = {key.path[-1]: key for key in context.selected_asset_keys}
    for table in exported:
        key = keys.get(table.name)
        if key is None:
            continue
        metadata = {"dagster/row_count": table.rows, "export_path": dg.MetadataValue.path(str(table.path))}
        if table.name == "live_today":
            metadata["live_today"] = dg.MetadataValue.md(live_markdown(warehouse))
        context.add_asset_metadata(metadata, asset_key=key)
    yield from held


def live_markdown(warehouse: WarehouseResource, limit: int = 10) -> str:
    """Today so far for people reading the asset: the nation, its coverage and the leading films."""
    with warehouse.connect(read_only=True) as con:
        cursor = con.cursor()
        cursor.execute(
            "select business_date, as_of, gross_kzt, admissions, sessions_sold, cinemas_reporting, "
            "cinemas_connected, cinemas_total, max_lag_seconds from live.live_today where scope = 'national'"
        )
        national = cursor.fetchone()
        cursor = con.cursor()
        cursor.execute(
            "select rank_so_far, coalesce(title, film_id, '(session not listed yet)'), gross_kzt, admissions "
            "from live.live_films_today order by rank_so_far, film_id limit ?",
            [limit],
        )
        films = cursor.fetchall()
    if national is None:
        return "No live tick loaded yet."
    day, as_of, gross, admissions, sold, reporting, connected, total, lag = national
    lines = [
        f"**{day}, live as of {almaty_time(as_of)}** (provisional): {kzt(gross)} KZT, "
        f"{admissions:,} admissions, {sold:,} screenings sold; "
        f"{reporting} reporting / {connected} connected / {total} cinemas; "
        f"largest lag {lag} s.",
        "",
        "| # | film | gross so far, KZT | admissions |",
        "|---|---|---:|---:|",
    ]
    lines += [f"| {rank} | {title} | {kzt(g)} | {a:,} |" for rank, title, g, a in films]
    return "\n".join(lines)


ASSETS = [live_dbt_models]
