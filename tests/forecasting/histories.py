"""Small hand-made histories: films opening on Thursdays, their runs falling week by week by their genre,
reported weekly by their distributors, then tracked day by day for the last weeks (with their sessions,
screens and the advance sales of the next days)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pandas as pd

from ekino_pipeline.forecasting.runs import Runs, make_runs

FIRST_RELEASE = date(2024, 1, 4)  # a Thursday
TRACKING_FROM = date(2025, 6, 5)  # a Thursday
WEEKDAY_SHARE = (0.12, 0.16, 0.22, 0.2, 0.1, 0.09, 0.11)  # Thursday..Wednesday
KEEP = {"family": 0.7, "drama": 0.55, "horror": 0.35}


def history(n_films: int = 90, seed: int = 7, last_day: date = date(2025, 8, 10)) -> Runs:
    rng = random.Random(seed)
    films, weeks, days, advance = [], [], [], []
    for n in range(n_films):
        film_id = f"F{n:04d}"
        released = FIRST_RELEASE + timedelta(days=7 * (n * 80 // n_films))
        genre = ("family", "drama", "horror")[n % 3]
        films.append(
            {
                "film_id": film_id,
                "title": f"Film {n}",
                "release_date": released,
                "certificate_date": released - timedelta(days=20),
                "genres": [genre],
                "is_domestic": n % 4 == 0,
                "original_language": "kk" if n % 4 == 0 else "en",
                "distributor": "D",
                "funding_project_id": f"P{n}" if n % 5 == 1 else None,
                "funded_amount_kzt": 50_000_000.0 if n % 5 == 1 else None,
            }
        )
        opening = rng.lognormvariate(17, 0.8)
        keep = min(0.9, KEEP[genre] + rng.gauss(0, 0.04))
        for k in range(12):
            gross = opening * keep**k * rng.uniform(0.95, 1.05)
            start = released + timedelta(days=7 * k)
            if k >= 2 and gross < 0.03 * opening:
                break
            if start >= TRACKING_FROM:
                for offset, share in enumerate(WEEKDAY_SHARE):
                    day = start + timedelta(days=offset)
                    if day <= last_day:
                        sessions = 1 + round(gross * share / 40_000)
                        days.append(
                            (film_id, day, gross * share, gross * share / 1800, sessions, 1 + sessions // 4)
                        )
                    for ahead in (1, 2, 3):  # tickets for this day sold 1..3 days before it
                        sold_on = day - timedelta(days=ahead)
                        if TRACKING_FROM <= sold_on <= last_day:
                            sold = gross * share * (0.08 / ahead) * rng.uniform(0.8, 1.2)
                            advance.append((film_id, sold_on, day, sold, sold / 1800))
            elif start + timedelta(days=12) <= last_day:
                weeks.append((film_id, start, gross, gross / 1800, start + timedelta(days=12)))
    return make_runs(
        pd.DataFrame(films),
        pd.DataFrame(weeks, columns=["film_id", "week_start", "gross", "admissions", "known_on"]),
        pd.DataFrame(
            days, columns=["film_id", "business_date", "gross", "admissions", "sessions", "screens"]
        ),
        pd.DataFrame(advance, columns=["film_id", "sold_on", "session_date", "gross", "tickets"]),
    )
