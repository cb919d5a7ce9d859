"""A simulated year in seconds: the network's session plans summed, without building a single ticket.

Serving a year of tickets over HTTP takes hours; the published figures the simulator is calibrated to
(national gross per year, the top 20 films, the average ticket, the language of screenings) only need
what each session sells and at what prices. `simulate_year` takes the very plans the server pages
(`Network.plan`), so it is the simulator and not a model of it, and replaces each session's tickets by
their expectation: the category mix and refund odds are fixed shares of 1024 (see network/tickets.py), so
a session of n tickets earns n x (expected price) x (1 - expected refund share). Over a national day that
is within a few tenths of a percent of the served events (tests/simulator/test_simulator_calibration.py
holds it).

Days can be sampled: one in `sample_every` of each stratum (each weekday, and the public holidays), and
each sampled day stands for the days of its stratum, with a standard error from the spread of the
sampled days inside each stratum.

    python -m ekino_sim.calibration --year 2024 [--seed 1] [--sample-every 1]
"""

from __future__ import annotations

import argparse
import collections
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from ekino_pipeline.calendar import film_week_start
from ekino_pipeline.exchange.registry import Film, Registry, load_registry
from ekino_sim import SAMPLE_REGISTRY_DIR
from ekino_sim.network import (
    CATEGORY_TABLE,
    FAMILY_CATEGORY_TABLE,
    HOLIDAYS,
    REFUND_PRESALE,
    REFUND_SAME_DAY,
    Network,
    Session,
)

# Share (out of 1024) of the tickets in each category, as the ticket hash draws them.
_CATEGORY_ODDS = {
    id(table): tuple(table.count(c) for c in range(max(table) + 1))
    for table in (CATEGORY_TABLE, FAMILY_CATEGORY_TABLE)
}


def session_expectation(s: Session) -> tuple[int, int]:
    """(expected gross in tiyn, expected admissions x 1024) of a session: its sales less their refunds.

    Refunds only come before the start, so a session's tickets all count on its own day's figures.
    """
    odds = _CATEGORY_ODDS[id(s.table)]
    price = sum(o * tail[2] for o, tail in zip(odds, s.tails, strict=True))  # x 1024
    same_day = s.ranges[0][1] - s.ranges[0][0]
    kept = same_day * (1024 - REFUND_SAME_DAY) + (s.n - same_day) * (1024 - REFUND_PRESALE)  # x 1024
    return (price * kept + (1 << 19)) >> 20, kept


def is_holiday(day: date) -> bool:
    return (day.month, day.day) in HOLIDAYS


@dataclass
class YearSummary:
    """What a simulated year sold at a network's cinemas, estimated from (sampled) session plans."""

    year: int
    seed: int
    n_cinemas: int
    days_in_year: int
    days_sampled: int
    gross_kzt: Decimal
    gross_standard_error_kzt: Decimal
    admissions: int
    screenings: int
    screenings_by_language: dict[str, int]
    film_gross_kzt: dict[str, Decimal]
    gross_by_week_in_release: dict[int, Decimal]  # film week 1 opens on the release Thursday
    daily: dict[date, tuple[Decimal, int]] = field(repr=False)  # sampled day -> (gross, admissions)

    @property
    def average_ticket_kzt(self) -> Decimal:
        return (self.gross_kzt / self.admissions).quantize(Decimal("0.01"))

    @property
    def relative_error(self) -> float:
        """The standard error of `gross_kzt` over `gross_kzt` (0 when every day was computed)."""
        return float(self.gross_standard_error_kzt / self.gross_kzt) if self.gross_kzt else 0.0

    def language_share(self, language: str) -> float:
        return self.screenings_by_language.get(language, 0) / self.screenings if self.screenings else 0.0

    def domestic_share(self, films: dict[str, Film]) -> float:
        domestic = sum(g for f, g in self.film_gross_kzt.items() if films[f].is_domestic)
        return float(domestic / self.gross_kzt) if self.gross_kzt else 0.0

    def top_films(self, n: int = 20) -> list[tuple[str, Decimal]]:
        ranked = sorted(self.film_gross_kzt.items(), key=lambda kv: (-kv[1], kv[0]))
        return ranked[:n]


def stratum(day: date) -> int | str:
    """Days that sell alike: a public holiday, or else its weekday."""
    return "holiday" if is_holiday(day) else day.weekday()


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=k) for k in range((date(year + 1, 1, 1) - first).days)]


def sample_days(year: int, sample_every: int = 1, offset: int = 0) -> list[date]:
    """One day in `sample_every` of each stratum (each weekday, the holidays), at least one of each."""
    if sample_every < 1:
        raise ValueError("sample_every must be at least 1")
    groups: dict[int | str, list[date]] = collections.defaultdict(list)
    for day in days_of(year):
        groups[stratum(day)].append(day)
    chosen = []
    for days in groups.values():
        chosen.extend(days[offset % min(sample_every, len(days)) :: sample_every])
    return sorted(chosen)


