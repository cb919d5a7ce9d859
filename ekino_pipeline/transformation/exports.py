"""Publishing the marts for analysts, who must never fight the writer's lock: every table of the
`marts` schema as Parquet and a read-only copy of the whole warehouse, each replaced atomically
(written to a temporary file, flushed, renamed), so a reader sees the previous build or this one."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from ekino_pipeline.warehouse import sql_string

MARTS_SCHEMA = "marts"


@dataclass(frozen=True)
class ExportedTable:
    name: str
    path: Path
    rows: int


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def _source(warehouse_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach {sql_string(warehouse_path)} as source (read_only)")
    return con


def mart_names(
    con: duckdb.DuckDBPyConnection, schema: str = MARTS_SCHEMA, catalog: str = "source"
) -> list[str]:
    cursor = con.cursor()
    cursor.execute(
        "select table_name from duckdb_tables() where database_name = ? and schema_name = ? "
        "order by table_name",
        [catalog, schema],
    )
    return [name for (name,) in cursor.fetchall()]


def export_marts(warehouse_path: Path, exports_dir: Path, schema: str = MARTS_SCHEMA) -> list[ExportedTable]:
    """Every table of the schema (the marts) as `<exports_dir>/<table>.parquet`; exact decimals stay
    decimals."""
    con = _source(warehouse_path)
    try:
        return export_tables(con, "source", schema, exports_dir)
    finally:
        con.close()


def export_tables(
    con: duckdb.DuckDBPyConnection, catalog: str, schema: str, exports_dir: Path
) -> list[ExportedTable]:
    """The tables of `catalog.schema` through a connection the caller holds (the live session's own
    process has its live warehouse open already: DuckDB refuses a second attach of the file there)."""
    exports_dir.mkdir(parents=True, exist_ok=True)
    exported = []
    for name in mart_names(con, schema, catalog):
        target = exports_dir / f"{name}.parquet"
        tmp = _temporary(target)
        try:
            cursor = con.cursor()
            cursor.execute(
                f'copy (select * from "{catalog}".{schema}."{name}") to {sql_string(tmp)} '
                "(format parquet, compression zstd)"
            )
            (rows,) = cursor.fetchone()
            _fsync(tmp)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        exported.append(ExportedTable(name, target, int(rows)))
    return exported


def publish_warehouse_copy(warehouse_path: Path, exports_dir: Path) -> Path:
    """A copy of the warehouse under the same file name (views resolve alike), for read-only use."""
    exports_dir.mkdir(parents=True, exist_ok=True)
    target = exports_dir / warehouse_path.name
    if target.resolve() == warehouse_path.resolve():
        raise ValueError(f"the exports folder {exports_dir} holds the warehouse itself")
    tmp = _temporary(target)
    con = _source(warehouse_path)
    try:
        con.execute(f"attach {sql_string(tmp)} as published")
        con.execute("copy from database source to published")
        con.execute("detach published")
        _fsync(tmp)
        tmp.replace(target)
    finally:
        con.close()
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    return target


class ExportsResource(dg.ConfigurableResource):
    """The folder analysts read (`EKINO_EXPORTS_DIR`, default `$EKINO_HOME/exports`)."""

    directory: str

    @property
    def directory_path(self) -> Path:
        return Path(self.directory)

    def publish(self, warehouse_path: str | Path) -> tuple[list[ExportedTable], Path]:
        source = Path(warehouse_path)
        exports_dir = Path(self.directory)
        return export_marts(source, exports_dir), publish_warehouse_copy(source, exports_dir)
