"""A cinema's declared box office returns: per film and film week, what it sold and kept.

The returns come from the same tickets as the feed: per film, those of the week's sessions sold and not
refunded by the time the cinema declares (the morning after the week closes), whatever the ticket-events
feed serves (a silent feed or broken records do not change the cinema's accounts); the
`misdeclared_returns` fault scales them and record-level faults on `returns` break some.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, timedelta

from ekino_pipeline.exchange.contract import BOX_OFFICE_RETURN_FIELDS
from ekino_sim import faults as F
from ekino_sim.network.clock import day_start
from ekino_sim.network.serving import Feed
from ekino_sim.network.tickets import CENTS, KIND, SALE, TS, Session, hash64, money, ticket_hash


def declared_at(seed: int, cinema_id: str, week_start: date) -> int:
    """When a cinema declares a film week (epoch seconds): between 06:00 and 12:00 the morning after
    it closes, at a time of its own."""
    closed = day_start(week_start + timedelta(days=7))
    return closed + 6 * 3600 + hash64(f"{seed}:declared:{cinema_id}:{week_start}") % (6 * 3600)


def film_totals(sessions: Iterable[Session], declared_at: int) -> dict[str, list[int]]:
    """film_id -> [admissions, tiyn] of the sessions' tickets sold and not refunded by `declared_at`."""
    totals: dict[str, list[int]] = {}
    for s in sessions:
        total = totals.setdefault(s.film.film_id, [0, 0])
        for k, (lo_i, hi_i) in enumerate(s.ranges):
            for i in range(lo_i, hi_i):
                h = ticket_hash(s.key, i)
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
    return totals


def return_texts(
    feed: Feed, cinema_id: str, week_start: date, totals: dict[str, list[int]], declared_at: int, stamp: str
) -> list[str]:
    """The served returns of a film week (JSON texts, ordered by film then id), faults applied."""
    fault = feed.faults.content(cinema_id, F.MISDECLARED_RETURNS, week_start)
    factor = fault.params["factor"] if fault else 1
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
    other = feed.neighbour[cinema_id]
    for broken in feed.faults.for_cinema(cinema_id, "record"):
        if broken.records == F.RETURNS and broken.covers_day(week_start):
            chosen = feed.select(broken, [r["return_id"] for r in records])
            for index, h in chosen.items():
                _corrupt_return(broken.scenario, records[index], h, cinema_id, other, declared_at)
    return [json.dumps(record, separators=(",", ":")) for record in records]


def _corrupt_return(scenario: str, d: dict, h: int, cinema_id: str, other: str, declared_at: int) -> None:
    """Break one served return in place (extra_fields leaves it valid)."""
    variant = (h >> 16) % 3
    if scenario == F.FOREIGN_CINEMA:
        d["return_id"] = other + d["return_id"][len(cinema_id) :]
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
