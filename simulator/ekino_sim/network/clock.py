"""Time in the simulated network: the simulator's clock, business-day bounds and RFC 3339 local times."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ekino_pipeline.calendar import business_day_bounds

ONE_DAY = timedelta(days=1)
MIN_YEAR, MAX_YEAR = 1970, 2100


@functools.lru_cache(maxsize=65536)
def day_start(day: date) -> int:
    """Epoch seconds at which a business day begins."""
    return int(business_day_bounds(day)[0].timestamp())


def check_day(day: date) -> date:
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValueError(f"business day {day} is outside {MIN_YEAR}-{MAX_YEAR}")
    return day


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
