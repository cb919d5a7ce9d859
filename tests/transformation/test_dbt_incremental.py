"""Incremental builds by window: the same marts as a full rebuild, and late data moving its session's day
with the earlier figure kept."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from decimal import Decimal

import duckdb

from tests.transformation.conftest import AS_OF
from tests.transformation.dbt_helpers import query, run_dbt
from tests.transformation.raw_fixture import local
from tests.transformation.scenarios import (
    FEB29,
    FOREIGN_FILM,
    MAR1,
    MAR2,
    clean_days,
    with_anomalies,
)

MARTS = {
    "film_daily_box_office": "film_id, business_date",
    "film_performance": "film_id",
    "film_breakdowns_daily": "dimension, dimension_value, business_date",
    "region_daily": "region_code, business_date",
    "national_daily": "business_date",
    "funding_outcomes": "project_id",
    "funding_outcomes_by_year": "grant_year",
    "cinema_reporting_daily": "cinema_id, business_date",
    "cinema_reporting_status": "cinema_id",
    "anomalies": "anomaly_id",
    "quarantine": "quarantine_record_id",
    "advance_sales": "film_id, session_date",
    "film_weekly_box_office": "film_id, film_week_start",
    "film_weekend_box_office": "film_id, weekend_start",
    "film_region_daily": "film_id, region_code, business_date",
    "film_year_to_date": "film_id, through_date",
    "distributor_year_to_date": "distributor, through_date",
    "distributor_market_share": "period, period_start_date, distributor",
    "settlement_weekly": "cinema_id, film_id, film_week_start",
}


def _marts(warehouse) -> dict[str, list[dict]]:
    return {
        name: query(warehouse, f"select * from marts.{name} order by {key}") for name, key in MARTS.items()
    }


def test_windows_built_out_of_order_equal_a_full_rebuild(built_scenario, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    with_anomalies(clean_days()).write(warehouse)
    # The later window first: the earlier one must then rewrite the running totals that follow it.
    run_dbt(warehouse, "build", start_date="2024-03-01", end_date="2024-03-02", as_of_date=AS_OF)
    run_dbt(warehouse, "build", start_date="2024-02-20", end_date="2024-02-29", as_of_date=AS_OF)
    assert _marts(warehouse) == _marts(built_scenario.warehouse)


def _gross(warehouse, film_id, day) -> Decimal:
    [(gross,)] = [
        tuple(r.values())
        for r in query(
            warehouse,
            "select gross_kzt from marts.film_daily_box_office where film_id = ? and business_date = ?",
            film_id,
            day,
        )
    ]
    return gross


def test_a_late_refund_moves_its_session_day_and_the_earlier_figure_is_kept(built_scenario, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built_scenario.warehouse, warehouse)
    before = _gross(warehouse, FOREIGN_FILM, MAR2)
    built_at = datetime.now().astimezone()

    # The Shymkent presale of 2024-03-01 for the screening of 2024-03-02 was refunded on 2024-03-01,
    # but the cinema's events of that day arrive only now; only that day's window is rebuilt.
    fx = with_anomalies(clean_days())
    presale = next(e for e in fx.events if e["session_id"] == "SHY-0001:S20240302-001")
    fx.refund(presale["ticket_id"], local(MAR1, 21, 0))
    fx.write(warehouse)
    run_dbt(warehouse, "build", start_date="2024-03-01", end_date="2024-03-01", as_of_date=AS_OF)

    assert _gross(warehouse, FOREIGN_FILM, MAR2) == before - Decimal("1500.00")
    assert _gross(warehouse, FOREIGN_FILM, MAR1) == Decimal("5700.50")  # the refund's own day is untouched
    revisions = query(
        warehouse,
        "select gross_kzt, dbt_valid_from, dbt_valid_to from revisions.film_daily_box_office_revisions "
        "where film_id = ? and business_date = ? order by dbt_valid_from",
        FOREIGN_FILM,
        MAR2,
    )
    assert [r["gross_kzt"] for r in revisions] == [before, before - Decimal("1500.00")]
    assert (
        revisions[0]["dbt_valid_to"] == revisions[1]["dbt_valid_from"]
        and revisions[1]["dbt_valid_to"] is None
    )
    # "What did the mart say for this film and day as of the first build?"
    [(as_of_then,)] = [
        tuple(r.values())
        for r in query(
            warehouse,
            "select gross_kzt from revisions.film_daily_box_office_revisions "
            "where film_id = ? and business_date = ? and dbt_valid_from <= ? "
            "and (dbt_valid_to > ? or dbt_valid_to is null)",
            FOREIGN_FILM,
            MAR2,
            built_at,
            built_at,
        )
    ]
    assert as_of_then == before
    # Figures that did not change have a single revision.
    unchanged = query(
        warehouse,
        "select count(*) as n from revisions.film_daily_box_office_revisions where business_date = ?",
        FEB29,
    )
    assert unchanged == [{"n": 1}]


def _revisions(warehouse, film_id, day) -> list[dict]:
    return query(
        warehouse,
        "select gross_kzt, is_provisional, provisional_reasons, dbt_valid_from, dbt_valid_to "
        "from revisions.film_daily_box_office_revisions where film_id = ? and business_date = ? "
        "order by dbt_valid_from",
        film_id,
        day,
    )


def test_a_day_turning_final_adds_a_revision_and_as_of_answers_ignore_the_readers_time_zone(
    built_scenario, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built_scenario.warehouse, warehouse)
    first_revision = _revisions(warehouse, FOREIGN_FILM, MAR1)
    con = duckdb.connect(str(warehouse))
    try:  # as dbt-duckdb stored revision times before: UTC wall-clock times without a zone
        for column in ("dbt_valid_from", "dbt_valid_to", "dbt_updated_at"):
            con.execute(
                f"alter table revisions.film_daily_box_office_revisions alter {column} "
                f"set data type timestamp using timezone('UTC', {column})"
            )
    finally:
        con.close()
    between = datetime.now(UTC)
    # ALA-0020 is pulled again for 2024-03-01 and answers; a week later the day has closed.
    fx = with_anomalies(clean_days())
    fx.failed.clear()
    fx.write(warehouse)
    run_dbt(warehouse, "build", start_date="2024-03-01", end_date="2024-03-01", as_of_date="2024-03-10")

    revisions = _revisions(warehouse, FOREIGN_FILM, MAR1)
    assert [(r["is_provisional"], r["provisional_reasons"]) for r in revisions] == [
        (True, ["day_open", "cinemas_missing"]),
        (False, []),
    ]
    assert revisions[0]["gross_kzt"] == revisions[1]["gross_kzt"]  # the same figure, now final
    # The times kept without a zone were taken for UTC, once: the first revision's instant is unchanged.
    assert revisions[0]["dbt_valid_from"] == first_revision[0]["dbt_valid_from"]
    assert (
        str(
            query(
                warehouse,
                "select typeof(dbt_valid_from) as t from revisions.film_daily_box_office_revisions limit 1",
            )[0]["t"]
        )
        == "TIMESTAMP WITH TIME ZONE"
    )

    # The shipped as-of analysis, compiled for the moment between the two builds, read in two zones.
    run_dbt(
        warehouse,
        "compile",
        "--select",
        "film_day_as_of",
        film_id=FOREIGN_FILM,
        business_date=str(MAR1),
        as_of=between.isoformat(),
    )
    [compiled] = (tmp_path / "dbt" / "target" / "compiled").rglob("film_day_as_of.sql")
    answers = []
    for zone in ("Asia/Almaty", "America/Los_Angeles"):
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            con.execute(f"set TimeZone = '{zone}'")
            cursor = con.cursor()
            cursor.execute(compiled.read_text())
            names = [d[0] for d in cursor.description]
            answers.append([dict(zip(names, row, strict=True)) for row in cursor.fetchall()])
        finally:
            con.close()
    assert len(answers[0]) == 1 and answers[0][0]["is_provisional"]
    assert [[(r["gross_kzt"], r["provisional_reasons"]) for r in a] for a in answers] == [
        [(revisions[0]["gross_kzt"], ["day_open", "cinemas_missing"])]
    ] * 2


def _duplicate_an_event_of(warehouse, day: str) -> str:
    """Lands one event of `day` a second time (as a cinema re-serving it under another day would)."""
    import duckdb

    con = duckdb.connect(str(warehouse))
    try:
        cursor = con.cursor()
        cursor.execute("select min(event_id) from raw.ticket_events where business_date = ?", [day])
        (event_id,) = cursor.fetchone()
        cursor.execute(
            "insert into raw.ticket_events select * from raw.ticket_events where event_id = ?", [event_id]
        )
    finally:
        con.close()
    return event_id


def _failed_tests(result) -> set[str]:
    return {
        line.split("Failure in test ")[1].split(" ")[0]
        for line in result.stdout.splitlines()
        if "Failure in test " in line
    }


def test_daily_builds_test_the_rows_they_read_and_the_weekly_run_the_whole_history(built_scenario, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built_scenario.warehouse, warehouse)
    _duplicate_an_event_of(warehouse, "2024-02-29")
    selection = ["--select", "stg_raw__ticket_events"]
    # A build of 2024-03-12 reads events from 03-12 - 1 - 8 = 03-03 on: the duplicate is not among them.
    later = {"start_date": "2024-03-12", "end_date": "2024-03-12", "as_of_date": AS_OF}
    assert run_dbt(warehouse, "test", *selection, **later).returncode == 0
    weekly = run_dbt(warehouse, "test", *selection, check=False, full_history_tests=True, **later)
    assert _failed_tests(weekly) == {"unique_stg_raw__ticket_events_event_id"}
    # A build of 2024-03-01 reads events from 02-21 on: the duplicate fails the daily build itself.
    window = {"start_date": "2024-03-01", "end_date": "2024-03-01", "as_of_date": AS_OF}
    daily = run_dbt(warehouse, "test", *selection, check=False, **window)
    assert _failed_tests(daily) == {"unique_stg_raw__ticket_events_event_id"}
