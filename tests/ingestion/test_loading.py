"""The loader: landing -> warehouse `raw` tables, window by window."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pyarrow as pa

from ekino_pipeline.calendar import PRESALE_HORIZON_DAYS
from ekino_pipeline.ingestion import assets as ingestion_assets
from ekino_pipeline.ingestion.loading import MANIFEST_COLUMNS, raw_tables
from ekino_pipeline.settings import Settings
from tests.conftest import EkinoHome
from tests.ingestion.helpers import EXCHANGE_ASSETS, manifests, materialize

DAY = date(2024, 3, 5)
CINEMAS = ["ALA-0001", "AST-0003", "SHY-0001"]
_DUCKDB = {
    pa.string(): "varchar",
    pa.date32(): "date",
    pa.int32(): "integer",
    pa.int64(): "bigint",
    pa.float64(): "double",
    pa.timestamp("us", tz="UTC"): "timestamptz",
}


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
    [(national_2024,)] = _count(
        pilot_home.env,
        "select gross_kzt from raw.box_office_history where film_id is null and period_start = '2024-01-01'",
    )
    assert str(national_2024) == "22000000000.00"
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


def _per_day(env, table: str, days) -> dict[date, int]:
    rows = _count(
        env,
        f"select business_date, count(*) from raw.{table} where business_date between ? and ? group by 1",
        min(days),
        max(days),
    )
    return dict(rows)


def _raw_metadata(result, name: str) -> dict:
    event = next(
        e for e in result.asset_materializations_for_node(raw_tables.op.name) if e.asset_key.path[-1] == name
    )
    return {key: value.value for key, value in event.metadata.items()}


def test_the_loader_loads_the_lookback_and_upcoming_cinema_days_once_and_a_re_pulled_one_again(
    monkeypatch, pilot_home: EkinoHome
):
    env, cinemas = pilot_home.env, CINEMAS[:2]
    beside = {"presale_lookback_days": PRESALE_HORIZON_DAYS, "upcoming_session_days": PRESALE_HORIZON_DAYS}
    assets = [*EXCHANGE_ASSETS, raw_tables]
    lookback = [DAY - timedelta(days=n) for n in range(8, 0, -1)]
    upcoming = [DAY + timedelta(days=n) for n in range(1, 9)]
    first = materialize(monkeypatch, env, DAY.isoformat(), assets=assets, cinemas=cinemas, **beside)
    assert first.success
    events = _raw_metadata(first, "ticket_events")
    assert events["lookback_cinema_days_loaded"] == 8 * len(cinemas)
    assert events["lookback_rows_loaded"] > 0
    assert _raw_metadata(first, "sessions")["upcoming_cinema_days_loaded"] == 8 * len(cinemas)
    landed = {d: sum(m["landed"] for m in manifests(env, "ticket_events", d).values()) for d in lookback}
    assert _per_day(env, "ticket_events", lookback) == landed
    listed = {d: sum(m["landed"] for m in manifests(env, "sessions", d).values()) for d in upcoming}
    assert _per_day(env, "sessions", upcoming) == listed
    # Only the datasets pulled there: no sessions before the window, no events after it.
    assert _per_day(env, "sessions", lookback) == {} and _per_day(env, "ticket_events", upcoming) == {}
    [(n_manifests,)] = _count(env, "select count(*) from raw.landing_manifests")
    assert n_manifests == (2 + 8 + 8) * len(cinemas)

    # The next day: its lookback and upcoming days were loaded (or are its window), but the one new
    # upcoming day; nothing is loaded twice.
    next_day = DAY + timedelta(days=1)
    second = materialize(monkeypatch, env, next_day.isoformat(), assets=assets, cinemas=cinemas, **beside)
    assert second.success
    assert _raw_metadata(second, "ticket_events")["lookback_cinema_days_loaded"] == 0
    assert _raw_metadata(second, "sessions")["upcoming_cinema_days_loaded"] == len(cinemas)
    assert _per_day(env, "ticket_events", lookback) == landed

    # A lookback cinema-day pulled again (a new attempt) is replaced, its manifest row with it.
    repulled_day = lookback[3]
    assert materialize(
        monkeypatch,
        env,
        repulled_day.isoformat(),
        assets=[ingestion_assets.ticket_events],
        cinemas=[cinemas[0]],
    ).success
    again = materialize(monkeypatch, env, next_day.isoformat(), assets=[raw_tables])
    assert again.success
    assert _raw_metadata(again, "ticket_events")["lookback_cinema_days_loaded"] == 1
    assert _per_day(env, "ticket_events", lookback) == landed
    [(rows, distinct)] = _count(
        env,
        "select count(*), count(distinct event_id) from raw.ticket_events where business_date = ?",
        repulled_day,
    )
    assert rows == distinct == landed[repulled_day]
    attempt = manifests(env, "ticket_events", repulled_day)[cinemas[0]]["attempt_id"]
    assert _count(
        env,
        "select attempt_id from raw.landing_manifests "
        "where dataset = 'ticket_events' and cinema_id = ? and business_date = ?",
        cinemas[0],
        repulled_day,
    ) == [(attempt,)]


def test_a_warehouse_made_before_the_new_manifest_columns_takes_a_load(monkeypatch, pilot_home: EkinoHome):
    env = pilot_home.env
    warehouse = Settings.from_env(env).warehouse_path
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    old = {k: v for k, v in MANIFEST_COLUMNS.items() if k not in ("discarded_served", "replayed")}
    earlier = DAY - timedelta(days=20)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("create schema raw")
        columns = ", ".join(f"{name} {_DUCKDB[kind]}" for name, kind in old.items())
        con.execute(f"create table raw.landing_manifests ({columns})")
        con.execute(
            "insert into raw.landing_manifests (dataset, cinema_id, business_date, status, served) "
            "values ('ticket_events', 'ALA-0001', ?, 'success', 7)",
            [earlier],
        )
    finally:
        con.close()
    result = materialize(
        monkeypatch, env, DAY.isoformat(), assets=[*EXCHANGE_ASSETS, raw_tables], cinemas=CINEMAS[:1]
    )
    assert result.success
    rows = _count(
        env,
        "select business_date, dataset, served, discarded_served, replayed from raw.landing_manifests "
        "order by business_date, dataset",
    )
    served = {
        m["dataset"]: m["served"]
        for m in (
            manifests(env, "sessions", DAY)[CINEMAS[0]],
            manifests(env, "ticket_events", DAY)[CINEMAS[0]],
        )
    }
    assert rows == [
        (earlier, "ticket_events", 7, None, None),  # kept, with what it never knew left unknown
        (DAY, "sessions", served["sessions"], 0, None),
        (DAY, "ticket_events", served["ticket_events"], 0, None),
    ]
