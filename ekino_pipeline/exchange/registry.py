"""The national registries that cinemas do not own: regions, cinemas (with halls), films, grants,
and the box office reported before e-Kino tracked it (box_office_history).

They are CSV files in the folder `EKINO_REGISTRY_DIR` names (default `$EKINO_HOME/registry`): the
Ministry's own, never shipped with the pipeline. Connecting a cinema is a registry row, never a code change.
"""

from __future__ import annotations

import csv
import ipaddress
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from urllib.parse import urljoin, urlsplit

# CINEMA_ID_PATTERN is re-exported: callers outside the exchange import it from here.
from ekino_pipeline.exchange.registry_csv import (
    CINEMA_ID_PATTERN as CINEMA_ID_PATTERN,
)
from ekino_pipeline.exchange.registry_csv import (
    CSV_ENCODING,
    RegistryError,
    RegistryRow,
    read_registry_csv,
    validate_cinema_id,
    validate_film_id,
)
from ekino_pipeline.exchange.rental_terms import RentalTerms, TaxRule, load_rental_terms, load_tax_rules

REGISTRY_FILES = (
    "regions",
    "cinemas",
    "halls",
    "films",
    "funding_grants",
    "rental_terms",
    "tax_rules",
    "box_office_history",
)
HISTORY_FILE = "box_office_history.csv"
HISTORY_PERIODS = ("year", "film_week")
HISTORY_SOURCES = ("distributor_report", "ministry", "festival")


@dataclass(frozen=True)
class Region:
    region_code: str
    name: str
    kind: str
    capital: str
    population: int
    timezone: str


@dataclass(frozen=True)
class Hall:
    hall_id: str
    cinema_id: str
    name: str
    seats: int
    seat_rows: int
    format: str


@dataclass(frozen=True)
class Cinema:
    cinema_id: str
    name: str
    chain: str
    city: str
    region_code: str
    timezone: str
    connected: bool
    base_url: str
    halls: tuple[Hall, ...]

    @property
    def seats(self) -> int:
        return sum(h.seats for h in self.halls)


@dataclass(frozen=True)
class Film:
    film_id: str
    title: str
    original_title: str
    genres: tuple[str, ...]
    production_countries: tuple[str, ...]
    original_language: str
    release_date: date
    distributor: str
    is_domestic: bool
    funding_project_id: str | None
    runtime_minutes: int
    # The release record: a film reaches theatres with a distribution certificate, on its release date.
    distribution_certificate: str | None = None
    certificate_date: date | None = None


@dataclass(frozen=True)
class FundingGrant:
    project_id: str
    title: str
    producer: str
    grant_year: int
    amount_kzt: Decimal
    status: str
    film_id: str | None


@dataclass(frozen=True)
class ReportedBoxOffice:
    """Box office reported for a period before (or beside) e-Kino's tracking: a film's, or the nation's
    published total when film_id is None."""

    film_id: str | None
    period: str
    period_start: date
    gross_kzt: Decimal
    admissions: int
    source: str
    source_date: date

    @property
    def period_end(self) -> date:
        if self.period == "year":
            return date(self.period_start.year, 12, 31)
        return self.period_start + timedelta(days=6)


@dataclass(frozen=True)
class Registry:
    regions: tuple[Region, ...]
    cinemas: tuple[Cinema, ...]
    films: tuple[Film, ...]
    grants: tuple[FundingGrant, ...]
    rental_terms: tuple[RentalTerms, ...] = ()
    tax_rules: tuple[TaxRule, ...] = ()
    history: tuple[ReportedBoxOffice, ...] = ()

    @property
    def connected_cinemas(self) -> tuple[Cinema, ...]:
        return tuple(c for c in self.cinemas if c.connected)

    @cached_property
    def _cinemas_by_id(self) -> dict[str, Cinema]:
        return {c.cinema_id: c for c in self.cinemas}

    def cinema(self, cinema_id: str) -> Cinema:
        return self._cinemas_by_id[cinema_id]

    @cached_property
    def film_ids(self) -> frozenset[str]:
        return frozenset(f.film_id for f in self.films)


def _split(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split("|") if part)


def _bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"expected true or false, got {text!r}")
    return text == "true"


def _base_url(text: str) -> str:
    """A cinema's address as registered: an absolute http(s) URL, or a path below the exchange's."""
    parts = urlsplit(text)
    if not text or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{text!r} is not a base URL (no query, fragment or user name belongs in one)")
    if (parts.scheme or parts.netloc) and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise ValueError(f"{text!r} is neither an http(s) URL nor a path below the exchange's")
    return text


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: a host whose plain http never leaves the machine."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


