"""The simulator's fault plan: which cinema misbehaves, how, and on which business days.

A fault file (YAML or JSON) is a list of entries such as

    - cinema_id: ALA-0001
      scenario: rate_limit
      from_date: 2024-03-01     # optional; the first business day the fault covers
      until_date: null          # optional; the last one (inclusive)
      retry_after: 2            # scenario parameters, all optional

Three kinds of scenario:

* response-level: the answer itself goes wrong (503, 429, a closed connection...). Each
  (cinema, scenario) has a counter and the fault fires for the first `times` matching requests
  (an `outage` may let `after_requests` of them through first: a system that goes down mid-pull).
  A request matches when its business day (sessions), its window's business days (ticket events) or,
  for health and halls, the simulator's current business day falls within [from_date, until_date].
* record-level: some served records are broken or duplicated. The records are chosen by a hash of
  their id (a fraction `rate`, at least one per business day), so the same record is corrupted the
  same way whatever window or page size asked for it. The dates apply to the record's business day.
* content-level: valid records that the marts must flag (an oversold session, an orphan refund...),
  built into the generated network so that every window sees them. The dates apply to the session's
  business day (`silent`: to the events' business day); `late_refund` happens on from_date only.
  `misdeclared_returns` scales the cinema's declared box office returns by `factor` (0.8 declares 20%
  less than its tickets add up to); its dates apply to the film week's first day.
* integrity (content-level too): a cinema inflating one film's box office with valid records, which
  nothing quarantines and only the integrity checks can find. Each names `film_id` and a `strength`
  (1 the scenario as described; 0.5 half of it, 2 double). The dates apply to the session's business
  day. `padded_admissions`: the film's late-night sessions (from 22:00), and one more a day in the
  hall free soonest after 22:00 (if by 23:55), filled to min(1, 0.5 + 0.5 * strength) of the hall;
  `ghost_screenings`: round(2 * strength) (at least one) extra sessions of the film a day, each in a
  hall minutes after a screening there started, 40% of the hall sold; `price_outliers`: the film's
  tickets at 1 + 2 * strength times their price; `no_discounts`: a share min(1, 0.5 + 0.5 * strength)
  of the film's concession and invitation tickets sold as adult ones; `burst_sales`: one session of the
  film a day (two above strength 1) gets min(1, strength) of its free seats bought within 20 seconds.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from ekino_pipeline.calendar import parse_date
from ekino_pipeline.errors import ConfigError
from ekino_pipeline.exchange.registry import CINEMA_ID_PATTERN
from ekino_pipeline.exchange.registry_csv import FILM_ID_PATTERN

# Response-level.
OUTAGE = "outage"
SERVER_ERRORS = "server_errors"
RATE_LIMIT = "rate_limit"
SLOW = "slow"
TRUNCATED_JSON = "truncated_json"
OVERSIZED_PAGE = "oversized_page"
API_DOWN = "api_down"

# Record-level.
DUPLICATE_EVENTS = "duplicate_events"
OUT_OF_ORDER = "out_of_order"
UNKNOWN_SESSION = "unknown_session"
UNKNOWN_FILM = "unknown_film"
FOREIGN_CINEMA = "foreign_cinema"
FUTURE_TIMESTAMPS = "future_timestamps"
BAD_AMOUNTS = "bad_amounts"
WRONG_TYPES = "wrong_types"
MISSING_FIELDS = "missing_fields"
EXTRA_FIELDS = "extra_fields"

# Content-level.
LATE_REFUND = "late_refund"
OVERSOLD_SESSION = "oversold_session"
DOUBLE_SOLD_SEAT = "double_sold_seat"
LATE_SALE = "late_sale"
ORPHAN_REFUND = "orphan_refund"
SILENT = "silent"
MISDECLARED_RETURNS = "misdeclared_returns"

# Integrity (content-level): valid records padding one film's box office.
PADDED_ADMISSIONS = "padded_admissions"
GHOST_SCREENINGS = "ghost_screenings"
PRICE_OUTLIERS = "price_outliers"
NO_DISCOUNTS = "no_discounts"
BURST_SALES = "burst_sales"
INTEGRITY_SCENARIOS = frozenset(
    {PADDED_ADMISSIONS, GHOST_SCREENINGS, PRICE_OUTLIERS, NO_DISCOUNTS, BURST_SALES}
)

RESPONSE_SCENARIOS = frozenset(
    {OUTAGE, SERVER_ERRORS, RATE_LIMIT, SLOW, TRUNCATED_JSON, OVERSIZED_PAGE, API_DOWN}
)
RECORD_SCENARIOS = frozenset(
    {
        DUPLICATE_EVENTS,
        OUT_OF_ORDER,
        UNKNOWN_SESSION,
        UNKNOWN_FILM,
        FOREIGN_CINEMA,
        FUTURE_TIMESTAMPS,
        BAD_AMOUNTS,
        WRONG_TYPES,
        MISSING_FIELDS,
        EXTRA_FIELDS,
    }
)
CONTENT_SCENARIOS = (
    frozenset(
        {
            LATE_REFUND,
            OVERSOLD_SESSION,
            DOUBLE_SOLD_SEAT,
            LATE_SALE,
            ORPHAN_REFUND,
            SILENT,
            MISDECLARED_RETURNS,
        }
    )
    | INTEGRITY_SCENARIOS
)
SCENARIOS = RESPONSE_SCENARIOS | RECORD_SCENARIOS | CONTENT_SCENARIOS

# Which records a record-level fault touches; the scenarios not listed touch events only. `both` is events
# and sessions; `returns` the declared box office returns (the fault's dates: the film week's Thursday).
EVENTS, SESSIONS, BOTH, RETURNS = "events", "sessions", "both", "returns"
RECORDS_CHOICES = (EVENTS, SESSIONS, BOTH, RETURNS)
DEFAULT_RECORDS = {UNKNOWN_FILM: SESSIONS, FOREIGN_CINEMA: BOTH}
CONFIGURABLE_RECORDS = frozenset({FOREIGN_CINEMA, WRONG_TYPES, MISSING_FIELDS, EXTRA_FIELDS})


def _times(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be a positive integer or null (always)")
    return value


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("must be a non-negative integer")
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 600:
        raise ValueError("must be a number of seconds between 0 and 600")
    return float(value)


def _size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1 << 30:
        raise ValueError("must be an integer number of bytes between 1 and 1 GiB")
    return value


def _rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValueError("must be a fraction in (0, 1]")
    return float(value)


def _factor(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10 or value == 1:
        raise ValueError("must be a number from 0 to 10 other than 1 (the truth)")
    return float(value)


def _film_id(value: Any) -> str:
    if not isinstance(value, str) or not FILM_ID_PATTERN.fullmatch(value):
        raise ValueError("must be a film id like F00001")
    return value


def _strength(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 10:
        raise ValueError("must be a number in (0, 10] (1 the scenario as described)")
    return float(value)


_REQUIRED = object()  # a parameter without a default: the fault must name it


def _records(value: Any) -> str:
    if value not in RECORDS_CHOICES:
        raise ValueError(f"must be one of {', '.join(RECORDS_CHOICES)}")
    return value


_ALWAYS = object()  # the default of `times` for faults that last until their until_date

# scenario -> {parameter: (parser, default)}
PARAMETERS: dict[str, dict[str, tuple[Any, Any]]] = {
    OUTAGE: {"times": (_times, _ALWAYS), "after_requests": (_non_negative_int, 0)},
    API_DOWN: {"times": (_times, _ALWAYS)},
    SERVER_ERRORS: {"times": (_times, 3)},
    RATE_LIMIT: {"times": (_times, 3), "retry_after": (_non_negative_int, 1)},
    SLOW: {"times": (_times, 3), "delay_seconds": (_seconds, 3.0)},
    TRUNCATED_JSON: {"times": (_times, 3)},
    OVERSIZED_PAGE: {"times": (_times, 3), "size_bytes": (_size, 20 * 1024 * 1024)},
    **{name: {"rate": (_rate, 0.02)} for name in RECORD_SCENARIOS},
    **{name: {"rate": (_rate, 0.02), "records": (_records, None)} for name in CONFIGURABLE_RECORDS},
    LATE_REFUND: {"rate": (_rate, 0.25)},
    OVERSOLD_SESSION: {},
    DOUBLE_SOLD_SEAT: {},
    LATE_SALE: {},
    ORPHAN_REFUND: {},
    SILENT: {},
    MISDECLARED_RETURNS: {"factor": (_factor, 0.8)},
    **{
        name: {"film_id": (_film_id, _REQUIRED), "strength": (_strength, 1.0)} for name in INTEGRITY_SCENARIOS
    },
}


@dataclass(frozen=True)
class Fault:
    cinema_id: str
    scenario: str
    from_date: date | None = None
    until_date: date | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        if self.scenario in RESPONSE_SCENARIOS:
            return "response"
        return "record" if self.scenario in RECORD_SCENARIOS else "content"

    @property
    def times(self) -> int | None:
        """How many matching requests the fault answers; None is every one."""
        return self.params.get("times")

    @property
    def records(self) -> str:
        return self.params.get("records") or DEFAULT_RECORDS.get(self.scenario, EVENTS)

    def covers_day(self, day: date) -> bool:
        return (self.from_date is None or day >= self.from_date) and (
            self.until_date is None or day <= self.until_date
        )

    def covers(self, first: date, last: date) -> bool:
        """Whether [first, last] overlaps the fault's days."""
        return (self.from_date is None or last >= self.from_date) and (
            self.until_date is None or first <= self.until_date
        )


