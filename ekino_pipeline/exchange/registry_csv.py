"""What every registry CSV shares: the id patterns, the encoding, rows that know where they came from
and errors that say so. Both the registry and the rental terms read through it, neither through the
other."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import InvalidOperation
from pathlib import Path
from typing import TypeVar

from ekino_pipeline.errors import ConfigError

T = TypeVar("T")

# Cinema ids reach file paths and SQL; nothing else may pass.
CINEMA_ID_PATTERN = re.compile(r"^[A-Z]{3}-[0-9]{4}$")
FILM_ID_PATTERN = re.compile(r"^F[0-9]{5}$")
# utf-8-sig reads UTF-8 with or without the byte-order mark Excel's "CSV UTF-8" writes first.
CSV_ENCODING = "utf-8-sig"


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
    path: Path,
    columns: Sequence[str],
    key: str | Sequence[str] | None = None,
    optional: Sequence[str] = (),
) -> list[RegistryRow]:
    """The rows of a registry CSV that has every one of `columns` and a value in each of them (an
    empty value is fine; a missing one is not), and whose `key` columns are unique: a row listed twice
    would otherwise win silently, and for a cinema its base URL decides where its token goes.
    Columns named in `optional` (added after registries were made) read as empty when the header lacks
    them. A byte-order mark (Excel's "CSV UTF-8") is no part of the first column's name."""
    rows: list[RegistryRow] = []
    try:
        with path.open(newline="", encoding=CSV_ENCODING) as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            absent = [c for c in optional if c not in header]
            missing = [c for c in columns if c not in header and c not in absent]
            if missing:
                raise RegistryError(f"{path}: missing column(s) {', '.join(missing)}")
            for values in reader:
                number = len(rows) + 2
                if None in values:
                    raise RegistryError(f"{path}, row {number}: more values than the header has columns")
                values.update(dict.fromkeys(absent, ""))
                for column in columns:
                    if values[column] is None:
                        raise RegistryError(f"{path}, row {number}, column {column}: no value")
                rows.append(RegistryRow(path, number, values))
    except FileNotFoundError:
        raise RegistryError(f"{path} does not exist") from None
    except csv.Error as exc:
        # A row the csv module refuses (a field beyond its size limit): the row being read is named.
        raise RegistryError(f"{path}, row {len(rows) + 2}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
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


def validate_film_id(film_id: str) -> str:
    if not FILM_ID_PATTERN.fullmatch(film_id):
        raise ValueError(f"invalid film_id {film_id!r}: expected F and five digits")
    return film_id
