"""The endpoints' table: path, parameters, what answers, what a row holds. The application routes
from it and the OpenAPI document is written from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ekino_pipeline.api.answers import Answer
from ekino_pipeline.api.endpoints import (
    SETTLEMENT_SQL,
    chart,
    cinemas,
    daily,
    distributors,
    downloads,
    film,
    films,
    national_daily,
    national_yearly,
    region_daily,
    regions,
    settlements,
)
from ekino_pipeline.api.keys import ApiKey
from ekino_pipeline.api.params import PAGED, Param
from ekino_pipeline.api.reader import LoadedPublication


@dataclass(frozen=True)
class Endpoint:
    path: str
    name: str
    summary: str
    params: tuple[Param, ...]
    answer: Callable[[LoadedPublication, dict, ApiKey | None], Answer]
    # A list answer's row: the SQL whose columns it has, or its JSON schema; None: a detail answer.
    rows: str | dict | None
    restricted: bool = False  # settlement: distributor and ministry keys only
    added_columns: tuple[tuple[str, str], ...] = ()  # computed beside the SQL's: (name, DuckDB type)

    @property
    def paged(self) -> bool:
        return self.rows is not None


DOWNLOAD_ROW = {
    "type": "object",
    "properties": {"mart": {"type": "string"}, "rows": {"type": "integer"}, "path": {"type": "string"}},
    "required": ["mart", "rows", "path"],
    "additionalProperties": False,
}
REGION_CODE = r"KZ-[0-9A-Z]{1,3}"

# Every parameter with a pattern has an example: a client (and the contract tests) can start from it.
DATE = Param("date", "date", "business day (Asia/Almaty); default the latest on record", example="2024-03-01")
ORIGIN = Param("origin", "enum", "domestic or foreign films only", enum=("domestic", "foreign"))
LANGUAGE = Param(
    "language", "string", "films of this original language (ISO 639-1)", pattern=r"[a-z]{2,3}", example="kk"
)
FILM_FILTERS = (ORIGIN, LANGUAGE)
REGION_PATH = Param(
    "region_code", "string", "region (ISO 3166-2:KZ)", location="path", pattern=REGION_CODE, example="KZ-75"
)
WEEK = Param("week", "thursday", "the film week's Thursday; default the latest", example="2024-02-29")
WEEKEND = Param("weekend", "friday", "the weekend's Friday; default the latest", example="2024-03-01")
FILM_ID = Param(
    "film_id",
    "string",
    "the film's registry id",
    location="path",
    pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}",
    example="F00001",
)
QUERY = Param("q", "string", "part of the title or original title, or the film id", example="garden")
REGION = Param("region", "string", "region (ISO 3166-2:KZ)", pattern=REGION_CODE, example="KZ-75")
STATUS = Param(
    "status",
    "string",
    "reporting status (reported, no_sessions, silent...)",
    pattern=r"[a-z_]{1,40}",
    example="silent",
)
CONNECTED = Param("connected", "boolean", "connected to e-Kino or not")
PERIOD = Param("period", "enum", "film_week or year", enum=("film_week", "year"), default="film_week")
START = Param(
    "start", "date", "the period's first day (Thursday, 1 January); default the latest", example="2024-02-29"
)
FROM = Param("from", "date", "first day; default 30 days before to", example="2024-02-20")
TO = Param("to", "date", "last day; default the latest on record", example="2024-03-02")
SETTLED_WEEK = Param(
    "week", "thursday", "the film week's Thursday; default the latest settled", example="2024-02-29"
)
DISTRIBUTOR = Param(
    "distributor", "string", "a distributor's id (as its statements' file names)",
    pattern=r"[a-z0-9-]{1,80}", example="altyn-kino-823db4fa",
)  # fmt: skip

ENDPOINTS = (
    Endpoint(
        path="/v1/box-office/daily",
        name="daily_box_office",
        summary="Films' box office of a business day, ranked (optionally domestic or foreign, or a language)",
        params=(DATE, *FILM_FILTERS, *PAGED),
        answer=daily,
        rows="select * from film_daily_box_office",
    ),
    Endpoint(
        path="/v1/box-office/weekly",
        name="weekly_chart",
        summary="The chart of a film week (Thursday to Wednesday), summed from its days",
        params=(WEEK, *FILM_FILTERS, *PAGED),
        answer=chart("film_weekly_box_office", "week", "film_week_start", 7),
        rows="select * from film_weekly_box_office",
    ),
    Endpoint(
        path="/v1/box-office/weekend",
        name="weekend_chart",
        summary="The chart of a weekend (Friday to Sunday)",
        params=(WEEKEND, *FILM_FILTERS, *PAGED),
        answer=chart("film_weekend_box_office", "weekend", "weekend_start", 3),
        rows="select * from film_weekend_box_office",
    ),
    Endpoint(
        path="/v1/regions/{region_code}/box-office/daily",
        name="region_daily_box_office",
        summary="Films' box office of a business day in one region, with the region's coverage",
        params=(REGION_PATH, DATE, *FILM_FILTERS, *PAGED),
        answer=region_daily,
        rows="select * from film_region_daily",
    ),
    Endpoint(
        path="/v1/films",
        name="films",
        summary="Films on record: lifetime since release (reported before e-Kino + tracked, gross_source)",
        params=(QUERY, *FILM_FILTERS, *PAGED),
        answer=films,
        rows="select * from film_performance",
    ),
    Endpoint(
        path="/v1/films/{film_id}",
        name="film",
        summary="One film: lifetime figures, latest day, state funding outcome, forecast when published",
        params=(FILM_ID,),
        answer=film,
        rows=None,
    ),
    Endpoint(
        path="/v1/cinemas",
        name="cinemas",
        summary="Cinemas of the registry with their reporting status on the latest day checked",
        params=(REGION, STATUS, CONNECTED, *PAGED),
        answer=cinemas,
        rows="select * from cinema_reporting_status",
    ),
    Endpoint(
        path="/v1/regions",
        name="regions",
        summary="Regions' box office of a business day, each with its own coverage (the regions' code list)",
        params=(DATE, *PAGED),
        answer=regions,
        rows="select * from region_daily",
    ),
    Endpoint(
        path="/v1/distributors",
        name="distributors",
        summary="Distributors' market shares of a film week or of the year to date",
        params=(PERIOD, START, *PAGED),
        answer=distributors,
        rows="select * from distributor_market_share",
    ),
    Endpoint(
        path="/v1/national/daily",
        name="national_daily",
        summary="The nation's box office per business day, with coverage and quarantined money",
        params=(FROM, TO, *PAGED),
        answer=national_daily,
        rows="select * from national_daily",
    ),
    Endpoint(
        path="/v1/national/yearly",
        name="national_yearly",
        summary="The nation's box office per year: the published total until e-Kino tracked the whole year",
        params=PAGED,
        answer=national_yearly,
        rows="select * from national_yearly",
    ),
    Endpoint(
        path="/v1/settlements",
        name="settlements",
        summary="Settlement per distributor of a film week (a distributor key: its own; ministry: all)",
        params=(SETTLED_WEEK, DISTRIBUTOR, *PAGED),
        answer=settlements,
        rows=SETTLEMENT_SQL.replace("= ?", "is null"),
        restricted=True,
        added_columns=(("distributor_id", "VARCHAR"),),
    ),
    Endpoint(
        path="/v1/downloads",
        name="downloads",
        summary="The publication's public marts, each a whole Parquet file (exact decimals) to download",
        params=PAGED,
        answer=downloads,
        rows=DOWNLOAD_ROW,
    ),
)
