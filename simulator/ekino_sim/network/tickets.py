"""A session's tickets: when each sells, in which category and channel, at what price, whether refunded.

Each ticket's attributes come from a 64-bit hash of the session's key and the ticket's number, so any
subset of tickets can be built on its own: the events that occur on one business day touch only the
tickets sold up to that day, not whole weeks of presales. A generated event is a plain tuple whose
fields are indexed by the names below (TS, EVENT_ID, ...).
"""

from __future__ import annotations

import bisect
import functools
import hashlib

from ekino_pipeline.exchange.registry import Film, Hall
from ekino_sim.network.demand import round10

PRESALE_DAYS = 7
LATE_SALE_GRACE = 15 * 60  # a box office may still sell during the trailers
FIRST_SALE_HOUR = 8  # same-day sales open at 08:00, presales run 09:00-24:00
PRESALE_HOUR = 9

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
MIX1, MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB

CATEGORIES = ("adult", "child", "student", "senior", "invitation")
CATEGORY_PRICE = (1.0, 0.6, 0.75, 0.6, 0.0)
CATEGORY_SHARE = (0.68, 0.12, 0.12, 0.06, 0.02)
FAMILY_CATEGORY_SHARE = (0.50, 0.34, 0.08, 0.06, 0.02)  # animation and family films
FAMILY_GENRES = frozenset({"animation", "family"})
CHANNELS = ("box_office", "online", "kiosk")
CHANNEL_SHARE = (0.45, 0.45, 0.10)

# Share of a session's tickets sold k business days before the session's day (k = 0..7), before the
# per-session presale appetite scales the presale part.
PRESALE_SHARES = (0.60, 0.14, 0.08, 0.06, 0.04, 0.035, 0.025, 0.02)
# Refund odds out of 1024: same-day tickets are seldom refunded, presold ones more often (about 3% in all).
REFUND_SAME_DAY = 10
REFUND_PRESALE = 61

EVENT_TYPES = ("sale", "refund")
SALE, REFUND = 0, 1
# A generated event: (occurred_at epoch seconds, event_id, kind, ticket_id, session_id, seat_row,
# seat_number, channel, category, amount string, amount in tiyn).
TS, EVENT_ID, KIND, TICKET_ID, SESSION_ID, SEAT_ROW, SEAT_NUMBER, CHANNEL, CATEGORY, AMOUNT, CENTS = range(11)


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


def mix(x: int) -> int:
    x = ((x ^ (x >> 30)) * MIX1) & M64
    x = ((x ^ (x >> 27)) * MIX2) & M64
    return x ^ (x >> 31)


def ticket_hash(key: int, index: int) -> int:
    return mix((key + index * GOLDEN) & M64)


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


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
            h2 = mix(h ^ GOLDEN)
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
        h = ticket_hash(self.key, index)
        k = self.bucket_of(index)
        return self.refund_ts(k, h, self.sale_ts(k, h)) is not None


@functools.lru_cache(maxsize=4096)
def _prices(adult: int) -> tuple[tuple[str, int, str], ...]:
    """(category, price as served, price in tiyn) per category, from the adult price in tenge."""
    tenge = [round10(adult * m) for m in CATEGORY_PRICE]
    return tuple((c, money(t * 100), t * 100) for c, t in zip(CATEGORIES, tenge, strict=True))


def refund_of(sale: tuple, ts: int) -> tuple:
    """The refund of a generated sale, at ts."""
    return (ts, sale[EVENT_ID][:-1] + "R", REFUND, *sale[TICKET_ID:])


def emit_fast(s: Session, j: int, sx: int, ex: int, out: list) -> None:
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
                    out.append(refund_of(s.sale(i, h, s.sale_ts(k, h)), rts))


def emit_general(s: Session, j: int, sx: int, ex: int, out: list) -> None:
    """The same as `emit_fast` for any session, late refunds included; every presold ticket is built."""
    for k in range(j, PRESALE_DAYS + 1):
        lo_i, hi_i = s.ranges[k]
        for i in range(lo_i, hi_i):
            h = ticket_hash(s.key, i)
            ts = s.sale_ts(k, h)
            sale = s.sale(i, h, ts)
            if k == j:
                out.append(sale)
            rts = s.refund_ts(k, h, ts)
            if rts is not None and sx <= rts < ex:
                out.append(refund_of(sale, rts))


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