REGISTRY_COLUMNS = {
    "regions": ("region_code", "name", "kind", "capital", "population", "timezone"),
    "halls": ("hall_id", "cinema_id", "name", "seats", "seat_rows", "format"),
    "cinemas": ("cinema_id", "name", "chain", "city", "region_code", "timezone", "connected", "base_url"),
    "films": (
        "film_id",
        "title",
        "original_title",
        "genres",
        "production_countries",
        "original_language",
        "release_date",
        "distributor",
        "is_domestic",
        "funding_project_id",
        "runtime_minutes",
        "distribution_certificate",
        "certificate_date",
    ),
    "funding_grants": ("project_id", "title", "producer", "grant_year", "amount_kzt", "status", "film_id"),
}
REGISTRY_KEYS = {
    "regions": "region_code",
    "halls": "hall_id",
    "cinemas": "cinema_id",
    "films": "film_id",
    "funding_grants": "project_id",
}


def load_registry(directory: Path | str) -> Registry:
    """Read and validate the registry CSVs; anything wrong is a RegistryError naming file, row and column."""
    directory = Path(directory)

    def rows(name: str) -> list[RegistryRow]:
        return read_registry_csv(directory / f"{name}.csv", REGISTRY_COLUMNS[name], REGISTRY_KEYS[name])

    regions = tuple(
        Region(
            r["region_code"], r["name"], r["kind"], r["capital"], r.parse("population", int), r["timezone"]
        )
        for r in rows("regions")
    )
    halls: dict[str, list[Hall]] = {}
    for r in rows("halls"):
        hall = Hall(
            r["hall_id"],
            r.parse("cinema_id", validate_cinema_id),
            r["name"],
            r.parse("seats", int),
            r.parse("seat_rows", int),
            r["format"],
        )
        halls.setdefault(hall.cinema_id, []).append(hall)
    region_codes = {r.region_code for r in regions}
    cinemas = []
    for r in rows("cinemas"):
        cinema_id = r.parse("cinema_id", validate_cinema_id)
        if r["region_code"] not in region_codes:
            raise r.error("region_code", f"cinema {cinema_id} names unknown region {r['region_code']!r}")
        cinemas.append(
            Cinema(
                cinema_id,
                r["name"],
                r["chain"],
                r["city"],
                r["region_code"],
                r["timezone"],
                r.parse("connected", _bool),
                r.parse("base_url", _base_url),
                tuple(halls.get(cinema_id, ())),
            )
        )
    films = tuple(
        Film(
            r.parse("film_id", validate_film_id),
            r["title"],
            r["original_title"],
            _split(r["genres"]),
            _split(r["production_countries"]),
            r["original_language"],
            r.parse("release_date", date.fromisoformat),
            r["distributor"],
            r.parse("is_domestic", _bool),
            r["funding_project_id"] or None,
            r.parse("runtime_minutes", int),
            r["distribution_certificate"] or None,
            r.parse("certificate_date", lambda text: date.fromisoformat(text) if text else None),
        )
        for r in rows("films")
    )
    grants = tuple(
        FundingGrant(
            r["project_id"],
            r["title"],
            r["producer"],
            r.parse("grant_year", int),
            r.parse("amount_kzt", Decimal),
            r["status"],
            r.parse("film_id", lambda text: validate_film_id(text) if text else None),
        )
        for r in rows("funding_grants")
    )
    rental_terms = load_rental_terms(
        directory,
        frozenset(f.film_id for f in films),
        frozenset(c.chain for c in cinemas),
        frozenset(c.cinema_id for c in cinemas),
    )
    # The history is optional: a registry without it has no reported box office before tracking.
    history_path = directory / HISTORY_FILE
    history = (
        load_box_office_history(history_path, {f.film_id for f in films}) if history_path.exists() else ()
    )
    return Registry(regions, tuple(cinemas), films, grants, rental_terms, load_tax_rules(directory), history)


class HistoryError(RegistryError):
    """A box office history file that cannot be used, naming its file, row and column."""


