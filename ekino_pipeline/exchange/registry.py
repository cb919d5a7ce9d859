"""The national registries that cinemas do not own: regions, cinemas (with halls), films, grants.

They ship as CSV files in `registry_data/`; `EKINO_REGISTRY_DIR` points at another folder (a grown
network for benchmarks, say). Connecting a cinema is a registry row, never a code change.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urljoin, urlsplit

from ekino_pipeline.errors import ConfigError

if TYPE_CHECKING:
    from ekino_pipeline.exchange.rental_terms import RentalTerms, TaxRule

T = TypeVar("T")

SHIPPED_REGISTRY_DIR = Path(__file__).parent / "registry_data"

# Cinema ids reach file paths and SQL; nothing else may pass.
CINEMA_ID_PATTERN = re.compile(r"^[A-Z]{3}-[0-9]{4}$")
FILM_ID_PATTERN = re.compile(r"^F[0-9]{5}$")

REGISTRY_FILES = ("regions", "cinemas", "halls", "films", "funding_grants", "rental_terms", "tax_rules")


class RegistryError(ConfigError):
    """A registry file that cannot be used; the message names the file and, where one is at fault,
    the row (counted as a spreadsheet does, the header being row 1) and the column."""


@dataclass(frozen=True)
class RegistryRow:
    """One row of a registry CSV, which knows where it came from so that its errors can say so."""

    path: Path
    number: int
    values: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values[column]

    def parse(self, column: str, parse: Callable[[str], T]) -> T:
        try:
            return parse(self.values[column])
        except (ValueError, InvalidOperation) as exc:
            raise self.error(column, str(exc) or f"{self.values[column]!r} is not valid") from None

    def error(self, column: str, message: str) -> RegistryError:
        return RegistryError(f"{self.path}, row {self.number}, column {column}: {message}")


def read_registry_csv(
    path: Path, columns: Sequence[str], key: str | Sequence[str] | None = None
) -> list[RegistryRow]:
    """The rows of a registry CSV that has every one of `columns` and a value in each of them (an
    empty value is fine; a missing one is not), and whose `key` columns are unique: a row listed twice
    would otherwise win silently, and for a cinema its base URL decides where its token goes."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in columns if c not in header]
            if missing:
                raise RegistryError(f"{path}: missing column(s) {', '.join(missing)}")
            rows = []
            for values in reader:
                number = len(rows) + 2
                if None in values:
                    raise RegistryError(f"{path}, row {number}: more values than the header has columns")
                for column in columns:
                    if values[column] is None:
                        raise RegistryError(f"{path}, row {number}, column {column}: no value")
                rows.append(RegistryRow(path, number, values))
    except FileNotFoundError:
        raise RegistryError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RegistryError(f"{path} cannot be read: {exc}") from None
    if key is not None:
        names = (key,) if isinstance(key, str) else tuple(key)
        first_row: dict[tuple[str, ...], int] = {}
        for row in rows:
            value = tuple(row[c] for c in names)
            if value in first_row:
                shown = ", ".join(f"{c} {v}" for c, v in zip(names, value, strict=True))
                raise RegistryError(f"{path}: rows {first_row[value]} and {row.number} both have {shown}")
            first_row[value] = row.number
    return rows


def validate_cinema_id(cinema_id: object) -> str:
    if not isinstance(cinema_id, str) or not CINEMA_ID_PATTERN.fullmatch(cinema_id):
        raise ValueError(f"invalid cinema_id {cinema_id!r}: expected three capitals, '-', four digits")
    return cinema_id


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
class Registry:
    regions: tuple[Region, ...]
    cinemas: tuple[Cinema, ...]
    films: tuple[Film, ...]
    grants: tuple[FundingGrant, ...]
    rental_terms: tuple[RentalTerms, ...] = ()
    tax_rules: tuple[TaxRule, ...] = ()

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


def load_registry(directory: Path | str | None = None) -> Registry:
    """Read and validate the registry CSVs; anything wrong is a RegistryError naming file, row and column."""
    directory = Path(directory) if directory else SHIPPED_REGISTRY_DIR

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
            r["film_id"],
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
            r["film_id"] or None,
        )
        for r in rows("funding_grants")
    )
    # rental_terms reads this module's id patterns: imported here, not at the top, to avoid a cycle.
    from ekino_pipeline.exchange.rental_terms import load_rental_terms, load_tax_rules

    rental_terms = load_rental_terms(
        directory,
        frozenset(f.film_id for f in films),
        frozenset(c.chain for c in cinemas),
        frozenset(c.cinema_id for c in cinemas),
    )
    return Registry(regions, tuple(cinemas), films, grants, rental_terms, load_tax_rules(directory))


def resolve_base_url(base_url: str, exchange_base_url: str | None) -> str:
    """A cinema's absolute base URL; relative ones resolve against EKINO_EXCHANGE_BASE_URL."""
    if base_url.startswith(("http://", "https://")):
        return base_url.rstrip("/")
    if not exchange_base_url:
        raise ValueError(f"cinema base URL {base_url!r} is relative and EKINO_EXCHANGE_BASE_URL is not set")
    return urljoin(exchange_base_url.rstrip("/") + "/", base_url.lstrip("/")).rstrip("/")
