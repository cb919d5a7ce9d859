"""What each endpoint reads from the publication.

Each answer is the marts' own rows (every column, as exported), filtered and ordered; a period
defaults to the latest one on record. Coverage comes from the nation's (or the region's) daily
coverage over the answer's days, or from the rows' own completeness where they carry it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from ekino_pipeline.api.answers import (
    Answer,
    ApiError,
    coverage_of_days,
    coverage_of_rows,
    days_back,
    last_day,
)
from ekino_pipeline.api.keys import ApiKey
from ekino_pipeline.api.reader import PUBLIC_MARTS, LoadedPublication
from ekino_pipeline.transformation.statements import distributor_id


def _select(pub: LoadedPublication, sql: str, params: list) -> tuple[list[str], list[dict]]:
    return pub.select(sql, params)


def _listing(pub: LoadedPublication, sql: str, params: list, coverage: dict) -> Answer:
    columns, rows = _select(pub, sql, params)
    return Answer(coverage=coverage, rows=rows, columns=columns)


def _latest_national(pub: LoadedPublication) -> dict:
    day = last_day(pub, "national_daily", "business_date")
    return coverage_of_days(pub, day, day) if day else coverage_of_rows([])


def _need(pub: LoadedPublication, mart: str) -> None:
    if not pub.has(mart):
        raise ApiError(404, "not_published", f"the publication {pub.id} holds no {mart}")


FILM_FILTER = (
    "select f.* from {mart} f join film_performance p using (film_id) where {where}"
    " and (? is null or p.is_domestic = ?) and (? is null or p.original_language = ?)"
)


def _film_filters(values: dict) -> list:
    domestic = None if values.get("origin") is None else values["origin"] == "domestic"
    return [domestic, domestic, values.get("language"), values.get("language")]


def daily(pub, values, _key) -> Answer:
    _need(pub, "film_daily_box_office")
    day = values["date"] or last_day(pub, "film_daily_box_office", "business_date")
    sql = FILM_FILTER.format(mart="film_daily_box_office", where="f.business_date = ?")
    coverage = coverage_of_days(pub, day, day) if day else coverage_of_rows([])
    return _listing(pub, sql + " order by f.rank_of_day, f.film_id", [day, *_film_filters(values)], coverage)


def chart(mart: str, param: str, start: str, days: int) -> Callable:
    def answer(pub, values, _key) -> Answer:
        _need(pub, mart)
        first = values[param] or last_day(pub, mart, start)
        sql = FILM_FILTER.format(mart=mart, where=f"f.{start} = ?")
        coverage = (
            coverage_of_days(pub, first, first + timedelta(days=days - 1)) if first else coverage_of_rows([])
        )
        return _listing(
            pub, sql + " order by f.chart_rank, f.film_id", [first, *_film_filters(values)], coverage
        )

    return answer


def region_daily(pub, values, _key) -> Answer:
    _need(pub, "film_region_daily")
    region = values["region_code"]
    if not pub.query("select 1 from region_daily where region_code = ? limit 1", [region]):
        raise ApiError(
            404, "not_found", f"no region {region} in the publication (GET /v1/regions lists them)"
        )
    day = values["date"] or last_day(pub, "film_region_daily", "business_date")
    sql = FILM_FILTER.format(mart="film_region_daily", where="f.region_code = ? and f.business_date = ?")
    coverage = coverage_of_days(pub, day, day, region) if day else coverage_of_rows([])
    params = [region, day, *_film_filters(values)]
    return _listing(pub, sql + " order by f.gross_kzt desc, f.film_id", params, coverage)


def films(pub, values, _key) -> Answer:
    _need(pub, "film_performance")
    sql = (
        "select * from film_performance where (? is null or contains(lower(title), lower(?))"
        " or contains(lower(coalesce(original_title, '')), lower(?)) or film_id = ?)"
        " and (? is null or is_domestic = ?) and (? is null or original_language = ?)"
        " order by title, film_id"
    )
    q = values["q"]
    return _listing(pub, sql, [q, q, q, q, *_film_filters(values)], _latest_national(pub))


def _one(pub: LoadedPublication, sql: str, params: list) -> dict | None:
    rows = pub.query(sql, params)
    return rows[0] if rows else None


def film(pub, values, _key) -> Answer:
    _need(pub, "film_performance")
    film_id = values["film_id"]
    row = _one(pub, "select * from film_performance where film_id = ?", [film_id])
    if row is None:
        raise ApiError(404, "not_found", f"no film {film_id} in the publication (GET /v1/films searches)")
    latest = None
    if pub.has("film_daily_box_office"):
        latest = _one(
            pub,
            "select * from film_daily_box_office where film_id = ? order by business_date desc limit 1",
            [film_id],
        )
    funding = None
    if pub.has("funding_outcomes"):
        funding = _one(pub, "select * from funding_outcomes where film_id = ?", [film_id])
    forecast = None
    if pub.has("film_forecasts"):
        forecast = pub.query("select * from film_forecasts where film_id = ?", [film_id]) or None
    day = latest["business_date"] if latest else None
    coverage = coverage_of_days(pub, day, day) if day else _latest_national(pub)
    item = {"film": row, "latest_day": latest, "funding": funding, "forecast": forecast}
    return Answer(coverage=coverage, item=item)


def cinemas(pub, values, _key) -> Answer:
    _need(pub, "cinema_reporting_status")
    sql = (
        "select * from cinema_reporting_status where (? is null or region_code = ?)"
        " and (? is null or status = ?) and (? is null or is_connected = ?) order by cinema_id"
    )
    region, status, connected = values["region"], values["status"], values["connected"]
    day = last_day(pub, "cinema_reporting_status", "last_day_checked")
    coverage = coverage_of_days(pub, day, day) if day else coverage_of_rows([])
    return _listing(pub, sql, [region, region, status, status, connected, connected], coverage)


def regions(pub, values, _key) -> Answer:
    _need(pub, "region_daily")
    day = values["date"] or last_day(pub, "region_daily", "business_date")
    coverage = coverage_of_days(pub, day, day) if day else coverage_of_rows([])
    return _listing(
        pub, "select * from region_daily where business_date = ? order by region_code", [day], coverage
    )


def distributors(pub, values, _key) -> Answer:
    _need(pub, "distributor_market_share")
    period = values["period"]
    start = (
        values["start"]
        or _one(
            pub, "select max(period_start_date) as d from distributor_market_share where period = ?", [period]
        )["d"]
    )
    sql = (
        "select * from distributor_market_share where period = ? and period_start_date = ?"
        " order by share_rank, distributor"
    )
    columns, rows = _select(pub, sql, [period, start])
    last = rows[0]["period_end_date"] if rows else None
    return Answer(coverage=coverage_of_rows(rows, start if rows else None, last), rows=rows, columns=columns)


def national_daily(pub, values, _key) -> Answer:
    _need(pub, "national_daily")
    last = values["to"] or last_day(pub, "national_daily", "business_date")
    first = values["from"] or (days_back(last, 30) if last else None)
    if first and last and first > last:
        raise ApiError(400, "bad_parameter", "from is after to", {"from": f"{first} is after to {last}"})
    sql = "select * from national_daily where business_date between ? and ? order by business_date"
    coverage = coverage_of_days(pub, first, last) if last else coverage_of_rows([])
    return _listing(pub, sql, [first, last], coverage)


def national_yearly(pub, _values, _key) -> Answer:
    _need(pub, "national_yearly")
    columns, rows = _select(pub, "select * from national_yearly order by year", [])
    return Answer(coverage=coverage_of_rows(rows), rows=rows, columns=columns)


SETTLEMENT_SQL = """
select film_week_start, any_value(film_week_end) as film_week_end, distributor,
    count(*) as n_lines, count(distinct cinema_id) as n_cinemas, count(distinct film_id) as n_films,
    sum(admissions) as admissions, sum(n_sessions) as n_sessions, sum(gross_kzt) as gross_kzt,
    sum(tax_kzt) as tax_kzt, sum(net_kzt) as net_kzt, sum(rental_due_kzt) as rental_due_kzt,
    sum(exhibitor_share_kzt) as exhibitor_share_kzt, bool_or(is_provisional) as is_provisional,
    list_sort(list_distinct(flatten(list(provisional_reasons)))) as provisional_reasons,
    list_sort(list_distinct(flatten(list(exclusions)))) as exclusions
