"""How figures read in the Dagster UI and in alerts: thousand separators, times in Asia/Almaty, errors cut
to their cause. Only for text meant for people; numbers Dagster plots stay numbers, and money stays an
exact decimal (formatted from a Decimal, never through a float)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from ekino_pipeline.calendar import BUSINESS_TZ

# A per-cinema table's error cell: the first line of the cause, at most this long.
ERROR_CELL_CHARS = 80


def kzt(amount: Decimal | int | str | None) -> str:
    """`536827460.00` -> `536,827,460.00`."""
    if amount is None:
        return "-"
    value = Decimal(amount) if not isinstance(amount, Decimal) else amount
    return f"{value.quantize(Decimal('0.01')):,}"


def count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def almaty_time(moment: datetime | str | None) -> str:
    """An instant as people in Kazakhstan read it: `2026-11-29 23:10 +05`. Naive times are UTC (how
    the platform stores them); ISO strings are parsed."""
    if moment is None or moment == "":
        return "-"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(BUSINESS_TZ)
    offset = local.utcoffset()
    hours = int(offset.total_seconds() // 3600) if offset is not None else 0
    return f"{local:%Y-%m-%d %H:%M} {hours:+03d}"


_EXCEPTION_PREFIX = re.compile(
    r"^([A-Za-z_][\w.]*(?:Error|Exception|Exceeded|Timeout|Large|Response|Failure)): "
)
# "CIN001 GET /v1/...: " as the exchange client prefixes its messages; "HTTPConnectionPool(...): ".
_REQUEST_PREFIX = re.compile(r"^\S+ (?:GET|POST) \S+: ")
_POOL_PREFIX = re.compile(r"^\w+Pool\([^)]*\): ")
_ERRNO = re.compile(r"\[Errno -?\d+\] ")


def short_error(text: str | None, limit: int = ERROR_CELL_CHARS) -> str:
    """An error as a table cell: its class and its cause on one line, bounded to `limit` characters
    (`ExchangeConnectionError: Connection refused`). The full text stays in the landing manifest."""
    if not text:
        return ""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    match = _EXCEPTION_PREFIX.match(first)
    kind, rest = (match.group(1).rsplit(".", 1)[-1], first[match.end() :]) if match else ("", first)
    # Peel what says where rather than why: the request, nested exception classes, connection pools.
    while True:
        peeled = _REQUEST_PREFIX.sub("", rest, count=1)
        peeled = _POOL_PREFIX.sub("", peeled, count=1)
        inner = _EXCEPTION_PREFIX.match(peeled)
        if inner:
            peeled = peeled[inner.end() :]
        if peeled == rest:
            break
        rest = peeled
    if "Caused by " in rest:
        rest = rest.rsplit("Caused by ", 1)[1].rsplit(": ", 1)[-1].rstrip("')\" ")
    cause = " ".join(_ERRNO.sub("", rest).split())
    text = f"{kind}: {cause}" if kind and cause else kind or cause
    return text if len(text) <= limit else text[: limit - 1] + "…"