def session_figures(network: Network, day: date, cinema_ids: Iterable[str]) -> list[tuple[Session, int, int]]:
    """(session, expected gross in tiyn, expected admissions x 1024) of the given cinemas' day."""
    return [(s, *session_expectation(s)) for cid in cinema_ids for s in network.plan(cid, day)]


def simulate_year(
    year: int,
    registry: Registry | None = None,
    seed: int = 1,
    sample_every: int = 1,
    offset: int = 0,
    network: Network | None = None,
) -> YearSummary:
    """The year's figures at every cinema of the registry (connected or not), from its session plans.

    With `sample_every` above 1 the figures are estimates: each sampled day stands for the days of its
    stratum, and `gross_standard_error_kzt` says how far off the gross may be.
    """
    registry = registry or load_registry(SAMPLE_REGISTRY_DIR)
    network = network or Network(registry, seed, plan_cache=1)
    films: dict[str, Film] = {f.film_id: f for f in registry.films}
    cinema_ids = [c.cinema_id for c in registry.cinemas]
    all_days = days_of(year)
    sampled = sample_days(year, sample_every, offset)
    population = collections.Counter(stratum(d) for d in all_days)
    in_sample = collections.Counter(stratum(d) for d in sampled)

    per_day: dict[date, tuple[int, int]] = {}
    film_tiyn: collections.Counter[str] = collections.Counter()
    week_tiyn: collections.Counter[int] = collections.Counter()
    languages: collections.Counter[str] = collections.Counter()
    screenings = 0.0
    for day in sampled:
        weight = population[stratum(day)] / in_sample[stratum(day)]
        gross = kept = 0
        for s, g, k in session_figures(network, day, cinema_ids):
            gross, kept = gross + g, kept + k
            film_tiyn[s.film.film_id] += g * weight
            week_tiyn[(film_week_start(day) - s.film.release_date).days // 7 + 1] += g * weight
            languages[s.audio] += weight
            screenings += weight
        per_day[day] = (gross, kept)

    gross_tiyn = admissions = variance = 0.0
    for group, n_days in population.items():
        values = [per_day[d] for d in sampled if stratum(d) == group]
        mean_gross = sum(v[0] for v in values) / len(values)
        gross_tiyn += n_days * mean_gross
        admissions += n_days * sum(v[1] for v in values) / len(values) / 1024
        if len(values) > 1:
            spread = sum((v[0] - mean_gross) ** 2 for v in values) / (len(values) - 1)
            variance += n_days**2 * (1 - len(values) / n_days) * spread / len(values)
        elif n_days > 1:
            # One day cannot show its stratum's spread: count it as off by a quarter, all days alike.
            variance += (n_days * mean_gross / 4) ** 2

    def kzt(tiyn: float) -> Decimal:
        return Decimal(round(tiyn)) / 100

    unknown = set(film_tiyn) - set(films)
    if unknown:
        raise ValueError(f"sessions name films missing from the registry: {sorted(unknown)[:5]}")
    return YearSummary(
        year=year,
        seed=network.seed,
        n_cinemas=len(cinema_ids),
        days_in_year=len(all_days),
        days_sampled=len(sampled),
        gross_kzt=kzt(gross_tiyn),
        gross_standard_error_kzt=kzt(math.sqrt(variance)),
        admissions=round(admissions),
        screenings=round(screenings),
        screenings_by_language={k: round(v) for k, v in languages.most_common()},
        film_gross_kzt={f: kzt(t) for f, t in film_tiyn.items()},
        gross_by_week_in_release={w: kzt(t) for w, t in sorted(week_tiyn.items())},
        daily={d: (kzt(g), round(k / 1024)) for d, (g, k) in per_day.items()},
    )


def describe(summary: YearSummary, registry: Registry) -> str:
    films = {f.film_id: f for f in registry.films}
    top = summary.top_films(20)
    domestic = sum(films[f].is_domestic for f, _ in top)
    lines = [
        f"simulated {summary.year} (seed {summary.seed}, {summary.n_cinemas} cinemas, "
        f"{summary.days_sampled} of {summary.days_in_year} days computed)",
        f"gross:          {summary.gross_kzt / Decimal(10**9):.2f} bn tenge "
        f"(standard error {summary.relative_error:.1%})",
        f"admissions:     {summary.admissions:,}",
        f"average ticket: {summary.average_ticket_kzt} tenge",
        f"screenings:     {summary.screenings:,}, in Kazakh {summary.language_share('kk'):.1%}",
        f"domestic:       {summary.domestic_share(films):.1%} of gross, {domestic} of the top 20 films",
    ]
    for rank, (film_id, gross) in enumerate(top, start=1):
        film = films[film_id]
        flag = "KZ" if film.is_domestic else "  "
        lines.append(f"  {rank:2d}. {flag} {film.title[:32]:32s} {film.release_date} {gross / 10**6:10.1f} M")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--sample-every", type=int, default=1, help="compute one day in N of each weekday and of the holidays"
    )
    parser.add_argument("--registry", help="registry folder (default: the shipped pilot network)")
    args = parser.parse_args(argv)
    registry = load_registry(args.registry)
    print(describe(simulate_year(args.year, registry, args.seed, args.sample_every), registry))


if __name__ == "__main__":
    main()
