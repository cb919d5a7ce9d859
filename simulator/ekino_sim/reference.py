"""Generates the national registries: the pilot network shipped with the package, or a grown one.

The shipped CSVs are this module's output for the defaults (a test holds them equal), so the
reference data can be regenerated and `ekino-sim simulate --cinemas N` can grow the network the same way.
Figures follow e-Kino's published facts: 20 regions, 103 cinemas of which 68 connected, 98 funded
projects in 2019-2023 totalling 19 bn tenge, 23 of them released films in the catalogue.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from ekino_pipeline.exchange.registry import REGISTRY_COLUMNS
from ekino_pipeline.exchange.rental_terms import RENTAL_METHODS
from ekino_sim.history import HISTORY_COLUMNS, add_release_records, generate_history

PILOT_CINEMAS = 103
# A cinema id is its region's three letters and four digits: 9,999 cinemas in each of the 20 regions.
MAX_CINEMAS = 20 * 9999
PILOT_CONNECTED = 68
DEFAULT_SEED = 2024
FUNDING_TOTAL_KZT = Decimal("19000000000.00")
FUNDED_PROJECTS = 98
FUNDED_RELEASED = 23

# region_code, short code, name, kind, capital, population, time zone, pilot cinemas
REGIONS = [
    ("KZ-75", "ALA", "Almaty", "city", "Almaty", 2_230_000, "Asia/Almaty", 20),
    ("KZ-71", "AST", "Astana", "city", "Astana", 1_420_000, "Asia/Almaty", 14),
    ("KZ-79", "SHY", "Shymkent", "city", "Shymkent", 1_210_000, "Asia/Almaty", 8),
    ("KZ-35", "KAR", "Karaganda Region", "oblast", "Karaganda", 1_130_000, "Asia/Almaty", 6),
    ("KZ-15", "AKT", "Aktobe Region", "oblast", "Aktobe", 930_000, "Asia/Aqtobe", 5),
    ("KZ-23", "ATY", "Atyrau Region", "oblast", "Atyrau", 690_000, "Asia/Atyrau", 4),
    ("KZ-47", "MAN", "Mangystau Region", "oblast", "Aktau", 780_000, "Asia/Aqtau", 4),
    ("KZ-55", "PAV", "Pavlodar Region", "oblast", "Pavlodar", 750_000, "Asia/Almaty", 4),
    ("KZ-63", "VKO", "East Kazakhstan Region", "oblast", "Oskemen", 730_000, "Asia/Almaty", 4),
    ("KZ-39", "KOS", "Kostanay Region", "oblast", "Kostanay", 830_000, "Asia/Qostanay", 4),
    ("KZ-27", "ZKO", "West Kazakhstan Region", "oblast", "Oral", 690_000, "Asia/Oral", 3),
    ("KZ-31", "JAM", "Jambyl Region", "oblast", "Taraz", 1_200_000, "Asia/Almaty", 3),
    ("KZ-61", "TUR", "Turkistan Region", "oblast", "Turkistan", 2_100_000, "Asia/Almaty", 4),
    ("KZ-19", "ALM", "Almaty Region", "oblast", "Konaev", 1_520_000, "Asia/Almaty", 4),
    ("KZ-11", "AKM", "Akmola Region", "oblast", "Kokshetau", 790_000, "Asia/Almaty", 3),
    ("KZ-43", "KZY", "Kyzylorda Region", "oblast", "Kyzylorda", 830_000, "Asia/Qyzylorda", 3),
    ("KZ-59", "SKO", "North Kazakhstan Region", "oblast", "Petropavl", 530_000, "Asia/Almaty", 2),
    ("KZ-10", "ABY", "Abai Region", "oblast", "Semey", 610_000, "Asia/Almaty", 3),
    ("KZ-33", "JET", "Jetisu Region", "oblast", "Taldykorgan", 700_000, "Asia/Almaty", 3),
    ("KZ-62", "ULY", "Ulytau Region", "oblast", "Zhezkazgan", 220_000, "Asia/Almaty", 2),
]

CHAINS = ["Aray Kino", "Samal Cinemas", "Tulpar Cinemax", "Nomad Kino", "Kerbez Film"]
CINEMA_WORDS = [
    "Baiterek",
    "Arman",
    "Saryarka",
    "Keruen",
    "Dostyk",
    "Alatau",
    "Medeu",
    "Shanyrak",
    "Zhuldyz",
    "Nurly",
    "Kokzhiek",
    "Sunkar",
    "Erlan",
    "Aktilek",
    "Samruk",
    "Akbulak",
    "Orbita",
    "Kazyna",
]
HALL_FORMATS = ["2D", "3D", "IMAX", "4DX"]

GENRES = [
    "drama",
    "comedy",
    "action",
    "adventure",
    "animation",
    "family",
    "thriller",
    "horror",
    "romance",
    "fantasy",
    "science_fiction",
    "historical",
    "documentary",
    "crime",
]
FOREIGN_ORIGINS = [  # country, original language, weight
    ("US", "en", 40),
    ("RU", "ru", 25),
    ("GB", "en", 5),
    ("FR", "fr", 4),
    ("KR", "ko", 5),
    ("CN", "zh", 3),
    ("JP", "ja", 4),
    ("TR", "tr", 4),
    ("IN", "hi", 3),
    ("DE", "de", 2),
    ("UZ", "uz", 2),
    ("KG", "ky", 1),
    ("ES", "es", 2),
]
DISTRIBUTORS = [
    "Steppe Distribution",
    "Caravan Pictures",
    "Aurora Film Distribution",
    "Nomad Screens",
    "Silk Way Films",
    "Altyn Kino",
]
KAZAKH_WORDS = [
    "Dala",
    "Tulpar",
    "Aisulu",
    "Kokzhal",
    "Baqyt",
    "Zhol",
    "Tengri",
    "Aruana",
    "Sheker",
    "Qyz",
    "Bauyrym",
    "Ata",
    "Ana",
    "Zhuldyz",
    "Kelin",
    "Auyl",
    "Qalam",
    "Sungat",
    "Tumar",
    "Jeruiyq",
    "Balalyq",
    "Dombyra",
    "Qazyna",
    "Altyn",
    "Ozen",
    "Tau",
    "Kun",
    "Ai",
    "Boran",
]
ENGLISH_ADJECTIVES = [
    "Silent",
    "Last",
    "Broken",
    "Hidden",
    "Golden",
    "Midnight",
    "Lost",
    "Wild",
    "Crimson",
    "Frozen",
    "Endless",
    "Secret",
    "Burning",
    "Distant",
    "Iron",
    "Paper",
    "Electric",
    "Quiet",
]
ENGLISH_NOUNS = [
    "Horizon",
    "Kingdom",
    "Signal",
    "Harbor",
    "Protocol",
    "Garden",
    "River",
    "Echo",
    "Empire",
    "Frontier",
    "Orbit",
    "Legacy",
    "Summer",
    "Witness",
    "Voyage",
    "Machine",
    "Island",
    "Storm",
]
PRODUCERS = [
    "Qazaq Film Studio",
    "Almaty Pictures",
    "Astana Motion",
    "Saryarka Films",
    "Steppe Story",
    "Taraz Media",
    "Nur Production",
    "Jibek Joly Films",
    "Aitys Studio",
    "Kino Ordasy",
]
FIRST_RELEASE = date(2018, 1, 4)  # a Thursday: Kazakhstan's releases open on Thursdays
LAST_RELEASE = date(2028, 12, 28)
RELEASES_PER_WEEK = 3


def _allocate(total: int, weights: list[int]) -> list[int]:
    """Split total by weights with largest remainders (exact for the pilot's own weights)."""
    whole = sum(weights)
    quotas = [total * w / whole for w in weights]
    counts = [int(q) for q in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def generate_cinemas(n_cinemas: int = PILOT_CINEMAS, seed: int = DEFAULT_SEED):
    """Rows for cinemas.csv and halls.csv."""
    if not 1 <= n_cinemas <= MAX_CINEMAS:
        raise ValueError(f"n_cinemas must be between 1 and {MAX_CINEMAS}")
    rng = random.Random(f"cinemas:{seed}")
    counts = _allocate(n_cinemas, [r[7] for r in REGIONS])
    cinemas, halls = [], []
    for (code, short, _name, kind, capital, _pop, tz, _pilot), count in zip(REGIONS, counts, strict=True):
        for index in range(1, count + 1):
            cinema_id = f"{short}-{index:04d}"
            chain = rng.choice(CHAINS) if rng.random() < 0.7 else "Independent"
            word = rng.choice(CINEMA_WORDS)
            name = f"{chain} {word}" if chain != "Independent" else f"Kinoteatr {word}"
            n_halls = (
                rng.choice([1, 2, 3, 4, 5, 6, 6, 8, 8, 10, 12])
                if kind == "city"
                else rng.choice([1, 1, 2, 2, 3, 3, 4, 5, 6])
            )
            cinemas.append(
                {
                    "cinema_id": cinema_id,
                    "name": f"{name} {capital}" if index > 1 else name,
                    "chain": chain,
                    "city": capital,
                    "region_code": code,
                    "timezone": tz,
                    "connected": None,
                    "base_url": f"cinemas/{cinema_id}",
                }
            )
            for h in range(1, n_halls + 1):
                if h == 1 and n_halls >= 6:
                    fmt, seats = "IMAX", rng.randrange(250, 420, 10)
                elif h == 2 and n_halls >= 8:
                    fmt, seats = "4DX", rng.randrange(80, 140, 4)
                else:
                    fmt, seats = ("3D" if rng.random() < 0.35 else "2D"), rng.randrange(40, 260, 4)
                rows = max(4, round(seats / rng.choice([12, 14, 16, 18, 20])))
                halls.append(
                    {
                        "hall_id": f"{cinema_id}:H{h:02d}",
                        "cinema_id": cinema_id,
                        "name": f"Hall {h}" if fmt in ("2D", "3D") else f"{fmt} Hall",
                        "seats": seats,
                        "seat_rows": rows,
                        "format": fmt,
                    }
                )
    n_connected = round(n_cinemas * PILOT_CONNECTED / PILOT_CINEMAS)
    order = list(range(n_cinemas))
    rng.shuffle(order)
    connected = set(order[:n_connected])
    for i, cinema in enumerate(cinemas):
        cinema["connected"] = "true" if i in connected else "false"
    return cinemas, halls


def generate_films(seed: int = DEFAULT_SEED):
    rng = random.Random(f"films:{seed}")
    films, used_titles = [], set()
    week = FIRST_RELEASE
    while week <= LAST_RELEASE:
        for _ in range(RELEASES_PER_WEEK):
            film_no = len(films) + 1
            domestic = rng.random() < 0.38
            if domestic:
                countries = ["KZ"] if rng.random() < 0.85 else ["KZ", rng.choice(["RU", "KG", "UZ", "TR"])]
                language = "kk" if rng.random() < 0.7 else "ru"
                title = " ".join(rng.sample(KAZAKH_WORDS, rng.choice([1, 2, 2, 3])))
                original_title = title
            else:
                country, language, _ = rng.choices(FOREIGN_ORIGINS, [o[2] for o in FOREIGN_ORIGINS])[0]
                countries = (
                    [country] if rng.random() < 0.8 else [country, rng.choice(["US", "GB", "FR", "DE"])]
                )
                title = f"{rng.choice(ENGLISH_ADJECTIVES)} {rng.choice(ENGLISH_NOUNS)}"
                original_title = title if language == "en" else f"{title} ({language})"
            base = title
            sequel = 2
            while title in used_titles:
                title = f"{base} {sequel}"
                sequel += 1
            used_titles.add(title)
            if original_title != title and original_title.startswith(base) and language == "en":
                original_title = title
            n_genres = rng.choice([1, 2, 2, 3])
            genres = rng.sample(GENRES, n_genres)
            films.append(
                {
                    "film_id": f"F{film_no:05d}",
                    "title": title,
                    "original_title": original_title if language != "en" else title,
                    "genres": "|".join(genres),
                    "production_countries": "|".join(countries),
                    "original_language": language,
                    "release_date": week.isoformat(),
                    "distributor": rng.choice(DISTRIBUTORS),
                    "is_domestic": "true" if domestic else "false",
                    "funding_project_id": "",
                    "runtime_minutes": rng.randrange(78, 170),
                }
            )
        week += timedelta(days=7)
    return films


def generate_grants(films: list[dict], seed: int = DEFAULT_SEED):
    """98 projects, 2019-2023, 19 bn tenge in all; 23 of them linked to released domestic films."""
    rng = random.Random(f"grants:{seed}")
    per_year = _allocate(FUNDED_PROJECTS, [18, 19, 20, 20, 21])
    weights = [rng.lognormvariate(0, 0.6) for _ in range(FUNDED_PROJECTS)]
    scale = FUNDING_TOTAL_KZT / Decimal(str(sum(weights)))
    amounts = [(Decimal(str(w)) * scale / 1000).quantize(Decimal("1")) * 1000 for w in weights]
    amounts[-1] += FUNDING_TOTAL_KZT - sum(amounts)
    grants = []
    for year, count in zip(range(2019, 2024), per_year, strict=True):
        for n in range(1, count + 1):
            grants.append({"project_id": f"KFP-{year}-{n:03d}", "grant_year": year})
    # Released projects: granted earlier are likelier to be out; released 1-2.5 years after the grant.
    released = sorted(rng.sample(range(FUNDED_PROJECTS), FUNDED_RELEASED))
    domestic = [f for f in films if f["is_domestic"] == "true"]
    taken = set()
    for i, grant in enumerate(grants):
        grant["amount_kzt"] = f"{amounts[i]:.2f}"
        grant["producer"] = rng.choice(PRODUCERS)
        grant["film_id"] = ""
        if i in released:
            year = grant["grant_year"]
            earliest = date(year + 1, 3, 1)
            candidates = [
                f
                for f in domestic
                if earliest <= date.fromisoformat(f["release_date"]) <= earliest + timedelta(days=600)
                and f["film_id"] not in taken
            ]
            film = rng.choice(candidates)
            taken.add(film["film_id"])
            film["funding_project_id"] = grant["project_id"]
            grant["film_id"] = film["film_id"]
            grant["title"] = film["title"]
            grant["status"] = "released"
        else:
            grant["title"] = " ".join(rng.sample(KAZAKH_WORDS, 2))
            grant["status"] = rng.choices(
                ["in_production", "post_production", "completed", "terminated"],
                [4, 3, 2, 1] if grant["grant_year"] >= 2022 else [1, 2, 4, 1],
            )[0]
    return grants


def generate_regions():
    return [
        {
            "region_code": code,
            "name": name,
            "kind": kind,
            "capital": capital,
            "population": pop,
            "timezone": tz,
        }
        for code, _short, name, kind, capital, pop, tz, _ in REGIONS
    ]


# Films released in these months carry every rental method in turn, so the demo weeks settle by all.
EVERY_METHOD_RELEASES = (date(2026, 10, 1), date(2026, 11, 30))


def _terms_parameters(method: str, rng: random.Random) -> dict:
    parameters = {"rates": "", "house_allowance_kzt": "", "fee_kzt": "", "minimum_guarantee_kzt": ""}
    if method == "sliding_by_week":
        first = rng.choice([60, 55, 55, 50])
        parameters["rates"] = "|".join(f"{first - 5 * n}.00" for n in range(4))
    elif method == "fixed_percentage":
        parameters["rates"] = f"{rng.choice([35, 40, 45, 50])}.00"
    elif method == "house_allowance":
        parameters["rates"] = "90.00"
        parameters["house_allowance_kzt"] = f"{rng.choice([50, 80, 100, 150]) * 1000}.00"
    elif method == "flat_fee_per_session":
        parameters["fee_kzt"] = f"{rng.choice([3, 4, 5, 6]) * 1000}.00"
    elif method == "flat_fee_per_week":
        parameters["fee_kzt"] = f"{rng.choice([60, 80, 120]) * 1000}.00"
    else:
        parameters["rates"] = f"{rng.choice([45, 50])}.00"
        parameters["minimum_guarantee_kzt"] = f"{rng.choice([50, 75, 100]) * 1000}.00"
    return parameters


def generate_rental_terms(films: list[dict], cinemas: list[dict], seed: int = DEFAULT_SEED) -> list[dict]:
    """Film hire per film: mostly a percentage sliding by week of release, with chain and cinema deals
    and renegotiated second versions on top, as a distributor's booking sheet has them."""
    rng = random.Random(f"rental_terms:{seed}")
    chains = sorted({c["chain"] for c in cinemas if c["chain"] != "Independent"})
    cinema_ids = [c["cinema_id"] for c in cinemas]
    first_demo, last_demo = EVERY_METHOD_RELEASES
    in_turn = 0
    terms = []

    def add(film, method, scope, chain, cinema_id, effective_from, effective_to, version):
        terms.append(
            {
                "terms_id": f"RT-{film['film_id']}-{len(terms) + 1:06d}",
                "film_id": film["film_id"],
                "distributor": film["distributor"],
                "scope": scope,
                "chain": chain,
                "cinema_id": cinema_id,
                "method": method,
                **_terms_parameters(method, rng),
                "effective_from": effective_from.isoformat(),
                "effective_to": effective_to.isoformat() if effective_to else "",
                "terms_version": version,
            }
        )

    for film in films:
        release = date.fromisoformat(film["release_date"])
        if first_demo <= release <= last_demo:
            method = RENTAL_METHODS[in_turn % len(RENTAL_METHODS)]
            in_turn += 1
        else:
            method = rng.choices(RENTAL_METHODS, [50, 20, 10, 5, 5, 10])[0]
        renegotiated = rng.random() < 0.1
        # Terms may be signed before the release (previews screen ahead of it).
        opens = release - timedelta(days=14)
        if renegotiated:
            changes = release + timedelta(days=28)
            add(film, method, "film", "", "", opens, changes - timedelta(days=1), 1)
            add(film, "fixed_percentage", "film", "", "", changes, None, 2)
        else:
            add(film, method, "film", "", "", opens, None, 1)
        if rng.random() < 0.08:
            add(film, rng.choice(RENTAL_METHODS), "chain", rng.choice(chains), "", opens, None, 1)
        if rng.random() < 0.04:
            add(film, rng.choice(RENTAL_METHODS), "cinema", "", rng.choice(cinema_ids), opens, None, 1)
    return terms


def generate_tax_rules() -> list[dict]:
    """VAT included in the ticket price and the film fund levy (none yet; KOBIS-style 3% would be 3.00)."""
    return [
        {
            "rule_id": "TAX-2018",
            "effective_from": "2018-01-01",
            "effective_to": "",
            "vat_rate_pct": "12.00",
            "film_fund_levy_pct": "0.00",
        }
    ]


def generate_registry(n_cinemas: int = PILOT_CINEMAS, seed: int = DEFAULT_SEED) -> dict[str, list[dict]]:
    cinemas, halls = generate_cinemas(n_cinemas, seed)
    films = generate_films(seed)
    grants = generate_grants(films, seed)
    add_release_records(films, seed)
    return {
        "regions": generate_regions(),
        "cinemas": cinemas,
        "halls": halls,
        "films": films,
        "funding_grants": grants,
        "rental_terms": generate_rental_terms(films, cinemas, seed),
        "tax_rules": generate_tax_rules(),
        "box_office_history": generate_history(films, grants, seed),
    }


# The shipped registries' columns as the loader requires them, in the same order; then the datasets
# whose loaders live in their own modules.
COLUMNS = {
    **{name: list(columns) for name, columns in REGISTRY_COLUMNS.items()},
    "rental_terms": [
        "terms_id",
        "film_id",
        "distributor",
        "scope",
        "chain",
        "cinema_id",
        "method",
        "rates",
        "house_allowance_kzt",
        "fee_kzt",
        "minimum_guarantee_kzt",
        "effective_from",
        "effective_to",
        "terms_version",
    ],
    "tax_rules": ["rule_id", "effective_from", "effective_to", "vat_rate_pct", "film_fund_levy_pct"],
    "box_office_history": HISTORY_COLUMNS,
}


def write_registry(directory: Path | str, n_cinemas: int = PILOT_CINEMAS, seed: int = DEFAULT_SEED) -> Path:
    """Write the registry CSVs atomically (each file to a temporary name, then renamed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in generate_registry(n_cinemas, seed).items():
        tmp = directory / f".{name}.csv.tmp"
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS[name], lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(directory / f"{name}.csv")
    return directory
