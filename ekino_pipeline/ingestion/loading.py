"""Loading the landing zone into the warehouse's `raw` schema, one business-day window at a time.

Why a loader rather than dbt sources over the landing Parquet: the warehouse stays self-contained (the
read-only copy analysts open needs no landing folder), an incremental dbt build reads only the rows of
its window from a table instead of globbing thousands of cinema-day folders (the cost of a day must not
grow with the history), and the manifests become a table the coverage marts can join. The loader reads
only files that committed manifests name, so a half-written attempt never reaches the warehouse.
"""

from datetime import date, datetime

import dagster as dg
import duckdb
import pyarrow as pa

from ekino_pipeline.ingestion.assets import REGISTRY_TABLES, LandingResource
from ekino_pipeline.ingestion.landing import NATIONAL, LandingZone
from ekino_pipeline.ingestion.schemas import QUARANTINE, SESSIONS, TICKET_EVENTS
from ekino_pipeline.partitions import DAILY_PARTITIONS, partition_days
from ekino_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource, sql_string

GROUP = "raw"

MANIFEST_COLUMNS = {
    "dataset": pa.string(),
    "cinema_id": pa.string(),
    "business_date": pa.date32(),
    "status": pa.string(),
    "error": pa.string(),
    "error_type": pa.string(),
    "attempts": pa.int32(),
    "served": pa.int64(),
    "landed": pa.int64(),
    "quarantined": pa.int64(),
    "duplicates_dropped": pa.int64(),
    "extra_fields": pa.int64(),
    # Records served by attempts that failed and were thrown away (they come again on a re-pull).
    "discarded_served": pa.int64(),
    # Quarantined records landed since by a quarantine replay (served = landed + quarantined + duplicates
    # still holds: a replay moves records from quarantined to landed).
    "replayed": pa.int64(),
    "first_record_at": pa.timestamp("us", tz="UTC"),
    "last_record_at": pa.timestamp("us", tz="UTC"),
    "finished_at": pa.timestamp("us", tz="UTC"),
    "duration_seconds": pa.float64(),
    "attempt_id": pa.string(),
    "data_attempt_id": pa.string(),
    "run_id": pa.string(),
}
MANIFEST_SCHEMA = pa.schema(MANIFEST_COLUMNS)


def _ensure_table(con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema) -> None:
    empty = schema.empty_table()  # noqa: F841 - read by DuckDB's replacement scan
    con.execute(f"create table if not exists {table} as select * from empty")


def _read_parquet(listing: str, *options: str) -> str:
    """Files named by manifests, read as they are: the folder names (`cinema_id=national` for the
    registries) must never be taken for columns, so hive partitioning stays off."""
    return f"read_parquet([{listing}], {', '.join(['hive_partitioning = false', *options])})"


def _replace_window(
    con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema, first: date, last: date, files
) -> int:
    _ensure_table(con, table, schema)
    con.execute(f"delete from {table} where business_date between ? and ?", [first, last])
    if not files:
        return 0
    listing = ", ".join(sql_string(f) for f in files)
    # The window was just emptied, so the rows inserted are the window's rows.
    return con.execute(f"insert into {table} by name select * from {_read_parquet(listing)}").fetchone()[0]


def _manifest_table(zone: LandingZone, days: list[date]) -> pa.Table:
    rows = []
    for dataset in ("sessions", "ticket_events"):
        for _day, _cinema, manifest in zone.manifests(dataset, days):
            rows.append({name: manifest.get(name) for name in MANIFEST_COLUMNS})
    timestamps = [name for name, kind in MANIFEST_COLUMNS.items() if pa.types.is_timestamp(kind)]
    for row in rows:
        row["business_date"] = date.fromisoformat(row["business_date"])
        for name in timestamps:
            row[name] = datetime.fromisoformat(row[name]) if row[name] else None
    return pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA)


def _latest_registry_day(zone: LandingZone) -> date | None:
    days = [
        date.fromisoformat(p.name.removeprefix("business_date="))
        for p in (zone.root / "registry_cinemas").glob("business_date=*")
        if (p / f"cinema_id={NATIONAL}" / "_manifest.json").is_file()
    ]
    return max(days, default=None)


RAW_KEYS = [
    "ticket_events",
    "sessions",
    "quarantine",
    "landing_manifests",
    "cinemas_daily",
    *REGISTRY_TABLES,
]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", name],
            group_name=GROUP,
            kinds={"duckdb"},
            deps=[["landing", "ticket_events"], ["landing", "sessions"], ["landing", "quarantine_replay"]]
            + [["landing", f"registry_{t}"] for t in REGISTRY_TABLES],
        )
        for name in RAW_KEYS
    ],
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
def raw_tables(context: dg.AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource):
    """Replaces the window's rows of the raw tables with what committed manifests name."""
    zone = landing.zone()
    days = partition_days(context)
    first, last = days[0], days[-1]
    counts: dict[str, int] = {}
    with warehouse.connect() as con:
        con.execute("create schema if not exists raw")
        con.execute("begin")
        counts["ticket_events"] = _replace_window(
            con, "raw.ticket_events", TICKET_EVENTS, first, last, zone.committed_files("ticket_events", days)
        )
        counts["sessions"] = _replace_window(
            con, "raw.sessions", SESSIONS, first, last, zone.committed_files("sessions", days)
        )
        quarantine_files = zone.committed_files("sessions", days, "quarantine") + zone.committed_files(
            "ticket_events", days, "quarantine"
        )
        counts["quarantine"] = _replace_window(
            con, "raw.quarantine", QUARANTINE, first, last, quarantine_files
        )
        manifests = _manifest_table(zone, days)
        _ensure_table(con, "raw.landing_manifests", MANIFEST_SCHEMA)
        con.execute("delete from raw.landing_manifests where business_date between ? and ?", [first, last])
        con.execute("insert into raw.landing_manifests by name select * from manifests")
        counts["landing_manifests"] = manifests.num_rows
        # Which cinemas were connected on each day: the registry snapshot of that day.
        cinema_files = zone.committed_files("registry_cinemas", days)
        con.execute(
            "create table if not exists raw.cinemas_daily "
            "(business_date date, cinema_id varchar, region_code varchar, is_connected boolean)"
        )
        con.execute("delete from raw.cinemas_daily where business_date between ? and ?", [first, last])
        if cinema_files:
            listing = ", ".join(sql_string(f) for f in cinema_files)
            con.execute(
                "insert into raw.cinemas_daily select cast(regexp_extract(filename, "
                "'business_date=([0-9-]+)', 1) as date), cinema_id, region_code, is_connected "
                f"from {_read_parquet(listing, 'filename = true')}"
            )
        counts["cinemas_daily"] = len(cinema_files)
        # The registries themselves: the newest snapshot landed, whatever window this run loads.
        latest = _latest_registry_day(zone)
        for name in REGISTRY_TABLES:
            files = zone.committed_files(f"registry_{name}", [latest]) if latest else []
            if files:
                source = sql_string(files[0])
                con.execute(f"create or replace table raw.{name} as select * from {_read_parquet(source)}")
                counts[name] = con.execute(f"select count(*) from raw.{name}").fetchone()[0]
            else:
                counts[name] = 0
        con.execute("commit")
    for name in RAW_KEYS:
        yield dg.MaterializeResult(
            asset_key=["raw", name],
            metadata={"dagster/row_count": counts.get(name, 0), "window": f"{first}..{last}"},
        )


ASSETS = [raw_tables]
