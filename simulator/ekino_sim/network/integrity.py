"""The integrity faults built into a day's plan: a cinema padding one film's box office with valid records.

Nothing here breaks the contract, so nothing is quarantined; only the pipeline's integrity checks can
tell. Each fault names a film and a strength (1 the scenario as `ekino_sim.faults` describes it, 0.5
half of it, 2 double). What a fault changes is a pure function of the seed, the cinema, the day and
the fault, like the rest of the plan.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date

from ekino_pipeline.exchange.registry import Film, Hall
from ekino_sim import faults as F
from ekino_sim.network.demand import round10
from ekino_sim.network.tickets import Session, _prices, hash64

LATE_NIGHT = 22 * 3600  # sessions from 22:00 (business day time) on are late-night and dawn ones
GHOST_SOLD_SHARE = 0.4
BURST_SECONDS = 20


@functools.lru_cache(maxsize=64)
def _full_price_table(table: tuple[int, ...], share: float) -> tuple[int, ...]:
    """A category table where a share of the concession and invitation draws become adult (index 0)."""
    cut = round(share * 1024)
    return tuple(0 if c != 0 and hash64(f"no_discounts:{u}") % 1024 < cut else c for u, c in enumerate(table))


def apply_integrity_faults(
    faults: tuple[F.Fault, ...],
    *,
    seed: int,
    cinema_id: str,
    day: date,
    day_start: int,
    sessions: list[Session],
    films: dict[str, Film],
    layout: Callable[[Hall], tuple[tuple[int, int], ...]],
    next_index: Callable[[Session], int],
    extra_sale: Callable[[Session, int, int, tuple[int, int], str], tuple],
) -> None:
    """Build the faults into the day's sessions (ghost screenings are appended to `sessions`)."""
    order = (F.PADDED_ADMISSIONS, F.PRICE_OUTLIERS, F.NO_DISCOUNTS, F.GHOST_SCREENINGS, F.BURST_SALES)
    for fault in sorted(faults, key=lambda f: order.index(f.scenario)):
        film_id, strength = fault.params["film_id"], fault.params["strength"]
        film = films.get(film_id)
        if film is None or film.release_date > day:
            continue
        mine = [s for s in sessions if s.film.film_id == film_id]
        tag = f"{seed}:{fault.scenario}:{cinema_id}:{film_id}:{day}"
        if fault.scenario == F.PADDED_ADMISSIONS:
            fill = min(1.0, 0.5 + 0.5 * strength)
            late = _late_screening(sessions, film, cinema_id, day, day_start, layout)
            for s in [*mine, *late]:
                if s.start_ts - day_start >= LATE_NIGHT:
                    s.resize(max(s.n, round(len(s.layout) * fill)))
        elif fault.scenario == F.PRICE_OUTLIERS:
            for s in mine:
                s.tails = _prices(round10(s.tails[0][2] // 100 * (1 + 2 * strength)))
        elif fault.scenario == F.NO_DISCOUNTS:
            for s in mine:
                s.table = _full_price_table(s.table, min(1.0, 0.5 + 0.5 * strength))
        elif fault.scenario == F.GHOST_SCREENINGS:
            _ghosts(sessions, film, max(1, round(2 * strength)), tag, cinema_id, day, layout)
        elif fault.scenario == F.BURST_SALES:
            free = [s for s in mine if s.n < len(s.layout)]
            if not free:
                continue
            s = free[hash64(tag) % len(free)]
            bought = round((len(s.layout) - s.n) * min(1.0, 0.5 * strength))
            first = max(s.window(0)[0], s.start_ts - 3600 - hash64(f"{tag}:at") % 7200)
            for i in range(bought):
                index = next_index(s)
                s.extras.append(
                    extra_sale(s, index, first + i * BURST_SECONDS // max(1, bought), s.seat(index), "online")
                )


def _late_screening(
    sessions: list[Session],
    film: Film,
    cinema_id: str,
    day: date,
    day_start: int,
    layout: Callable[[Hall], tuple[tuple[int, int], ...]],
) -> list[Session]:
    """A late-night screening of the film added in the hall free soonest after 22:00, if one is free by
    23:55 (the Korean case padded late-night and dawn screenings; a dawn one would sell before the box
    office opens). Its tickets are the padding's."""
    ends: dict[str, tuple[int, Session]] = {}
    for s in sessions:
        end = s.start_ts + 60 * (s.film.runtime_minutes or 110) + 15 * 60
        if s.hall.hall_id not in ends or end > ends[s.hall.hall_id][0]:
            ends[s.hall.hall_id] = (end, s)
    if not ends:
        return []
    end, last = min(ends.values(), key=lambda e: (e[0], e[1].hall.hall_id))
    start = day_start + LATE_NIGHT + max(0, -(-(end - day_start - LATE_NIGHT) // 300) * 300)
    if start > day_start + 23 * 3600 + 55 * 60:
        return []
    number = max(s.number for s in sessions) + 1
    seats = layout(last.hall)
    session = Session(
        f"{cinema_id}:S{day.strftime('%Y%m%d')}-{number:03d}", number, start, last.hall, film, last.format,
        "ru", None, 0, 1.0, last.tails[0][2] // 100, hash64(f"late:{cinema_id}:{film.film_id}:{day}"), 1, 0,
        seats, last.day_starts,
    )  # fmt: skip
    sessions.append(session)
    return [session]


def _ghosts(
    sessions: list[Session],
    film: Film,
    count: int,
    tag: str,
    cinema_id: str,
    day: date,
    layout: Callable[[Hall], tuple[tuple[int, int], ...]],
) -> None:
    """`count` sessions of the film, each in the hall of a screening of the day, starting 10 to 35
    minutes after it did: both cannot have been shown in full."""
    if not sessions:
        return
    hosts = list(sessions)
    number = max(s.number for s in sessions)
    for i in range(count):
        host = hosts[hash64(f"{tag}:host:{i}") % len(hosts)]
        number += 1
        start = host.start_ts + 60 * 5 * (2 + hash64(f"{tag}:gap:{i}") % 6)
        seats = layout(host.hall)
        session = Session(
            f"{cinema_id}:S{day.strftime('%Y%m%d')}-{number:03d}", number, start, host.hall, film,
            host.format, "ru", None, round(len(seats) * GHOST_SOLD_SHARE), 1.0, host.tails[0][2] // 100,
            hash64(f"{tag}:key:{i}"), 1, 0, seats, host.day_starts,
        )  # fmt: skip
        sessions.append(session)
