"""Publishing the marts for analysts, who must never fight the writer's lock: every table of the
`marts` schema as Parquet and a read-only copy of the whole warehouse, each replaced atomically
(written to a temporary file, flushed, renamed), so a reader sees the previous build or this one; then
the build's marts become one publication (publications.py), for readers of several marts at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from ekino_pipeline import publications
from ekino_pipeline.atomic_files import replacing
from ekino_pipeline.warehouse import sql_string

MARTS_SCHEMA = "marts"


@dataclass(frozen=True)
class ExportedTable:
    name: str
    path: Path
    rows: int


def read_only_source(warehouse_path: Path) -> duckdb.DuckDBPyConnection:
    """A connection of its own with the warehouse attached read-only as `source`."""
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
    con = read_only_source(warehouse_path)
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
        with replacing(target) as tmp:
            cursor = con.cursor()
            cursor.execute(
                f'copy (select * from "{catalog}".{schema}."{name}") to {sql_string(tmp)} '
                "(format parquet, compression zstd)"
            )
            (rows,) = cursor.fetchone()
        exported.append(ExportedTable(name, target, int(rows)))
    return exported


def publish_warehouse_copy(warehouse_path: Path, exports_dir: Path) -> Path:
    """A copy of the warehouse under the same file name (views resolve alike), for read-only use."""
    exports_dir.mkdir(parents=True, exist_ok=True)
    target = exports_dir / warehouse_path.name
    if target.resolve() == warehouse_path.resolve():
        raise ValueError(f"the exports folder {exports_dir} holds the warehouse itself")
    with replacing(target) as tmp:
        con = read_only_source(warehouse_path)
        try:
            con.execute(f"attach {sql_string(tmp)} as published")
            con.execute("copy from database source to published")
            con.execute("detach published")
        finally:
            con.close()
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
        exported, copy = export_marts(source, exports_dir), publish_warehouse_copy(source, exports_dir)
        # Last: the build's marts become one publication for readers that must not mix two builds.
        publications.publish(exports_dir, [table.path for table in exported])
        return exported, copy
