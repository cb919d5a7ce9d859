"""How full halls are and what tickets cost: the calibration of demand and prices, and the catalogue.

The constants here set the magnitudes (the pilot network grosses the published national figures); the
calibration module (`ekino_sim.calibration`) measures them. Nothing here draws random numbers.
"""

from __future__ import annotations

import functools
import math

from ekino_pipeline.exchange.registry import Film

RELEASE_WINDOW_DAYS = 56  # a film plays for eight weeks after its release
BLOCKBUSTER_GENRES = frozenset({"action", "adventure", "science_fiction", "fantasy", "animation"})

WEEKDAY_DEMAND = (0.75, 0.7, 0.8, 0.9, 1.25, 1.65, 1.45)  # Monday..Sunday
# Kazakhstan's fixed-date public holidays (month, day) fill halls like a Saturday or better and are
# priced like a weekend. Kurban Ait moves with the lunar calendar and is left out.
HOLIDAYS = {
    (1, 1): 1.9,  # New Year
    (1, 2): 1.9,
    (1, 7): 1.4,  # Orthodox Christmas
    (3, 8): 1.6,  # International Women's Day
    (3, 21): 1.9,  # Nauryz
    (3, 22): 1.9,
    (3, 23): 1.9,
    (5, 1): 1.5,  # Unity Day
    (5, 7): 1.4,  # Defender of the Fatherland Day
    (5, 9): 1.5,  # Victory Day
    (7, 6): 1.5,  # Capital Day
    (8, 30): 1.5,  # Constitution Day
    (10, 25): 1.4,  # Republic Day
    (12, 16): 1.5,  # Independence Day
}
# A film's legs (its final gross over its opening week): the week-on-week retention of its audience
# by genre, as published charts show it (families and animation hold, horror drops), a little more
# for domestic films (word of mouth), less when many films open in the weeks after it; then each
# film's own luck, and a few sleepers that hold for months. Final over opening week spreads from
# about 1.3 to 3.5 with a long tail (final over opening weekend about 2 to 6), as on published charts.
GENRE_RETENTION = {
    "family": 0.62,
    "animation": 0.62,
    "documentary": 0.54,
    "drama": 0.52,
    "historical": 0.52,
    "romance": 0.48,
    "comedy": 0.48,
    "adventure": 0.46,
    "fantasy": 0.44,
    "science_fiction": 0.42,
    "crime": 0.42,
    "action": 0.40,
    "thriller": 0.38,
    "horror": 0.30,
}
DOMESTIC_RETENTION = 0.05
# Retention lost per film opening in the three weeks after, beyond the usual dozen.
COMPETITION_RETENTION = 0.006
USUAL_COMPETITORS = 12
# On the network a film's popularity (how often it is programmed) falls by POPULARITY_KEEP a week on
# average, moved by its retention above: final gross over the opening weekend (Thursday to Sunday) then
# spreads from about 2.4 to 6.6 (10th to 90th percentile), median 3.7 (docs/forecasting.md).
POPULARITY_KEEP = 0.66
POPULARITY_KEEP_RANGE = (0.45, 0.93)


def popularity_keep(film: Film, luck: float) -> float:
    """How much of its popularity a film keeps week on week on the network; `luck` in [0, 1) is the
    film's own draw (the seed's), the top 5% of it a sleeper."""
    if luck >= 0.95:
        return 0.9
    base = max((GENRE_RETENTION.get(g, 0.46) for g in film.genres), default=0.46)
    base += DOMESTIC_RETENTION if film.is_domestic else 0.0
    keep = POPULARITY_KEEP + 0.9 * (base - 0.47) + 0.12 * (luck / 0.95 - 0.5)
    return min(POPULARITY_KEEP_RANGE[1], max(POPULARITY_KEEP_RANGE[0], keep))


