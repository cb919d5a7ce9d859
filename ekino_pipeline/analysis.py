"""The analysts' Python API: any mart as a pandas DataFrame, read from the exports, never from the
warehouse file the pipeline writes (DuckDB lets one process write it, and that is the pipeline).

    from datetime import date
    from ekino_pipeline.analysis import marts, read_mart

    marts()                                   # what the exports hold
    day = read_mart("film_daily_box_office", filters=[("business_date", "=", date(2026, 11, 29))])
    then = read_mart("film_daily_box_office", as_of=date(2026, 11, 29))   # as published by that day's end

Where: `exports` (a folder) if given, else `<home>/exports`, else the pipeline's own setting
(`EKINO_EXPORTS_DIR`, `$EKINO_HOME/exports`). A mart is `<exports>/<mart>.parquet`, replaced atomically
by every build; the daily build publishes the marts, the live job the `live_*` ones.

As of: the warehouse keeps every change of some marts' published figures (dbt snapshots in its
`revisions` schema: `<mart>_revisions`, valid from one build's instant until the next change). Those
marts, and only those, can be read as they stood at an instant (an aware datetime) or at the end of a
business day (a date, Asia/Almaty); they are read from the read-only copy of the warehouse in the
exports. Asking it of another mart is an error naming the marts that support it; asking it before the
first revision on record is an error naming that instant, since nothing earlier is kept.

Money stays exact: `*_kzt` columns (DuckDB DECIMAL) arrive as `decimal.Decimal` objects. `money="float"`
turns every decimal column into float64, for plotting or statistics, not for sums that must add up to the
tenge. Integer and boolean columns are pandas' nullable dtypes (a rank may be missing), business days are
`datetime.date`, instants are UTC timestamps, lists (`provisional_reasons`) are arrays.

Every error is one line (`AnalysisError`): an unknown mart lists the known ones.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ekino_pipeline.calendar import BUSINESS_TZ
from ekino_pipeline.settings import Settings
from ekino_pipeline.warehouse import sql_string

if TYPE_CHECKING:
    import pandas as pd

MONEY = ("decimal", "float")
REVISIONS_SCHEMA = "revisions"
REVISIONS_SUFFIX = "_revisions"
# What a snapshot adds to the mart's columns; valid_from / valid_to are kept under plainer names.
_SNAPSHOT_COLUMNS = ("dbt_scd_id", "dbt_updated_at")
_VALIDITY = {"dbt_valid_from": "valid_from", "dbt_valid_to": "valid_to"}


@functools.cache
def _nullable() -> dict:
    """Arrow's integer and boolean types to pandas' nullable dtypes. pandas is imported on the first
    read, not with the module: the pipeline's Definitions import this module and never read a mart."""
    import pandas as pd

    return {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.uint8(): pd.UInt8Dtype(),
        pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }


class AnalysisError(ValueError):
    """A question the exports cannot answer, in one line."""


def exports_dir(home: str | Path | None = None, exports: str | Path | None = None) -> Path:
    """The folder read: `exports`, else `<home>/exports`, else the pipeline's setting."""
    if exports is not None:
        return Path(exports).resolve()
    if home is not None:
        return Path(home).resolve() / "exports"
    return Settings.from_env().exports_dir


def _warehouse_copy(folder: Path) -> Path:
    """The read-only copy of the warehouse among the exports (named like the warehouse file)."""
    named = folder / Settings.from_env().warehouse_path.name
    if named.exists():
        return named
    copies = sorted(p for p in folder.glob("*.duckdb") if not p.name.startswith("."))
    return copies[0] if len(copies) == 1 else folder / "warehouse.duckdb"


def marts(home: str | Path | None = None, *, exports: str | Path | None = None) -> list[str]:
    """The marts the exports hold, by name."""
    folder = exports_dir(home, exports)
    # Hidden files are a publication in progress (written, then renamed into place).
    return sorted(p.stem for p in folder.glob("*.parquet") if not p.name.startswith("."))


def marts_with_history(home: str | Path | None = None, *, exports: str | Path | None = None) -> list[str]:
    """The marts whose revisions the exported warehouse copy keeps: those `read_mart(as_of=...)` takes."""
    copy = _warehouse_copy(exports_dir(home, exports))
    if not copy.exists():
        return []
    with _read_only(copy) as con:
        rows = con.execute(
            "select table_name from duckdb_tables() where database_name = 'copy' and schema_name = ? "
            "and table_name like ? "
            "order by table_name",
            [REVISIONS_SCHEMA, f"%{REVISIONS_SUFFIX}"],
        ).fetchall()
        return [name.removesuffix(REVISIONS_SUFFIX) for (name,) in rows]


def read_mart(
    name: str,
    *,
    as_of: date | datetime | str | None = None,
    home: str | Path | None = None,
    exports: str | Path | None = None,
    columns: Sequence[str] | None = None,
    filters: Sequence[tuple] | None = None,
    money: str = "decimal",
) -> pd.DataFrame:
    """The mart `name` as a DataFrame: its current export, or with `as_of` its published state then.

    `filters` are pyarrow's (`[("business_date", ">=", date(2026, 11, 1))]`, ANDed), `columns` a subset.
    """
    _check_money(money)
    return to_frame(
        read_mart_table(name, as_of=as_of, home=home, exports=exports, columns=columns, filters=filters),
        money=money,
    )


