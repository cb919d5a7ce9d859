"""The national registries that cinemas do not own: regions, cinemas (with halls), films, grants.

They ship as CSV files in `registry_data/`; `EKINO_REGISTRY_DIR` points at another folder (a grown
network for benchmarks, say). Connecting a cinema is a registry row, never a code change.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

if TYPE_CHECKING:
    from ekino_pipeline.exchange.rental_terms import RentalTerms, TaxRule

SHIPPED_REGISTRY_DIR = Path(__file__).parent / "registry_data"

# Cinema ids reach file paths and SQL; nothing else may pass.
CINEMA_ID_PATTERN = re.compile(r"^[A-Z]{3}-[0-9]{4}$")
FILM_ID_PATTERN = re.compile(r"^F[0-9]{5}$")

REGISTRY_FILES = ("regions", "cinemas", "halls", "films", "funding_grants", "rental_terms", "tax_rules")


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


def _rows(directory: Path, name: str) -> list[dict[str, str]]:
    path = directory / f"{name}.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _split(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split("|") if part)


def _bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"expected true or false, got {text!r}")
    return text == "true"


def load_registry(directory: Path | str | None = None) -> Registry:
    """Read and validate the registry CSVs; a malformed row is an error naming file and row."""
    directory = Path(directory) if directory else SHIPPED_REGISTRY_DIR
    try:
        regions = tuple(
            Region(r["region_code"], r["name"], r["kind"], r["capital"], int(r["population"]), r["timezone"])
            for r in _rows(directory, "regions")
        )
        halls: dict[str, list[Hall]] = {}
        for r in _rows(directory, "halls"):
            hall = Hall(
                r["hall_id"],
                validate_cinema_id(r["cinema_id"]),
                r["name"],
                int(r["seats"]),
                int(r["seat_rows"]),
                r["format"],
            )
            halls.setdefault(hall.cinema_id, []).append(hall)
        region_codes = {r.region_code for r in regions}
        cinemas = []
        for r in _rows(directory, "cinemas"):
            cinema_id = validate_cinema_id(r["cinema_id"])
            if r["region_code"] not in region_codes:
                raise ValueError(f"cinema {cinema_id} names unknown region {r['region_code']!r}")
            cinemas.append(
                Cinema(
                    cinema_id,
                    r["name"],
                    r["chain"],
                    r["city"],
                    r["region_code"],
                    r["timezone"],
                    _bool(r["connected"]),
                    r["base_url"],
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
                date.fromisoformat(r["release_date"]),
                r["distributor"],
                _bool(r["is_domestic"]),
                r["funding_project_id"] or None,
                int(r["runtime_minutes"]),
            )
            for r in _rows(directory, "films")
        )
        grants = tuple(
            FundingGrant(
                r["project_id"],
                r["title"],
                r["producer"],
                int(r["grant_year"]),
                Decimal(r["amount_kzt"]),
                r["status"],
                r["film_id"] or None,
            )
            for r in _rows(directory, "funding_grants")
        )
        # rental_terms reads this module's id patterns: imported here, not at the top, to avoid a cycle.
        from ekino_pipeline.exchange.rental_terms import load_rental_terms, load_tax_rules

        rental_terms = load_rental_terms(
            directory,
            frozenset(f.film_id for f in films),
            frozenset(c.chain for c in cinemas),
            frozenset(c.cinema_id for c in cinemas),
        )
        tax_rules = load_tax_rules(directory)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"registry in {directory} is malformed: {exc}") from exc
    return Registry(regions, tuple(cinemas), films, grants, rental_terms, tax_rules)


def resolve_base_url(base_url: str, exchange_base_url: str | None) -> str:
    """A cinema's absolute base URL; relative ones resolve against EKINO_EXCHANGE_BASE_URL."""
    if base_url.startswith(("http://", "https://")):
        return base_url.rstrip("/")
    if not exchange_base_url:
        raise ValueError(f"cinema base URL {base_url!r} is relative and EKINO_EXCHANGE_BASE_URL is not set")
    return urljoin(exchange_base_url.rstrip("/") + "/", base_url.lstrip("/")).rstrip("/")
