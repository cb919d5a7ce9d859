"""Generates what was reported before e-Kino tracked anything: the films' release records and the
box office history of the simulated network (`box_office_history.csv`).

The national totals are the published ones (NATIONAL_TOTALS). Films of the registry earn
REGISTRY_SHARE of each year; the rest is box office of films outside the registry (festival
programmes, re-releases, unregistered imports), which the history cannot name. Within that budget:
the 23 released state-funded films earn FUNDED_LIFETIME_KZT together; each year's top 20 hold
DOMESTIC_IN_TOP20 domestic films (14 in 2024); runs open on the release Thursday and decay week by
week, and are reported up to HISTORY_THROUGH.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from ekino_pipeline.calendar import film_week_start
from ekino_sim.network.demand import (
    COMPETITION_RETENTION,
    DOMESTIC_RETENTION,
    GENRE_RETENTION,
    HOLIDAYS,
    USUAL_COMPETITORS,
)

# The ministry's published national box office, tenge; the simulator is calibrated to the same table.
NATIONAL_TOTALS = {
    2019: Decimal("17500000000"),
    2020: Decimal("4900000000"),
    2021: Decimal("9600000000"),
    2022: Decimal("13200000000"),
    2023: Decimal("16900000000"),
    2024: Decimal("22000000000"),
    2025: Decimal("23500000000"),
}
AVERAGE_TICKET_KZT = {
    2018: 1680,
    2019: 1700,
    2020: 1720,
    2021: 1750,
    2022: 1800,
    2023: 1830,
    2024: 1870,
    2025: 1900,
}
DOMESTIC_IN_TOP20 = {2018: 7, 2019: 8, 2020: 9, 2021: 10, 2022: 11, 2023: 12, 2024: 14, 2025: 14}
REGISTRY_SHARE = Decimal("0.86")
FUNDED_LIFETIME_KZT = Decimal("1500000000")
HISTORY_THROUGH = date(2025, 12, 31)
# Films released before this year are reported per calendar year (the ministry's film tables); later
# ones per film week by their distributors.
WEEKLY_FROM = date(2020, 1, 1)
# Weights of the non-top films stay below every top film's, so each year's top 20 is the one chosen.
TOP_WEIGHTS = (8.0, 20.0)
OTHER_WEIGHT_CAP = 5.0

HISTORY_COLUMNS = [
    "film_id",
    "period",
    "period_start",
    "gross_kzt",
    "admissions",
    "source",
    "source_date",
]


def add_release_records(films: list[dict], seed: int) -> None:
    """Every catalogued film gets its distribution certificate, issued 1-6 weeks before release."""
    rng = random.Random(f"certificates:{seed}")
    for number, film in enumerate(films, start=1):
        released = date.fromisoformat(film["release_date"])
        issued = released - timedelta(days=rng.randrange(7, 43))
        film["distribution_certificate"] = f"DC-{issued.year}-{number:05d}"
        film["certificate_date"] = issued.isoformat()


def _published(year: int) -> date:
    return date(year + 1, 2, 15)


SLEEPER_SHARE = 0.05
# A run ends when a week earns less than this share of its opening week (or after MAX_WEEKS).
LAST_WEEK_SHARE = 0.03
MAX_WEEKS = 20


def competitors(films: list[dict]) -> dict[str, int]:
    """Films opening in the three weeks after each film's release (the calendar a distributor sees)."""
    released = sorted(date.fromisoformat(f["release_date"]) for f in films)
    out = {}
    for film in films:
        day = date.fromisoformat(film["release_date"])
        out[film["film_id"]] = bisect.bisect_right(released, day + timedelta(days=21)) - bisect.bisect_right(
            released, day
        )
    return out


def retention(rng: random.Random, film: dict, n_competitors: int) -> float:
    """A film's week-on-week retention: genre, origin and competition set it, luck moves it."""
    genres = (
        [g for g in film["genres"].split("|") if g] if isinstance(film["genres"], str) else film["genres"]
    )
    base = max((GENRE_RETENTION.get(g, 0.5) for g in genres), default=0.5)
    base += DOMESTIC_RETENTION if str(film["is_domestic"]).lower() == "true" else 0.0
    base -= COMPETITION_RETENTION * (n_competitors - USUAL_COMPETITORS)
    if rng.random() < SLEEPER_SHARE:
        return rng.uniform(0.78, 0.9)
    return min(0.9, max(0.2, base + rng.gauss(0, 0.045)))


