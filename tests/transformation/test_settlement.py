"""settlement_weekly on the built scenario: it adds up to the tenge and to the daily marts."""

from collections import defaultdict
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from ekino_pipeline.exchange.registry import SHIPPED_REGISTRY_DIR, load_registry
from tests.transformation.dbt_helpers import mart

TIYN = Decimal("0.01")


def test_a_film_week_across_cinemas_equals_its_seven_days_of_film_daily_box_office(built_scenario):
    lines = mart(built_scenario.warehouse, "settlement_weekly", "film_id, film_week_start, cinema_id")
    days = mart(built_scenario.warehouse, "film_daily_box_office", "film_id, business_date")
    assert lines, "the scenario settled no week"
    weeks = defaultdict(lambda: [Decimal(0), 0])
    for line in lines:
        weeks[line["film_id"], line["film_week_start"]][0] += line["gross_kzt"]
        weeks[line["film_id"], line["film_week_start"]][1] += line["admissions"]
    for (film_id, start), (gross, admissions) in weeks.items():
        seven = [
            d for d in days if d["film_id"] == film_id and start <= d["business_date"] <= start + timedelta(6)
        ]
        assert (gross, admissions) == (
            sum(d["gross_kzt"] for d in seven),
            sum(d["admissions"] for d in seven),
        )


def test_every_line_splits_its_gross_into_tax_rental_and_exhibitor_share_to_the_tiyn(built_scenario):
    terms = {t.terms_id: t for t in load_registry(SHIPPED_REGISTRY_DIR).rental_terms}
    lines = mart(built_scenario.warehouse, "settlement_weekly", "cinema_id, film_id, film_week_start")
    for line in lines:
        assert line["gross_kzt"] == line["tax_kzt"] + line["rental_due_kzt"] + line["exhibitor_share_kzt"]
        assert line["net_kzt"] == line["gross_kzt"] - line["tax_kzt"]
        term = terms[line["terms_id"]]
        assert line["method"] == term.method == "sliding_by_week"  # what the scenario's films carry
        rate = term.rates[min(line["week_of_release"], len(term.rates)) - 1]
        assert line["rate_pct"] == rate
        assert line["rental_due_kzt"] == (line["net_kzt"] * rate / 100).quantize(TIYN, ROUND_HALF_UP)


def test_a_week_that_has_not_closed_is_provisional_and_says_why(built_scenario):
    # The scenario stands on 2024-03-03: the week of 2024-02-29 runs to 2024-03-06.
    lines = mart(built_scenario.warehouse, "settlement_weekly", "cinema_id, film_id")
    assert {line["film_week_start"].isoformat() for line in lines} == {"2024-02-29"}
    assert all(line["is_provisional"] and line["provisional_reasons"][0] == "day_open" for line in lines)
    # ALA-0020 did not answer on 2024-03-01 and sold nothing on 2024-03-02.
    [silent] = [line for line in lines if line["cinema_id"] == "ALA-0020"]
    assert {"cinemas_missing", "cinemas_silent"} <= set(silent["provisional_reasons"])