def read_mart_table(
    name: str,
    *,
    as_of: date | datetime | str | None = None,
    home: str | Path | None = None,
    exports: str | Path | None = None,
    columns: Sequence[str] | None = None,
    filters: Sequence[tuple] | None = None,
) -> pa.Table:
    """`read_mart` as an Arrow table (exact types, no pandas conversion)."""
    folder = exports_dir(home, exports)
    known = marts(exports=folder)
    if name not in known:
        if not known:
            raise AnalysisError(
                f"no marts exported in {folder}: a daily_job build publishes them (make demo builds one)"
            )
        raise AnalysisError(f"unknown mart {name!r}; the exports in {folder} hold: {', '.join(known)}")
    if as_of is None:
        table = pq.read_table(folder / f"{name}.parquet")
    else:
        table = _revisions_as_of(folder, name, _instant(as_of))
    return _select(table, name, columns, filters)


def to_frame(table: pa.Table, money: str = "decimal") -> pd.DataFrame:
    """An Arrow table of a mart as pandas, money exact (`decimal`) or as float64 (`float`)."""
    _check_money(money)
    if money == "float":
        table = table.cast(
            pa.schema(
                pa.field(f.name, pa.float64(), f.nullable) if pa.types.is_decimal(f.type) else f
                for f in table.schema
            )
        )
    return table.to_pandas(types_mapper=_nullable().get, date_as_object=True)


def _check_money(money: str) -> None:
    if money not in MONEY:
        raise AnalysisError(f"money={money!r}: choose one of {', '.join(MONEY)}")


def _select(table: pa.Table, name: str, columns, filters) -> pa.Table:
    wanted = [*(columns or []), *(f[0] for f in filters or [])]
    missing = [c for c in wanted if c not in table.column_names]
    if missing:
        raise AnalysisError(
            f"{name} has no column {', '.join(map(repr, missing))}; it has: {', '.join(table.column_names)}"
        )
    if filters:
        try:
            table = table.filter(pq.filters_to_expression(list(filters)))
        except (TypeError, ValueError, pa.ArrowException) as exc:
            raise AnalysisError(f"filters {list(filters)!r} on {name}: {exc}".splitlines()[0]) from None
    return table.select(list(columns)) if columns else table


def _instant(as_of: date | datetime | str) -> datetime:
    """The instant an `as_of` names: an aware datetime as is, a date the end of that business day."""
    if isinstance(as_of, str):
        try:
            as_of = (
                datetime.fromisoformat(as_of) if "T" in as_of or " " in as_of else date.fromisoformat(as_of)
            )
        except ValueError:
            raise AnalysisError(
                f"as_of={as_of!r} is neither a date YYYY-MM-DD nor an ISO instant with its zone"
            ) from None
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None or as_of.utcoffset() is None:
            raise AnalysisError(
                f"as_of={as_of.isoformat()} has no time zone: give an aware instant, or a date for the "
                "end of that business day (Asia/Almaty)"
            )
        return as_of
    if isinstance(as_of, date):
        # The state once the day was over: just before the next business day began.
        try:
            next_day = datetime.combine(as_of + timedelta(days=1), time(), BUSINESS_TZ)
        except OverflowError:
            raise AnalysisError(
                f"as_of={as_of.isoformat()}: the end of that day is beyond the last date Python holds"
            ) from None
        return next_day - timedelta(microseconds=1)
    raise AnalysisError(f"as_of={as_of!r}: give a date, an aware datetime or an ISO string")


def _revisions_as_of(folder: Path, name: str, instant: datetime) -> pa.Table:
    supported = marts_with_history(exports=folder)
    if name not in supported:
        raise AnalysisError(
            f"{name} keeps no revision history, so it has no as_of state; marts with one: "
            f"{', '.join(supported) or 'none yet (the warehouse copy in ' + str(folder) + ' has none)'}"
        )
    table = f"copy.{REVISIONS_SCHEMA}.{name}{REVISIONS_SUFFIX}"
    with _read_only(_warehouse_copy(folder)) as con:
        [(first,)] = con.execute(f"select min(dbt_valid_from) from {table}").fetchall()
        if first is None or instant < first:
            since = (
                "it has none yet"
                if first is None
                else f"they begin at {first.astimezone(BUSINESS_TZ):%Y-%m-%d %H:%M:%S %z}"
            )
            raise AnalysisError(
                f"{name} as of {instant.isoformat()}: no revision on record that early ({since}); "
                "nothing before the first build with revisions is kept"
            )
        result = con.sql(
            f"select * exclude ({', '.join(_SNAPSHOT_COLUMNS)}) from {table} "
            "where dbt_valid_from <= $at and (dbt_valid_to is null or dbt_valid_to > $at)",
            params={"at": instant},
        ).to_arrow_table()
    return result.rename_columns([_VALIDITY.get(c, c) for c in result.column_names])


class _read_only:
    """The exported warehouse copy attached read-only as `copy` (in UTC), closed on exit. One
    connection, each result fetched whole before the next query."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self.con = duckdb.connect()
        self.con.execute("set TimeZone = 'UTC'")
        self.con.execute(f"attach {sql_string(self.path)} as copy (read_only)")
        return self.con

    def __exit__(self, *exc) -> None:
        self.con.close()


__all__ = [
    "AnalysisError",
    "exports_dir",
    "marts",
    "marts_with_history",
    "read_mart",
    "read_mart_table",
    "to_frame",
]
