"""settlement_weekly on the built scenario: it adds up to the tenge and to the daily marts."""

import csv
from collections import defaultdict
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from ekino_pipeline.exchange.registry import load_registry
from ekino_pipeline.transformation.statements import distributor_file_stem, write_statements
from ekino_sim import SAMPLE_REGISTRY_DIR
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


def _rental_by_hand(term, line) -> tuple[Decimal | None, Decimal]:
    """The rate and the rental of a line, computed again in Python from the registry's term."""
    net = line["net_kzt"]

    def share(amount, rate):
        return (amount * rate / 100).quantize(TIYN, ROUND_HALF_UP)  # half away from zero

    if term.method == "sliding_by_week":
        rate = term.rates[min(line["week_of_release"], len(term.rates)) - 1]
        return rate, share(net, rate)
    if term.method == "fixed_percentage":
        return term.rates[0], share(net, term.rates[0])
    if term.method == "house_allowance":
        return term.rates[0], share(max(net - term.house_allowance_kzt, Decimal(0)), term.rates[0])
    if term.method == "flat_fee_per_session":
        return None, line["n_sessions"] * term.fee_kzt
    if term.method == "flat_fee_per_week":
        return None, term.fee_kzt
    return term.rates[0], max(share(net, term.rates[0]), term.minimum_guarantee_kzt)


def test_every_line_splits_its_gross_into_tax_rental_and_exhibitor_share_to_the_tiyn(built_scenario):
    terms = {t.terms_id: t for t in load_registry(SAMPLE_REGISTRY_DIR).rental_terms}
    lines = mart(built_scenario.warehouse, "settlement_weekly", "cinema_id, film_id, film_week_start")
    for line in lines:
        assert line["gross_kzt"] == line["tax_kzt"] + line["rental_due_kzt"] + line["exhibitor_share_kzt"]
        assert line["net_kzt"] == line["gross_kzt"] - line["tax_kzt"]
        term = terms[line["terms_id"]]
        assert line["method"] == term.method
        assert (line["rate_pct"], line["rental_due_kzt"]) == _rental_by_hand(term, line)


def test_a_week_that_has_not_closed_is_provisional_and_says_why(built_scenario):
    # The scenario stands on 2024-03-03: the week of 2024-02-29 runs to 2024-03-06.
    lines = mart(built_scenario.warehouse, "settlement_weekly", "cinema_id, film_id")
    assert {line["film_week_start"].isoformat() for line in lines} == {"2024-02-29"}
    assert all(line["is_provisional"] and line["provisional_reasons"][0] == "day_open" for line in lines)
    # ALA-0020 did not answer on 2024-03-01 and sold nothing on 2024-03-02.
    [silent] = [line for line in lines if line["cinema_id"] == "ALA-0020"]
    assert {"cinemas_missing", "cinemas_silent"} <= set(silent["provisional_reasons"])


def test_each_distributor_gets_a_statement_per_week_whose_lines_add_up_to_settlement_weekly(
    built_scenario, tmp_path
):
    statements = write_statements(built_scenario.warehouse, tmp_path)
    lines = mart(built_scenario.warehouse, "settlement_weekly", "cinema_id, film_id, film_week_start")
    expected = defaultdict(lambda: defaultdict(Decimal))
    for line in lines:
        for column in ("gross_kzt", "tax_kzt", "net_kzt", "rental_due_kzt", "exhibitor_share_kzt"):
            expected[line["distributor"], line["film_week_start"]][column] += line[column]
    assert {(s.distributor, s.film_week_start) for s in statements} == set(expected)
    for statement in statements:
        assert statement.totals == expected[statement.distributor, statement.film_week_start]
        assert statement.csv_path.parent == tmp_path / "statements" / statement.film_week_start.isoformat()
        with statement.csv_path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == statement.lines
        for column, total in statement.totals.items():
            assert sum(Decimal(r[column]) for r in rows) == total
        assert all(
            Decimal(r["gross_kzt"])
            == Decimal(r["tax_kzt"]) + Decimal(r["rental_due_kzt"]) + Decimal(r["exhibitor_share_kzt"])
            for r in rows
        )
        readable = statement.readable_path.read_text()
        assert (
            f"Rental due to {statement.distributor}: {statement.totals['rental_due_kzt']:,.2f} KZT"
            in readable
        )
        assert "PROVISIONAL (" in readable and "day_open" in readable
    assert not list(tmp_path.rglob(".*.tmp"))


def test_a_distributor_name_never_becomes_a_path():
    assert distributor_file_stem("Aurora Film Distribution") == "aurora-film-distribution"
    assert distributor_file_stem("../../etc/Kino Ltd.") == "etc-kino-ltd"


def test_what_came_back_on_a_funded_film_is_the_rental_due_on_its_settled_weeks(built_scenario):
    lines = mart(built_scenario.warehouse, "settlement_weekly", "cinema_id, film_id, film_week_start")
    outcomes = mart(built_scenario.warehouse, "funding_outcomes", "project_id")
    rental = defaultdict(Decimal)
    weeks = defaultdict(set)
    for line in lines:
        rental[line["film_id"]] += line["rental_due_kzt"] or 0
        weeks[line["film_id"]].add(line["film_week_start"])
    settled = [o for o in outcomes if o["film_id"] in rental]
    assert settled, "no funded film played in the scenario's settled weeks"
    for outcome in outcomes:
        assert outcome["rental_due_kzt"] == rental.get(outcome["film_id"], Decimal(0))
        assert outcome["n_weeks_settled"] == len(weeks.get(outcome["film_id"], ()))
        expected = (outcome["rental_due_kzt"] / outcome["amount_kzt"]).quantize(Decimal("0.000001"))
        assert abs(outcome["rental_recoupment_rate"] - expected) <= Decimal("0.000001")
    assert any(o["is_rental_provisional"] for o in settled)  # the scenario's last week is still open
    by_year = mart(built_scenario.warehouse, "funding_outcomes_by_year", "grant_year")
    assert sum(y["rental_due_kzt"] for y in by_year) == sum(o["rental_due_kzt"] for o in outcomes)
