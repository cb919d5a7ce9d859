"""declared_returns_discrepancies on the built scenario: declared against what the tickets add up to.
The rules line by line are the mart's dbt unit test; here, the mart on real upstream models."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.transformation.dbt_helpers import query
from tests.transformation.scenarios import DOMESTIC_FILM, FOREIGN_FILM, RETURNS_WEEK


@pytest.fixture(scope="module")
def lines(built_scenario) -> dict[tuple[str, str], dict]:
    rows = query(built_scenario.warehouse, "select * from marts.declared_returns_discrepancies")
    assert {r["film_week_start"] for r in rows} == {RETURNS_WEEK}
    return {(r["cinema_id"], r["film_id"]): r for r in rows}


def test_a_truthful_cinema_matches_its_tickets_and_is_not_flagged(lines, built_scenario):
    line = lines[("ALA-0002", FOREIGN_FILM)]
    tracked = query(
        built_scenario.warehouse,
        "select sum(gross_kzt) as gross, sum(admissions) as admissions "
        "from intermediate.int_sessions_aggregated "
        "where cinema_id = 'ALA-0002' and film_id = ? and business_date between ? and ? + 6",
        FOREIGN_FILM,
        RETURNS_WEEK,
        RETURNS_WEEK,
    )[0]
    assert (line["tracked_gross_kzt"], line["tracked_admissions"]) == (
        tracked["gross"],
        tracked["admissions"],
    )
    assert line["declared_gross_kzt"] == line["tracked_gross_kzt"] == Decimal("95700.50")
    assert (line["difference_kzt"], line["is_discrepancy"], line["discrepancy"]) == (
        Decimal("0.00"),
        False,
        None,
    )


def test_an_under_declaring_cinema_is_found(lines):
    line = lines[("ALA-0001", DOMESTIC_FILM)]
    assert line["is_discrepancy"] and line["discrepancy"] == "under_declared"
    assert (
        line["difference_kzt"]
        == line["declared_gross_kzt"] - line["tracked_gross_kzt"]
        < -line["tolerance_kzt"]
    )


def test_a_cinema_whose_returns_were_not_pulled_is_provisional_and_accuses_nobody(lines):
    shymkent = [line for (cinema_id, _), line in lines.items() if cinema_id == "SHY-0001"]
    assert shymkent and all(line["presence"] == "tracked_only" for line in shymkent)
    assert not any(line["is_discrepancy"] for line in shymkent)
    assert all("returns_not_pulled" in line["provisional_reasons"] for line in shymkent)


def test_a_week_still_open_is_provisional_and_a_cinema_never_asked_is_absent(lines):
    # The scenario is built as of 2024-03-03, inside the week.
    assert all(
        line["is_provisional"] and "day_open" in line["provisional_reasons"] for line in lines.values()
    )
    assert "ALA-0020" not in {cinema_id for cinema_id, _ in lines}
