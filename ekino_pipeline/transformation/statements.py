"""Distributor statements: for each distributor and film week, what each cinema owes it, film by film.

Written from settlement_weekly under `<exports>/statements/<film_week_start>/`, one pair of files per
distributor: `<distributor_id>.csv` (one line per cinema and film, exact decimals, for their accounts)
and `<distributor_id>.md` (the same lines with the totals and whether the week is final, for people).
Each line names the integrity rules that found something on its cinema, film and week
(settlement_weekly.integrity_findings; empty when none did): the line is settled all the same, and the
distributor sees which of its lines an inspector is looking into. Each file is replaced atomically,
like the mart exports. A statement's lines add up to its totals, and its totals to the distributor's
rows of settlement_weekly.

The registry gives distributors by name only, so a distributor's id is its name made a file name plus a
short hash of the exact name: two names that read alike never share (and overwrite) a file. The names
come from registries and cinemas, so nothing in them may act: a CSV text cell a spreadsheet would take
for a formula is neutralised as OWASP advises (a leading apostrophe, the cell quoted), and Markdown
cells are escaped (HTML, and the `|` that would shift a table's columns).
"""

from __future__ import annotations

import csv
import hashlib
import html
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from ekino_pipeline.atomic_files import replacing
from ekino_pipeline.transformation.exports import MARTS_SCHEMA, read_only_source

STATEMENTS_DIR = "statements"
LINE_COLUMNS = (
    "cinema_id",
    "cinema_name",
    "film_id",
    "title",
    "week_of_release",
    "n_sessions",
    "admissions",
    "gross_kzt",
    "tax_kzt",
    "net_kzt",
    "method",
    "terms_id",
    "terms_version",
    "rate_pct",
    "rental_due_kzt",
    "exhibitor_share_kzt",
    "is_provisional",
    "provisional_reasons",
    "integrity_findings",
)
TOTALS = ("gross_kzt", "tax_kzt", "net_kzt", "rental_due_kzt", "exhibitor_share_kzt")
# What makes a spreadsheet read a cell as a formula (OWASP, CSV injection); a tab or a carriage
# return before one hides it.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Statement:
    distributor: str
    distributor_id: str
    film_week_start: date
    csv_path: Path
    readable_path: Path
    lines: int
    totals: dict[str, Decimal]
    is_provisional: bool


def distributor_id(distributor: str) -> str:
    """A distributor's id, its statements' file name: its name in lower case, words joined by '-'
    (never a path of its own, at most 60 characters), and 8 hex digits of the exact name's SHA-256."""
    slug = re.sub(r"[^a-z0-9]+", "-", distributor.lower())[:60].strip("-") or "distributor"
    return f"{slug}-{hashlib.sha256(distributor.encode('utf-8')).hexdigest()[:8]}"


def csv_cell(value: object) -> object:
    """A value as the CSV writer takes it: numbers as they are (a negative amount stays a number), text
    that a spreadsheet would run as a formula behind an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def markdown_text(value: object) -> str:
    """Text for a Markdown line or table cell: one line, HTML escaped, the marks of code, emphasis,
    links and table cells backslashed (an underscore inside a word, as in day_open, marks nothing)."""
    text = html.escape(" ".join(str(value).split()), quote=False)
    return re.sub(r"([\\`*\[\]|])", r"\\\1", text)


def _write_atomically(target: Path, write) -> None:
    """`write(fh)` writes the text of `target`, which is replaced atomically."""
    with replacing(target) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        write(fh)


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _readable(distributor: str, week: date, lines: list[dict], totals: dict[str, Decimal]) -> str:
    provisional = sorted({reason for line in lines for reason in line["provisional_reasons"]})
    status = f"PROVISIONAL ({markdown_text(', '.join(provisional))})" if provisional else "final"
    end = lines[0]["film_week_end"]
    distributor = markdown_text(distributor)
    out = [
        f"# Statement for {distributor}",
        "",
        f"Film week {week} to {end} (Thursday to Wednesday, Asia/Almaty): {status}.",
        f"{len(lines)} lines, {len({line['cinema_id'] for line in lines})} cinemas.",
        "",
        f"- Gross box office: {_money(totals['gross_kzt'])} KZT",
        f"- Taxes (VAT and levy): {_money(totals['tax_kzt'])} KZT",
        f"- Net box office: {_money(totals['net_kzt'])} KZT",
        f"- **Rental due to {distributor}: {_money(totals['rental_due_kzt'])} KZT**",
        f"- Exhibitors' share: {_money(totals['exhibitor_share_kzt'])} KZT",
        "",
        "| cinema | film | week | sessions | admissions | gross | net | terms | rate % | rental due "
        "| integrity findings |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for line in lines:
        terms = f"{line['method']} v{line['terms_version']}" if line["method"] else "none in effect"
        cinema = markdown_text(f"{line['cinema_name']} ({line['cinema_id']})")
        title = markdown_text(line["title"])
        out.append(
            f"| {cinema} | {title} | {line['week_of_release']} "
            f"| {line['n_sessions']} | {line['admissions']} | {_money(line['gross_kzt'])} "
            f"| {_money(line['net_kzt'])} | {markdown_text(terms)} | {line['rate_pct'] or ''} "
            f"| {_money(line['rental_due_kzt'])} | {markdown_text(', '.join(line['integrity_findings']))} |"
        )
    return "\n".join(out) + "\n"


def write_statements(
    warehouse_path: Path, exports_dir: Path, weeks: list[date] | None = None
) -> list[Statement]:
    """The statements of `weeks` (every settled week when None), from the warehouse opened read-only."""
    con = read_only_source(warehouse_path)
    try:
        cursor = con.cursor()
        where = "" if weeks is None else "where film_week_start in (select unnest($weeks))"
        cursor.execute(
            f"select * from source.{MARTS_SCHEMA}.settlement_weekly {where} "
            "order by film_week_start, distributor, cinema_id, film_id",
            {} if weeks is None else {"weeks": weeks},
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()
    grouped: dict[tuple[date, str], list[dict]] = {}
    for row in rows:
        grouped.setdefault((row["film_week_start"], row["distributor"]), []).append(row)
    statements = []
    written: dict[tuple[date, str], str] = {}
    for (week, distributor), lines in grouped.items():
        folder = exports_dir / STATEMENTS_DIR / week.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        stem = distributor_id(distributor)
        if written.setdefault((week, stem), distributor) != distributor:
            raise ValueError(
                f"distributors {written[week, stem]!r} and {distributor!r} have the same id {stem}: "
                "one statement would replace the other"
            )
        totals = {
            column: sum((line[column] for line in lines if line[column] is not None), Decimal("0.00"))
            for column in TOTALS
        }

        def write_csv(fh, lines=lines):
            writer = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
            writer.writerow(LINE_COLUMNS)
            for line in lines:
                values = {
                    **line,
                    "is_provisional": "true" if line["is_provisional"] else "false",
                    "provisional_reasons": "|".join(line["provisional_reasons"]),
                    "integrity_findings": "|".join(line["integrity_findings"]),
                }
                writer.writerow([csv_cell(values[c]) for c in LINE_COLUMNS])

        csv_path, readable_path = folder / f"{stem}.csv", folder / f"{stem}.md"
        _write_atomically(csv_path, write_csv)
        text = _readable(distributor, week, lines, totals)
        _write_atomically(readable_path, lambda fh, text=text: fh.write(text))
        statements.append(
            Statement(
                distributor,
                stem,
                week,
                csv_path,
                readable_path,
                len(lines),
                totals,
                any(line["is_provisional"] for line in lines),
            )
        )
    return statements
