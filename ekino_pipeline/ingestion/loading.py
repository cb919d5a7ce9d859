"""Loading the landing zone into the warehouse's `raw` schema, one business-day window at a time.

Why a loader rather than dbt sources over the landing Parquet: the warehouse stays self-contained (the
read-only copy analysts open needs no landing folder), an incremental dbt build reads only the rows of
its window from a table instead of globbing thousands of cinema-day folders (the cost of a day must not
grow with the history), and the manifests become a table the coverage marts can join. The loader reads
only files that committed manifests name, so a half-written attempt never reaches the warehouse.
"""

import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa

from ekino_pipeline import ownership
from ekino_pipeline.calendar import PRESALE_HORIZON_DAYS
from ekino_pipeline.ingestion.declared_returns import DATASET as DECLARED_RETURNS_DATASET
from ekino_pipeline.ingestion.declared_returns import GROUP as DECLARED_RETURNS_GROUP
from ekino_pipeline.ingestion.declared_returns import RAW_TABLES as RAW_DECLARED_RETURNS_TABLES
from ekino_pipeline.ingestion.declared_returns import partition_weeks
from ekino_pipeline.ingestion.landing import KILLED, NATIONAL, LandingZone
from ekino_pipeline.ingestion.registries import REGISTRY_TABLES
from ekino_pipeline.ingestion.resources import LandingResource
from ekino_pipeline.ingestion.schemas import DECLARED_RETURNS, QUARANTINE, SESSIONS, TICKET_EVENTS
from ekino_pipeline.partitions import DAILY_PARTITIONS, FILM_WEEK_PARTITIONS, partition_days
from ekino_pipeline.processes import step_process_dies_with_its_run
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
    # Attempts of the cinema-day found killed before they committed (its run died): the manifest's own
    # when it records one, and those in its history. Its status stays the newest commit's.
    "killed_attempts": pa.int32(),
    # The commits the manifest superseded and the attempts found killed, oldest first (JSON).
    "history": pa.string(),
}
MANIFEST_SCHEMA = pa.schema(MANIFEST_COLUMNS)


def _killed_attempts(manifest: dict) -> int:
    entries = [manifest, *manifest.get("history", [])]
    killed = {e.get("attempt_id") for e in entries if e.get("error_type") == KILLED}
    return len(killed)


def ensure_table(con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema) -> None:
    """Create the table, or add the columns a warehouse made by an older version lacks (`insert by
    name` fails on a column the table does not have); existing rows get NULL there: not known."""
    empty = schema.empty_table()  # noqa: F841 - read by DuckDB's replacement scan
    con.execute(f"create table if not exists {table} as select * from empty")
    existing = {column[0] for column in con.execute(f"select * from {table} limit 0").description}
    for name, kind, *_ in con.execute("describe select * from empty").fetchall():
        if name not in existing:
            con.execute(f'alter table {table} add column "{name}" {kind}')


def _read_parquet(listing: str, *options: str) -> str:
    """Files named by manifests, read as they are: the folder names (`cinema_id=national` for the
    registries) must never be taken for columns, so hive partitioning stays off."""
    return f"read_parquet([{listing}], {', '.join(['hive_partitioning = false', *options])})"


def _replace_window(con: duckdb.DuckDBPyConnection, table: str, first: date, last: date, files) -> int:
    con.execute(f"delete from {table} where business_date between ? and ?", [first, last])
    # The window was just emptied, so the rows inserted are the window's rows.
    return insert_files(con, table, files)


def insert_files(con: duckdb.DuckDBPyConnection, table: str, files) -> int:
    """Insert the rows of Parquet files; the number of rows inserted."""
    if not files:
        return 0
    listing = ", ".join(sql_string(f) for f in files)
    return con.execute(f"insert into {table} by name select * from {_read_parquet(listing)}").fetchone()[0]


def _manifest_table(manifests: Iterable[dict]) -> pa.Table:
    rows = []
    for manifest in manifests:
        row = {name: manifest.get(name) for name in MANIFEST_COLUMNS}
        row["killed_attempts"] = _killed_attempts(manifest)
        row["history"] = json.dumps(manifest.get("history") or [], sort_keys=True)
        rows.append(row)
    timestamps = [name for name, kind in MANIFEST_COLUMNS.items() if pa.types.is_timestamp(kind)]
    for row in rows:
        row["business_date"] = date.fromisoformat(row["business_date"])
        for name in timestamps:
            row[name] = datetime.fromisoformat(row[name]) if row[name] else None
    return pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA)