def _run(rng: random.Random, released: date, keep: float) -> list[tuple[date, float]]:
    """The film weeks of a run and each week's share of the run's gross: weeks fall by `keep` each, a
    holiday week lifts its own, and every week has its own noise."""
    start = film_week_start(released)
    shape = []
    level = 1.0
    for k in range(MAX_WEEKS):
        week = start + timedelta(days=7 * k)
        lift = 1.25 if any((week + timedelta(days=n)).timetuple()[1:3] in HOLIDAYS for n in range(7)) else 1.0
        gross = level * lift * math.exp(rng.gauss(0, 0.05))
        if k >= 2 and gross < LAST_WEEK_SHARE * shape[0]:
            break
        shape.append(gross)
        level *= keep
    whole = sum(shape)
    return [(start + timedelta(days=7 * k), s / whole) for k, s in enumerate(shape)]


def generate_history(films: list[dict], grants: list[dict], seed: int) -> list[dict]:
    rng = random.Random(f"history:{seed}")
    reported = [f for f in films if date.fromisoformat(f["release_date"]) <= HISTORY_THROUGH]
    funded = {g["film_id"] for g in grants if g["film_id"]}
    n_competitors = competitors(films)
    runs = {
        f["film_id"]: _run(
            rng, date.fromisoformat(f["release_date"]), retention(rng, f, n_competitors[f["film_id"]])
        )
        for f in reported
    }

    def within_year(film: dict) -> bool:
        weeks = runs[film["film_id"]]
        return weeks[0][0].year == weeks[-1][0].year == (weeks[-1][0] + timedelta(days=6)).year

    weights: dict[str, float] = {}
    for year, n_domestic in DOMESTIC_IN_TOP20.items():
        candidates = [
            f
            for f in reported
            if date.fromisoformat(f["release_date"]).year == year
            and f["film_id"] not in funded
            and within_year(f)
        ]
        domestic = [f for f in candidates if f["is_domestic"] == "true"]
        foreign = [f for f in candidates if f["is_domestic"] != "true"]
        for film in rng.sample(domestic, n_domestic) + rng.sample(foreign, 20 - n_domestic):
            weights[film["film_id"]] = rng.uniform(*TOP_WEIGHTS)
    for film in reported:
        if film["film_id"] not in weights and film["film_id"] not in funded:
            weights[film["film_id"]] = min(rng.lognormvariate(0, 1.0), OTHER_WEIGHT_CAP)

    # The funded films' reported money is fixed first; the other films share what is left of each year.
    funded_weights = {f: rng.lognormvariate(0, 0.5) for f in sorted(funded) if f in runs}
    funded_unit = FUNDED_LIFETIME_KZT / Decimal(str(sum(funded_weights.values())))
    raw: dict[tuple[str, date], Decimal] = {}
    for film_id, weight in funded_weights.items():
        for week, share in runs[film_id]:
            if week <= HISTORY_THROUGH:
                raw[film_id, week] = Decimal(str(weight * share)) * funded_unit
    funded_by_year: dict[int, Decimal] = defaultdict(Decimal)
    for (_film, week), gross in raw.items():
        funded_by_year[week.year] += gross
    units_by_year: dict[int, float] = defaultdict(float)
    for film_id, weight in weights.items():
        for week, share in runs[film_id]:
            if week <= HISTORY_THROUGH:
                units_by_year[week.year] += weight * share
    unit_value = {
        year: (NATIONAL_TOTALS[year] * REGISTRY_SHARE - funded_by_year[year])
        / Decimal(str(units_by_year[year]))
        for year in NATIONAL_TOTALS
    }
    unit_value[2018] = unit_value[2019]
    for film_id, weight in weights.items():
        for week, share in runs[film_id]:
            if week <= HISTORY_THROUGH:
                raw[film_id, week] = Decimal(str(weight * share)) * unit_value[week.year]

    by_film = {f["film_id"]: f for f in reported}
    rows = []
    for (film_id, week), gross in sorted(raw.items()):
        yearly = date.fromisoformat(by_film[film_id]["release_date"]) < WEEKLY_FROM
        rows.append(
            {
                "film_id": film_id,
                "period": "year" if yearly else "film_week",
                "period_start": date(week.year, 1, 1) if yearly else week,
                "gross_kzt": gross.quantize(Decimal("1")),
                "source": "ministry" if yearly else "distributor_report",
                "source_date": _published(week.year) if yearly else week + timedelta(days=12),
            }
        )
    rows = _merge_years(rows)
    _settle_funded_total(rows, funded)
    for row in rows:
        ticket = AVERAGE_TICKET_KZT[row["period_start"].year] * rng.uniform(0.9, 1.1)
        row["admissions"] = int(row["gross_kzt"] / Decimal(str(round(ticket, 2))))
    rows += _festival_screenings(rng, by_film, funded)
    rows.sort(key=lambda r: (r["film_id"], r["period_start"], r["source"]))
    rows += [
        {
            "film_id": "",
            "period": "year",
            "period_start": date(year, 1, 1),
            "gross_kzt": total,
            "admissions": int(total / AVERAGE_TICKET_KZT[year] / 1000) * 1000,
            "source": "ministry",
            "source_date": _published(year),
        }
        for year, total in NATIONAL_TOTALS.items()
    ]
    return [
        {
            **row,
            "period_start": row["period_start"].isoformat(),
            "gross_kzt": f"{row['gross_kzt']:.2f}",
            "source_date": row["source_date"].isoformat(),
        }
        for row in rows
    ]


