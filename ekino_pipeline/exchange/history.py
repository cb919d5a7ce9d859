"""The box office reported before (or beside) e-Kino's tracking: `box_office_history.csv` in the
registry folder, or a file an operator imports (`ekino import-history`), read and validated here.

Every film must be in the film registry; a national total (no film_id) is a year; periods of one film
may not overlap; money is exact tenge. Every malformed value is an error naming file, row and column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from ekino_pipeline.exchange.registry_csv import CSV_ENCODING, RegistryError

HISTORY_FILE = "box_office_history.csv"
HISTORY_PERIODS = ("year", "film_week")
HISTORY_SOURCES = ("distributor_report", "ministry", "festival")


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
