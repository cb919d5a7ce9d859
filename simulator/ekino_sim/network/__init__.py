"""Deterministic ticketing activity of a cinema network: sessions, sales and refunds for any business day.

Everything a cinema serves is a pure function of the seed, the cinema, the session's business day and
the ticket's number, so the same seed gives the same bytes whatever the page size and whatever order
days are asked in:

* a session plan per (cinema, session day) comes from its own `random.Random`: halls, films, start
  times, how many tickets each session sells and how they split over the presale days (`planning`,
  with the demand and prices of `demand`);
* each ticket's attributes (sale time, category, channel, refund) come from a 64-bit hash of the
  session's key and the ticket's number, so any subset of tickets can be built on its own (`tickets`);
* what a cinema serves is those events as JSON, with record-level faults applied (`serving`), and its
  declared box office returns per film week, from the same tickets (`returns`);
* `generator.Network` puts them together behind caches; `clock` holds the simulator's clock.

Faults (see `ekino_sim.faults`) are applied here too: content-level ones while planning sessions,
record-level ones on the events of each business day, before anything is paged.
"""

from ekino_sim.network.clock import MAX_YEAR, MIN_YEAR, SimulatedClock, check_day
from ekino_sim.network.demand import HOLIDAYS, PUBLISHED_GROSS_BN, year_level
from ekino_sim.network.generator import Network
from ekino_sim.network.serving import I_JSON, UNKNOWN_FILM_ID
from ekino_sim.network.tickets import (
    CATEGORY_TABLE,
    CENTS,
    FAMILY_CATEGORY_TABLE,
    KIND,
    PRESALE_DAYS,
    REFUND,
    REFUND_PRESALE,
    REFUND_SAME_DAY,
    SALE,
    SESSION_ID,
    Session,
)

__all__ = [
    "CATEGORY_TABLE",
    "CENTS",
    "FAMILY_CATEGORY_TABLE",
    "HOLIDAYS",
    "I_JSON",
    "KIND",
    "MAX_YEAR",
    "MIN_YEAR",
    "PRESALE_DAYS",
    "PUBLISHED_GROSS_BN",
    "REFUND",
    "REFUND_PRESALE",
    "REFUND_SAME_DAY",
    "SALE",
    "SESSION_ID",
    "UNKNOWN_FILM_ID",
    "Network",
    "Session",
    "SimulatedClock",
    "check_day",
    "year_level",
]
