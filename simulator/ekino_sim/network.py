"""Deterministic ticketing activity of a cinema network: sessions, sales and refunds for any business day.

Everything a cinema serves is a pure function of the seed, the cinema, the session's business day and
the ticket's number, so the same seed gives the same bytes whatever the page size and whatever order
days are asked in:

* a session plan per (cinema, session day) comes from its own `random.Random`: halls, films, start
  times, how many tickets each session sells and how they split over the presale days;
* each ticket's attributes (sale time, category, channel, refund) come from a 64-bit hash of the
  session's key and the ticket's number, so any subset of tickets can be built on its own. Building
  the events that occur on one business day therefore touches only the tickets sold up to that day,
  not whole weeks of presales.

A cinema's declared box office return for a film week comes from the same tickets: per film, those of
the week's sessions sold and not refunded by the time it declares (the morning after the week closes),
whatever the ticket-events feed serves (a silent feed or broken records do not change the cinema's
accounts); the `misdeclared_returns` fault scales it.

Faults (see `faults.py`) are applied here too: content-level ones while planning sessions, record-level
ones on the events of each business day, before anything is paged.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import math
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ekino_pipeline.calendar import business_date_of, business_day_bounds, daterange
from ekino_pipeline.exchange.contract import BOX_OFFICE_RETURN_FIELDS, SESSION_FIELDS
from ekino_pipeline.exchange.contract import TICKET_EVENT_FIELDS as EVENT_FIELDS
from ekino_pipeline.exchange.registry import Cinema, Film, Hall, Registry
from ekino_sim import faults as F

ONE_DAY = timedelta(days=1)
PRESALE_DAYS = 7
LATE_SALE_GRACE = 15 * 60  # a box office may still sell during the trailers
FIRST_SALE_HOUR = 8  # same-day sales open at 08:00, presales run 09:00-24:00
PRESALE_HOUR = 9
RELEASE_WINDOW_DAYS = 56  # a film plays for eight weeks after its release
MIN_YEAR, MAX_YEAR = 1970, 2100

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
MIX1, MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB

CATEGORIES = ("adult", "child", "student", "senior", "invitation")
CATEGORY_PRICE = (1.0, 0.6, 0.75, 0.6, 0.0)
CATEGORY_SHARE = (0.68, 0.12, 0.12, 0.06, 0.02)
FAMILY_CATEGORY_SHARE = (0.50, 0.34, 0.08, 0.06, 0.02)  # animation and family films
FAMILY_GENRES = frozenset({"animation", "family"})
BLOCKBUSTER_GENRES = frozenset({"action", "adventure", "science_fiction", "fantasy", "animation"})
CHANNELS = ("box_office", "online", "kiosk")
CHANNEL_SHARE = (0.45, 0.45, 0.10)

# Share of a session's tickets sold k business days before the session's day (k = 0..7), before the
# per-session presale appetite scales the presale part.
PRESALE_SHARES = (0.60, 0.14, 0.08, 0.06, 0.04, 0.035, 0.025, 0.02)
# Refund odds out of 1024: same-day tickets are seldom refunded, presold ones more often (about 3% in all).
REFUND_SAME_DAY = 10
REFUND_PRESALE = 61

WEEKDAY_DEMAND = (0.75, 0.7, 0.8, 0.9, 1.25, 1.65, 1.45)  # Monday..Sunday
# Kazakhstan's fixed-date public holidays (month, day) fill halls like a Saturday or better and are
# priced like a weekend. Kurban Ait moves with the lunar calendar and is left out.
HOLIDAYS = {
    (1, 1): 1.9,  # New Year
    (1, 2): 1.9,
    (1, 7): 1.4,  # Orthodox Christmas
    (3, 8): 1.6,  # International Women's Day
    (3, 21): 1.9,  # Nauryz
    (3, 22): 1.9,
    (3, 23): 1.9,
    (5, 1): 1.5,  # Unity Day
    (5, 7): 1.4,  # Defender of the Fatherland Day
    (5, 9): 1.5,  # Victory Day
    (7, 6): 1.5,  # Capital Day
    (8, 30): 1.5,  # Constitution Day
    (10, 25): 1.4,  # Republic Day
    (12, 16): 1.5,  # Independence Day
}
FORMAT_DEMAND = {"2D": 1.0, "3D": 1.05, "IMAX": 1.3, "4DX": 1.15}
# Domestic comedies and dramas draw Kazakhstan's audiences more than most imports: 14 of 2024's top 20
# films by gross were domestic, and so are 14 at seed 1. The top 20 is a race of a few Pareto draws, so
# another seed lands a few films either side (8 to 17 among those tried).
DOMESTIC_POPULARITY = 1.7
# Share of screenings in Kazakh of a domestic film shot in Kazakh, of one shot in Russian, and of an
# import (dubbed); the rest play in Russian, or for one import in seven in the original with subtitles.
KAZAKH_AUDIO = {"domestic_kk": 0.38, "domestic_other": 0.08, "foreign": 0.1}
# National gross at all 103 pilot cinemas as published, in bn tenge. Later years grow by LATER_GROWTH a
# year (an assumption: the market's growth after 2025 is not published yet); earlier ones stay at 2019.
PUBLISHED_GROSS_BN = {2019: 17.5, 2020: 4.9, 2021: 9.6, 2022: 13.2, 2023: 16.9, 2024: 22.0, 2025: 23.5}
LATER_GROWTH = 1.05
# The registry's films differ from year to year (runtimes decide how many screenings a hall fits, genres
# where they play), which moves a year's gross by a few percent at the same demand. These factors take
# that out; measured with `calibration.simulate_year(year, sample_every=5)` at seed 1 (see its module).
YEAR_CALIBRATION = {2019: 0.960, 2020: 0.962, 2021: 0.958, 2022: 0.963, 2023: 1.020, 2024: 0.996, 2025: 0.995}
# Hall demand in 2024; another year's is scaled by its published gross. Calibrated with
# `calibration.simulate_year` so that the pilot network's simulated 2024 grosses its 22.0 bn tenge.
DEMAND_SCALE = 0.0844

CITY_PRICE = {
    "Almaty": 1900,
    "Astana": 1800,
    "Shymkent": 1450,
    "Atyrau": 1450,
    "Aktau": 1400,
    "Karaganda": 1350,
}
OTHER_CITY_PRICE = 1250
FORMAT_PRICE = {"2D": 1.0, "3D": 1.2, "IMAX": 1.6, "4DX": 1.8}
# Calibrated so that the average ticket, invitations included, costs about 1,750 tenge.
PRICE_SCALE = 1.18

UNKNOWN_FILM_ID = "F99999"

EVENT_TYPES = ("sale", "refund")
SALE, REFUND = 0, 1
# A generated event: (occurred_at epoch seconds, event_id, kind, ticket_id, session_id, seat_row,
# seat_number, channel, category, amount string, amount in tiyn).
TS, EVENT_ID, KIND, TICKET_ID, SESSION_ID, SEAT_ROW, SEAT_NUMBER, CHANNEL, CATEGORY, AMOUNT, CENTS = range(11)
# A served event: (occurred_at, JSON text, event_id, valid per contract, kind, amount in tiyn,
# served twice, positions it is served late).
I_TS, I_JSON, I_ID, I_VALID, I_KIND, I_CENTS, I_DUP, I_SHIFT = range(8)


def _table(shares: tuple[float, ...]) -> tuple[int, ...]:
    """A 1024-entry lookup from ten random bits to an index drawn with the given shares."""
    bounds = [round(1024 * sum(shares[: i + 1])) for i in range(len(shares))]
    bounds[-1] = 1024
    return tuple(bisect.bisect_right(bounds, u) for u in range(1024))


CATEGORY_TABLE = _table(CATEGORY_SHARE)
FAMILY_CATEGORY_TABLE = _table(FAMILY_CATEGORY_SHARE)
CHANNEL_TABLE = tuple(CHANNELS[i] for i in _table(CHANNEL_SHARE))


def hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _mix(x: int) -> int:
    x = ((x ^ (x >> 30)) * MIX1) & M64
    x = ((x ^ (x >> 27)) * MIX2) & M64
    return x ^ (x >> 31)


def _ticket_hash(key: int, index: int) -> int:
    return _mix((key + index * GOLDEN) & M64)


@functools.lru_cache(maxsize=65536)
def day_start(day: date) -> int:
    """Epoch seconds at which a business day begins."""
    return int(business_day_bounds(day)[0].timestamp())


def check_day(day: date) -> date:
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValueError(f"business day {day} is outside {MIN_YEAR}-{MAX_YEAR}")
    return day


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


class LocalTime:
    """RFC 3339 strings in one zone. Offsets are looked up once per UTC day, dates once per local day."""

    def __init__(self, zone: str):
        self.zone = ZoneInfo(zone)
        self._days: dict[int, tuple[int, int | None, int]] = {}
        self._dates: dict[int, str] = {}
        self._suffixes: dict[int, str] = {}

    def _offset_at(self, ts: int) -> int:
        return int(datetime.fromtimestamp(ts, self.zone).utcoffset().total_seconds())

    def _scan(self, day: int) -> tuple[int, int | None, int]:
        first, last = day * 86400, day * 86400 + 86399
        before, after = self._offset_at(first), self._offset_at(last)
        if before == after:  # Kazakhstan has no daylight saving: at most one change in a day
            return before, None, after
        lo, hi = first, last
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._offset_at(mid) == before:
                lo = mid
            else:
                hi = mid
        return before, hi, after

    def offset(self, ts: int) -> int:
        entry = self._days.get(ts // 86400)
        if entry is None:
            entry = self._days[ts // 86400] = self._scan(ts // 86400)
        before, switch, after = entry
        return before if switch is None or ts < switch else after

    def format(self, ts: int) -> str:
        off = self.offset(ts)
        day, sec = divmod(ts + off, 86400)
        text = self._dates.get(day)
        if text is None:
            text = self._dates[day] = date.fromordinal(719163 + day).isoformat()
        suffix = self._suffixes.get(off)
        if suffix is None:
            sign = "+" if off >= 0 else "-"
            suffix = self._suffixes[off] = f"{sign}{abs(off) // 3600:02d}:{abs(off) // 60 % 60:02d}"
        return f"{text}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}{suffix}"


class _LRU:
    """A small thread-safe LRU cache; values are built outside the lock (they are deterministic)."""

    def __init__(self, size: int):
        self.size = size
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = build()
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class Session:
    """One planned screening and everything needed to build any of its tickets.

    Presale ranges and sale windows are worked out on first use: a plan is built for every day a
    window might reach, and most of its sessions only need their ticket count.
    """

    __slots__ = (
        "_ranges", "_refunds", "audio", "day_starts", "eprefix", "extras", "film", "format", "hall", "key",
        "late", "layout", "n", "number", "presale", "seat_a", "seat_b", "session_id", "start_ts", "subtitle",
        "table", "tails", "tprefix",
    )  # fmt: skip

    def __init__(
        self,
        session_id: str,
        number: int,
        start_ts: int,
        hall: Hall,
        film: Film,
        fmt: str,
        audio: str,
        subtitle: str | None,
        n: int,
        presale: float,
        adult_price: int,
        key: int,
        seat_a: int,
        seat_b: int,
        layout: tuple[tuple[int, int], ...],
        day_starts: list[int],
    ):
        self.session_id = session_id
        self.number = number
        self.start_ts = start_ts
        self.hall = hall
        self.film = film
        self.format = fmt
        self.audio = audio
        self.subtitle = subtitle
        self.n = n
        self.presale = presale
        self.tails = _prices(adult_price)
        self.key = key
        self.seat_a = seat_a
        self.seat_b = seat_b
        self.layout = layout
        self.day_starts = day_starts
        self.table = FAMILY_CATEGORY_TABLE if FAMILY_GENRES.intersection(film.genres) else CATEGORY_TABLE
        self.tprefix = session_id.replace(":S", ":T", 1) + "-"
        self.eprefix = session_id.replace(":S", ":E", 1) + "-"
        self.extras: list[tuple] = []
        self.late: tuple[int, int] | None = None
        self._ranges: tuple[tuple[int, int], ...] | None = None
        self._refunds: list[list[tuple[int, int, int]] | None] | None = None

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        """Ticket index range [lo, hi) sold k business days before the session's day, per k."""
        if self._ranges is None:
            self._ranges = _ranges(self.n, self.presale)
        return self._ranges

    def resize(self, n: int) -> None:
        self.n, self._ranges, self._refunds = n, None, None

    def presale_refunds(self, k: int) -> list[tuple[int, int, int]]:
        """(index, hash, refunded at) of the tickets sold k days ahead that have an ordinary refund.

        Worked out once per bucket: each later day of the week would otherwise hash them all again.
        """
        if self._refunds is None:
            self._refunds = [None] * (PRESALE_DAYS + 1)
        refunds = self._refunds[k]
        if refunds is None:
            refunds, key, start = [], self.key, self.start_ts
            lo_i, hi_i = self.ranges[k]
            for i in range(lo_i, hi_i):
                x = (key + i * GOLDEN) & M64
                x = ((x ^ (x >> 30)) * MIX1) & M64
                x = ((x ^ (x >> 27)) * MIX2) & M64
                h = x ^ (x >> 31)
                if (h & 1023) >= REFUND_PRESALE:
                    continue
                ts = self.sale_ts(k, h)
                if start - ts > 300:
                    refunds.append((i, h, ts + 60 + ((((h >> 50) & 0x3FFF) * (start - ts - 120)) >> 14)))
            self._refunds[k] = refunds
        return refunds

    def window(self, k: int) -> tuple[int, int]:
        """(first second, length) of the sales made k business days before the session's day."""
        starts = self.day_starts
        if k == 0:
            opening = starts[0] + FIRST_SALE_HOUR * 3600
            return opening, self.start_ts + LATE_SALE_GRACE - opening
        lo = max(starts[k] + PRESALE_HOUR * 3600, self.start_ts - PRESALE_DAYS * 86400)
        return lo, starts[k - 1] - lo

    def ticket_number(self, index: int) -> str:
        return f"{index + 1:04d}"

    def seat(self, index: int) -> tuple[int, int]:
        return self.layout[(self.seat_a * index + self.seat_b) % len(self.layout)]

    def bucket_of(self, index: int) -> int:
        for k, (lo, hi) in enumerate(self.ranges):
            if lo <= index < hi:
                return k
        raise IndexError(index)

    def sale_ts(self, k: int, h: int) -> int:
        lo, span = self.window(k)
        g = (h >> 30) & 0xFFFFF
        if k == 0:  # same-day sales crowd towards the start
            q = ((0xFFFFF - g) ** 2) >> 20
            return lo + span - 1 - ((q * (span - 1)) >> 20)
        return lo + ((g * span) >> 20)

    def refund_ts(self, k: int, h: int, sale_ts: int) -> int | None:
        refund = None
        if (h & 1023) < (REFUND_SAME_DAY if k == 0 else REFUND_PRESALE) and self.start_ts - sale_ts > 300:
            refund = sale_ts + 60 + ((((h >> 50) & 0x3FFF) * (self.start_ts - sale_ts - 120)) >> 14)
        late = self.late
        if late is not None and sale_ts < late[0] and (refund is None or refund >= late[0]):
            h2 = _mix(h ^ GOLDEN)
            if (h2 & 1023) < late[1]:
                refund = late[0] + 10 * 3600 + ((((h2 >> 50) & 0x3FFF) * 12 * 3600) >> 14)
        return refund

    def sale(self, index: int, h: int, ts: int, seat: tuple[int, int] | None = None) -> tuple:
        number = f"{index + 1:04d}"
        row, seat_number = seat or self.seat(index)
        return (
            *(
                ts,
                self.eprefix + number + "-S",
                SALE,
                self.tprefix + number,
                self.session_id,
                row,
                seat_number,
            ),
            *(CHANNEL_TABLE[(h >> 20) & 1023], *self.tails[self.table[(h >> 10) & 1023]]),
        )

    def is_refunded(self, index: int) -> bool:
        h = _ticket_hash(self.key, index)
        k = self.bucket_of(index)
        return self.refund_ts(k, h, self.sale_ts(k, h)) is not None


