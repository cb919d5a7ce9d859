"""What an answer carries and how it is written: JSON (an envelope with the publication, the coverage,
the rows and the page) or CSV (the rows; the publication and coverage in headers).

Money and shares are exact decimals, written as JSON strings ("60560250.00"), never floats. Instants
are UTC (ISO 8601 with +00:00), business days ISO dates (Asia/Almaty). In CSV, a list is its items
joined by ';' and a text cell a spreadsheet would run as a formula is neutralised as the distributors'
statements do it (OWASP: a leading apostrophe, the cell quoted).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from ekino_pipeline.api.reader import LoadedPublication
from ekino_pipeline.transformation.statements import csv_cell

COVERAGE_FIELDS = (
    "first_date",
    "last_date",
    "days_in_period",
    "days_on_record",
    "cinemas_reporting",
    "cinemas_connected",
    "cinemas_total",
    "is_provisional",
    "provisional_reasons",
    "exclusions",
)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, parameters: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.parameters = status, code, message, parameters or {}


@dataclass
class Answer:
    coverage: dict
    rows: list[dict] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    item: dict | None = None  # a detail answer's one object, instead of rows

    @property
    def is_list(self) -> bool:
        return self.item is None


def _union(lists) -> list[str]:
    out: list[str] = []
    for items in lists:
        for item in items or ():
            if item not in out:
                out.append(item)
    return out


def coverage_of_days(pub: LoadedPublication, first: date, last: date, region: str | None = None) -> dict:
    """What the days first..last cover, from the nation's (or a region's) daily coverage: the fewest
    cinemas reporting on any day, the most connected, provisional while any day is or a day is not on
    record (`days_not_loaded`), and every reason and exclusion of its days."""
    mart, where, params = "national_daily", "", [first, last]
    if region is not None:
        mart, where, params = "region_daily", " and region_code = ?", [first, last, region]
    rows = []
    if pub.has(mart):
        rows = pub.query(
            "select cinemas_reporting, cinemas_connected, cinemas_total, is_provisional, "
            f"provisional_reasons, exclusions from {mart} where business_date between ? and ?{where} "
            "order by business_date",
            params,
        )
    days = (last - first).days + 1
    reasons = _union(r["provisional_reasons"] for r in rows)
    if rows and len(rows) < days:
        reasons.append("days_not_loaded")
    return {
        "first_date": first,
        "last_date": last,
        "days_in_period": days,
        "days_on_record": len(rows),
        "cinemas_reporting": min((r["cinemas_reporting"] for r in rows), default=None),
        "cinemas_connected": max((r["cinemas_connected"] for r in rows), default=None),
        "cinemas_total": max((r["cinemas_total"] for r in rows), default=None),
        "is_provisional": (bool(reasons) or any(r["is_provisional"] for r in rows)) if rows else None,
        "provisional_reasons": reasons,
        "exclusions": _union(r["exclusions"] for r in rows),
    }


def coverage_of_rows(rows: list[dict], first: date | None = None, last: date | None = None) -> dict:
    """What rows that carry their own completeness cover, together: provisional when any is."""
    flagged = [r for r in rows if r.get("is_provisional") is not None]
    return {
        "first_date": first,
        "last_date": last,
        "days_in_period": (last - first).days + 1 if first and last else None,
        "days_on_record": None,
        "cinemas_reporting": None,
        "cinemas_connected": None,
        "cinemas_total": None,
        "is_provisional": any(r["is_provisional"] for r in flagged) if flagged else None,
        "provisional_reasons": _union(r.get("provisional_reasons") for r in rows),
        "exclusions": _union(r.get("exclusions") for r in rows),
    }


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(document: object) -> bytes:
    return json.dumps(document, default=_json_value, ensure_ascii=False, separators=(",", ":")).encode()


def publication_of(pub: LoadedPublication) -> dict:
    return {"id": pub.id, "published_at": pub.published_at.isoformat()}


def page_of(answer: Answer, limit: int, offset: int, path: str, query: dict[str, object]) -> dict:
    total = len(answer.rows)
    following = None
    if offset + limit < total:
        params = {k: _json_value(v) if isinstance(v, date) else v for k, v in query.items() if v is not None}
        following = f"{path}?{urlencode({**params, 'limit': limit, 'offset': offset + limit})}"
    return {"limit": limit, "offset": offset, "total": total, "next": following}


def render_json(pub: LoadedPublication, answer: Answer, page: dict | None) -> bytes:
    document: dict = {"publication": publication_of(pub), "coverage": answer.coverage}
    if answer.is_list:
        document["data"] = answer.rows[page["offset"] : page["offset"] + page["limit"]]
        document["page"] = page
    else:
        document["data"] = answer.item
    return dumps(document)


def _csv_value(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return csv_cell(";".join(str(v) for v in value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return csv_cell(value)


def render_csv(answer: Answer, page: dict) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(answer.columns)
    for row in answer.rows[page["offset"] : page["offset"] + page["limit"]]:
        writer.writerow([_csv_value(row[c]) for c in answer.columns])
    return out.getvalue().encode("utf-8")


def _header_value(value: object) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def coverage_headers(pub: LoadedPublication, answer: Answer, page: dict | None) -> dict[str, str]:
    """The envelope of a CSV answer, as response headers."""
    cov = answer.coverage
    headers = {
        "Ekino-Publication": pub.id,
        "Ekino-Published-At": pub.published_at.isoformat(),
        "Ekino-Coverage": "; ".join(f"{name}={_header_value(cov.get(name))}" for name in COVERAGE_FIELDS[:7]),
        "Ekino-Provisional": {True: "true", False: "false", None: "unknown"}[cov.get("is_provisional")],
        "Ekino-Provisional-Reasons": ",".join(cov.get("provisional_reasons") or []),
        "Ekino-Exclusions": ",".join(cov.get("exclusions") or []),
    }
    if page is not None:
        headers["Ekino-Total-Count"] = str(page["total"])
        if page["next"]:
            headers["Link"] = f'<{page["next"]}>; rel="next"'
    return headers


def last_day(pub: LoadedPublication, mart: str, column: str) -> date | None:
    if not pub.has(mart):
        return None
    (row,) = pub.query(f"select max({column}) as last from {mart}")
    return row["last"]


def days_back(last: date, n: int) -> date:
    return last - timedelta(days=n - 1)
