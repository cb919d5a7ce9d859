"""The analysts' API on the built scenario's exports: a mart read whole with exact money, one-line
errors naming what exists, and a mart's state as of an instant read from its revisions, truthfully."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ekino_pipeline.analysis import AnalysisError, marts, marts_with_history, read_mart
from ekino_pipeline.calendar import BUSINESS_TZ
from ekino_pipeline.transformation.exports import export_marts, publish_warehouse_copy
from tests.transformation.dbt_helpers import ISSUE_MARTS, mart, query, run_dbt
from tests.transformation.scenarios import DOMESTIC_FILM, MAR1, MAR2

REVISED = "film_daily_box_office"


@pytest.fixture(scope="module")
def exports(built_scenario, tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    export_marts(built_scenario.warehouse, folder)
    publish_warehouse_copy(built_scenario.warehouse, folder)
    return folder


def test_every_mart_reads_whole_with_money_as_exact_decimals(built_scenario, exports):
    assert set(marts(exports=exports)) >= ISSUE_MARTS
    frame = read_mart("film_daily_box_office", exports=exports)
    expected = mart(built_scenario.warehouse, "film_daily_box_office", "business_date, film_id")
    assert len(frame) == len(expected)
    assert all(isinstance(v, Decimal) for v in frame["gross_kzt"])
    assert sum(frame["gross_kzt"]) == sum(r["gross_kzt"] for r in expected)
    assert {type(v) for v in frame["business_date"]} == {date}
    # A rank may be missing: integers stay integers (nullable), not floats.
    assert str(frame["rank_of_day"].dtype) in ("Int32", "Int64")

    floats = read_mart("film_daily_box_office", exports=exports, money="float")
    assert floats["gross_kzt"].dtype == "float64"


def test_filters_and_columns_select_what_is_read(exports):
    day = read_mart(
        "film_daily_box_office",
        exports=exports,
        columns=["film_id", "gross_kzt"],
        filters=[("business_date", "=", MAR1)],
    )
    assert list(day.columns) == ["film_id", "gross_kzt"]
    assert DOMESTIC_FILM in set(day["film_id"])
    whole = read_mart("film_daily_box_office", exports=exports)
    assert len(day) == int((whole["business_date"] == MAR1).sum())


def test_errors_are_one_line_naming_what_exists(exports, tmp_path):
    with pytest.raises(AnalysisError) as unknown:
        read_mart("film_daily_box_ofice", exports=exports)
    message = str(unknown.value)
    assert "\n" not in message
    assert "unknown mart 'film_daily_box_ofice'" in message and "film_daily_box_office" in message

    with pytest.raises(AnalysisError, match=r"no marts exported in .*make demo"):
        read_mart("film_daily_box_office", exports=tmp_path)
    with pytest.raises(AnalysisError, match="has no column 'gross'; it has: film_id"):
        read_mart("film_daily_box_office", exports=exports, columns=["gross"])
    with pytest.raises(AnalysisError, match="money='cents'"):
        read_mart("film_daily_box_office", exports=exports, money="cents")


@pytest.mark.parametrize("as_of", [date(9999, 12, 31), "9999-12-31"])
def test_as_of_the_calendars_last_day_is_an_analysis_error_not_an_overflow(tmp_path, as_of):
    # as_of=date(9999, 12, 31) raised OverflowError: the day's end is past the last date Python holds.
    pq.write_table(
        pa.table({"business_date": [date(2024, 3, 1)]}), tmp_path / "film_daily_box_office.parquet"
    )
    with pytest.raises(AnalysisError, match=r"^as_of=9999-12-31: .*beyond") as caught:
        read_mart("film_daily_box_office", exports=tmp_path, as_of=as_of)
    assert "\n" not in str(caught.value)


def test_as_of_is_refused_for_a_mart_without_revisions_naming_those_with(exports):
    assert {"film_daily_box_office", "region_daily"} <= set(marts_with_history(exports=exports))
    with pytest.raises(AnalysisError) as refused:
        read_mart("national_daily", exports=exports, as_of=MAR2)
    message = str(refused.value)
    assert "national_daily keeps no revision history" in message
    assert "film_daily_box_office" in message and "region_daily" in message and "\n" not in message
    with pytest.raises(AnalysisError, match="has no time zone"):
        read_mart(REVISED, exports=exports, as_of=datetime(2026, 1, 1, 12, 0))


def test_as_of_reads_the_state_a_mart_had_then(built_scenario, tmp_path):
    """A figure is revised after the first build: before the revision the old figure, after it the new,
    before the first build nothing (an error, not an empty frame)."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built_scenario.warehouse, warehouse)
    before = read_figures(warehouse)
    first_build = query(warehouse, f"select min(dbt_valid_from) as at from revisions.{REVISED}_revisions")[0][
        "at"
    ]
    between = datetime.now(UTC)

    con = duckdb.connect(str(warehouse))
    con.execute(
        f"update marts.{REVISED} set gross_kzt = gross_kzt + 1000 where film_id = ? and business_date = ?",
        [DOMESTIC_FILM, MAR1],
    )
    con.close()
    run_dbt(warehouse, "snapshot", "--select", f"{REVISED}_revisions")
    exports = tmp_path / "exports"
    export_marts(warehouse, exports)
    publish_warehouse_copy(warehouse, exports)

    then = read_mart(REVISED, exports=exports, as_of=between)
    now = read_mart(REVISED, exports=exports, as_of=datetime.now(UTC) + timedelta(seconds=1))
    key = (then["film_id"] == DOMESTIC_FILM) & (then["business_date"] == MAR1)
    assert then.loc[key, "gross_kzt"].item() == before[(DOMESTIC_FILM, MAR1)]
    key_now = (now["film_id"] == DOMESTIC_FILM) & (now["business_date"] == MAR1)
    assert now.loc[key_now, "gross_kzt"].item() == before[(DOMESTIC_FILM, MAR1)] + 1000
    # Every other film-day is the same in both states, and the current state is the export.
    current = read_mart(REVISED, exports=exports)
    assert len(then) == len(now) == len(current)
    assert sorted(now["gross_kzt"]) == sorted(current["gross_kzt"])
    assert then.loc[~key, "gross_kzt"].sum() == now.loc[~key_now, "gross_kzt"].sum()
    assert {"valid_from", "valid_to"} <= set(now.columns) and "dbt_scd_id" not in now.columns
    assert now.loc[key_now, "valid_from"].item() > pd.Timestamp(between)

    # A date is the end of that business day in Asia/Almaty; before the first build nothing is kept.
    first_day = first_build.astimezone(BUSINESS_TZ).date()
    with pytest.raises(AnalysisError, match="no revision on record that early"):
        read_mart(REVISED, exports=exports, as_of=first_day - timedelta(days=1))
    assert len(read_mart(REVISED, exports=exports, as_of=first_day.isoformat())) == len(current)


def read_figures(warehouse) -> dict:
    return {
        (r["film_id"], r["business_date"]): r["gross_kzt"]
        for r in query(warehouse, f"select film_id, business_date, gross_kzt from marts.{REVISED}")
    }
