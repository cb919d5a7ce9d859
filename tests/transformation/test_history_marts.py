"""Lifetime figures from release, funding outcomes from release records and the national years, on the
built scenario (tracked days in February-March 2024) with the shipped box office history."""

from __future__ import annotations

import shutil
from decimal import Decimal

import duckdb
import pytest

from ekino_pipeline.exchange.registry import load_registry
from ekino_pipeline.transformation.exports import export_marts
from ekino_sim import SAMPLE_REGISTRY_DIR
from ekino_sim.demo_tables import print_history
from tests.transformation.dbt_helpers import mart, query, run_dbt
from tests.transformation.scenarios import DOMESTIC_FILM, FOREIGN_FILM, MAR2


@pytest.fixture(scope="module")
def history():
    return load_registry(SAMPLE_REGISTRY_DIR).history


def _reported(history, film_id: str) -> tuple[Decimal, int]:
    rows = [r for r in history if r.film_id == film_id]
    return sum(r.gross_kzt for r in rows), sum(r.admissions for r in rows)


def test_an_analysts_cumulative_for_a_film_released_before_the_window_is_history_plus_window(
    built_scenario, history
):
    # Regression: cumulative figures counted from the first loaded day, not from the release.
    for film_id in (DOMESTIC_FILM, FOREIGN_FILM):
        rows = query(
            built_scenario.warehouse,
            "select * from marts.film_daily_box_office where film_id = ? order by business_date",
            film_id,
        )
        gross, admissions = _reported(history, film_id)
        window_gross = sum(r["gross_kzt"] for r in rows)
        window_admissions = sum(r["admissions"] for r in rows)
        last = rows[-1]
        assert last["business_date"] == MAR2
        assert last["days_in_release"] > 365
        assert last["cumulative_gross_kzt"] == gross + window_gross
        assert last["cumulative_admissions"] == admissions + window_admissions
        assert (last["reported_gross_kzt"], last["tracked_cumulative_gross_kzt"]) == (gross, window_gross)
        assert all(r["gross_source"] == "mixed" for r in rows)
        [performance] = query(
            built_scenario.warehouse, "select * from marts.film_performance where film_id = ?", film_id
        )
        assert performance["lifetime_gross_kzt"] == last["cumulative_gross_kzt"]
        assert performance["gross_kzt"] == window_gross


def test_no_reported_period_of_the_scenario_overlaps_its_tracked_days(built_scenario):
    # The scenario's films ran years before it; the overlap rule itself is a dbt unit test.
    assert mart(built_scenario.warehouse, "history_overlaps", "film_id") == []


def test_a_year_with_some_tracked_days_keeps_the_published_total_and_says_it_is_mixed(built_scenario):
    years = {r["year"]: r for r in mart(built_scenario.warehouse, "national_yearly", "year")}
    assert sorted(years) == list(range(2019, 2026))
    y2024 = years[2024]
    assert y2024["gross_kzt"] == Decimal("22000000000.00") and y2024["source"] == "mixed"
    assert y2024["n_days_tracked"] == 12 and y2024["tracked_gross_kzt"] > 0
    assert y2024["provisional_reasons"] == ["year_open"] and y2024["is_provisional"]
    assert years[2023]["source"] == "reported" and years[2023]["provisional_reasons"] == []


def test_on_the_shipped_registry_funding_and_national_years_show_the_published_facts(
    built_scenario, tmp_path, capsys
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built_scenario.warehouse, warehouse)
    # Standing in late 2026, every funded film's release date has passed.
    selected = "funding_outcomes funding_outcomes_by_year national_yearly"
    run_dbt(warehouse, "run", "--select", *selected.split(), as_of_date="2026-11-30")

    outcomes = mart(warehouse, "funding_outcomes", "project_id")
    assert len(outcomes) == 98
    assert sum(o["amount_kzt"] for o in outcomes) == Decimal("19000000000.00")
    reached = [o for o in outcomes if o["reached_theatres"]]
    assert len(reached) == 23 and all(o["distribution_certificate"] for o in reached)
    earned = sum(o["lifetime_gross_kzt"] for o in outcomes)
    assert Decimal("1.4e9") < earned < Decimal("1.6e9")
    assert earned == sum(o["reported_gross_kzt"] + o["tracked_gross_kzt"] for o in outcomes)
    by_year = mart(warehouse, "funding_outcomes_by_year", "grant_year")
    assert sum(y["n_reached_theatres"] for y in by_year) == 23
    assert sum(y["lifetime_gross_kzt"] for y in by_year) == earned

    years = {r["year"]: r for r in mart(warehouse, "national_yearly", "year")}
    y2024 = years[2024]
    assert y2024["gross_kzt"] == Decimal("22000000000.00")
    assert y2024["gross_change_rate"] == Decimal("0.3018")
    assert (y2024["n_top20_domestic"], y2024["top20_domestic_share"]) == (14, Decimal("0.7000"))
    assert 1700 <= y2024["avg_ticket_price_kzt"] <= 1900
    assert y2024["films_gross_kzt"] <= y2024["gross_kzt"]
    assert y2024["provisional_reasons"] == []

    # The demo prints them from the analysts' Parquet exports, with their sources.
    exports = tmp_path / "exports"
    export_marts(warehouse, exports)
    con = duckdb.connect()
    try:
        print_history(con.cursor(), lambda name: f"read_parquet('{exports / (name + '.parquet')}')")
    finally:
        con.close()
    printed = capsys.readouterr().out
    assert "In all: 98 projects, 19.0 bn tenge granted, 23 reached theatres, earning 1.50 bn tenge" in printed
    assert "1.50 bn reported before e-Kino" in printed
    [line_2024] = [line for line in printed.splitlines() if line.strip().startswith("2024 ")]
    assert "22000000000.00" in line_2024 and "0.3018" in line_2024 and "14/20" in line_2024
