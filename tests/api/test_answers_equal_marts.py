"""Each endpoint's answer is the published marts' rows: read here straight from the Parquet exports."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import pyarrow.parquet as pq

from ekino_pipeline.transformation.statements import distributor_id


def _json(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def mart(exports, name: str, where=lambda row: True, order=None) -> list[dict]:
    rows = [r for r in pq.read_table(exports / f"{name}.parquet").to_pylist() if where(r)]
    if order:
        rows.sort(key=order)
    return [{k: _json(v) for k, v in row.items()} for row in rows]


def test_the_daily_box_office_of_a_day_is_the_marts_rows_by_rank_with_the_nations_coverage(
    api, published_exports
):
    answer = api.get("/v1/box-office/daily", params={"date": "2024-03-02"}).json()
    day = date(2024, 3, 2)
    expected = mart(
        published_exports,
        "film_daily_box_office",
        lambda r: r["business_date"] == day,
        lambda r: r["rank_of_day"],
    )
    assert answer["data"] == expected and expected
    (nation,) = mart(published_exports, "national_daily", lambda r: r["business_date"] == day)
    coverage = answer["coverage"]
    for name in ("cinemas_reporting", "cinemas_connected", "cinemas_total", "is_provisional"):
        assert coverage[name] == nation[name]
    assert coverage["provisional_reasons"] == nation["provisional_reasons"]
    assert coverage["exclusions"] == nation["exclusions"]
    assert answer["page"] == {"limit": 100, "offset": 0, "total": len(expected), "next": None}


def test_the_default_day_is_the_latest_on_record_and_a_filter_keeps_the_films_of_that_origin(
    api, published_exports
):
    films = {r["film_id"]: r for r in mart(published_exports, "film_performance")}
    latest = api.get("/v1/box-office/daily").json()
    assert {r["business_date"] for r in latest["data"]} == {"2024-03-02"}
    domestic = api.get("/v1/box-office/daily", params={"date": "2024-03-02", "origin": "domestic"}).json()
    assert domestic["data"] == [r for r in latest["data"] if films[r["film_id"]]["is_domestic"]]
    assert 0 < len(domestic["data"]) < len(latest["data"])


def test_weekly_and_weekend_charts_are_their_marts_by_chart_rank(api, published_exports):
    week = api.get("/v1/box-office/weekly", params={"week": "2024-02-29"}).json()
    assert week["data"] == mart(
        published_exports, "film_weekly_box_office",
        lambda r: r["film_week_start"] == date(2024, 2, 29), lambda r: r["chart_rank"],
    )  # fmt: skip
    assert (week["coverage"]["first_date"], week["coverage"]["last_date"]) == ("2024-02-29", "2024-03-06")
    # The week's days after 2024-03-02 are not on record: provisional, and why.
    assert (
        week["coverage"]["days_on_record"] == 3
        and "days_not_loaded" in week["coverage"]["provisional_reasons"]
    )
    weekend = api.get("/v1/box-office/weekend", params={"weekend": "2024-03-01"}).json()
    assert weekend["data"] == mart(
        published_exports, "film_weekend_box_office",
        lambda r: r["weekend_start"] == date(2024, 3, 1), lambda r: r["chart_rank"],
    )  # fmt: skip


def test_a_films_detail_holds_its_lifetime_its_latest_day_and_its_funding(api, published_exports):
    funded = next(r for r in mart(published_exports, "film_performance") if r["funding_project_id"])
    answer = api.get(f"/v1/films/{funded['film_id']}").json()["data"]
    assert answer["film"] == funded
    days = mart(published_exports, "film_daily_box_office", lambda r: r["film_id"] == funded["film_id"])
    assert answer["latest_day"] == max(days, key=lambda r: r["business_date"])
    (funding,) = mart(published_exports, "funding_outcomes", lambda r: r["film_id"] == funded["film_id"])
    assert answer["funding"] == funding
    assert answer["forecast"] is None  # no film_forecasts export in this publication
    assert api.get("/v1/films/F99999").status_code == 404
    search = api.get("/v1/films", params={"q": funded["title"][:5].upper()}).json()
    assert [r["film_id"] for r in search["data"]] == [funded["film_id"]]


def test_cinemas_regions_distributors_and_the_nation_are_their_marts(api, published_exports):
    cinemas = api.get("/v1/cinemas", params={"limit": 1000}).json()["data"]
    assert cinemas == mart(published_exports, "cinema_reporting_status", order=lambda r: r["cinema_id"])
    regions = api.get("/v1/regions", params={"date": "2024-03-01"}).json()["data"]
    assert regions == mart(
        published_exports,
        "region_daily",
        lambda r: r["business_date"] == date(2024, 3, 1),
        lambda r: r["region_code"],
    )
    shares = api.get("/v1/distributors", params={"period": "film_week", "start": "2024-02-29"}).json()["data"]
    assert shares == mart(
        published_exports, "distributor_market_share",
        lambda r: r["period"] == "film_week" and r["period_start_date"] == date(2024, 2, 29),
        lambda r: (r["share_rank"], r["distributor"]),
    )  # fmt: skip
    days = api.get("/v1/national/daily", params={"from": "2024-02-20", "to": "2024-03-02"}).json()
    assert days["data"] == mart(published_exports, "national_daily", order=lambda r: r["business_date"])
    assert days["coverage"]["days_on_record"] == days["coverage"]["days_in_period"] == 12
    years = api.get("/v1/national/yearly").json()
    assert years["data"] == mart(published_exports, "national_yearly", order=lambda r: r["year"])
    assert years["coverage"]["is_provisional"] is True


def test_a_region_chart_is_the_regions_rows_with_the_regions_coverage(api, published_exports):
    answer = api.get("/v1/regions/KZ-75/box-office/daily", params={"date": "2024-03-02"}).json()
    day = date(2024, 3, 2)
    assert answer["data"] == mart(
        published_exports, "film_region_daily",
        lambda r: r["region_code"] == "KZ-75" and r["business_date"] == day,
        lambda r: (-Decimal(r["gross_kzt"]), r["film_id"]),
    )  # fmt: skip
    (region,) = mart(
        published_exports, "region_daily", lambda r: r["region_code"] == "KZ-75" and r["business_date"] == day
    )
    assert answer["coverage"]["cinemas_reporting"] == region["cinemas_reporting"]
    assert api.get("/v1/regions/KZ-99/box-office/daily").status_code == 404


def test_settlement_summaries_add_up_the_marts_lines_per_distributor(api, published_exports, ministry_key):
    lines = mart(published_exports, "settlement_weekly", lambda r: r["film_week_start"] == date(2024, 2, 29))
    answer = api.get("/v1/settlements", ministry_key, params={"week": "2024-02-29"}).json()["data"]
    assert [r["distributor"] for r in answer] == sorted({line["distributor"] for line in lines})
    for summary in answer:
        own = [line for line in lines if line["distributor"] == summary["distributor"]]
        assert summary["distributor_id"] == distributor_id(summary["distributor"])
        for money in ("gross_kzt", "tax_kzt", "net_kzt", "rental_due_kzt", "exhibitor_share_kzt"):
            assert Decimal(summary[money]) == sum(Decimal(line[money]) for line in own)
        assert summary["n_lines"] == len(own)
        assert summary["is_provisional"] == any(line["is_provisional"] for line in own)


def test_pages_walk_the_whole_answer_and_csv_neutralises_formulas(api, published_exports):
    everything = api.get("/v1/cinemas", params={"limit": 1000}).json()["data"]
    walked, url = [], "/v1/cinemas?limit=40"
    while url:
        page = api.get(url).json()
        walked += page["data"]
        url = page["page"]["next"]
    assert walked == everything
    answer = api.get("/v1/cinemas", params={"format": "csv", "limit": 5})
    assert answer.headers["Ekino-Total-Count"] == str(len(everything))
    assert answer.headers["Link"].startswith("</v1/cinemas?")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["cinema_id"] for r in rows] == [c["cinema_id"] for c in everything[:5]]
    assert answer.headers["Ekino-Provisional"] == "true"
    from ekino_pipeline.api.answers import _csv_value

    assert _csv_value("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _csv_value(Decimal("-5.00")) == Decimal(
        "-5.00"
    )


def test_a_public_mart_downloads_whole_and_the_restricted_one_does_not(api, published_exports):
    answer = api.get("/v1/downloads/national_daily.parquet")
    assert answer.status_code == 200
    assert answer.content == (published_exports / "national_daily.parquet").read_bytes()
    assert api.get("/v1/downloads/settlement_weekly.parquet").status_code == 404
    listed = {r["mart"] for r in api.get("/v1/downloads").json()["data"]}
    assert "settlement_weekly" not in listed and "film_daily_box_office" in listed