@functools.lru_cache(maxsize=4096)
def _prices(adult: int) -> tuple[tuple[str, int, str], ...]:
    """(category, price as served, price in tiyn) per category, from the adult price in tenge."""
    tenge = [_round10(adult * m) for m in CATEGORY_PRICE]
    return tuple((c, money(t * 100), t * 100) for c, t in zip(CATEGORIES, tenge, strict=True))


def _refund_of(sale: tuple, ts: int) -> tuple:
    return (ts, sale[EVENT_ID][:-1] + "R", REFUND, *sale[TICKET_ID:])


def _emit_fast(s: Session, j: int, sx: int, ex: int, out: list) -> None:
    """Events in [sx, ex) of a session without late refunds: sales of bucket j, refunds of buckets >= j."""
    key, start = s.key, s.start_ts
    lo_i, hi_i = s.ranges[j]
    if hi_i > lo_i:
        wlo, span = s.window(j)
        thr = REFUND_SAME_DAY if j == 0 else REFUND_PRESALE
        table, layout, price = s.table, s.layout, s.tails
        seats, a, b = len(layout), s.seat_a, s.seat_b
        eprefix, tprefix, sid = s.eprefix, s.tprefix, s.session_id
        for i in range(lo_i, hi_i):
            x = (key + i * GOLDEN) & M64
            x = ((x ^ (x >> 30)) * MIX1) & M64
            x = ((x ^ (x >> 27)) * MIX2) & M64
            h = x ^ (x >> 31)
            g = (h >> 30) & 0xFFFFF
            if j == 0:
                ts = wlo + span - 1 - (((((0xFFFFF - g) ** 2) >> 20) * (span - 1)) >> 20)
            else:
                ts = wlo + ((g * span) >> 20)
            number = f"{i + 1:04d}"
            cat = table[(h >> 10) & 1023]
            row, seat = layout[(a * i + b) % seats]
            channel = CHANNEL_TABLE[(h >> 20) & 1023]
            sale = (ts, eprefix + number + "-S", SALE, tprefix + number, sid, row, seat, channel, *price[cat])
            out.append(sale)
            if (h & 1023) < thr and start - ts > 300:
                rts = ts + 60 + ((((h >> 50) & 0x3FFF) * (start - ts - 120)) >> 14)
                if rts < ex:
                    out.append((rts, eprefix + number + "-R", REFUND, *sale[3:]))
    for k in range(j + 1, PRESALE_DAYS + 1):
        if s.ranges[k][1] > s.ranges[k][0]:
            for i, h, rts in s.presale_refunds(k):
                if sx <= rts < ex:
                    out.append(_refund_of(s.sale(i, h, s.sale_ts(k, h)), rts))


