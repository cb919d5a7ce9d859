"""dbt on a hand-made warehouse: box office by session day, coverage, anomalies, funding, exact money."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from decimal import Decimal

from ekino_pipeline.exchange.registry import load_registry
from ekino_pipeline.transformation.project import dbt_project
from ekino_sim import SAMPLE_REGISTRY_DIR
from tests.transformation.box_office import box_office, by_film_day
from tests.transformation.conftest import Built
from tests.transformation.dbt_helpers import ISSUE_MARTS, mart, query, run_dbt
from tests.transformation.raw_fixture import RawFixture, local
from tests.transformation.scenarios import (
    DOMESTIC_FILM,
    FEB29,
    FOREIGN_FILM,
    GHOST_SESSION,
    MAR1,
    MAR2,
    MAR5,
    UNREGISTERED_FILM,
)

FIGURES = ("gross_kzt", "sales_kzt", "refunds_kzt", "admissions")


def _landed(built: Built):
    """The landed events, and the sessions of the days whose ticket events were pulled (sessions listed
    ahead count in advance_sales, not in any day's box office)."""
    fx = built.fixture
    keep = lambda rows: [r for r in rows if (r["cinema_id"], r["business_date"]) not in fx.failed]  # noqa: E731
    return keep(fx.events), [s for s in keep(fx.sessions) if s["business_date"] in fx.days]


def _film_day(built: Built, film_id: str, day: date) -> dict:
    [row] = query(
        built.warehouse,
        "select * from marts.film_daily_box_office where film_id = ? and business_date = ?",
        film_id,
        day,
    )
    return row


def test_a_refund_counts_against_the_day_of_its_session_not_the_day_it_came(built_scenario):
    # Two tickets presold on 2024-02-29, one refunded on 2024-03-01, for a screening on 2024-03-01.
    row = _film_day(built_scenario, DOMESTIC_FILM, MAR1)
    assert (row["sales_kzt"], row["refunds_kzt"], row["gross_kzt"]) == (
        Decimal("6800.00"),
        Decimal("1800.00"),
        Decimal("5000.00"),
    )
    assert (row["admissions"], row["paid_admissions"]) == (3, 2)  # an invitation is an admission, unpaid
    assert row["avg_ticket_price_kzt"] == Decimal("2500.00")
    # The presales of 2024-02-29 count on 2024-02-29 only for the screening of that day.
    assert _film_day(built_scenario, DOMESTIC_FILM, FEB29)["gross_kzt"] == Decimal("4400.00")


def test_a_sale_after_midnight_during_the_trailers_counts_on_the_session_day(built_scenario):
    row = _film_day(built_scenario, FOREIGN_FILM, MAR1)
    assert (row["gross_kzt"], row["admissions"]) == (Decimal("5700.50"), 2)


def test_film_and_region_marts_equal_an_independent_computation_over_the_events(built_scenario):
    events, sessions = _landed(built_scenario)
    expected = box_office(events, sessions, by_film_day)
    films = {
        (r["film_id"], r["business_date"]): r
        for r in mart(built_scenario.warehouse, "film_daily_box_office", "1, 2")
    }
    assert films.keys() == expected.keys()
    for key, figures in expected.items():
        assert {f: films[key][f] for f in FIGURES} == figures, key

    region_of = {c.cinema_id: c.region_code for c in load_registry(SAMPLE_REGISTRY_DIR).cinemas}
    by_region = box_office(events, sessions, lambda s: (region_of[s["cinema_id"]], s["business_date"]))
    regions = mart(built_scenario.warehouse, "region_daily", "region_code, business_date")
    assert len(regions) == 20 * len(built_scenario.fixture.days)  # every region, every day
    for row in regions:
        figures = by_region.get((row["region_code"], row["business_date"]))
        if row["cinemas_connected"] == 0:  # unknown, not zero
            assert figures is None and row["gross_kzt"] is None and row["admissions"] is None
        elif figures is None:
            assert row["gross_kzt"] == 0 and row["admissions"] == 0
        else:
            assert {f: row[f] for f in FIGURES} == figures


def test_clean_days_raise_no_anomalies(built_scenario):
    assert (
        query(built_scenario.warehouse, "select * from marts.anomalies where business_date <> ?", MAR2) == []
    )


def test_each_anomaly_pattern_is_found_once_on_its_session_day(built_scenario):
    found = {
        (r["anomaly_type"], r["session_id"]): r
        for r in query(
            built_scenario.warehouse, "select * from marts.anomalies where business_date = ?", MAR2
        )
    }
    assert sorted(found) == [
        ("late_sale", "ALA-0001:S20240302-002"),
        ("oversold_session", "ALA-0002:S20240302-002"),
        ("refund_of_quarantined_sale", "SHY-0001:S20240302-001"),
        ("refund_without_sale", "ALA-0001:S20240302-002"),
        ("seat_sold_twice", "ALA-0001:S20240302-002"),
        ("unknown_session", GHOST_SESSION),
        ("unregistered_film_session", "SHY-0001:S20240302-050"),
    ]
    assert (
        "45 tickets sold for hall ALA-0002:H08 of 44 seats"
        in found[("oversold_session", "ALA-0002:S20240302-002")]["details"]
    )
    # The seat resold after its refund is fine; the one still held is not.
    assert "row 3 seat 7" in found[("seat_sold_twice", "ALA-0001:S20240302-002")]["details"]
    assert found[("refund_without_sale", "ALA-0001:S20240302-002")]["ticket_id"].endswith("-9999")
    unregistered = found[("unregistered_film_session", "SHY-0001:S20240302-050")]
    assert unregistered["film_id"] == UNREGISTERED_FILM and "3000.00 KZT" in unregistered["details"]


def test_an_unknown_session_is_one_finding_dated_by_its_events_whatever_its_id_looks_like(built_scenario):
    # Dating by the id's ':S<yyyymmdd>-' habit made one unknown session a finding per event day, and an
    # id without it a finding 7 days ahead: the contract promises no such shape.
    unknown = query(
        built_scenario.warehouse,
        "select * from marts.anomalies where anomaly_type = 'unknown_session'",
    )
    assert [(a["session_id"], a["business_date"]) for a in unknown] == [(GHOST_SESSION, MAR2)]
    assert unknown[0]["details"].startswith("3 events name a session the cinema never listed")


def test_every_figure_carries_how_many_connected_cinemas_reported_that_day(built_scenario):
    national = {r["business_date"]: r for r in mart(built_scenario.warehouse, "national_daily", "1")}
    # 68 of 103 cinemas are connected and all answered, but ALA-0020 failed on 2024-03-01 and was silent
    # on 2024-03-02 (a screening scheduled, nothing sold): neither day counts it as reporting; nor does
    # 2024-03-02 count ALA-0004, whose every record was quarantined.
    assert [
        (national[d]["cinemas_reporting"], national[d]["cinemas_connected"], national[d]["cinemas_total"])
        for d in (FEB29, MAR1, MAR2)
    ] == [(68, 68, 103), (67, 68, 103), (66, 68, 103)]
    assert _film_day(built_scenario, FOREIGN_FILM, MAR1)["cinemas_reporting"] == 67
    [almaty] = query(
        built_scenario.warehouse,
        "select * from marts.region_daily where region_code = 'KZ-75' and business_date = ?",
        MAR1,
    )
    assert (almaty["cinemas_reporting"], almaty["cinemas_connected"], almaty["cinemas_total"]) == (13, 14, 20)

    [failed] = query(
        built_scenario.warehouse,
        "select * from marts.cinema_reporting_daily where cinema_id = 'ALA-0020' and business_date = ?",
        MAR1,
    )
    assert not failed["is_reported"] and failed["reporting_state"] == "failed"
    assert "did not answer" in failed["error"] and failed["n_discarded_served"] == 14
    # A killed attempt followed by a successful re-pull counts as the re-pull: reported.
    [repulled] = query(
        built_scenario.warehouse,
        "select * from marts.cinema_reporting_daily where cinema_id = 'ALA-0001' and business_date = ?",
        MAR2,
    )
    assert (repulled["reporting_state"], repulled["n_killed_attempts"], repulled["error"]) == (
        "reported",
        1,
        None,
    )
    assert failed["n_killed_attempts"] == 0
    status = {
        r["cinema_id"]: r["status"] for r in mart(built_scenario.warehouse, "cinema_reporting_status", "1")
    }
    assert status["ALA-0001"] == "reported"
    assert status["ALA-0020"] == "silent"  # answered on the last day, nothing sold, a screening scheduled
    assert status["ALA-0007"] == "no_sessions"  # answered, nothing scheduled: its zero is true
    assert status["ALA-0004"] == "quarantined"  # answered, but nothing it sent could be landed
    assert status["AST-0001"] == "not_connected"


def test_a_region_with_no_connected_cinema_has_no_figure_rather_than_zero(built_scenario):
    [row] = query(
        built_scenario.warehouse,
        "select * from marts.region_daily where region_code = 'KZ-59' and business_date = ?",
        FEB29,
    )
    assert (row["cinemas_reporting"], row["cinemas_connected"], row["cinemas_total"]) == (0, 0, 2)
    assert row["gross_kzt"] is None and row["admissions"] is None and row["n_screenings"] is None
    assert row["exclusions"] == ["no_connected_cinema"] and not row["is_provisional"]


def test_a_day_is_provisional_until_closed_and_states_what_it_excludes_either_way(built_scenario):
    national = {r["business_date"]: r for r in mart(built_scenario.warehouse, "national_daily", "1")}
    exclusions = {day: row["exclusions"] for day, row in national.items()}
    # History starts 2024-02-20: the presales of the first eight session days were never loaded.
    assert exclusions[date(2024, 2, 20)] == ["presales_not_loaded"]
    assert exclusions[date(2024, 2, 27)] == ["presales_not_loaded"]
    assert exclusions[date(2024, 2, 28)] == []
    # ALA-0020's pull of 2024-03-01 failed: its sales after midnight of 2024-02-29 are missing.
    assert exclusions[FEB29] == ["late_sales_not_loaded"]
    assert exclusions[MAR1] == ["cinemas_missing"]
    assert exclusions[MAR2] == [
        "cinemas_silent",
        "presales_not_loaded",
        "late_sales_not_loaded",
        "records_quarantined",
    ]
    # As of 2024-03-03, closing lag 3 days: 1 and 2 March are open, every earlier day has closed.
    reasons = {day: row["provisional_reasons"] for day, row in national.items()}
    assert reasons == {day: ["day_open", *e] if day >= MAR1 else [] for day, e in exclusions.items()}
    assert {day: row["is_provisional"] for day, row in national.items()} == {
        day: day >= MAR1 for day in national
    }
    film_day = _film_day(built_scenario, DOMESTIC_FILM, MAR1)
    assert film_day["provisional_reasons"] == reasons[MAR1] and film_day["is_provisional"]
    assert (film_day["exclusions"], film_day["n_cinemas_missing"]) == (["cinemas_missing"], 1)


def test_quarantined_money_is_counted_where_an_analyst_can_see_it(built_scenario):
    [nation] = query(
        built_scenario.warehouse, "select * from marts.national_daily where business_date = ?", MAR2
    )
    # Quarantined sales of 1500.00 and 2000.00, and two sales of 1500.00 held back with their
    # unregistered session.
    assert (nation["quarantined_events"], nation["quarantined_sessions"]) == (4, 1)
    assert nation["quarantined_gross_kzt_claimed"] == Decimal("6500.00")
    regions = query(
        built_scenario.warehouse,
        "select sum(quarantined_gross_kzt_claimed) as claimed from marts.region_daily "
        "where business_date = ?",
        MAR2,
    )
    assert regions == [{"claimed": Decimal("6500.00")}]
    quarantine = mart(built_scenario.warehouse, "quarantine", "record_kind, dataset, event_id")
    assert [(q["record_kind"], q["dataset"], q["reason_code"]) for q in quarantine] == [
        ("held_back", "ticket_events", "session_unknown_film"),
        ("held_back", "ticket_events", "session_unknown_film"),
        ("quarantined", "sessions", "unknown_film"),
        ("quarantined", "ticket_events", "invalid_channel"),
        ("quarantined", "ticket_events", "invalid_seat_row"),
    ]
    assert all(q["film_id"] == UNREGISTERED_FILM and not q["is_film_registered"] for q in quarantine[:3])
    [shymkent] = query(
        built_scenario.warehouse,
        "select * from marts.cinema_reporting_daily where cinema_id = 'SHY-0001' and business_date = ?",
        MAR2,
    )
    assert (shymkent["n_events_quarantined"], shymkent["n_sessions_quarantined"]) == (1, 1)
    assert shymkent["quarantined_gross_kzt_claimed"] == Decimal("1500.00")


def test_advance_sales_show_what_is_sold_so_far_for_sessions_after_the_last_day(built_scenario):
    [ahead] = mart(built_scenario.warehouse, "advance_sales", "film_id, session_date")
    assert (ahead["film_id"], ahead["session_date"], ahead["sales_through_date"]) == (
        DOMESTIC_FILM,
        MAR5,
        MAR2,
    )
    assert (ahead["n_tickets_sold"], ahead["n_tickets_refunded"], ahead["gross_kzt"]) == (
        2,
        1,
        Decimal("2500.00"),
    )
    assert ahead["is_provisional"] and ahead["provisional_reasons"] == ["sales_open"]
    # No day's box office counts a session whose own day's ticket events were not pulled yet.
    assert (
        query(
            built_scenario.warehouse,
            "select * from marts.film_daily_box_office where business_date > ?",
            MAR2,
        )
        == []
    )


def test_a_funded_film_shows_its_box_office_against_its_grant(built_scenario):
    [grant] = query(
        built_scenario.warehouse, "select * from marts.funding_outcomes where film_id = ?", DOMESTIC_FILM
    )
    assert grant["project_id"] == "KFP-2019-007" and grant["reached_theatres"] and grant["is_released"]
    assert grant["tracked_gross_kzt"] == Decimal("17400.00")  # 4400 + 5000 + 8000 over three session days
    reported = sum(
        r.gross_kzt for r in load_registry(SAMPLE_REGISTRY_DIR).history if r.film_id == DOMESTIC_FILM
    )
    assert grant["reported_gross_kzt"] == reported > 0  # its run of 2020-2021, all before tracking
    assert grant["lifetime_gross_kzt"] == reported + Decimal("17400.00")
    assert grant["gross_source"] == "mixed"
    assert grant["recoupment_rate"] == round(grant["lifetime_gross_kzt"] / grant["amount_kzt"], 6)
    years = {r["grant_year"]: r for r in mart(built_scenario.warehouse, "funding_outcomes_by_year", "1")}
    assert sum(r["n_projects"] for r in years.values()) == 98
    assert sum(r["funded_amount_kzt"] for r in years.values()) == Decimal("19000000000.00")
    # Reaching theatres is the release record's (certificate, release date passed), not the screenings'.
    registry = load_registry(SAMPLE_REGISTRY_DIR)
    films = {f.film_id: f for f in registry.films}
    released_2019 = [
        g
        for g in registry.grants
        if g.grant_year == 2019 and g.film_id and films[g.film_id].release_date <= date(2024, 3, 3)
    ]
    assert years[2019]["n_reached_theatres"] == len(released_2019) > 1


def test_money_is_exact_decimal_in_every_mart(built_scenario):
    columns = query(
        built_scenario.warehouse,
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'marts'",
    )
    assert {c["table_name"] for c in columns} >= ISSUE_MARTS
    assert [c for c in columns if c["data_type"] in ("FLOAT", "DOUBLE", "REAL")] == []
    assert all(c["data_type"].startswith("DECIMAL") for c in columns if c["column_name"].endswith("_kzt"))


def test_a_first_loaded_day_holding_refunds_of_earlier_sales_builds_and_says_so(tmp_path):
    # Against a hostile exchange, a fresh warehouse whose first day refunded tickets sold before it failed
    # assert_negative_gross_is_explained, and nothing was published at all.
    fx = RawFixture(cinemas=["ALA-0001"], days=[MAR1, MAR2], listed_ahead=[])
    session = fx.session("ALA-0001:S20240301-007", FOREIGN_FILM, "H01", local(MAR1, 20, 0), "ru")
    ticket = fx.sell(session, local(FEB29, 12, 0), "2500.00")
    fx.refund(ticket, local(MAR1, 9, 0))
    fx.events = [e for e in fx.events if e["event_type"] == "refund"]  # sold before the loaded history
    warehouse = tmp_path / "warehouse.duckdb"
    fx.write(warehouse)
    run_dbt(warehouse, "build", as_of_date="2024-03-10")

    row = _film_day(Built(fx, warehouse), FOREIGN_FILM, MAR1)
    assert row["gross_kzt"] == Decimal("-2500.00") and row["admissions"] == -1
    # Closed as of 10 March: final, and the presales it leaves out are stated.
    assert "presales_not_loaded" in row["exclusions"] and not row["is_provisional"]
    assert query(warehouse, "select * from marts.anomalies where anomaly_type like 'refund%'") == []


def test_every_dbt_unit_test_of_the_project_passes(built_scenario, tmp_path):
    # The tests' own builds leave the unit tests out (dbt_helpers.run_dbt): they all run here, once, on
    # the built scenario (a unit test reads its model's parents' columns from the warehouse).
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built_scenario.warehouse, warehouse)
    manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    defined = {f"{t['model']}::{t['name']}" for t in manifest["unit_tests"].values()}
    result = run_dbt(warehouse, "test", "--select", "resource_type:unit_test")
    assert set(re.findall(r" PASS (\S+::\S+)", result.stdout)) == defined and defined
