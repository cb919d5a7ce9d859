"""A period to date against the same days of the period before: a film week three days in, or a weekend
two days in, compares day for day, never with a whole period (the rule case by case is the dbt unit
test a_weekend_compares_day_for_day_with_the_weekend_before)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tests.transformation.dbt_helpers import query
from tests.transformation.scenarios import FEB29, STEADY_FILM


def _row(warehouse, mart: str, column: str, start: date) -> dict:
    [row] = query(
        warehouse, f"select * from marts.{mart} where film_id = ? and {column} = ?", STEADY_FILM, start
    )
    return row


def test_a_week_three_days_in_compares_with_the_first_three_days_of_the_week_before(closed_scenario):
    # Issue 21, case 16: the week of 3 December, 3 days in, read -85% to -91% against a whole week.
    whole = _row(closed_scenario.warehouse, "film_weekly_box_office", "film_week_start", date(2024, 2, 22))
    assert (whole["gross_kzt"], whole["days_compared"]) == (Decimal("5000.00"), 7)
    partial = _row(closed_scenario.warehouse, "film_weekly_box_office", "film_week_start", FEB29)
    assert (partial["gross_kzt"], partial["days_covered"], partial["days_compared"]) == (
        Decimal("3600.00"),
        3,
        3,
    )
    # Thursday to Saturday, 1200.00 a day, against Thursday to Saturday of the week before, 1000.00 a day.
    assert (partial["previous_gross_kzt"], partial["gross_change_kzt"], partial["gross_change_rate"]) == (
        Decimal("3000.00"),
        Decimal("600.00"),
        Decimal("0.2000"),
    )
    assert (partial["previous_admissions"], partial["admissions_change"]) == (3, 0)


def test_a_weekend_two_days_in_compares_with_the_same_two_days_of_the_weekend_before(closed_scenario):
    partial = _row(closed_scenario.warehouse, "film_weekend_box_office", "weekend_start", date(2024, 3, 1))
    assert (partial["gross_kzt"], partial["days_compared"]) == (Decimal("2400.00"), 2)
    # Friday and Saturday against Friday and Saturday (2000.00), not the whole weekend (2500.00).
    assert (partial["previous_gross_kzt"], partial["gross_change_rate"]) == (
        Decimal("2000.00"),
        Decimal("0.2000"),
    )
    assert partial["previous_chart_rank"] == 1
