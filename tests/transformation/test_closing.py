"""Closing the books: a day's figures turn final closing_lag_days after it, with what they leave out
stated and counted beside them, and whatever changes after closing is published as a revision; weeks,
weekends and settlement close with their last day."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal

from ekino_pipeline.transformation.assets import top_films_markdown
from ekino_pipeline.warehouse import WarehouseResource
from tests.transformation.conftest import CLOSED_AS_OF
from tests.transformation.dbt_helpers import mart, query, run_dbt
from tests.transformation.raw_fixture import local
from tests.transformation.scenarios import (
    FEB29,
    FOREIGN_FILM,
    MAR1,
    MAR2,
    clean_days,
    with_a_steady_film,
    with_anomalies,
)

WEEKEND = date(2024, 3, 1)


def _one(warehouse, sql: str, *params) -> dict:
    [row] = query(warehouse, sql, *params)
    return row


def test_a_closed_day_is_final_and_states_what_it_leaves_out(closed_scenario):
    # Issue 21, case 15: one cinema quarantining a record a day kept every day provisional forever.
    national = {r["business_date"]: r for r in mart(closed_scenario.warehouse, "national_daily", "1")}
    assert not any(r["is_provisional"] or r["provisional_reasons"] for r in national.values())
    assert (national[MAR1]["exclusions"], national[MAR1]["n_cinemas_missing"]) == (["cinemas_missing"], 1)
    mar2 = national[MAR2]
    assert mar2["exclusions"][0] == "cinemas_silent" and mar2["exclusions"][-1] == "records_quarantined"
    assert (mar2["n_cinemas_missing"], mar2["n_cinemas_silent"], mar2["excluded_quarantined_gross_kzt"]) == (
        0,
        1,
        Decimal("6500.00"),
    )
    assert mar2["excluded_quarantined_gross_kzt"] == mar2["quarantined_gross_kzt_claimed"]
    film_day = _one(
        closed_scenario.warehouse,
        "select * from marts.film_daily_box_office where film_id = ? and business_date = ?",
        FOREIGN_FILM,
        MAR2,
    )
    assert (film_day["is_provisional"], film_day["provisional_reasons"]) == (False, [])
    assert film_day["exclusions"] == mar2["exclusions"]
    assert film_day["excluded_quarantined_gross_kzt"] == Decimal("6500.00")
    [regions] = query(
        closed_scenario.warehouse,
        "select sum(excluded_quarantined_gross_kzt) as money, sum(n_cinemas_silent) as silent, "
        "bool_or(is_provisional) as provisional from marts.region_daily where business_date = ?",
        MAR2,
    )
    assert regions == {"money": Decimal("6500.00"), "silent": 1, "provisional": False}


def test_the_assets_top_films_call_a_closed_day_final_and_say_what_it_excludes(closed_scenario):
    text = top_films_markdown(WarehouseResource(path=str(closed_scenario.warehouse)), MAR1)
    assert text.startswith("**2024-03-01**, final, excluding: cinemas_missing: 67 of 68 connected cinemas")


def test_a_closed_week_weekend_and_year_to_date_are_final_with_their_days_exclusions(closed_scenario):
    week = _one(
        closed_scenario.warehouse,
        "select * from marts.film_weekly_box_office where film_id = ? and film_week_start = ?",
        FOREIGN_FILM,
        FEB29,
    )
    assert (week["is_provisional"], week["provisional_reasons"]) == (False, [])
    # 1 March missed a cinema, 2 March had a silent one and quarantined records; 3 to 6 March never ran.
    assert {"cinemas_missing", "cinemas_silent", "records_quarantined"} <= set(week["exclusions"])
    assert week["exclusions"][-1] == "days_not_loaded"
    assert (week["n_cinema_days_missing"], week["n_cinema_days_silent"]) == (1, 1)
    assert week["excluded_quarantined_gross_kzt"] == Decimal("6500.00")
    weekend = _one(
        closed_scenario.warehouse,
        "select * from marts.film_weekend_box_office where film_id = ? and weekend_start = ?",
        FOREIGN_FILM,
        WEEKEND,
    )
    assert (weekend["is_provisional"], weekend["exclusions"]) == (False, week["exclusions"])
    ytd = _one(
        closed_scenario.warehouse,
        "select * from marts.film_year_to_date where film_id = ? and through_date = ?",
        FOREIGN_FILM,
        MAR2,
    )
    assert (ytd["is_provisional"], ytd["exclusions"][-1]) == (False, "days_not_loaded")  # tracked from 20 Feb
    assert ytd["excluded_quarantined_gross_kzt"] == Decimal("6500.00")


def test_a_closed_settlement_week_is_final_and_counts_the_cinemas_missing_days(closed_scenario):
    lines = {
        r["cinema_id"]: r
        for r in query(
            closed_scenario.warehouse,
            "select * from marts.settlement_weekly where film_id = ? and film_week_start = ?",
            FOREIGN_FILM,
            FEB29,
        )
    }
    silent = lines["ALA-0020"]
    assert (silent["is_provisional"], silent["provisional_reasons"]) == (False, [])
    assert {"cinemas_missing", "cinemas_silent"} <= set(silent["exclusions"])
    # Failed on 1 March, 3 to 6 March not on record; silent on 2 March.
    assert (silent["n_days_missing"], silent["n_days_silent"]) == (5, 1)
    # A sale of 1500.00 quarantined, two held back with their unregistered session.
    assert lines["SHY-0001"]["excluded_quarantined_gross_kzt"] == Decimal("4500.00")


def _revisions(warehouse, snapshot: str, period_column: str, day, *, cinema: str | None = None) -> list[dict]:
    where = " and cinema_id = ?" if cinema else ""
    return query(
        warehouse,
        f"select * from revisions.{snapshot} where film_id = ? and {period_column} = ?{where} "
        "order by dbt_valid_from",
        FOREIGN_FILM,
        day,
        *([cinema] if cinema else []),
    )


def test_a_late_pull_after_closing_is_published_as_a_revision_of_the_day_week_and_weekend(
    closed_scenario, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(closed_scenario.warehouse, warehouse)
    # ALA-0020 answers for 1 March only now, after the day closed: it had screened the film once.
    fx = with_a_steady_film(with_anomalies(clean_days()))
    fx.failed.clear()
    late = fx.session("ALA-0020:S20240301-001", FOREIGN_FILM, "H01", local(MAR1, 18, 0), "ru")
    fx.sell(late, local(MAR1, 17, 0), "2000.00")
    fx.write(warehouse)
    run_dbt(warehouse, "build", start_date="2024-03-01", end_date="2024-03-01", as_of_date=CLOSED_AS_OF)

    day = _revisions(warehouse, "film_daily_box_office_revisions", "business_date", MAR1)
    assert [(r["is_provisional"], r["exclusions"], r["gross_kzt"]) for r in day] == [
        (False, ["cinemas_missing"], Decimal("5700.50")),
        (False, [], Decimal("7700.50")),
    ]
    assert day[0]["dbt_valid_to"] == day[1]["dbt_valid_from"] and day[1]["dbt_valid_to"] is None
    for snapshot, column, start in (
        ("film_weekly_box_office_revisions", "film_week_start", FEB29),
        ("film_weekend_box_office_revisions", "weekend_start", WEEKEND),
    ):
        settled, revised = _revisions(warehouse, snapshot, column, start)
        assert revised["gross_kzt"] == settled["gross_kzt"] + Decimal("2000.00"), snapshot
        assert (settled["n_cinema_days_missing"], revised["n_cinema_days_missing"]) == (1, 0), snapshot
        assert not settled["is_provisional"] and not revised["is_provisional"], snapshot
    settled, revised = _revisions(
        warehouse, "settlement_weekly_revisions", "film_week_start", FEB29, cinema="ALA-0020"
    )
    assert (settled["n_days_missing"], revised["n_days_missing"]) == (5, 4)
    assert revised["gross_kzt"] == settled["gross_kzt"] + Decimal("2000.00")
