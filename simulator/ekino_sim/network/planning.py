"""The sessions of a cinema's business day: halls, films, start times, languages, sizes and prices.

A plan per (cinema, session day) comes from its own `random.Random`, so days can be planned in any
order. Content faults (see `ekino_sim.faults`) are built into the plan here: the tickets they add are
part of the cinema's activity, whatever is served.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from datetime import date, timedelta

from ekino_pipeline.exchange.registry import Cinema, Film, Hall, Registry
from ekino_sim import faults as F
from ekino_sim.network.cache import LRU
from ekino_sim.network.clock import day_start
from ekino_sim.network.demand import (
    CITY_PRICE,
    DEMAND_SCALE,
    DOMESTIC_POPULARITY,
    FORMAT_DEMAND,
    FORMAT_PRICE,
    HOLIDAYS,
    KAZAKH_AUDIO,
    OTHER_CITY_PRICE,
    PRICE_SCALE,
    RELEASE_WINDOW_DAYS,
    WEEKDAY_DEMAND,
    Catalogue,
    hour_demand,
    popularity_keep,
    round10,
    year_level,
)
from ekino_sim.network.integrity import apply_integrity_faults
from ekino_sim.network.tickets import MIX1, PRESALE_DAYS, Session, hash64, mix, refund_of

DEFAULT_RUNTIME = 110  # minutes, for a film whose runtime the registry does not give


class Planner:
    """Builds the session plans of a registry's cinemas for one seed (the network caches the plans)."""

    def __init__(self, registry: Registry, seed: int, faults: F.FaultPlan):
        self.seed = seed
        self.faults = faults
        self._films = sorted(registry.films, key=lambda f: (f.release_date, f.film_id))
        self._release_dates = [f.release_date for f in self._films]
        self._films_by_id = {f.film_id: f for f in self._films}
        self._layouts: dict[str, tuple[tuple[int, int], ...]] = {}
        self._catalogues = LRU(256)

    def catalogue(self, day: date) -> Catalogue | None:
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
                luck = (hash64(f"{self.seed}:legs:{film.film_id}") + 1) / 2**64 % 1.0
                keep = popularity_keep(film, luck)
                popularity.append(base * keep ** ((day - film.release_date).days / 7))
            return Catalogue(films, popularity)

        return self._catalogues.get(day, build)

    def layout(self, hall: Hall) -> tuple[tuple[int, int], ...]:
        layout = self._layouts.get(hall.hall_id)
        if layout is None:
            layout = self._layouts[hall.hall_id] = seat_layout(hall)
        return layout

    def plan(self, cinema: Cinema, day: date) -> tuple[Session, ...]:
        """The sessions of a cinema's business day, ordered by start then id, content faults built in."""
        catalogue = self.catalogue(day)
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
                    * hour_demand(minute)
                    * appeal[film.film_id]
                    * FORMAT_DEMAND[fmt]
                    * math.exp(rng.gauss(0, 0.5))
                )
                n = min(hall.seats, int(hall.seats * occupancy + random_()))
                adult = round10(
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
                minute += (film.runtime_minutes or DEFAULT_RUNTIME) + 15 + 5 * int(random_() * 4)
                minute = -(-minute // 5) * 5
                screenings += 1
        drafts.sort(key=lambda d: (d[0], d[1]))
        prefix = f"{cinema.cinema_id}:S{ymd}-"
        sessions = []
        for number, d in enumerate(drafts, start=1):
            start_ts, _, hall, film, fmt, audio, subtitle, n, adult, key = d
            layout = self.layout(hall)
            # seat walk and presale appetite from the session key, to save generator calls
            mixed = mix(key ^ MIX1)
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
            s.extras.append(refund_of(sale, ts))
        integrity = self.faults.integrity(cid, day)
        if integrity:
            apply_integrity_faults(
                integrity, seed=self.seed, cinema_id=cid, day=day, day_start=day_start(day),
                sessions=sessions, films=self._films_by_id, layout=self.layout, next_index=next_index,
                extra_sale=self._extra_sale,
            )  # fmt: skip
            sessions.sort(key=lambda s: (s.start_ts, s.session_id))
        for fault in self.faults.for_cinema(cid, "content"):
            if fault.scenario == F.LATE_REFUND and 1 <= (day - fault.from_date).days <= PRESALE_DAYS:
                threshold = max(1, round(fault.params["rate"] * 1024))
                for s in sessions:
                    s.late = (day_start(fault.from_date), threshold)

    @staticmethod
    def _extra_sale(
        s: Session, index: int, ts: int, seat: tuple[int, int], channel: str = "box_office"
    ) -> tuple:
        """A ticket outside the session's normal ones: an adult seat (bought at the box office)."""
        return (*s.sale(index, 0, ts, seat)[:7], channel, *s.tails[0])

    def clear_caches(self) -> None:
        self._catalogues.clear()


def seat_layout(hall: Hall) -> tuple[tuple[int, int], ...]:
    """The hall's seats, best first: a little behind the middle row, near the centre of the row."""
    rows = max(1, hall.seat_rows)
    per_row = -(-hall.seats // rows)
    seats = [(r, n) for r in range(1, rows + 1) for n in range(1, per_row + 1)][: hall.seats]
    best_row, centre = 0.6 * rows + 0.5, (per_row + 1) / 2
    seats.sort(key=lambda rn: (abs(rn[0] - best_row) / rows + abs(rn[1] - centre) / per_row, rn))
    return tuple(seats)