def _emit_general(s: Session, j: int, sx: int, ex: int, out: list) -> None:
    """The same as `_emit_fast` for any session, late refunds included; every presold ticket is built."""
    for k in range(j, PRESALE_DAYS + 1):
        lo_i, hi_i = s.ranges[k]
        for i in range(lo_i, hi_i):
            h = _ticket_hash(s.key, i)
            ts = s.sale_ts(k, h)
            sale = s.sale(i, h, ts)
            if k == j:
                out.append(sale)
            rts = s.refund_ts(k, h, ts)
            if rts is not None and sx <= rts < ex:
                out.append(_refund_of(sale, rts))


def _seat_layout(hall: Hall) -> tuple[tuple[int, int], ...]:
    """The hall's seats, best first: a little behind the middle row, near the centre of the row."""
    rows = max(1, hall.seat_rows)
    per_row = -(-hall.seats // rows)
    seats = [(r, n) for r in range(1, rows + 1) for n in range(1, per_row + 1)][: hall.seats]
    best_row, centre = 0.6 * rows + 0.5, (per_row + 1) / 2
    seats.sort(key=lambda rn: (abs(rn[0] - best_row) / rows + abs(rn[1] - centre) / per_row, rn))
    return tuple(seats)


def _hour_demand(minute: int) -> float:
    if minute < 720:
        return 0.45
    if minute < 900:
        return 0.7
    if minute < 1080:
        return 0.95
    if minute < 1290:
        return 1.5
    if minute < 1350:
        return 1.1
    return 0.7


@functools.lru_cache(maxsize=256)
def year_level(year: int) -> float:
    """A year's demand relative to 2024's, from the published national gross."""
    first, last = min(PUBLISHED_GROSS_BN), max(PUBLISHED_GROSS_BN)
    known = min(max(year, first), last)
    gross = PUBLISHED_GROSS_BN[known] * LATER_GROWTH ** max(0, year - last)
    return gross / PUBLISHED_GROSS_BN[2024] * YEAR_CALIBRATION[known]


def _round10(amount: float) -> int:
    return math.floor(amount / 10 + 0.5) * 10


class Catalogue:
    """The films in release on one day, with how likely each is to be programmed."""

    def __init__(self, films: list[Film], popularity: list[float]):
        self.films = films
        self.popularity = popularity
        self.mean_popularity = sum(popularity) / len(popularity)
        regular = [p * (2.0 if f.is_domestic else 1.0) for f, p in zip(films, popularity, strict=True)]
        premium = [
            p * (0.4 if f.is_domestic else 1.0) * (2.5 if BLOCKBUSTER_GENRES.intersection(f.genres) else 1.0)
            for f, p in zip(films, popularity, strict=True)
        ]
        self.cum_regular = list(_accumulate(regular))
        self.cum_premium = list(_accumulate(premium))
        # A popular film fills its halls better; normalised over how often each film is programmed, in
        # regular and in premium halls apart, so that a week with a hit does not sell more tickets in all
        # than any other week (nor a seed whose hits are blockbusters more than another seed).
        appeal = [min(3.0, math.sqrt(p / self.mean_popularity)) for p in popularity]
        self.appeal = {}
        for is_premium, weights in ((False, regular), (True, premium)):
            scale = sum(w * a for w, a in zip(weights, appeal, strict=True)) / sum(weights)
            self.appeal[is_premium] = {f.film_id: a / scale for f, a in zip(films, appeal, strict=True)}


def _accumulate(values: list[float]):
    total = 0.0
    for v in values:
        total += v
        yield total


class SimulatedClock:
    """The wall clock, optionally started elsewhere in time and run faster.

    At rate k the simulated time runs k seconds per wall second from `start` (the wall clock's now by
    default), so the network serves k times as many sales per wall second as the pilot does at that
    hour, with the same daily shape. Rate 1 with no start is the wall clock itself.
    """

    def __init__(
        self, rate: float = 1.0, start: datetime | None = None, wall: Callable[[], float] | None = None
    ):
        if not rate > 0:
            raise ValueError(f"the clock rate must be positive, not {rate}")
        if start is not None and start.tzinfo is None:
            raise ValueError("the clock's start must be an aware datetime")
        self.rate = rate
        self._wall = wall or (lambda: datetime.now(UTC).timestamp())
        self._wall_origin = self._wall()
        self._origin = start.timestamp() if start is not None else self._wall_origin

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._origin + self.rate * (self._wall() - self._wall_origin), UTC)


