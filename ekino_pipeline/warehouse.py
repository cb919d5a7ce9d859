"""The DuckDB warehouse. Only the loader and dbt write it, both in the `warehouse` pool (limit 1):
DuckDB allows one read-write process or many read-only ones, never both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from ekino_pipeline.run_process import record_run_process

WAREHOUSE_POOL = "warehouse"


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse file (`EKINO_WAREHOUSE_PATH`, default `$EKINO_HOME/warehouse.duckdb`)."""

    path: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # A step of the warehouse pool sets this up once its slot is claimed: the run records its
        # process, so that the dead-run sensor can free the slot if the run is killed, even when it was
        # started from a shell (run_process.py).
        if context.instance is not None and context.dagster_run is not None:
            record_run_process(context.instance, context.dagster_run)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.path, read_only=read_only)
        try:
            con.execute("set TimeZone = 'UTC'")
            yield con
        finally:
            con.close()


def sql_string(value: str | Path) -> str:
    """A SQL string literal; paths come from the landing root and validated ids, quoted regardless."""
    return "'" + str(value).replace("'", "''") + "'"