def _date(value: Any, name: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):  # YAML reads an unquoted 2024-03-01 as a date already
        return value
    if isinstance(value, str):
        return parse_date(value)
    raise ValueError(f"{name} must be a date YYYY-MM-DD or null")


def parse_fault(entry: Mapping[str, Any], cinema_ids: Collection[str] | None = None) -> Fault:
    if not isinstance(entry, Mapping):
        raise ValueError(f"a fault must be a mapping, got {entry!r}")
    entry = dict(entry)
    cinema_id = entry.pop("cinema_id", None)
    scenario = entry.pop("scenario", None)
    if not isinstance(cinema_id, str) or not CINEMA_ID_PATTERN.fullmatch(cinema_id):
        raise ValueError(f"fault {scenario!r}: cinema_id must look like ALA-0001, got {cinema_id!r}")
    if cinema_ids is not None and cinema_id not in cinema_ids:
        raise ValueError(f"fault {scenario!r}: cinema {cinema_id} is not a connected cinema of the network")
    if scenario not in SCENARIOS:
        raise ValueError(
            f"fault for {cinema_id}: unknown scenario {scenario!r}; known: {', '.join(sorted(SCENARIOS))}"
        )
    where = f"fault {scenario} for {cinema_id}"
    try:
        from_date = _date(entry.pop("from_date", None), "from_date")
        until_date = _date(entry.pop("until_date", None), "until_date")
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    if from_date and until_date and until_date < from_date:
        raise ValueError(f"{where}: until_date {until_date} is before from_date {from_date}")
    if scenario == LATE_REFUND and from_date is None:
        raise ValueError(f"{where}: needs from_date, the business day the refunds arrive")
    known = PARAMETERS[scenario]
    unknown = sorted(set(entry) - set(known))
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise ValueError(f"{where}: unknown parameter(s) {', '.join(unknown)}; allowed: {allowed}")
    params: dict[str, Any] = {}
    for name, (parser, default) in known.items():
        if name in entry:
            try:
                params[name] = parser(entry[name])
            except ValueError as exc:
                raise ValueError(f"{where}: {name} {exc}, got {entry[name]!r}") from exc
        elif default is _REQUIRED:
            raise ValueError(f"{where}: needs {name}")
        else:
            params[name] = None if default is _ALWAYS else default
    return Fault(cinema_id, scenario, from_date, until_date, params)