class Network:
    """The generated activity of every cinema of a registry, with faults applied."""

    def __init__(
        self,
        registry: Registry,
        seed: int,
        fault_plan: F.FaultPlan | None = None,
        now: datetime | None = None,
        plan_cache: int | None = None,
        day_cache: int = 256,
        clock: SimulatedClock | None = None,
    ):
        self.registry = registry
        self.seed = seed
        self.faults = fault_plan or F.FaultPlan()
        self.now = now
        self.real_clock = clock
        self._cinemas = {c.cinema_id: c for c in registry.cinemas}
        ids = [c.cinema_id for c in registry.cinemas]
        # foreign_cinema borrows the ids of the next cinema of the registry
        self._neighbour = {cid: ids[(i + 1) % len(ids)] for i, cid in enumerate(ids)}
        self._films = sorted(registry.films, key=lambda f: (f.release_date, f.film_id))
        self._release_dates = [f.release_date for f in self._films]
        self._clocks: dict[str, LocalTime] = {}
        self._layouts: dict[str, tuple[tuple[int, int], ...]] = {}
        self._catalogues = _LRU(256)
        # A day's events need the plans of the nine session days around it; keeping about ten plan days
        # per cinema makes pulling the whole network day after day build each plan once (~12 kB each).
        self._plans = _LRU(plan_cache or max(4096, 10 * len(registry.cinemas)))
        # Served events of (cinema, business day), ~300 kB each: enough to page many cinemas at once.
        self._days = _LRU(day_cache)
        self._sessions = _LRU(4 * day_cache)
        self._returns = _LRU(day_cache)

    # -- time -------------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The simulator's clock: events that have not happened by now are not served."""
        if self._now is not None:
            return self._now
        return self.real_clock.now() if self.real_clock is not None else datetime.now(UTC)

    @now.setter
    def now(self, value: datetime | None) -> None:
        if value is not None and value.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        self._now = value

    def clock(self, cinema_id: str) -> LocalTime:
        zone = self.cinema(cinema_id).timezone
        clock = self._clocks.get(zone)
        if clock is None:
            clock = self._clocks[zone] = LocalTime(zone)
        return clock

    def cinema(self, cinema_id: str) -> Cinema:
        try:
            return self._cinemas[cinema_id]
        except KeyError:
            raise KeyError(f"unknown cinema {cinema_id!r}") from None

    # -- planning ---------------------------------------------------------------------------------

    def _catalogue(self, day: date) -> Catalogue | None:
        def build() -> Catalogue | None:
            first = bisect.bisect_right(self._release_dates, day - timedelta(days=RELEASE_WINDOW_DAYS))
            last = bisect.bisect_right(self._release_dates, day)
            films = self._films[first:last]
            if not films:
                return None
            popularity = []
            for film in films:
                u = (hash64(f"{self.seed}:popularity:{film.film_id}") + 1) / 2**64
                base = min(40.0, u ** (-1 / 1.4))  # Pareto: a few hits, many small films
                if film.is_domestic:
                    base *= DOMESTIC_POPULARITY
                popularity.append(base * 0.72 ** ((day - film.release_date).days / 7))
            return Catalogue(films, popularity)

        return self._catalogues.get(day, build)

    def _layout(self, hall: Hall) -> tuple[tuple[int, int], ...]:
        layout = self._layouts.get(hall.hall_id)
        if layout is None:
            layout = self._layouts[hall.hall_id] = _seat_layout(hall)
        return layout

    def plan(self, cinema_id: str, day: date) -> tuple[Session, ...]:
        """The sessions of a cinema's business day, ordered by start then id (cached)."""
        cinema = self.cinema(cinema_id)
        check_day(day)
        return self._plans.get((cinema_id, day), lambda: self._build_plan(cinema, day))

    def _build_plan(self, cinema: Cinema, day: date) -> tuple[Session, ...]:
        catalogue = self._catalogue(day)
        if catalogue is None or not cinema.halls:
            return ()
        rng = random.Random(f"ekino-sim:{self.seed}:{cinema.cinema_id}:{day.isoformat()}")
        ds = day_start(day)
        # starts[k]: when the business day k days before this one begins
        starts = [day_start(day - timedelta(days=k)) for k in range(PRESALE_DAYS + 1)]
        holiday = HOLIDAYS.get((day.month, day.day))
        weekday = max(WEEKDAY_DEMAND[day.weekday()], holiday or 0.0) * year_level(day.year)
        weekend = day.weekday() >= 4 or holiday is not None
        city_price = CITY_PRICE.get(cinema.city, OTHER_CITY_PRICE)
        films = catalogue.films
        ymd = day.strftime("%Y%m%d")
        drafts = []
        random_ = rng.random
        for hall in cinema.halls:
            premium = hall.format in ("IMAX", "4DX")
            cum = catalogue.cum_premium if premium else catalogue.cum_regular
            appeal = catalogue.appeal[premium]
            # rng.choices(films, cum_weights=cum) spelled out: the same draw without its checks
            total, last = cum[-1] + 0.0, len(films) - 1
            hall_demand = DEMAND_SCALE * weekday * (150 / hall.seats) ** 0.35
            minute = 600 + 5 * int(random_() * 30)  # first screening 10:00-12:25
            screenings = 0
            while minute <= 1410 and screenings < 6:
                film = films[bisect.bisect(cum, random_() * total, 0, last)]
                fmt = ("3D" if random_() < 0.5 else "2D") if hall.format == "3D" else hall.format
                audio, subtitle = self._languages(film, random_)
                occupancy = (
                    hall_demand
                    * _hour_demand(minute)
                    * appeal[film.film_id]
                    * FORMAT_DEMAND[fmt]
                    * math.exp(rng.gauss(0, 0.5))
                )
                n = min(hall.seats, int(hall.seats * occupancy + random_()))
                adult = _round10(
                    city_price
                    * FORMAT_PRICE[fmt]
                    * (1.1 if weekend else 0.9)
                    * (0.7 if minute < 720 else 0.9 if minute < 1020 else 1.0)
                    * PRICE_SCALE
                )
                key = rng.getrandbits(64)
                drafts.append(
                    (ds + minute * 60, hall.hall_id, hall, film, fmt, audio, subtitle, n, adult, key)
                )
                minute += film.runtime_minutes + 15 + 5 * int(random_() * 4)
                minute = -(-minute // 5) * 5
                screenings += 1
        drafts.sort(key=lambda d: (d[0], d[1]))
        prefix = f"{cinema.cinema_id}:S{ymd}-"
        sessions = []
        for number, d in enumerate(drafts, start=1):
            start_ts, _, hall, film, fmt, audio, subtitle, n, adult, key = d
            layout = self._layout(hall)
            # seat walk and presale appetite from the session key, to save generator calls
            mixed = _mix(key ^ MIX1)
            a = (1, 1, 2, 3)[mixed & 3]
            if a != 1 and math.gcd(a, len(layout)) != 1:
                a = 1
            b = (mixed >> 2) % max(1, len(layout) // 5)
            presale = (0.5 + ((mixed >> 20) & 63) / 64) * (1.2 if weekend and start_ts - ds >= 64800 else 1.0)
            session = Session(
                f"{prefix}{number:03d}", number, start_ts, hall, film, fmt, audio, subtitle, n, presale,
                adult, key, a, b, layout, starts,
            )  # fmt: skip
            sessions.append(session)
        if self.faults.for_cinema(cinema.cinema_id, "content"):
            self._plan_content_faults(cinema, day, sessions)
        return tuple(sessions)

    @staticmethod
    def _languages(film: Film, random_: Callable[[], float]) -> tuple[str, str | None]:
        r = random_()
        if film.is_domestic:
            kazakh = KAZAKH_AUDIO["domestic_kk" if film.original_language == "kk" else "domestic_other"]
            return ("kk" if r < kazakh else "ru"), None
        if r < KAZAKH_AUDIO["foreign"]:
            return "kk", None
        if r < 0.85:
            return "ru", None
        audio = film.original_language
        if audio == "ru":
            return "ru", "kk"
        return audio, ("ru" if random_() < 0.7 else "kk")

    def _plan_content_faults(self, cinema: Cinema, day: date, sessions: list[Session]) -> None:
        """Build the content faults into a day's sessions; extra tickets take numbers past the normal ones."""
        cid = cinema.cinema_id
        if not sessions:
            return

        def pick(scenario: str, eligible: list[Session]) -> Session | None:
            if not eligible:
                return None
            return eligible[hash64(f"{self.seed}:{scenario}:{cid}:{day}") % len(eligible)]

        taken: dict[str, int] = {}  # session_id -> next free ticket index beyond the normal tickets

        def next_index(s: Session) -> int:
            index = taken.get(s.session_id, s.n)
            taken[s.session_id] = index + 1
            return index

        if self.faults.content(cid, F.OVERSOLD_SESSION, day):
            s = pick(F.OVERSOLD_SESSION, sessions)
            s.resize(len(s.layout) + max(2, len(s.layout) // 20))
        if self.faults.content(cid, F.DOUBLE_SOLD_SEAT, day):
            s = pick(F.DOUBLE_SOLD_SEAT, [x for x in sessions if 0 < x.n < len(x.layout)])
            kept = next((i for i in range(s.n) if not s.is_refunded(i)), None) if s else None
            if kept is not None:
                index = next_index(s)
                ts = max(
                    s.window(0)[0], s.start_ts - 600 - hash64(f"{self.seed}:double:{s.session_id}") % 3000
                )
                s.extras.append(self._extra_sale(s, index, ts, s.seat(kept)))
        if self.faults.content(cid, F.LATE_SALE, day):
            s = pick(F.LATE_SALE, [x for x in sessions if x.n < len(x.layout)] or sessions)
            index = next_index(s)
            ts = s.start_ts + 2 * 3600 + hash64(f"{self.seed}:late:{s.session_id}") % (3 * 3600)
            s.extras.append(self._extra_sale(s, index, ts, s.seat(index)))
        if self.faults.content(cid, F.ORPHAN_REFUND, day):
            s = pick(F.ORPHAN_REFUND, sessions)
            index = s.n + 50  # far beyond anything sold
            ts = s.start_ts - 3600 - hash64(f"{self.seed}:orphan:{s.session_id}") % 7200
            sale = self._extra_sale(s, index, ts, s.seat(index))
            s.extras.append(_refund_of(sale, ts))
        for fault in self.faults.for_cinema(cid, "content"):
            if fault.scenario == F.LATE_REFUND and 1 <= (day - fault.from_date).days <= PRESALE_DAYS:
                threshold = max(1, round(fault.params["rate"] * 1024))
                for s in sessions:
                    s.late = (day_start(fault.from_date), threshold)

    @staticmethod
    def _extra_sale(s: Session, index: int, ts: int, seat: tuple[int, int]) -> tuple:
        """A ticket outside the session's normal ones: an adult seat bought at the box office."""
        return (*s.sale(index, 0, ts, seat)[:7], "box_office", *s.tails[0])

    # -- events -----------------------------------------------------------------------------------

    def day_records(self, cinema_id: str, day: date) -> list[tuple]:
        """The clean events (content faults included) that occur on a business day, in served order."""
        self.cinema(cinema_id)
        check_day(day)
        if self.faults.content(cinema_id, F.SILENT, day):
            return []
        sx, ex = day_start(day), day_start(day + ONE_DAY)
        out: list[tuple] = []
        for j in range(-1, PRESALE_DAYS + 1):
            for s in self.plan(cinema_id, day + timedelta(days=j)):
                if s.extras:
                    out.extend(r for r in s.extras if sx <= r[TS] < ex)
                if j < 0 or s.n == 0:
                    continue
                if s.late is None:
                    _emit_fast(s, j, sx, ex, out)
                else:
                    _emit_general(s, j, sx, ex, out)
        out.sort()  # (occurred_at, event_id) are unique, so later fields never decide
        return out

    def _day_items(self, cinema_id: str, day: date) -> tuple[list[int], list[tuple]]:
        return self._days.get((cinema_id, day), lambda: self._build_day_items(cinema_id, day))

    def _build_day_items(self, cinema_id: str, day: date) -> tuple[list[int], list[tuple]]:
        records = self.day_records(cinema_id, day)
        fmt = self.clock(cinema_id).format
        faults = [
            f
            for f in self.faults.for_cinema(cinema_id, "record")
            if f.covers_day(day) and f.records in (F.EVENTS, F.BOTH)
        ]
        if not faults:
            items = [
                (r[TS], _event_json(r, fmt), r[EVENT_ID], True, r[KIND], r[CENTS], False, 0) for r in records
            ]
            return [r[TS] for r in records], items
        chosen = [self._select(f, [r[EVENT_ID] for r in records]) for f in faults]
        items = []
        for index, r in enumerate(records):
            hits = [(f, sel[index]) for f, sel in zip(faults, chosen, strict=True) if index in sel]
            if not hits:
                items.append((r[TS], _event_json(r, fmt), r[EVENT_ID], True, r[KIND], r[CENTS], False, 0))
                continue
            record = dict(zip(EVENT_FIELDS, _event_values(r, fmt), strict=True))
            valid, dup, shift = True, False, 0
            for fault, h in hits:
                if fault.scenario == F.DUPLICATE_EVENTS:
                    dup = True
                elif fault.scenario == F.OUT_OF_ORDER:
                    shift = 10 + (h >> 8) % 991
                else:
                    valid &= self._corrupt_event(fault.scenario, record, r, h, cinema_id, fmt)
            text = json.dumps(record, separators=(",", ":"))
            items.append((r[TS], text, r[EVENT_ID], valid, r[KIND], r[CENTS], dup, shift))
        return [it[I_TS] for it in items], items

    def _select(self, fault: F.Fault, ids: list[str]) -> dict[int, int]:
        """Positions of the records a fault hits -> their hash: a fraction `rate`, at least one."""
        if not ids:
            return {}
        limit = fault.params["rate"] * 2**64
        hashes = [hash64(f"{self.seed}:{fault.scenario}:{i}") for i in ids]
        chosen = {i: h for i, h in enumerate(hashes) if h < limit}
        if not chosen:
            lowest = min(range(len(hashes)), key=hashes.__getitem__)
            chosen[lowest] = hashes[lowest]
        return chosen

    def _corrupt_event(self, scenario: str, d: dict, r: tuple, h: int, cinema_id: str, fmt) -> bool:
        """Break one served event in place; returns whether it still satisfies the contract."""
        variant = (h >> 16) % 4
        if scenario == F.UNKNOWN_SESSION:
            d["session_id"] = f"{r[SESSION_ID].rsplit('-', 1)[0]}-9{variant:02d}"
            return True
        if scenario == F.FOREIGN_CINEMA:
            other = self._neighbour[cinema_id]
            for name in ("event_id", "ticket_id", "session_id"):
                if name in d and isinstance(d[name], str):
                    d[name] = other + d[name][len(cinema_id) :]
            return False
        if scenario == F.FUTURE_TIMESTAMPS:
            d["occurred_at"] = fmt(r[TS] + (3 + variant) * 365 * 86400)
            return False
        if scenario == F.BAD_AMOUNTS:
            if r[CENTS] == 0:
                d["category"] = "adult"  # a paid category at 0.00
            elif variant % 2:
                d["amount_kzt"] = "-" + r[AMOUNT]
            else:
                d["amount_kzt"] = "0.00"
            return False
        if scenario == F.WRONG_TYPES:
            if variant == 0:
                d["amount_kzt"] = r[CENTS] / 100
            elif variant == 1:
                d["seat_number"] = str(r[SEAT_NUMBER])
            elif variant == 2:
                d["seat_row"] = str(r[SEAT_ROW])
            else:
                d["occurred_at"] = r[TS]
            return False
        if scenario == F.MISSING_FIELDS:
            d.pop(EVENT_FIELDS[(h >> 16) % len(EVENT_FIELDS)], None)
            return False
        if scenario == F.EXTRA_FIELDS:
            if variant == 0:
                d["loyalty_card"] = f"LC-{h % 10**8:08d}"
            elif variant == 1:
                d["promo"] = {"code": f"KINO{h % 100}", "discount_kzt": "0.00"}
            elif variant == 2:
                d["terminal_id"] = h % 50
            else:
                d["comment"] = None
            return True
        raise AssertionError(scenario)

    def event_items(self, cinema_id: str, start: int, end: int) -> list[tuple]:
        """What the cinema serves for [start, end) (epoch seconds), in order, across all pages."""
        self.cinema(cinema_id)
        top = min(end, math.floor(self.now.timestamp()) + 1)
        if top <= start:
            return []
        first = business_date_of(datetime.fromtimestamp(start, UTC))
        last = business_date_of(datetime.fromtimestamp(end - 1, UTC))
        items: list[tuple] = []
        for day in daterange(first, last):
            stamps, day_items = self._day_items(cinema_id, day)
            items.extend(day_items[bisect.bisect_left(stamps, start) : bisect.bisect_left(stamps, top)])
        if any(it[I_DUP] or it[I_SHIFT] for it in items):
            items = _place(items)
        return items

    def ticket_events(self, cinema_id: str, start: datetime, end: datetime) -> list[dict]:
        """The served events of a window as JSON objects (for tests and reconciliation)."""
        lo, hi = math.ceil(start.timestamp()), math.ceil(end.timestamp())
        return [json.loads(it[I_JSON]) for it in self.event_items(cinema_id, lo, hi)]

    # -- sessions ---------------------------------------------------------------------------------

    def session_items(self, cinema_id: str, day: date) -> list[tuple[str, str, bool]]:
        """The served sessions of a business day: (JSON text, session_id, valid per contract)."""
        self.cinema(cinema_id)
        check_day(day)
        return self._sessions.get(("sessions", cinema_id, day), lambda: self._build_sessions(cinema_id, day))

    def _build_sessions(self, cinema_id: str, day: date) -> list[tuple[str, str, bool]]:
        fmt = self.clock(cinema_id).format
        plan = self.plan(cinema_id, day)
        faults = [
            f
            for f in self.faults.for_cinema(cinema_id, "record")
            if f.covers_day(day) and f.records in (F.SESSIONS, F.BOTH)
        ]
        chosen = [self._select(f, [s.session_id for s in plan]) for f in faults]
        items = []
        for index, s in enumerate(plan):
            record = {
                "session_id": s.session_id,
                "film_id": s.film.film_id,
                "hall_id": s.hall.hall_id,
                "starts_at": fmt(s.start_ts),
                "format": s.format,
                "audio_language": s.audio,
                "subtitle_language": s.subtitle,
            }
            valid = True
            for fault, sel in zip(faults, chosen, strict=True):
                if index in sel:
                    valid &= self._corrupt_session(fault.scenario, record, s, sel[index], cinema_id)
            items.append((json.dumps(record, separators=(",", ":")), s.session_id, valid))
        return items

    def _corrupt_session(self, scenario: str, d: dict, s: Session, h: int, cinema_id: str) -> bool:
        variant = (h >> 16) % 3
        if scenario == F.UNKNOWN_FILM:
            d["film_id"] = UNKNOWN_FILM_ID
            return True
        if scenario == F.FOREIGN_CINEMA:
            other = self._neighbour[cinema_id]
            for name in ("session_id", "hall_id"):
                d[name] = other + d[name][len(cinema_id) :]
            return False
        if scenario == F.WRONG_TYPES:
            if variant == 0:
                d["starts_at"] = s.start_ts
            elif variant == 1:
                d["format"] = s.format.lower()
            else:
                d["hall_id"] = s.hall.seats
            return False
        if scenario == F.MISSING_FIELDS:
            d.pop(SESSION_FIELDS[(h >> 16) % len(SESSION_FIELDS)])
            return False
        if scenario == F.EXTRA_FIELDS:
            d["price_from_kzt"] = s.tails[1][1]
            return True
        return True  # event-only scenarios do not reach sessions

    def sessions(self, cinema_id: str, day: date) -> list[dict]:
        return [json.loads(text) for text, _, _ in self.session_items(cinema_id, day)]

    # -- declared returns -------------------------------------------------------------------------

    def declared_at(self, cinema_id: str, week_start: date) -> int:
        """When a cinema declares a film week (epoch seconds): between 06:00 and 12:00 the morning after
        it closes, at a time of its own."""
        closed = day_start(week_start + timedelta(days=7))
        return closed + 6 * 3600 + hash64(f"{self.seed}:declared:{cinema_id}:{week_start}") % (6 * 3600)

    def return_items(self, cinema_id: str, week_start: date) -> list[str]:
        """The served returns of a film week (JSON texts, ordered by film then id): none before the
        cinema has declared it."""
        self.cinema(cinema_id)
        check_day(week_start)
        declared_at = self.declared_at(cinema_id, week_start)
        if declared_at > self.now.timestamp():
            return []
        return self._returns.get(
            (cinema_id, week_start), lambda: self._build_returns(cinema_id, week_start, declared_at)
        )

    def declared_returns(self, cinema_id: str, week_start: date) -> list[dict]:
        return [json.loads(text) for text in self.return_items(cinema_id, week_start)]

    def _build_returns(self, cinema_id: str, week_start: date, declared_at: int) -> list[str]:
        totals: dict[str, list[int]] = {}  # film_id -> [admissions, tiyn]
        for day in daterange(week_start, week_start + timedelta(days=6)):
            for s in self.plan(cinema_id, day):
                total = totals.setdefault(s.film.film_id, [0, 0])
                for k, (lo_i, hi_i) in enumerate(s.ranges):
                    for i in range(lo_i, hi_i):
                        h = _ticket_hash(s.key, i)
                        ts = s.sale_ts(k, h)
                        refunded = s.refund_ts(k, h, ts)
                        if ts < declared_at and (refunded is None or refunded >= declared_at):
                            total[0] += 1
                            total[1] += s.tails[s.table[(h >> 10) & 1023]][2]
                for r in s.extras:  # content faults' tickets are in the cinema's accounts too
                    if r[TS] < declared_at:
                        sign = 1 if r[KIND] == SALE else -1
                        total[0] += sign
                        total[1] += sign * r[CENTS]
        fault = self.faults.content(cinema_id, F.MISDECLARED_RETURNS, week_start)
        factor = fault.params["factor"] if fault else 1
        stamp = self.clock(cinema_id).format(declared_at)
        records = []
        for film_id, (admissions, cents) in sorted(totals.items()):
            records.append(
                {
                    "return_id": f"{cinema_id}:R{week_start:%Y%m%d}-{film_id}",
                    "film_id": film_id,
                    "film_week_start": week_start.isoformat(),
                    "admissions": max(0, round(admissions * factor)),
                    "gross_kzt": money(max(0, round(cents * factor))),
                    "declared_at": stamp,
                    "revision": 1,
                }
            )
        for broken in self.faults.for_cinema(cinema_id, "record"):
            if broken.records == F.RETURNS and broken.covers_day(week_start):
                chosen = self._select(broken, [r["return_id"] for r in records])
                for index, h in chosen.items():
                    self._corrupt_return(broken.scenario, records[index], h, cinema_id, declared_at)
        return [json.dumps(record, separators=(",", ":")) for record in records]

    def _corrupt_return(self, scenario: str, d: dict, h: int, cinema_id: str, declared_at: int) -> None:
        """Break one served return in place (extra_fields leaves it valid)."""
        variant = (h >> 16) % 3
        if scenario == F.FOREIGN_CINEMA:
            d["return_id"] = self._neighbour[cinema_id] + d["return_id"][len(cinema_id) :]
        elif scenario == F.WRONG_TYPES:
            if variant == 0:
                d["admissions"] = str(d["admissions"])
            elif variant == 1:
                d["gross_kzt"] = float(d["gross_kzt"])
            else:
                d["declared_at"] = declared_at
        elif scenario == F.MISSING_FIELDS:
            d.pop(BOX_OFFICE_RETURN_FIELDS[(h >> 16) % len(BOX_OFFICE_RETURN_FIELDS)])
        elif scenario == F.EXTRA_FIELDS:
            d["cashier_note"] = f"checked by {h % 100:02d}"

    # -- reconciliation ---------------------------------------------------------------------------

    def tickets_sold(self, cinema_id: str, day: date) -> int:
        """Tickets sold for the sessions of a business day (refunded ones included)."""
        return sum(s.n for s in self.plan(cinema_id, day))

    def truth(self, cinema_id: str, day: date) -> dict:
        """Exactly what the cinema serves for a business day: its sessions and its day's events."""
        sessions = self.session_items(cinema_id, day)
        start, end = business_day_bounds(day)
        items = self.event_items(cinema_id, int(start.timestamp()), int(end.timestamp()))
        seen: set[str] = set()
        invalid = duplicates = sales = refunds = 0
        sales_cents = refunds_cents = 0
        for it in items:
            if not it[I_VALID]:
                invalid += 1
            elif it[I_ID] in seen:
                duplicates += 1
            else:
                seen.add(it[I_ID])
                if it[I_KIND] == SALE:
                    sales += 1
                    sales_cents += it[I_CENTS]
                else:
                    refunds += 1
                    refunds_cents += it[I_CENTS]
        return {
            "cinema_id": cinema_id,
            "date": day.isoformat(),
            "sessions": {"served": len(sessions), "invalid": sum(not v for _, _, v in sessions)},
            "ticket_events": {
                "served": len(items),
                "invalid": invalid,
                "duplicates": duplicates,
                "valid_unique": len(seen),
                "sales": sales,
                "refunds": refunds,
                "sales_kzt": money(sales_cents),
                "refunds_kzt": money(refunds_cents),
                "gross_kzt": money(sales_cents - refunds_cents),
            },
        }

    def clear_caches(self) -> None:
        for cache in (self._catalogues, self._plans, self._days, self._sessions, self._returns):
            cache.clear()


def _ranges(n: int, presale: float) -> tuple[tuple[int, int], ...]:
    """Ticket index ranges per bucket k (sold k days before the session's day), earliest sales first."""
    ranges: list[tuple[int, int]] = [(0, 0)] * (PRESALE_DAYS + 1)
    lo = 0
    for k, share in zip(range(PRESALE_DAYS, 0, -1), _cumulative_shares(presale), strict=True):
        hi = min(n, round(n * share))
        ranges[k] = (lo, hi)
        lo = hi
    ranges[0] = (lo, n)
    return tuple(ranges)


@functools.lru_cache(maxsize=256)
def _cumulative_shares(presale: float) -> tuple[float, ...]:
    """Share of tickets sold by the end of each presale day, earliest first (k = 7..1)."""
    shares = [PRESALE_SHARES[k] * presale for k in range(PRESALE_DAYS + 1)]
    shares[0] = max(0.2, 1 - sum(shares[1:]))
    total, acc, out = sum(shares), 0.0, []
    for k in range(PRESALE_DAYS, 0, -1):
        acc += shares[k] / total
        out.append(acc)
    return tuple(out)


def _event_values(r: tuple, fmt) -> tuple:
    return (
        r[EVENT_ID],
        EVENT_TYPES[r[KIND]],
        r[TICKET_ID],
        r[SESSION_ID],
        fmt(r[TS]),
        r[AMOUNT],
        r[SEAT_ROW],
        r[SEAT_NUMBER],
        r[CHANNEL],
        r[CATEGORY],
    )


def _event_json(r: tuple, fmt) -> str:
    # Every value is from a fixed alphabet, so plain formatting gives the same text as json.dumps.
    return (
        f'{{"event_id":"{r[1]}","event_type":"{EVENT_TYPES[r[2]]}","ticket_id":"{r[3]}",'
        f'"session_id":"{r[4]}","occurred_at":"{fmt(r[0])}","amount_kzt":"{r[9]}","seat_row":{r[5]},'
        f'"seat_number":{r[6]},"channel":"{r[7]}","category":"{r[8]}"}}'
    )


def _place(items: list[tuple]) -> list[tuple]:
    """Serve duplicated records again at least 1000 positions later (or last) and delay shifted ones."""
    n = len(items)
    keyed = []
    for pos, it in enumerate(items):
        keyed.append((min(pos + it[I_SHIFT], n), 1, pos, it) if it[I_SHIFT] else (pos, 0, pos, it))
        if it[I_DUP]:
            keyed.append((min(pos + 1000, n), 2, pos, it))
    keyed.sort(key=lambda t: t[:3])
    return [t[3] for t in keyed]