FORMAT_DEMAND = {"2D": 1.0, "3D": 1.05, "IMAX": 1.3, "4DX": 1.15}
# Domestic comedies and dramas draw Kazakhstan's audiences more than most imports: 14 of 2024's top 20
# films by gross were domestic, and so are 14 at seed 1. The top 20 is a race of a few Pareto draws, so
# another seed lands a few films either side (8 to 17 among those tried).
DOMESTIC_POPULARITY = 1.7
# Share of screenings in Kazakh of a domestic film shot in Kazakh, of one shot in Russian, and of an
# import (dubbed); the rest play in Russian, or for one import in seven in the original with subtitles.
KAZAKH_AUDIO = {"domestic_kk": 0.38, "domestic_other": 0.08, "foreign": 0.1}
# National gross at all 103 pilot cinemas as published, in bn tenge. Later years grow by LATER_GROWTH a
# year (an assumption: the market's growth after 2025 is not published yet); earlier ones stay at 2019.
PUBLISHED_GROSS_BN = {2019: 17.5, 2020: 4.9, 2021: 9.6, 2022: 13.2, 2023: 16.9, 2024: 22.0, 2025: 23.5}
LATER_GROWTH = 1.05
# The registry's films differ from year to year (runtimes decide how many screenings a hall fits, genres
# where they play), which moves a year's gross by a few percent at the same demand. These factors take
# that out; measured with `calibration.simulate_year(year, sample_every=5)` at seed 1 (see its module).
YEAR_CALIBRATION = {2019: 0.960, 2020: 0.962, 2021: 0.958, 2022: 0.963, 2023: 1.020, 2024: 0.996, 2025: 0.995}
# Hall demand in 2024; another year's is scaled by its published gross. Calibrated with
# `calibration.simulate_year` so that the pilot network's simulated 2024 grosses its 22.0 bn tenge.
DEMAND_SCALE = 0.0844

CITY_PRICE = {
    "Almaty": 1900,
    "Astana": 1800,
    "Shymkent": 1450,
    "Atyrau": 1450,
    "Aktau": 1400,
    "Karaganda": 1350,
}
OTHER_CITY_PRICE = 1250
FORMAT_PRICE = {"2D": 1.0, "3D": 1.2, "IMAX": 1.6, "4DX": 1.8}
# Calibrated so that the average ticket, invitations included, costs about 1,750 tenge.
PRICE_SCALE = 1.18


def hour_demand(minute: int) -> float:
    """Demand for a screening starting at a minute of the day, relative to the day's."""
    if minute < 720:
        return 0.45
    if minute < 900:
        return 0.7
    if minute < 1080:
        return 0.95
    if minute < 1290:
        return 1.5
    if minute < 1350:
        return 1.1
    return 0.7


@functools.lru_cache(maxsize=256)
def year_level(year: int) -> float:
    """A year's demand relative to 2024's, from the published national gross."""
    first, last = min(PUBLISHED_GROSS_BN), max(PUBLISHED_GROSS_BN)
    known = min(max(year, first), last)
    gross = PUBLISHED_GROSS_BN[known] * LATER_GROWTH ** max(0, year - last)
    return gross / PUBLISHED_GROSS_BN[2024] * YEAR_CALIBRATION[known]


def round10(amount: float) -> int:
    """A price rounded to the nearest 10 tenge, halves up."""
    return math.floor(amount / 10 + 0.5) * 10


class Catalogue:
    """The films in release on one day, with how likely each is to be programmed."""

    def __init__(self, films: list[Film], popularity: list[float]):
        self.films = films
        self.popularity = popularity
        self.mean_popularity = sum(popularity) / len(popularity)
        regular = [p * (2.0 if f.is_domestic else 1.0) for f, p in zip(films, popularity, strict=True)]
        premium = [
            p * (0.4 if f.is_domestic else 1.0) * (2.5 if BLOCKBUSTER_GENRES.intersection(f.genres) else 1.0)
            for f, p in zip(films, popularity, strict=True)
        ]
        self.cum_regular = list(_accumulate(regular))
        self.cum_premium = list(_accumulate(premium))
        # A popular film fills its halls better; normalised over how often each film is programmed, in
        # regular and in premium halls apart, so that a week with a hit does not sell more tickets in all
        # than any other week (nor a seed whose hits are blockbusters more than another seed).
        appeal = [min(3.0, math.sqrt(p / self.mean_popularity)) for p in popularity]
        self.appeal = {}
        for is_premium, weights in ((False, regular), (True, premium)):
            scale = sum(w * a for w, a in zip(weights, appeal, strict=True)) / sum(weights)
            self.appeal[is_premium] = {f.film_id: a / scale for f, a in zip(films, appeal, strict=True)}


def _accumulate(values: list[float]):
    total = 0.0
    for v in values:
        total += v
        yield total