def _merge_years(rows: list[dict]) -> list[dict]:
    """A yearly-reported film has one row per calendar year its weeks fall in."""
    merged: dict[tuple, dict] = {}
    for row in rows:
        key = (row["film_id"], row["period"], row["period_start"])
        if key in merged:
            merged[key]["gross_kzt"] += row["gross_kzt"]
        else:
            merged[key] = dict(row)
    return list(merged.values())


def _settle_funded_total(rows: list[dict], funded: set[str]) -> None:
    """Rounding leaves the funded films a few tenge off their total; the last reported week takes it."""
    theirs = [r for r in rows if r["film_id"] in funded]
    theirs[-1]["gross_kzt"] += FUNDED_LIFETIME_KZT - sum(r["gross_kzt"] for r in theirs)


def _festival_screenings(rng: random.Random, films: dict[str, dict], funded: set[str]) -> list[dict]:
    """Funded films premiere at festivals a few weeks before release; festivals report admissions only
    (free screenings), so their gross is zero."""
    rows = []
    for film_id in sorted(funded & films.keys()):
        week = film_week_start(date.fromisoformat(films[film_id]["release_date"])) - timedelta(
            days=7 * rng.randrange(2, 9)
        )
        rows.append(
            {
                "film_id": film_id,
                "period": "film_week",
                "period_start": week,
                "gross_kzt": Decimal("0"),
                "admissions": rng.randrange(300, 2500),
                "source": "festival",
                "source_date": week + timedelta(days=30),
            }
        )
    return rows


def recent_distributor_reports(films: list[dict], seed: int, before: date) -> list[dict]:
    """Distributors' weekly reports of the films released after HISTORY_THROUGH, for the film weeks
    that open before `before` (the day tracking begins): what a deployment imports when it starts.

    The week holding `before` is reported too, as distributors report whole weeks, so tracking
    supersedes it (history_overlaps). Figures follow the 2025 scale; no national total is published yet.
    """
    rng = random.Random(f"recent:{seed}:{before.isoformat()}")
    n_competitors = competitors(films)
    rows = []
    for film in films:
        released = date.fromisoformat(film["release_date"])
        if not HISTORY_THROUGH < released < before:
            continue
        lifetime = rng.lognormvariate(18.0, 1.0)  # about 65 M tenge for a typical film, some far more
        keep = retention(rng, film, n_competitors[film["film_id"]])
        for week, share in _run(rng, released, keep):
            if week >= before:
                break
            gross = Decimal(str(lifetime * share)).quantize(Decimal("1"))
            rows.append(
                {
                    "film_id": film["film_id"],
                    "period": "film_week",
                    "period_start": week.isoformat(),
                    "gross_kzt": f"{gross:.2f}",
                    "admissions": int(gross / AVERAGE_TICKET_KZT[2025]),
                    "source": "distributor_report",
                    "source_date": (week + timedelta(days=12)).isoformat(),
                }
            )
    return rows
