"""Running the dbt project for real against a DuckDB file, and reading what it built.

dbt runs in the test's own process (dbt's programmatic runner), on a manifest parsed once per process:
a dbt subprocess with other `--vars` than the last parse would parse the whole project again (its
partial parsing is keyed by the vars), seconds of CPU on every call. The vars still reach every model,
test and the profile: dbt renders them when it runs a node, not from the parse. That one parse starts
from the partial-parse file `make prepare` left in dbt_project/target (parsed without --vars, so this
parse passes none either): dbt re-reads only the files changed since, or parses in full when the file is
missing or no longer matches (another dbt version, an edited dbt_project.yml)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dbt.adapters.duckdb.connections import DuckDBConnectionManager
from dbt.cli.main import dbtRunner
from dbt.contracts.graph.manifest import Manifest
from dbt.parser.manifest import extended_mashumaro_encoder as _encode
from dbt.parser.manifest import extended_mashumuro_decoder as _decode

from ekino_pipeline.transformation.dbt_args import WITHOUT_UNIT_TESTS
from ekino_pipeline.transformation.project import DBT_PROJECT_DIR

_manifest: bytes | None = None  # the parsed project, as dbt keeps it for partial parsing
PARTIAL_PARSE_FILE = "partial_parse.msgpack"


def _invoke(args: list[str], lines: list[str]):
    # A copy each time: running nodes compiles them in the manifest it is given (an ephemeral model's
    # CTE is then taken as injected already).
    manifest = None if _manifest is None else Manifest.from_msgpack(_manifest, decoder=_decode)
    runner = dbtRunner(manifest=manifest, callbacks=[lambda event: lines.append(event.info.msg)])
    try:
        return runner.invoke(args)
    finally:
        # dbt-duckdb keeps its database open in the process for the next invocation: closed, as a dbt
        # process's would be, so that this process and others can open the file again.
        with DuckDBConnectionManager._LOCK:
            if DuckDBConnectionManager._ENV is not None:
                DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager.close_all_connections()


def run_dbt(
    warehouse: Path, *args: str, check: bool = True, unit_tests: bool = False, **variables
) -> subprocess.CompletedProcess:
    """`dbt <args>` on `warehouse`; target and logs go beside the warehouse, never into the project. The
    answer reads as a dbt subprocess's would: return code 0 (success), 1 (a node failed) or 2 (dbt
    could not run), and what dbt logged as its output.

    A `build` leaves out the dbt unit tests unless `unit_tests`, as the product's builds do
    (transformation/dbt_args.py): they test the models' SQL on their own fixtures, whatever the warehouse
    holds, and were a quarter of every build's CPU here; test_dbt_build.py runs them all once on the
    built scenario."""
    global _manifest
    if args and args[0] == "build" and not unit_tests:
        args = (*args, *WITHOUT_UNIT_TESTS)
    work = warehouse.parent / "dbt"
    options = [
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--vars",
        # The published forecasts a build reads sit beside its warehouse (none unless a test puts them).
        json.dumps(
            {"warehouse_path": str(warehouse), "exports_dir": str(warehouse.parent / "exports"), **variables}
        ),
    ]
    lines: list[str] = []
    if _manifest is None:
        parsed = _invoke(["parse", *_parse_options(work / "parse")], lines)
        if not parsed.success:
            raise AssertionError(f"dbt parse failed: {parsed.exception}\n" + "\n".join(lines[-60:]))
        _manifest = parsed.result.to_msgpack(_encode)
        lines.clear()
    result = _invoke([*args, *options], lines)
    returncode = 0 if result.success else 2 if result.exception is not None else 1
    stdout, stderr = "\n".join(lines), "" if result.exception is None else repr(result.exception)
    done = subprocess.CompletedProcess(["dbt", *args], returncode, stdout, stderr)
    if check and returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{stdout[-6000:]}\n{stderr[-2000:]}")
    return done


def _parse_options(target: Path) -> list[str]:
    """The options of the process's one parse: those of `make prepare` (no --vars: dbt's partial parsing
    is keyed by them), in a target of its own seeded with the project's partial-parse file."""
    target.mkdir(parents=True, exist_ok=True)
    prepared = DBT_PROJECT_DIR / "target" / PARTIAL_PARSE_FILE
    if prepared.exists():
        shutil.copyfile(prepared, target / PARTIAL_PARSE_FILE)
    return [
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
    ]


def query(warehouse: Path, sql: str, *params) -> list[dict]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cursor = con.cursor()
        cursor.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def mart(warehouse: Path, name: str, order_by: str) -> list[dict]:
    return query(warehouse, f"select * from marts.{name} order by {order_by}")


# The marts issue 4 names: part of the analysts' interface.
ISSUE_MARTS = {
    "film_daily_box_office",
    "film_performance",
    "region_daily",
    "funding_outcomes",
    "funding_outcomes_by_year",
    "cinema_reporting_daily",
    "cinema_reporting_status",
    "anomalies",
}


def shared_folder(tmp_path_factory, name: str) -> Path:
    """One folder for every xdist worker of this run (the workers' base folders share a parent)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def once_per_run(folder: Path) -> Iterator[bool]:
    """Held by one worker at a time; yields whether the folder's work is still to do, and marks it done
    when the block ends without an error (a failed build is tried again by the next worker)."""
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = folder / ".done"
        yield not done.exists()
        done.touch()


def build_once(tmp_path_factory, name: str, fixture, **variables) -> Path:
    """`fixture` written to a warehouse and built in full by dbt once per test run, whichever xdist
    worker gets there first: the others wait for it and read the same file (read-only; a test that
    changes it works on a copy)."""
    folder = shared_folder(tmp_path_factory, name)
    warehouse = folder / "warehouse.duckdb"
    with once_per_run(folder) as to_do:
        if to_do:
            warehouse.unlink(missing_ok=True)
            fixture.write(warehouse)
            run_dbt(warehouse, "build", **variables)
    return warehouse