from settlement_weekly where film_week_start = ? group by film_week_start, distributor order by distributor
"""


def settlements(pub, values, key: ApiKey | None) -> Answer:
    if key is None:
        raise ApiError(
            401, "key_required", "settlement summaries need a distributor's or the ministry's API key"
        )
    if key.role not in ("distributor", "ministry"):
        raise ApiError(403, "forbidden", f"a {key.role} key cannot read settlement summaries")
    wanted = values["distributor"]
    if key.role == "distributor":
        if wanted is not None and wanted != key.distributor_id:
            raise ApiError(403, "forbidden", "a distributor's key reads its own settlement only")
        wanted = key.distributor_id
    _need(pub, "settlement_weekly")
    week = values["week"] or last_day(pub, "settlement_weekly", "film_week_start")
    columns, rows = _select(pub, SETTLEMENT_SQL, [week])
    columns.insert(columns.index("distributor") + 1, "distributor_id")
    for row in rows:
        row["distributor_id"] = distributor_id(row["distributor"])
    rows = [r for r in rows if wanted is None or r["distributor_id"] == wanted]
    end = week + timedelta(days=6) if week else None
    return Answer(coverage=coverage_of_rows(rows, week, end), rows=rows, columns=columns)


def downloads(pub, _values, _key) -> Answer:
    rows = [
        {"mart": mart, "rows": pub.publication.marts[mart], "path": f"/v1/downloads/{mart}.parquet"}
        for mart in PUBLIC_MARTS
        if pub.has(mart)
    ]
    return Answer(coverage=_latest_national(pub), rows=rows, columns=["mart", "rows", "path"])
