"""Record-level validation against the exchange contract (openapi.yaml): pure functions, no I/O.

Each `validate_*` takes one record as decoded from JSON and returns either the normalized record (a
dict holding exactly the contract's fields, timestamps as aware UTC datetimes, money as `Decimal`) or a
`Rejected` naming the first problem found. Properties the contract does not define are accepted and
left out of the normalized dict; `extra_fields` names them so callers can count them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ekino_pipeline.calendar import business_date_of
from ekino_pipeline.exchange.registry_csv import CINEMA_ID_PATTERN

# The contract every connected cinema's exchange serves, and the one this module validates against.
OPENAPI_PATH = Path(__file__).parent / "openapi.yaml"

# fullmatch everywhere: `$` would also accept a trailing newline.
IDENTIFIER_PATTERN = re.compile(r"[A-Za-z0-9:_-]{1,64}")
MONEY_PATTERN = re.compile(r"[0-9]{1,10}\.[0-9]{2}")
LANGUAGE_PATTERN = re.compile(r"[a-z]{2}")
RFC3339_PATTERN = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
NAIVE_TIMESTAMP_PATTERN = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
)

EVENT_TYPES = ("sale", "refund")
CHANNELS = ("box_office", "online", "kiosk")
CATEGORIES = ("adult", "child", "student", "senior", "invitation")
FORMATS = ("2D", "3D", "IMAX", "4DX")

# Clocks of connected systems drift; a record a few minutes "ahead" is skew, not a fault.
FUTURE_TOLERANCE = timedelta(minutes=5)

TICKET_EVENT_FIELDS = (
    "event_id",
    "event_type",
    "ticket_id",
    "session_id",
    "occurred_at",
    "amount_kzt",
    "seat_row",
    "seat_number",
    "channel",
    "category",
)
SESSION_FIELDS = (
    "session_id",
    "film_id",
    "hall_id",
    "starts_at",
    "format",
    "audio_language",
    "subtitle_language",
)
HALL_FIELDS = ("hall_id", "name", "seats")
BOX_OFFICE_RETURN_FIELDS = (
    "return_id",
    "film_id",
    "film_week_start",
    "admissions",
    "gross_kzt",
    "declared_at",
    "revision",
)

_ZERO = Decimal("0.00")
_SHOWN_VALUE_CHARS = 40

# A ticket event as served (JSON types) and as validate_ticket_event normalizes it (Arrow types).
_SEATS = ("seat_row", "seat_number")
TICKET_EVENT_JSON_TYPE = pa.struct(
    [(name, pa.int64() if name in _SEATS else pa.string()) for name in TICKET_EVENT_FIELDS]
)
TICKET_EVENT_SCHEMA = pa.schema(
    [
        pa.field(name, kind, nullable=False)
        for name, kind in zip(
            TICKET_EVENT_FIELDS,
            (pa.string(),) * 4
            + (pa.timestamp("us", tz="UTC"), pa.decimal128(14, 2), pa.int32(), pa.int32())
            + (pa.string(),) * 2,
            strict=True,
        )
    ]
)
# The columnar check accepts only the plainest spelling of a valid timestamp (whole seconds, upper-case
# T and Z, a year in 1900-2199); any other spelling goes to the record-by-record path, which decides.
_PLAIN_TIMESTAMP = (
    r"(19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
_MONEY_REGEX = r"[0-9]{1,10}\.[0-9]{2}"
_IDENTIFIERS = ("event_id", "ticket_id", "session_id")
_TEXT_FIELDS = tuple(name for name in TICKET_EVENT_FIELDS if name not in _SEATS)
_INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class Rejected:
    """A record that breaks the contract: kept exactly as decoded, with a short specific reason."""

    raw: object
    reason: str


class _Invalid(Exception):
    """Internal: carries a rejection reason out of the field checks."""


def extra_fields(raw: object, defined: Iterable[str]) -> tuple[str, ...]:
    """Sorted names of the properties of `raw` that are not in `defined`; () when raw is no object."""
    if not isinstance(raw, dict):
        return ()
    known = set(defined)
    return tuple(sorted(str(key) for key in raw if key not in known))


def validate_ticket_event(
    raw: object, *, cinema_id: str, window: tuple[datetime, datetime], now: datetime
) -> dict | Rejected:
    """A sale or refund whose occurred_at lies in the requested [from, to) and not after now + 5 min."""
    start, end = window
    _require_aware(start, "window start")
    _require_aware(end, "window end")
    _require_aware(now, "now")
    try:
        record = _object(raw, TICKET_EVENT_FIELDS)
        event = {
            "event_id": _own_identifier(record, "event_id", cinema_id),
            "event_type": _enum(record, "event_type", EVENT_TYPES),
            "ticket_id": _own_identifier(record, "ticket_id", cinema_id),
            "session_id": _own_identifier(record, "session_id", cinema_id),
            "occurred_at": _timestamp(record, "occurred_at")[0],
            "amount_kzt": _money(record, "amount_kzt"),
            "seat_row": _positive_integer(record, "seat_row"),
            "seat_number": _positive_integer(record, "seat_number"),
            "channel": _enum(record, "channel", CHANNELS),
            "category": _enum(record, "category", CATEGORIES),
        }
        amount, category = event["amount_kzt"], event["category"]
        if category == "invitation" and amount != _ZERO:
            raise _Invalid(f"amount_kzt: {amount} on an invitation (must be 0.00)")
        if category != "invitation" and amount == _ZERO:
            raise _Invalid(f"amount_kzt: 0.00 on a paid category ({category})")
        occurred_at = event["occurred_at"]
        if occurred_at > now + FUTURE_TOLERANCE:
            raise _Invalid("occurred_at: in the future")
        if not start <= occurred_at < end:
            raise _Invalid("occurred_at: outside requested window")
    except _Invalid as exc:
        return Rejected(raw, str(exc))
    return event


def ticket_events_table(
    events: pa.StructArray, *, cinema_id: str, window: tuple[datetime, datetime], now: datetime
) -> pa.Table | None:
    """A page of ticket events validated all at once: the normalized records as a table with
    TICKET_EVENT_SCHEMA (the very values validate_ticket_event returns) when every record is certainly
    valid, else None. Conservative by design: a page it cannot vouch for in full, for whatever reason, is
    left to validate_ticket_event record by record, which names each problem."""
    start, end = window
    _require_aware(start, "window start")
    _require_aware(end, "window end")
    _require_aware(now, "now")
    columns = {name: events.field(name) for name in TICKET_EVENT_FIELDS}
    if events.null_count or any(column.null_count for column in columns.values()):
        return None
    if not len(events):
        return TICKET_EVENT_SCHEMA.empty_table()
    # Every text field checked by one regular expression over the fields joined by "|", a character
    # none of them may hold: compiling the expression is what a page's check costs most.
    joined = pc.binary_join_element_wise(*(columns[name] for name in _TEXT_FIELDS), "|")
    if not pc.all(pc.match_substring_regex(joined, _text_regex(cinema_id))).as_py():
        return None
    if any(pc.max(pc.binary_length(columns[name])).as_py() > 64 for name in _IDENTIFIERS):
        return None
    for name in _SEATS:
        low, high = (v.as_py() for v in pc.min_max(columns[name]).values())
        if low < 1 or high > _INT32_MAX:
            return None
    try:
        occurred_at = columns["occurred_at"].cast(TICKET_EVENT_SCHEMA.field("occurred_at").type)
    except pa.ArrowInvalid:  # a day or month that does not exist
        return None
    amount = columns["amount_kzt"].cast(TICKET_EVENT_SCHEMA.field("amount_kzt").type)
    free = pc.equal(amount, pa.scalar(_ZERO, amount.type))
    if not pc.all(pc.equal(free, pc.equal(columns["category"], "invitation"))).as_py():
        return None
    first, last = (v.as_py() for v in pc.min_max(occurred_at).values())
    if first < start or last >= end or last > now + FUTURE_TOLERANCE:
        return None
    values = dict(columns, occurred_at=occurred_at, amount_kzt=amount)
    values.update({name: columns[name].cast(pa.int32()) for name in _SEATS})
    return pa.Table.from_arrays([values[name] for name in TICKET_EVENT_FIELDS], schema=TICKET_EVENT_SCHEMA)


@functools.cache
def _text_regex(cinema_id: str) -> str:
    # An identifier of this cinema: its id, a colon, more of the alphabet (the length is checked apart:
    # a bounded repetition makes the expression many times dearer to compile).
    own = f"{re.escape(cinema_id)}:[A-Za-z0-9:_-]*"
    parts = {
        "event_id": own,
        "ticket_id": own,
        "session_id": own,
        "event_type": _alternatives(EVENT_TYPES),
        "channel": _alternatives(CHANNELS),
        "category": _alternatives(CATEGORIES),
        "occurred_at": _PLAIN_TIMESTAMP,
        "amount_kzt": _MONEY_REGEX,
    }
    return "^" + r"\|".join(parts[name] for name in _TEXT_FIELDS) + "$"


def _alternatives(values: tuple[str, ...]) -> str:
    return "(" + "|".join(re.escape(v) for v in values) + ")"


def validate_session(
    raw: object, *, cinema_id: str, business_day: date, known_film_ids: frozenset[str] | None = None
) -> dict | Rejected:
    """A screening that starts on the requested business day (Asia/Almaty)."""
    try:
        record = _object(raw, SESSION_FIELDS)
        session_id = _own_identifier(record, "session_id", cinema_id)
        film_id = _identifier(record, "film_id")
        hall_id = _own_identifier(record, "hall_id", cinema_id)
        starts_at, offset_minutes = _timestamp(record, "starts_at")
        session = {
            "session_id": session_id,
            "film_id": film_id,
            "hall_id": hall_id,
            "starts_at": starts_at,
            "utc_offset_minutes": offset_minutes,
            "format": _enum(record, "format", FORMATS),
            "audio_language": _language(record, "audio_language", nullable=False),
            "subtitle_language": _language(record, "subtitle_language", nullable=True),
        }
        if business_date_of(starts_at) != business_day:
            raise _Invalid(f"starts_at: not on business day {business_day.isoformat()}")
        if known_film_ids is not None and film_id not in known_film_ids:
            raise _Invalid(f"film_id: unknown film {film_id}")
    except _Invalid as exc:
        return Rejected(raw, str(exc))
    return session


def validate_hall(raw: object, *, cinema_id: str) -> dict | Rejected:
    try:
        record = _object(raw, HALL_FIELDS)
        hall = {
            "hall_id": _own_identifier(record, "hall_id", cinema_id),
            "name": _string(record, "name"),
            "seats": _positive_integer(record, "seats"),
        }
    except _Invalid as exc:
        return Rejected(raw, str(exc))
    return hall


def validate_box_office_return(
    raw: object, *, cinema_id: str, film_week_start: date, closed_at: datetime, now: datetime
) -> dict | Rejected:
    """A declared return of the film week asked for, declared after the week closed (`closed_at`, the
    start of the next film week) and not after now + 5 min."""
    _require_aware(closed_at, "closed_at")
    _require_aware(now, "now")
    try:
        record = _object(raw, BOX_OFFICE_RETURN_FIELDS)
        declared = {
            "return_id": _own_identifier(record, "return_id", cinema_id),
            "film_id": _identifier(record, "film_id"),
            "film_week_start": _date(record, "film_week_start"),
            "admissions": _non_negative_integer(record, "admissions"),
            "gross_kzt": _money(record, "gross_kzt"),
            "declared_at": _timestamp(record, "declared_at")[0],
            "revision": _positive_integer(record, "revision"),
        }
        if declared["film_week_start"] != film_week_start:
            raise _Invalid(f"film_week_start: not the week asked for ({film_week_start.isoformat()})")
        if declared["declared_at"] > now + FUTURE_TOLERANCE:
            raise _Invalid("declared_at: in the future")
        if declared["declared_at"] < closed_at:
            raise _Invalid("declared_at: before the film week closed")
    except _Invalid as exc:
        return Rejected(raw, str(exc))
    return declared


def parse_timestamp(text: str) -> tuple[datetime, int]:
    """An RFC 3339 timestamp with offset as (aware UTC datetime, offset in minutes); ValueError else."""
    if not RFC3339_PATTERN.fullmatch(text):
        if NAIVE_TIMESTAMP_PATTERN.fullmatch(text):
            raise ValueError("no UTC offset")
        raise ValueError("not an RFC 3339 timestamp")
    try:
        parsed = datetime.fromisoformat(text.upper())
    except ValueError:
        raise ValueError("not an RFC 3339 timestamp") from None
    offset = parsed.utcoffset()
    assert offset is not None  # the pattern demands an offset
    return parsed.astimezone(UTC), int(offset.total_seconds() // 60)


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[: _SHOWN_VALUE_CHARS - 3] + "..."


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _object(raw: object, required: tuple[str, ...]) -> dict:
    if not isinstance(raw, dict):
        raise _Invalid(f"record: expected object, got {_type_name(raw)}")
    missing = [name for name in required if name not in raw]
    if len(missing) == 1:
        raise _Invalid(f"missing field: {missing[0]}")
    if missing:
        raise _Invalid(f"missing fields: {', '.join(missing)}")
    return raw


def _string(record: dict, name: str) -> str:
    value = record[name]
    if not isinstance(value, str):
        raise _Invalid(f"{name}: expected string, got {_type_name(value)}")
    return value


def _identifier(record: dict, name: str) -> str:
    value = _string(record, name)
    if not IDENTIFIER_PATTERN.fullmatch(value):
        raise _Invalid(f"{name}: not a valid identifier {_shown(value)}")
    return value


def _own_identifier(record: dict, name: str, cinema_id: str) -> str:
    value = _identifier(record, name)
    if not value.startswith(f"{cinema_id}:"):
        prefix = value.split(":", 1)[0]
        if ":" in value and CINEMA_ID_PATTERN.fullmatch(prefix):
            raise _Invalid(f"{name}: names another cinema ({prefix})")
        raise _Invalid(f"{name}: does not start with {cinema_id}:")
    return value


def _enum(record: dict, name: str, allowed: tuple[str, ...]) -> str:
    value = _string(record, name)
    if value not in allowed:
        raise _Invalid(f"{name}: unknown value {_shown(value)}")
    return value


def _positive_integer(record: dict, name: str) -> int:
    value = record[name]
    # bool is an int subclass in Python, but JSON true is no integer.
    if type(value) is not int:
        raise _Invalid(f"{name}: expected integer, got {_type_name(value)}")
    if value < 1:
        raise _Invalid(f"{name}: must be at least 1, got {value}")
    return value


def _non_negative_integer(record: dict, name: str) -> int:
    value = record[name]
    if type(value) is not int:
        raise _Invalid(f"{name}: expected integer, got {_type_name(value)}")
    if value < 0:
        raise _Invalid(f"{name}: negative, got {value}")
    return value


def _date(record: dict, name: str) -> date:
    value = _string(record, name)
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise _Invalid(f"{name}: not a date YYYY-MM-DD {_shown(value)}") from None


def _money(record: dict, name: str) -> Decimal:
    value = _string(record, name)
    if value.startswith("-") and MONEY_PATTERN.fullmatch(value[1:]):
        raise _Invalid(f"{name}: negative")
    if not MONEY_PATTERN.fullmatch(value):
        raise _Invalid(f"{name}: not a tenge amount with two decimals {_shown(value)}")
    return Decimal(value)


def _timestamp(record: dict, name: str) -> tuple[datetime, int]:
    value = _string(record, name)
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise _Invalid(f"{name}: {exc} {_shown(value)}") from None


def _language(record: dict, name: str, *, nullable: bool) -> str | None:
    value = record[name]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        expected = "string or null" if nullable else "string"
        raise _Invalid(f"{name}: expected {expected}, got {_type_name(value)}")
    if not LANGUAGE_PATTERN.fullmatch(value):
        raise _Invalid(f"{name}: expected two lowercase letters, got {_shown(value)}")
    return value
