"""What a cinema's feed serves from its records: JSON texts, with the record-level faults applied.

A record-level fault hits a fraction of the records by a hash of their id, so the same record is broken
the same way whatever window or page asks for it. Duplicated and out-of-order events are placed here
too, after a window's events are gathered (`place`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

from ekino_pipeline.exchange.contract import SESSION_FIELDS
from ekino_pipeline.exchange.contract import TICKET_EVENT_FIELDS as EVENT_FIELDS
from ekino_sim import faults as F
from ekino_sim.network.tickets import (
    AMOUNT,
    CATEGORY,
    CENTS,
    CHANNEL,
    EVENT_ID,
    EVENT_TYPES,
    KIND,
    SEAT_NUMBER,
    SEAT_ROW,
    SESSION_ID,
    TICKET_ID,
    TS,
    Session,
    hash64,
)

UNKNOWN_FILM_ID = "F99999"
# A served event: (occurred_at, JSON text, event_id, valid per contract, kind, amount in tiyn,
# served twice, positions it is served late).
I_TS, I_JSON, I_ID, I_VALID, I_KIND, I_CENTS, I_DUP, I_SHIFT = range(8)


class Feed:
    """Serves the records of a network's cinemas for one seed and fault plan."""

    def __init__(self, seed: int, faults: F.FaultPlan, neighbour: dict[str, str]):
        self.seed = seed
        self.faults = faults
        # foreign_cinema borrows the ids of the next cinema of the registry
        self.neighbour = neighbour

    def event_items(
        self, cinema_id: str, day: date, records: list[tuple], fmt: Callable[[int], str]
    ) -> tuple[list[int], list[tuple]]:
        """The timestamps and served events (fields I_TS...) of a business day's records, in order."""
        faults = [
            f
            for f in self.faults.for_cinema(cinema_id, "record")
            if f.covers_day(day) and f.records in (F.EVENTS, F.BOTH)
        ]
        if not faults:
            items = [
                (r[TS], event_json(r, fmt), r[EVENT_ID], True, r[KIND], r[CENTS], False, 0) for r in records
            ]
            return [r[TS] for r in records], items
        chosen = [self.select(f, [r[EVENT_ID] for r in records]) for f in faults]
        items = []
        for index, r in enumerate(records):
            hits = [(f, sel[index]) for f, sel in zip(faults, chosen, strict=True) if index in sel]
            if not hits:
                items.append((r[TS], event_json(r, fmt), r[EVENT_ID], True, r[KIND], r[CENTS], False, 0))
                continue
            record = dict(zip(EVENT_FIELDS, event_values(r, fmt), strict=True))
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

    def select(self, fault: F.Fault, ids: list[str]) -> dict[int, int]:
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
            other = self.neighbour[cinema_id]
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

    def session_items(
        self, cinema_id: str, day: date, plan: tuple[Session, ...], fmt: Callable[[int], str]
    ) -> list[tuple[str, str, bool]]:
        """A business day's served sessions: (JSON text, session_id, valid per contract)."""
        faults = [
            f
            for f in self.faults.for_cinema(cinema_id, "record")
            if f.covers_day(day) and f.records in (F.SESSIONS, F.BOTH)
        ]
        chosen = [self.select(f, [s.session_id for s in plan]) for f in faults]
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
            other = self.neighbour[cinema_id]
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


def event_values(r: tuple, fmt) -> tuple:
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


def event_json(r: tuple, fmt) -> str:
    # Every value is from a fixed alphabet, so plain formatting gives the same text as json.dumps.
    return (
        f'{{"event_id":"{r[1]}","event_type":"{EVENT_TYPES[r[2]]}","ticket_id":"{r[3]}",'
        f'"session_id":"{r[4]}","occurred_at":"{fmt(r[0])}","amount_kzt":"{r[9]}","seat_row":{r[5]},'
        f'"seat_number":{r[6]},"channel":"{r[7]}","category":"{r[8]}"}}'
    )


def place(items: list[tuple]) -> list[tuple]:
    """Serve duplicated records again at least 1000 positions later (or last) and delay shifted ones."""
    n = len(items)
    keyed = []
    for pos, it in enumerate(items):
        keyed.append((min(pos + it[I_SHIFT], n), 1, pos, it) if it[I_SHIFT] else (pos, 0, pos, it))
        if it[I_DUP]:
            keyed.append((min(pos + 1000, n), 2, pos, it))
    keyed.sort(key=lambda t: t[:3])
    return [t[3] for t in keyed]
