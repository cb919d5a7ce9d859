"""The rental terms and tax rules registries: what ships, and how a malformed row is refused."""

import csv
import shutil
from datetime import date, timedelta
from decimal import Decimal

import pytest

from ekino_pipeline.exchange.registry import RegistryError, load_registry
from ekino_pipeline.exchange.rental_terms import RENTAL_METHODS
from ekino_sim import SAMPLE_REGISTRY_DIR


@pytest.fixture(scope="module")
def registry():
    return load_registry(SAMPLE_REGISTRY_DIR)


def _edit(tmp_path, name: str, edit) -> None:
    """Copy the shipped registry to tmp_path and let `edit` change the rows of `name`.csv."""
    for path in SAMPLE_REGISTRY_DIR.glob("*.csv"):
        shutil.copy(path, tmp_path / path.name)
    with (tmp_path / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns, rows = reader.fieldnames, list(reader)
    rows = edit(rows)
    with (tmp_path / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def test_every_rental_method_is_in_use_on_films_playing_in_the_demo_weeks(registry):
    releases = {f.film_id: f.release_date for f in registry.films}
    playing = {
        t.method
        for t in registry.rental_terms
        if date(2026, 10, 1) <= releases[t.film_id] <= date(2026, 11, 26)
    }
    assert playing == set(RENTAL_METHODS)
    scopes = {t.scope for t in registry.rental_terms if releases[t.film_id] >= date(2026, 10, 1)}
    assert scopes == {"film", "chain", "cinema"}


def test_every_film_has_terms_from_before_its_release(registry):
    first_terms = {}
    for t in registry.rental_terms:
        if t.scope == "film":
            first_terms[t.film_id] = min(first_terms.get(t.film_id, t.effective_from), t.effective_from)
    assert all(first_terms[f.film_id] <= f.release_date for f in registry.films)


def test_the_shipped_tax_rule_is_twelve_percent_vat_included_and_no_levy(registry):
    [rule] = registry.tax_rules
    assert (rule.vat_rate_pct, rule.film_fund_levy_pct, rule.effective_to) == (Decimal("12.00"), 0, None)


def _set(index: int, **values):
    def edit(rows):
        rows[index].update(values)
        return rows

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set(2, method="percentage"), "rental_terms.csv, row 4, column method: expected one of"),
        (_set(0, rates="55.00|abc"), "rental_terms.csv, row 2, column rates: expected a number, got 'abc'"),
        (_set(0, rates="55.005"), "rental_terms.csv, row 2, column rates: expected at most two decimals"),
        (_set(0, rates="120.00"), "column rates: expected between 0 and 100, got '120.00'"),
        (
            _set(0, fee_kzt="1000.00"),
            "rental_terms.csv, row 2, column fee_kzt: must be empty for sliding_by_week",
        ),
        (_set(0, film_id="F99999"), "column film_id: F99999 is not in the film registry"),
        (_set(0, scope="chain"), "rental_terms.csv, row 2, column chain: empty"),
        (_set(0, effective_to="2017-01-01"), "column effective_to: 2017-01-01 is before effective_from"),
        (_set(0, effective_from="21.12.2017"), "column effective_from: expected a date as YYYY-MM-DD"),
        (_set(0, terms_version="0"), "column terms_version: expected a whole number from 1, got '0'"),
    ],
)
def test_a_malformed_rental_term_is_refused_naming_file_line_and_column(tmp_path, edit, message):
    _edit(tmp_path, "rental_terms", edit)
    with pytest.raises(RegistryError) as failure:
        load_registry(tmp_path)
    assert message in str(failure.value)


def test_two_film_wide_terms_of_the_same_film_may_not_overlap_in_time(tmp_path):
    def overlapping(rows):
        first = dict(rows[0])
        start = date.fromisoformat(first["effective_from"]) + timedelta(days=30)
        return [*rows, {**first, "terms_id": "RT-EXTRA", "effective_from": start.isoformat()}]

    _edit(tmp_path, "rental_terms", overlapping)
    with pytest.raises(ValueError) as failure:
        load_registry(tmp_path)
    assert "column effective_from: overlaps RT-F00001-000001, a film-wide term of F00001" in str(
        failure.value
    )


def test_overlapping_tax_periods_are_refused(tmp_path):
    def overlapping(rows):
        return [
            *rows,
            {**rows[0], "rule_id": "TAX-2026", "effective_from": "2026-01-01", "vat_rate_pct": "16.00"},
        ]

    _edit(tmp_path, "tax_rules", overlapping)
    with pytest.raises(ValueError, match=r"tax_rules\.csv, row 3, column effective_from: overlaps TAX-2018"):
        load_registry(tmp_path)


def test_a_missing_rental_terms_file_is_named(tmp_path):
    _edit(tmp_path, "tax_rules", lambda rows: rows)
    (tmp_path / "rental_terms.csv").unlink()
    with pytest.raises(RegistryError, match=r"rental_terms\.csv does not exist"):
        load_registry(tmp_path)
