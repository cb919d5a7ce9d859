"""Running the dbt project for real (the venv's dbt, in a subprocess) against a DuckDB file, and reading
what it built."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb

from ekino_pipeline.transformation.project import DBT_PROJECT_DIR, dbt_executable


def run_dbt(warehouse: Path, *args: str, check: bool = True, **variables) -> subprocess.CompletedProcess:
    """`dbt <args>` on `warehouse`; target and logs go beside the warehouse, never into the project."""
    work = warehouse.parent / "dbt"
    command = [
        dbt_executable(),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--vars",
        json.dumps({"warehouse_path": str(warehouse), **variables}),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), timeout=240)
    if check and result.returncode != 0:
        raise AssertionError(
            f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
        )
    return result


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