def _window_manifests(zone: LandingZone, days: list[date]) -> Iterator[dict]:
    for dataset in ("sessions", "ticket_events"):
        for _day, _cinema, manifest in zone.manifests(dataset, days):
            yield manifest


def _named_files(zone: LandingZone, dataset: str, manifests: list[dict], kind: str) -> list[Path]:
    files = []
    for m in manifests:
        name = m.get("files", {}).get(kind)
        if name:
            day = date.fromisoformat(m["business_date"])
            files.append(zone.cinema_day_dir(dataset, day, m["cinema_id"]) / name)
    return files


def _replace_changed_cinema_days(
    con: duckdb.DuckDBPyConnection, zone: LandingZone, dataset: str, table: str, days: list[date]
) -> tuple[int, int]:
    """Days outside the window (the presale lookback's ticket events, the upcoming days' sessions):
    only the cinema-days whose committed manifest is not the one the warehouse holds (new, pulled
    again, or replayed) are replaced, data, quarantine and manifest row together, so that a daily run
    does not reload a week it already has. Cinema-days without a manifest are left as they are.
    Returns (cinema-days replaced, data rows inserted)."""
    if not days:
        return 0, 0
    # A pull gives a new attempt_id; a quarantine replay keeps the pull's and names new files
    # (data_attempt_id): either way the cinema-day changed.
    loaded = set(
        con.execute(
            "select cinema_id, business_date, attempt_id, data_attempt_id from raw.landing_manifests "
            "where dataset = ? and business_date between ? and ?",
            [dataset, days[0], days[-1]],
        ).fetchall()
    )
    changed = [
        m
        for day, cinema_id, m in zone.manifests(dataset, days)
        if (cinema_id, day, m.get("attempt_id"), m.get("data_attempt_id")) not in loaded
    ]
    if not changed:
        return 0, 0
    keys = pa.table(  # noqa: F841 - read by DuckDB's replacement scan
        {
            "cinema_id": [m["cinema_id"] for m in changed],
            "business_date": pa.array([date.fromisoformat(m["business_date"]) for m in changed], pa.date32()),
        }
    )
    same_cinema_day = "t.cinema_id = k.cinema_id and t.business_date = k.business_date"
    con.execute(f"delete from {table} t using keys k where {same_cinema_day}")
    con.execute(
        f"delete from raw.quarantine t using keys k where t.dataset = ? and {same_cinema_day}", [dataset]
    )
    con.execute(
        f"delete from raw.landing_manifests t using keys k where t.dataset = ? and {same_cinema_day}",
        [dataset],
    )
    rows = insert_files(con, table, _named_files(zone, dataset, changed, "data"))
    insert_files(con, "raw.quarantine", _named_files(zone, dataset, changed, "quarantine"))
    manifests = _manifest_table(changed)  # noqa: F841 - read by DuckDB's replacement scan
    con.execute("insert into raw.landing_manifests by name select * from manifests")
    return len(changed), rows


def _latest_registry_day(zone: LandingZone) -> date | None:
    days = [
        date.fromisoformat(p.name.removeprefix("business_date="))
        for p in (zone.root / "registry_cinemas").glob("business_date=*")
        if (p / f"cinema_id={NATIONAL}" / "_manifest.json").is_file()
    ]
    return max(days, default=None)


# Declared returns keep tables of their own: their slot is a film week, and the daily windows above
# replace every dataset's rows of their days in raw.quarantine and raw.landing_manifests.
DECLARED_RETURNS_SCHEMAS = dict(
    zip(
        (f"raw.{table}" for table in RAW_DECLARED_RETURNS_TABLES),
        (DECLARED_RETURNS, QUARANTINE, MANIFEST_SCHEMA),
        strict=True,
    )
)

