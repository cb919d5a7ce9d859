"""The live marts: `dbt build` of the models tagged live only, then their export for analysts.

A live refresh runs every minute, so dbt must not pay for the project each time. It selects the live
models alone (they read the live raw tables and a few registry rows, never history) in the live
warehouse (a DuckDB file of their own), runs in a target folder of its own so dbt's partial parsing
survives from one refresh to the next (Dagster gives every other invocation a fresh one), and passes no
var that changes between refreshes: the live day and instant are rows of raw.live_state, not `--vars`,
which would force a full re-parse.

The live session (live/session.py) goes further with `LiveDbt`: dbt in its own process through
dbt's Python API, the project parsed once per session and every refresh built from that manifest in
memory, so a refresh costs the live nodes alone (about a second of CPU), not importing dbt and loading
the project. The asset below is the same build for a tick run by hand, through the dbt CLI.
"""

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from ekino_pipeline.display import almaty_time, kzt
from ekino_pipeline.live.assets import LIVE_POOL
from ekino_pipeline.processes import step_process_dies_with_its_run
from ekino_pipeline.transformation.assets import hold_back
from ekino_pipeline.transformation.dbt_args import WITHOUT_UNIT_TESTS
from ekino_pipeline.transformation.exports import ExportsResource, export_marts
from ekino_pipeline.transformation.project import dbt_project
from ekino_pipeline.transformation.translator import LayerGroupTranslator
from ekino_pipeline.warehouse import WarehouseResource

LIVE_SCHEMA = "live"
LIVE_SELECTION = "tag:live"


def live_target(warehouse_path: str) -> Path:
    """The live build's own target folder, one per warehouse: runs for different homes (tests, the
    benchmark) never share a partial-parse file, and a deployment's is the same every minute."""
    digest = hashlib.blake2b(str(Path(warehouse_path).resolve()).encode(), digest_size=5).hexdigest()
    return Path(dbt_project.project_dir) / "target" / f"live-{digest}"


def live_vars(warehouse_path: str) -> str:
    return json.dumps({"warehouse_path": str(warehouse_path)}, sort_keys=True)


def live_build_args(warehouse_path: str) -> list[str]:
    """The same arguments every refresh: anything that changed here would re-parse the project."""
    return ["build", *WITHOUT_UNIT_TESTS, "--vars", live_vars(warehouse_path)]


class LiveDbtError(RuntimeError):
    pass


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    resource_type: str
    name: str
    status: str
    message: str | None
    failures: int | None
    attached_to: str | None  # a test's model


@dataclass(frozen=True)
class LiveBuild:
    success: bool
    seconds: float
    cpu_seconds: float
    nodes: list[NodeResult] = field(default_factory=list)
    error: str | None = None

    @property
    def failed(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in ("error", "fail", "runtime error")]


class LiveDbt:
    """dbt in this process for the live session: `parse` once, then `build` of the live models from the
    parsed manifest every refresh (dbt's programmatic invocation, `dbtRunner(manifest=...)`)."""

    def __init__(self, warehouse_path: str | Path):
        from dbt.cli.main import dbtRunner  # about 4 CPU seconds: paid once per session, not per minute

        self.warehouse_path = str(warehouse_path)
        project = str(dbt_project.project_dir)
        self._common = [
            "--project-dir", project,
            "--profiles-dir", str(dbt_project.profiles_dir),
            "--target-path", str(live_target(self.warehouse_path)),
            "--vars", live_vars(self.warehouse_path),
            "--quiet",
        ]  # fmt: skip
        started = time.monotonic()
        parsed = dbtRunner().invoke(["parse", *self._common])
        if not parsed.success:
            raise LiveDbtError(f"dbt parse failed: {parsed.exception}")
        self.parse_seconds = round(time.monotonic() - started, 2)
        self._runner = dbtRunner(manifest=parsed.result)

    def build(self) -> LiveBuild:
        started, cpu = time.monotonic(), time.process_time()
        args = [
            "build",
            "--select",
            LIVE_SELECTION,
            *WITHOUT_UNIT_TESTS,
            "--no-write-json",
        ]
        done = self._runner.invoke([*args, *self._common])
        # dbtRunner returns whatever ended the invocation, a run's termination included: that one must
        # end the session, not count as a failed refresh.
        if done.exception is not None and not isinstance(done.exception, Exception):
            raise done.exception
        nodes = []
        for result in getattr(done.result, "results", None) or []:
            node = result.node
            nodes.append(
                NodeResult(
                    unique_id=node.unique_id,
                    resource_type=str(node.resource_type),
                    name=node.name,
                    status=str(result.status),
                    message=result.message,
                    failures=result.failures,
                    attached_to=getattr(node, "attached_node", None),
                )
            )
        return LiveBuild(
            success=done.success,
            seconds=round(time.monotonic() - started, 3),
            cpu_seconds=round(time.process_time() - cpu, 3),
            nodes=nodes,
            error=None if done.exception is None else f"{type(done.exception).__name__}: {done.exception}",
        )


@dbt_assets(
    manifest=dbt_project.manifest_path,
    select=LIVE_SELECTION,
    name="live_dbt_models",
    dagster_dbt_translator=LayerGroupTranslator(),
    pool=LIVE_POOL,
)
def live_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    live_warehouse: WarehouseResource,
    exports: ExportsResource,
):
    step_process_dies_with_its_run()  # an orphan would hold the live warehouse's write lock
    path = live_warehouse.path
    held: list = []
    stream = dbt.cli(live_build_args(path), context=context, target_path=live_target(path)).stream()
    yield from hold_back(context, stream, set(context.selected_asset_keys), held)
    exported = export_marts(Path(path), Path(exports.directory), schema=LIVE_SCHEMA)
    keys = {key.path[-1]: key for key in context.selected_asset_keys}
    for table in exported:
        key = keys.get(table.name)
        if key is None:
            continue
        metadata = {"dagster/row_count": table.rows, "export_path": dg.MetadataValue.path(str(table.path))}
        if table.name == "live_today":
            metadata["live_today"] = dg.MetadataValue.md(live_markdown(live_warehouse))
        context.add_asset_metadata(metadata, asset_key=key)
    yield from held


def live_markdown(warehouse: WarehouseResource, limit: int = 10, read_only: bool = True) -> str:
    """Today so far for people reading the asset: the nation, its coverage and the leading films."""
    with warehouse.connect(read_only=read_only) as con:
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