def load_faults(
    source: str | Path | Iterable[Mapping[str, Any]] | None,
    cinema_ids: Collection[str] | None = None,
) -> tuple[Fault, ...]:
    """Faults from a YAML/JSON file or a list of mappings; anything malformed is a ValueError."""
    if source is None:
        return ()
    where = "faults"
    if isinstance(source, str | Path):
        path = Path(source)
        where = f"fault file {path}"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {where}: {exc.strerror or exc}") from exc
        try:
            entries = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise ConfigError(f"{where} is not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}") from exc
        if entries is None:
            return ()
        if not isinstance(entries, list):
            raise ConfigError(f"{where} must hold a list of faults")
    elif isinstance(source, Mapping):
        raise ConfigError("faults must be a list of mappings, not one mapping")
    else:
        entries = list(source)
    faults = []
    for number, entry in enumerate(entries, start=1):
        try:
            faults.append(parse_fault(entry, cinema_ids))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}, entry {number}: {exc}") from exc
    return tuple(faults)


class FaultPlan:
    """The faults of a network, looked up by cinema, with the response-level counters."""

    def __init__(self, faults: Iterable[Fault] = ()):
        self.faults = tuple(faults)
        self._by_cinema: dict[str, tuple[Fault, ...]] = {}
        for fault in self.faults:
            self._by_cinema[fault.cinema_id] = (*self._by_cinema.get(fault.cinema_id, ()), fault)
        self._counters: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.faults)

    def for_cinema(self, cinema_id: str, kind: str | None = None) -> tuple[Fault, ...]:
        faults = self._by_cinema.get(cinema_id, ())
        return faults if kind is None else tuple(f for f in faults if f.kind == kind)

    def content(self, cinema_id: str, scenario: str, day: date) -> Fault | None:
        for fault in self._by_cinema.get(cinema_id, ()):
            if fault.scenario == scenario and fault.covers_day(day):
                return fault
        return None

    def integrity(self, cinema_id: str, day: date) -> tuple[Fault, ...]:
        """The integrity faults of a cinema that cover a business day."""
        return tuple(
            f
            for f in self._by_cinema.get(cinema_id, ())
            if f.scenario in INTEGRITY_SCENARIOS and f.covers_day(day)
        )

    def take_response_fault(self, cinema_id: str, first: date, last: date) -> tuple[Fault, int] | None:
        """The response-level fault that answers this request and how many it answered before.

        None means answer normally. Taking a fault counts it.
        """
        with self._lock:
            for fault in self._by_cinema.get(cinema_id, ()):
                if fault.kind != "response" or not fault.covers(first, last):
                    continue
                key = (cinema_id, fault.scenario)
                matched = self._counters.get(key, 0)
                after = fault.params.get("after_requests", 0)
                if fault.times is not None and matched >= after + fault.times:
                    continue
                self._counters[key] = matched + 1
                if matched < after:
                    continue  # still answered normally
                return fault, matched - after
        return None

    def fired(self, cinema_id: str, scenario: str) -> int:
        """Matching requests counted so far (those an outage let through first included)."""
        with self._lock:
            return self._counters.get((cinema_id, scenario), 0)

    def reset(self) -> None:
        with self._lock:
            self._counters.clear()