# The declared returns' tables are created by the daily load too (empty until a week is loaded): dbt
# reads them on every build.
RAW_SCHEMAS = {
    "raw.ticket_events": TICKET_EVENTS,
    "raw.sessions": SESSIONS,
    "raw.quarantine": QUARANTINE,
    "raw.landing_manifests": MANIFEST_SCHEMA,
    **DECLARED_RETURNS_SCHEMAS,
}

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
            description=f"The landing zone's {name.replace('_', ' ')} loaded into raw.{name}.",
            owners=ownership.PLATFORM_OWNERS,
            tags=ownership.INGESTION,
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
    """Replaces the window's rows of the raw tables with what committed manifests name; beside the
    window, the ticket events of the presale lookback and the sessions of the upcoming days that were
    pulled since the last load."""
    step_process_dies_with_its_run()  # an orphan would hold the warehouse's write lock
    zone = landing.zone()
    days = partition_days(context)
    first, last = days[0], days[-1]
    lookback = [first - timedelta(days=n) for n in range(PRESALE_HORIZON_DAYS, 0, -1)]
    upcoming = [last + timedelta(days=n) for n in range(1, PRESALE_HORIZON_DAYS + 1)]
    counts: dict[str, int] = {}
    extra: dict[str, dict] = {}
    with warehouse.connect() as con:
        con.execute("create schema if not exists raw")
        con.execute("begin")
        for table, schema in RAW_SCHEMAS.items():
            ensure_table(con, table, schema)
        counts["ticket_events"] = _replace_window(
            con, "raw.ticket_events", first, last, zone.committed_files("ticket_events", days)
        )
        counts["sessions"] = _replace_window(
            con, "raw.sessions", first, last, zone.committed_files("sessions", days)
        )
        quarantine_files = zone.committed_files("sessions", days, "quarantine") + zone.committed_files(
            "ticket_events", days, "quarantine"
        )
        counts["quarantine"] = _replace_window(con, "raw.quarantine", first, last, quarantine_files)
        manifests = _manifest_table(_window_manifests(zone, days))
        con.execute("delete from raw.landing_manifests where business_date between ? and ?", [first, last])
        con.execute("insert into raw.landing_manifests by name select * from manifests")
        counts["landing_manifests"] = manifests.num_rows
        for dataset, table, extra_days, name in (
            ("ticket_events", "raw.ticket_events", lookback, "lookback"),
            ("sessions", "raw.sessions", upcoming, "upcoming"),
        ):
            cinema_days, rows = _replace_changed_cinema_days(con, zone, dataset, table, extra_days)
            extra[dataset] = {
                f"{name}_days": f"{extra_days[0]}..{extra_days[-1]}",
                f"{name}_cinema_days_loaded": cinema_days,
                f"{name}_rows_loaded": rows,
            }
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
            metadata={
                "dagster/row_count": counts.get(name, 0),
                "window": f"{first}..{last}",
                **extra.get(name, {}),
            },
        )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", table.removeprefix("raw.")],
            group_name=DECLARED_RETURNS_GROUP,
            kinds={"duckdb"},
            description=f"The landing zone's declared returns, loaded into the warehouse table {table}.",
            owners=ownership.PLATFORM_OWNERS,
            tags={**ownership.INGESTION, **ownership.SETTLEMENT},
            deps=[["landing", DECLARED_RETURNS_DATASET]],
        )
        for table in DECLARED_RETURNS_SCHEMAS
    ],
    partitions_def=FILM_WEEK_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
def raw_declared_returns(
    context: dg.AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource
):
    """Replaces the window's film weeks of the declared returns, their quarantine and their manifests
    with what committed manifests name."""
    step_process_dies_with_its_run()  # an orphan would hold the warehouse's write lock
    zone = landing.zone()
    weeks = partition_weeks(context)
    first, last = weeks[0], weeks[-1]
    manifests = _manifest_table(m for _, _, m in zone.manifests(DECLARED_RETURNS_DATASET, weeks))
    counts = {}
    with warehouse.connect() as con:
        con.execute("create schema if not exists raw")
        con.execute("begin")
        for table, schema in DECLARED_RETURNS_SCHEMAS.items():
            ensure_table(con, table, schema)
        for table, kind in (
            ("raw.declared_returns", "data"),
            ("raw.declared_returns_quarantine", "quarantine"),
        ):
            files = zone.committed_files(DECLARED_RETURNS_DATASET, weeks, kind)
            counts[table] = _replace_window(con, table, first, last, files)
        con.execute(
            "delete from raw.declared_returns_manifests where business_date between ? and ?", [first, last]
        )
        con.execute("insert into raw.declared_returns_manifests by name select * from manifests")
        counts["raw.declared_returns_manifests"] = manifests.num_rows
        con.execute("commit")
    for table in DECLARED_RETURNS_SCHEMAS:
        yield dg.MaterializeResult(
            asset_key=["raw", table.removeprefix("raw.")],
            metadata={"dagster/row_count": counts[table], "film_weeks": f"{first}..{last}"},
        )


ASSETS = [raw_tables, raw_declared_returns]
