"""The network: every cinema's generated activity, cached, as the simulator serves it.

`Network` puts the parts together: plans (`planning`), the events of a business day built from the
plans' tickets (`tickets`), their served form with record-level faults (`serving`) and the declared
returns (`returns`). Every answer is a pure function of the seed and the request, cached by key.
"""

from __future__ import annotations

import bisect
import json
import math
from datetime import UTC, date, datetime, timedelta

from ekino_pipeline.calendar import business_date_of, business_day_bounds, daterange
from ekino_pipeline.exchange.registry import Cinema, Registry
from ekino_sim import faults as F
from ekino_sim.network import returns
from ekino_sim.network.cache import LRU
from ekino_sim.network.clock import ONE_DAY, LocalTime, SimulatedClock, check_day, day_start
from ekino_sim.network.planning import Planner
from ekino_sim.network.serving import I_CENTS, I_DUP, I_ID, I_JSON, I_KIND, I_SHIFT, I_VALID, Feed, place
from ekino_sim.network.tickets import PRESALE_DAYS, SALE, TS, Session, emit_fast, emit_general, money


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
        neighbour = {cid: ids[(i + 1) % len(ids)] for i, cid in enumerate(ids)}
        self._planner = Planner(registry, seed, self.faults)
        self._feed = Feed(seed, self.faults, neighbour)
        self._clocks: dict[str, LocalTime] = {}
        # A day's events need the plans of the nine session days around it; keeping about ten plan days
        # per cinema makes pulling the whole network day after day build each plan once (~12 kB each).
        self._plans = LRU(plan_cache or max(4096, 10 * len(registry.cinemas)))
        # Served events of (cinema, business day), ~300 kB each: enough to page many cinemas at once.
        self._days = LRU(day_cache)
        self._sessions = LRU(4 * day_cache)
        self._returns = LRU(day_cache)

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

    def plan(self, cinema_id: str, day: date) -> tuple[Session, ...]:
        """The sessions of a cinema's business day, ordered by start then id (cached)."""
        cinema = self.cinema(cinema_id)
        check_day(day)
        return self._plans.get((cinema_id, day), lambda: self._planner.plan(cinema, day))

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
                    emit_fast(s, j, sx, ex, out)
                else:
                    emit_general(s, j, sx, ex, out)
        out.sort()  # (occurred_at, event_id) are unique, so later fields never decide
        return out

    def _day_items(self, cinema_id: str, day: date) -> tuple[list[int], list[tuple]]:
        return self._days.get((cinema_id, day), lambda: self._build_day_items(cinema_id, day))

    def _build_day_items(self, cinema_id: str, day: date) -> tuple[list[int], list[tuple]]:
        return self._feed.event_items(
            cinema_id, day, self.day_records(cinema_id, day), self.clock(cinema_id).format
        )

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
            items = place(items)
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
        return self._feed.session_items(
            cinema_id, day, self.plan(cinema_id, day), self.clock(cinema_id).format
        )

    def sessions(self, cinema_id: str, day: date) -> list[dict]:
        return [json.loads(text) for text, _, _ in self.session_items(cinema_id, day)]

    # -- declared returns -------------------------------------------------------------------------

    def declared_at(self, cinema_id: str, week_start: date) -> int:
        """When a cinema declares a film week (epoch seconds): between 06:00 and 12:00 the morning after
        it closes, at a time of its own."""
        return returns.declared_at(self.seed, cinema_id, week_start)

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
        days = daterange(week_start, week_start + timedelta(days=6))
        totals = returns.film_totals((s for day in days for s in self.plan(cinema_id, day)), declared_at)
        stamp = self.clock(cinema_id).format(declared_at)
        return returns.return_texts(self._feed, cinema_id, week_start, totals, declared_at, stamp)

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
        self._planner.clear_caches()
        for cache in (self._plans, self._days, self._sessions, self._returns):
            cache.clear()
