"""The national registries that cinemas do not own: regions, cinemas (with halls), films, grants,
and the box office reported before e-Kino tracked it (box_office_history).

They are CSV files in the folder `EKINO_REGISTRY_DIR` names (default `$EKINO_HOME/registry`): the
Ministry's own, never shipped with the pipeline. Connecting a cinema is a registry row, never a code change.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from ekino_pipeline.exchange.history import HISTORY_FILE, ReportedBoxOffice, load_box_office_history

# CINEMA_ID_PATTERN and RegistryError are re-exported: callers outside the exchange import them from here.
from ekino_pipeline.exchange.registry_csv import (
    CINEMA_ID_PATTERN as CINEMA_ID_PATTERN,
)
from ekino_pipeline.exchange.registry_csv import (
    RegistryError as RegistryError,
)
from ekino_pipeline.exchange.registry_csv import (
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
    # None: the registry does not say (an older registry without the column, or an empty cell); the
    # integrity check of screenings overlapping in a hall cannot judge the film's sessions then.
    runtime_minutes: int | None
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


def _runtime(text: str) -> int | None:
    """A film's running time in whole minutes, or None when the registry leaves it empty."""
    if not text.strip():
        return None
    minutes = int(text)
    if not 1 <= minutes <= MAX_RUNTIME_MINUTES:
        raise ValueError(f"runtime_minutes must be 1 to {MAX_RUNTIME_MINUTES} minutes, got {minutes}")
    return minutes


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
# Columns a registry made before they were added may lack: read as empty (not known) when absent.
OPTIONAL_COLUMNS = {"films": ("runtime_minutes",)}
MAX_RUNTIME_MINUTES = 600
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
        return read_registry_csv(
            directory / f"{name}.csv",
            REGISTRY_COLUMNS[name],
            REGISTRY_KEYS[name],
            optional=OPTIONAL_COLUMNS.get(name, ()),
        )

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
            r.parse("runtime_minutes", _runtime),
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


# Here rather than in history.py: it validates against the whole registry, and history.py is what the
# registry reads its history with, so it cannot import the registry back.
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


def resolve_base_url(base_url: str, exchange_base_url: str | None) -> str:
    """A cinema's absolute base URL; relative ones resolve against EKINO_EXCHANGE_BASE_URL."""
    if base_url.startswith(("http://", "https://")):
        return base_url.rstrip("/")
    if not exchange_base_url:
        raise ValueError(f"cinema base URL {base_url!r} is relative and EKINO_EXCHANGE_BASE_URL is not set")
    return urljoin(exchange_base_url.rstrip("/") + "/", base_url.lstrip("/")).rstrip("/")