def load_box_office_history(
    path: Path | str, film_ids: set[str] | frozenset[str]
) -> tuple[ReportedBoxOffice, ...]:
    """Read and validate a box office history CSV (the shipped one, or a real one to import).

    Every film must be in the film registry; a national total (no film_id) is a year; a film week
    starts on a Thursday and a year on 1 January; money is exact tenge; two periods of one film from
    whatever their sources may not overlap, so nothing reported is counted twice.
    """
    path = Path(path)
    records: list[tuple[int, ReportedBoxOffice]] = []
    # Row 1 is the header, as a spreadsheet numbers it.
    reading = 1
    try:
        with path.open(newline="", encoding=CSV_ENCODING) as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in _HISTORY_PARSERS if c not in header]
            if missing:
                raise HistoryError(f"{path.name}: missing column(s) {', '.join(missing)}")
            for reading, row in enumerate(reader, start=2):
                records.append((reading, _history_record(path.name, reading, len(header), row, film_ids)))
    except csv.Error as exc:  # a field beyond the csv module's size limit, say
        raise HistoryError(f"{path.name} row {reading + 1}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise HistoryError(f"{path.name} is not UTF-8 text (near row {reading + 1}): {exc.reason}") from None
    _check_no_overlaps(path.name, records)
    return tuple(record for _row, record in records)


def _history_record(name: str, row_number: int, width: int, row: dict, film_ids) -> ReportedBoxOffice:
    if None in row:  # csv.DictReader's key for the values beyond the header
        raise HistoryError(
            f"{name} row {row_number} column {width + 1}: a value beyond the header's {width} columns"
        )
    values = {}
    for column, parse in _HISTORY_PARSERS.items():
        if row[column] is None:
            raise HistoryError(f"{name} row {row_number} column {column}: no value (the row is short)")
        try:
            values[column] = parse(row[column])
        except (ValueError, ArithmeticError) as exc:
            raise HistoryError(f"{name} row {row_number} column {column}: {exc}") from None
    record = ReportedBoxOffice(**values)
    problem = _history_problem(record, film_ids)
    if problem:
        column, message = problem
        raise HistoryError(f"{name} row {row_number} column {column}: {message}")
    return record


def import_box_office_history(source: Path | str, registry_dir: Path | str) -> tuple[ReportedBoxOffice, ...]:
    """Validate a box office history file against the registry's films, then make it the registry's
    history (written to a temporary name, then renamed: a reader never sees half a file)."""
    source, registry_dir = Path(source), Path(registry_dir)
    films = load_registry(registry_dir).film_ids
    records = load_box_office_history(source, films)
    tmp = registry_dir / f".{HISTORY_FILE}.tmp"
    tmp.write_bytes(source.read_bytes())
    tmp.replace(registry_dir / HISTORY_FILE)
    return records


def _money(text: str) -> Decimal:
    problem = f"expected tenge as a non-negative amount with at most 2 decimals, got {text!r}"
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise ValueError(problem) from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise ValueError(problem)
    return value.quantize(Decimal("0.01"))


def _count(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"expected a whole non-negative number, got {text!r}")
    return int(text)


def _choice(options: tuple[str, ...]):
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {text!r}")
        return text

    return parse


def _iso_date(text: str) -> date:
    if len(text) != 10:
        raise ValueError(f"expected a date as YYYY-MM-DD, got {text!r}")
    return date.fromisoformat(text)


_HISTORY_PARSERS = {
    "film_id": lambda text: text or None,
    "period": _choice(HISTORY_PERIODS),
    "period_start": _iso_date,
    "gross_kzt": _money,
    "admissions": _count,
    "source": _choice(HISTORY_SOURCES),
    "source_date": _iso_date,
}


def _history_problem(record: ReportedBoxOffice, film_ids) -> tuple[str, str] | None:
    if record.film_id is not None and record.film_id not in film_ids:
        return "film_id", f"{record.film_id!r} is not in the film registry"
    if record.film_id is None and record.period != "year":
        return "period", "a national total (no film_id) must be a year"
    if record.period == "year" and (record.period_start.month, record.period_start.day) != (1, 1):
        return "period_start", f"a year starts on 1 January, got {record.period_start}"
    if record.period == "film_week" and record.period_start.weekday() != 3:
        return "period_start", f"a film week starts on a Thursday, got {record.period_start}"
    try:
        record.period_end  # noqa: B018 (computed only to see that it can be)
    except OverflowError:
        return "period_start", f"a {record.period} from {record.period_start} ends beyond the calendar (9999)"
    if record.source_date < record.period_start:
        return "source_date", f"reported on {record.source_date}, before its period began"
    return None


def _check_no_overlaps(name: str, records: list[tuple[int, ReportedBoxOffice]]) -> None:
    by_key: dict[str | None, list[tuple[int, ReportedBoxOffice]]] = {}
    for row_number, record in records:
        by_key.setdefault(record.film_id, []).append((row_number, record))
    for rows in by_key.values():
        rows.sort(key=lambda item: item[1].period_start)
        for (_, before), (row_number, after) in pairwise(rows):
            if after.period_start <= before.period_end:
                who = after.film_id or "the national total"
                raise HistoryError(
                    f"{name} row {row_number} column period_start: {who}'s {after.period} from "
                    f"{after.period_start} overlaps its {before.period} from {before.period_start}"
                )


def resolve_base_url(base_url: str, exchange_base_url: str | None) -> str:
    """A cinema's absolute base URL; relative ones resolve against EKINO_EXCHANGE_BASE_URL."""
    if base_url.startswith(("http://", "https://")):
        return base_url.rstrip("/")
    if not exchange_base_url:
        raise ValueError(f"cinema base URL {base_url!r} is relative and EKINO_EXCHANGE_BASE_URL is not set")
    return urljoin(exchange_base_url.rstrip("/") + "/", base_url.lstrip("/")).rstrip("/")
