"""The loader: landing -> warehouse `raw` tables, window by window."""

from __future__ import annotations

from datetime import date

import duckdb

from ekino_pipeline.ingestion.loading import raw_tables
from ekino_pipeline.settings import Settings
from tests.conftest import EkinoHome
from tests.ingestion.helpers import EXCHANGE_ASSETS, manifests, materialize

DAY = date(2024, 3, 5)
CINEMAS = ["ALA-0001", "AST-0003", "SHY-0001"]


def _count(env, sql: str, *params):
    con = duckdb.connect(str(Settings.from_env(env).warehouse_path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_loading_a_day_twice_leaves_exactly_the_landed_events_in_the_warehouse(
    monkeypatch, pilot_home: EkinoHome
):
    for _ in range(2):
        result = materialize(
            monkeypatch,
            pilot_home.env,
            DAY.isoformat(),
            cinemas=CINEMAS,
            assets=[*EXCHANGE_ASSETS, raw_tables],
        )
        assert result.success
    landed = sum(m["landed"] for m in manifests(pilot_home.env, "ticket_events", DAY).values())
    [(rows, distinct)] = _count(
        pilot_home.env,
        "select count(*), count(distinct event_id) from raw.ticket_events where business_date = ?",
        DAY,
    )
    assert rows == distinct == landed
    [(n_manifests,)] = _count(pilot_home.env, "select count(*) from raw.landing_manifests")
    assert n_manifests == 2 * len(CINEMAS)  # sessions and ticket events, per cinema
    [(connected, total)] = _count(
        pilot_home.env,
        "select count(*) filter (where is_connected), count(*) from raw.cinemas_daily "
        "where business_date = ?",
        DAY,
    )
    assert (connected, total) == (68, 103)
    # Regression: DuckDB took the folder `cinema_id=national` of registry snapshots for a column.
    [(distinct_cinemas,)] = _count(pilot_home.env, "select count(distinct cinema_id) from raw.cinemas")
    [(distinct_daily,)] = _count(pilot_home.env, "select count(distinct cinema_id) from raw.cinemas_daily")
    assert distinct_cinemas == distinct_daily == 103
    [(grants, amount)] = _count(pilot_home.env, "select count(*), sum(amount_kzt) from raw.funding_grants")
    assert grants == 98 and str(amount) == "19000000000.00"
    [(money_type,)] = _count(
        pilot_home.env,
        "select data_type from information_schema.columns "
        "where table_schema = 'raw' and table_name = 'ticket_events' and column_name = 'amount_kzt'",
    )
    assert money_type.startswith("DECIMAL")


def test_loading_one_day_does_not_touch_another_days_rows(monkeypatch, pilot_home: EkinoHome):
    other = date(2024, 3, 6)
    for day in (DAY, other):
        assert materialize(
            monkeypatch,
            pilot_home.env,
            day.isoformat(),
            cinemas=CINEMAS,
            assets=[*EXCHANGE_ASSETS, raw_tables],
        ).success
    before = _count(pilot_home.env, "select count(*) from raw.ticket_events where business_date = ?", DAY)
    assert materialize(
        monkeypatch, pilot_home.env, other.isoformat(), cinemas=CINEMAS, assets=[*EXCHANGE_ASSETS, raw_tables]
    ).success
    assert (
        _count(pilot_home.env, "select count(*) from raw.ticket_events where business_date = ?", DAY)
        == before
    )
