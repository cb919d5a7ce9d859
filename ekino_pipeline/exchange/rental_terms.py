"""Film hire and tax: the rental terms registry (what a cinema owes a film's distributor, by method) and
the effective-dated tax rules, read from `rental_terms.csv` and `tax_rules.csv` beside the other
registries.

A term belongs to a film and, optionally, to one cinema chain or one cinema; the most specific one in
effect on a film week's Thursday settles that week (dbt: int_rental_terms_resolved). Percentages are
of the box office net of taxes, with at most two decimals; money is in tenge with at most two.
Every malformed value is an error naming the file, the line and the column.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ekino_pipeline.exchange.registry_csv import (
    CINEMA_ID_PATTERN,
    CSV_ENCODING,
    FILM_ID_PATTERN,
    RegistryError,
)

RENTAL_METHODS = (
    "sliding_by_week",
    "fixed_percentage",
    "house_allowance",
    "flat_fee_per_session",
    "flat_fee_per_week",
    "minimum_guarantee",
)
SCOPES = ("film", "chain", "cinema")

# Which optional parameters each method needs (a parameter a method does not use must be empty, so a
# row never carries a figure that silently plays no part).
_METHOD_PARAMETERS = {
    "sliding_by_week": {"rates"},
    "fixed_percentage": {"rates"},
    "house_allowance": {"rates", "house_allowance_kzt"},
    "flat_fee_per_session": {"fee_kzt"},
    "flat_fee_per_week": {"fee_kzt"},
    "minimum_guarantee": {"rates", "minimum_guarantee_kzt"},
}
_SINGLE_RATE = {"fixed_percentage", "house_allowance", "minimum_guarantee"}
_MONEY = ("house_allowance_kzt", "fee_kzt", "minimum_guarantee_kzt")


class RegistryRowError(RegistryError):
    """A registry value that cannot be used: names the file, the row and the column."""

    def __init__(self, path: Path, line: int, column: str, problem: str):
        super().__init__(f"{path}, row {line}, column {column}: {problem}")


@dataclass(frozen=True)
class RentalTerms:
    terms_id: str
    film_id: str
    distributor: str
    scope: str
    chain: str | None
    cinema_id: str | None
    method: str
    rates: tuple[Decimal, ...]
    house_allowance_kzt: Decimal | None
    fee_kzt: Decimal | None
    minimum_guarantee_kzt: Decimal | None
    effective_from: date
    effective_to: date | None
    terms_version: int


@dataclass(frozen=True)
class TaxRule:
    rule_id: str
    effective_from: date
    effective_to: date | None
    vat_rate_pct: Decimal
    film_fund_levy_pct: Decimal


class _Row:
    """One CSV row with typed accessors that fail naming where."""

    def __init__(self, path: Path, line: int, values: dict[str, str | None]):
        self.path, self.line, self.values = path, line, values

    def fail(self, column: str, problem: str) -> RegistryRowError:
        return RegistryRowError(self.path, self.line, column, problem)

    def text(self, column: str, *, required: bool = True) -> str | None:
        value = self.values.get(column)
        if value is None:
            raise self.fail(column, "missing (the file has no such column or the row is short)")
        value = value.strip()
        if not value and required:
            raise self.fail(column, "empty")
        return value or None

    def day(self, column: str, *, required: bool = True) -> date | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        try:
            if len(value) != 10:
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            raise self.fail(column, f"expected a date as YYYY-MM-DD, got {value!r}") from None

    def decimal(self, column: str, value: str, *, low: Decimal, high: Decimal | None) -> Decimal:
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise self.fail(column, f"expected a number, got {value!r}") from None
        if not number.is_finite() or number.as_tuple().exponent < -2:
            raise self.fail(column, f"expected at most two decimals, got {value!r}")
        if number < low or (high is not None and number > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise self.fail(column, f"expected {bound}, got {value!r}")
        return number

    def percentage(self, column: str) -> Decimal:
        return self.decimal(column, self.text(column), low=Decimal(0), high=Decimal(100))

    def integer(self, column: str) -> int:
        value = self.text(column)
        if not value.isdigit() or int(value) < 1:
            raise self.fail(column, f"expected a whole number from 1, got {value!r}")
        return int(value)


def _rows(path: Path) -> Iterable[_Row]:
    if not path.is_file():
        raise RegistryError(f"{path} does not exist")
    number = 1
    try:
        with path.open(newline="", encoding=CSV_ENCODING) as fh:
            reader = csv.DictReader(fh)
            for number, values in enumerate(reader, start=2):
                if None in values:
                    raise RegistryRowError(path, number, "(beyond the header)", "more values than columns")
                yield _Row(path, number, values)
    except csv.Error as exc:  # a field beyond the csv module's size limit, say
        raise RegistryError(f"{path}, row {number + 1}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path} cannot be read: {exc}") from None


def _effective(row: _Row) -> tuple[date, date | None]:
    effective_from = row.day("effective_from")
    effective_to = row.day("effective_to", required=False)
    if effective_to is not None and effective_to < effective_from:
        raise row.fail("effective_to", f"{effective_to} is before effective_from {effective_from}")
    return effective_from, effective_to


def _overlaps(a: tuple[date, date | None], b: tuple[date, date | None]) -> bool:
    return (a[1] is None or b[0] <= a[1]) and (b[1] is None or a[0] <= b[1])


def _terms(row: _Row, film_ids: frozenset[str], chains: frozenset[str], cinema_ids: frozenset[str]):
    film_id = row.text("film_id")
    if not FILM_ID_PATTERN.fullmatch(film_id):
        raise row.fail("film_id", f"expected F and five digits, got {film_id!r}")
    if film_id not in film_ids:
        raise row.fail("film_id", f"{film_id} is not in the film registry")
    scope = row.text("scope")
    if scope not in SCOPES:
        raise row.fail("scope", f"expected one of {', '.join(SCOPES)}, got {scope!r}")
    chain = row.text("chain", required=scope == "chain")
    cinema_id = row.text("cinema_id", required=scope == "cinema")
    if scope != "chain" and chain is not None:
        raise row.fail("chain", f"must be empty for a {scope}-wide term")
    if scope != "cinema" and cinema_id is not None:
        raise row.fail("cinema_id", f"must be empty for a {scope}-wide term")
    if chain is not None and chain not in chains:
        raise row.fail("chain", f"{chain!r} is no cinema chain of the registry")
    if cinema_id is not None and not (CINEMA_ID_PATTERN.fullmatch(cinema_id) and cinema_id in cinema_ids):
        raise row.fail("cinema_id", f"{cinema_id!r} is no cinema of the registry")
    method = row.text("method")
    if method not in RENTAL_METHODS:
        raise row.fail("method", f"expected one of {', '.join(RENTAL_METHODS)}, got {method!r}")
    needed = _METHOD_PARAMETERS[method]
    for column in ("rates", *_MONEY):
        value = row.text(column, required=column in needed)
        if column not in needed and value is not None:
            raise row.fail(column, f"must be empty for {method}")
    rates: tuple[Decimal, ...] = ()
    if "rates" in needed:
        parts = row.text("rates").split("|")
        rates = tuple(row.decimal("rates", p, low=Decimal(0), high=Decimal(100)) for p in parts)
        if method in _SINGLE_RATE and len(rates) != 1:
            raise row.fail("rates", f"{method} takes one percentage, got {len(rates)}")
    money = {
        column: row.decimal(column, row.text(column), low=Decimal(0), high=None) if column in needed else None
        for column in _MONEY
    }
    effective_from, effective_to = _effective(row)
    return RentalTerms(
        terms_id=row.text("terms_id"),
        film_id=film_id,
        distributor=row.text("distributor"),
        scope=scope,
        chain=chain,
        cinema_id=cinema_id,
        method=method,
        rates=rates,
        effective_from=effective_from,
        effective_to=effective_to,
        terms_version=row.integer("terms_version"),
        **money,
    )


def load_rental_terms(
    directory: Path, film_ids: frozenset[str], chains: frozenset[str], cinema_ids: frozenset[str]
) -> tuple[RentalTerms, ...]:
    """The terms of `rental_terms.csv`; two terms of the same film and target may not overlap in time."""
    path = directory / "rental_terms.csv"
    terms, seen_ids, periods = [], set(), {}
    for row in _rows(path):
        term = _terms(row, film_ids, chains, cinema_ids)
        if term.terms_id in seen_ids:
            raise row.fail("terms_id", f"{term.terms_id} appears twice")
        seen_ids.add(term.terms_id)
        target = (term.film_id, term.scope, term.chain, term.cinema_id)
        period = (term.effective_from, term.effective_to)
        for other_id, other in periods.get(target, []):
            if _overlaps(period, other):
                where = {"film": "film-wide", "chain": f"for chain {term.chain}"}.get(
                    term.scope, f"for cinema {term.cinema_id}"
                )
                raise row.fail("effective_from", f"overlaps {other_id}, a {where} term of {term.film_id}")
        periods.setdefault(target, []).append((term.terms_id, period))
        terms.append(term)
    return tuple(terms)


def load_tax_rules(directory: Path) -> tuple[TaxRule, ...]:
    """The rules of `tax_rules.csv`; their periods may not overlap (one VAT rate per day)."""
    path = directory / "tax_rules.csv"
    rules: list[TaxRule] = []
    for row in _rows(path):
        effective_from, effective_to = _effective(row)
        for other in rules:
            if _overlaps((effective_from, effective_to), (other.effective_from, other.effective_to)):
                raise row.fail("effective_from", f"overlaps {other.rule_id}")
        rules.append(
            TaxRule(
                rule_id=row.text("rule_id"),
                effective_from=effective_from,
                effective_to=effective_to,
                vat_rate_pct=row.percentage("vat_rate_pct"),
                film_fund_levy_pct=row.percentage("film_fund_levy_pct"),
            )
        )
    return tuple(rules)
