"""The box office report built from the scenario's exports: a page per day and an index showing the latest
day, figures as the marts hold them with what they cover, the Dagster asset linking the files, and the
pages in a real headless Chromium: they render, draw every chart and log no console error."""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, datetime
from decimal import Decimal

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ekino_pipeline.report.assets import REPORT_KEY, box_office_report
from ekino_pipeline.report.formatting import tenge
from ekino_pipeline.report.marts import MARTS
from ekino_pipeline.report.page import build_report, plotly_script_name
from ekino_pipeline.transformation.exports import ExportsResource, export_marts
from tests.transformation.chromium import Chromium, chromium_path
from tests.transformation.dbt_helpers import query
from tests.transformation.scenarios import FEB29, MAR1, MAR2

BUILT_AT = datetime(2024, 3, 3, 6, 0, tzinfo=UTC)
CHARTS = {"top", "week", "trend", "regions", "reporting", "funding"}
# Per chart: its name, plotly's SVG layers, and the marks drawn (bars, points, lines).
PROBE = """[...document.querySelectorAll('div.chart')].map(c => [
    c.dataset.chart,
    c.querySelectorAll('svg.main-svg').length,
    c.querySelectorAll('g.point, path.js-line').length,
])"""


@pytest.fixture(scope="module")
def report(built_scenario, tmp_path_factory):
    exports = tmp_path_factory.mktemp("exports")
    export_marts(built_scenario.warehouse, exports)
    return build_report([FEB29, MAR1, MAR2], exports=exports, built_at=BUILT_AT)


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: `make browser` (run by `make test`) installs it")
        pytest.skip("chromium is not installed (`make browser` installs it)")
    chromium = Chromium(path)
    yield chromium
    chromium.close()


def _section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, f"no section {anchor}"
    return match.group(1)


def test_a_page_per_day_and_an_index_showing_the_latest_day(report):
    assert report.latest_day == MAR2  # the last day cinemas were pulled for
    assert {p.day for p in report.pages} == {FEB29, MAR1, MAR2}
    assert all(p.charts == len(CHARTS) for p in report.pages)
    index = report.index.read_text()
    assert "<h1>Box office, Saturday 2 March 2024</h1>" in index
    for day in (FEB29, MAR1, MAR2):
        assert f'href="{day}.html"' in _section(index, "days")
    # The library sits beside the pages; nothing is fetched from the network.
    assert (report.folder / plotly_script_name()).stat().st_size > 1_000_000
    for page in report.folder.glob("*.html"):
        assert not re.search(r'(src|href)="(https?:)?//', page.read_text()), page.name


def test_the_days_top_films_are_the_marts_with_their_coverage_and_provisional_flags(report, built_scenario):
    films = query(
        built_scenario.warehouse,
        "select coalesce(title, film_id) as film, gross_kzt, cinemas_reporting, cinemas_connected, "
        "cinemas_total, provisional_reasons from marts.film_daily_box_office where business_date = ? "
        "order by rank_of_day limit 10",
        MAR1,
    )
    [nation] = query(
        built_scenario.warehouse, "select * from marts.national_daily where business_date = ?", MAR1
    )
    page = (report.folder / f"{MAR1}.html").read_text()
    top = _section(page, "top")
    assert films
    for film in films:
        assert f">{film['film']}<" in top and f">{tenge(film['gross_kzt'])}<" in top
    first = films[0]
    coverage = f"{first['cinemas_reporting']}/{first['cinemas_connected']}/{first['cinemas_total']}"
    assert f"{coverage} cinemas reporting/connected/in the registry" in top
    assert first["provisional_reasons"], "the scenario's 1 March is provisional (a cinema failed)"
    for reason in first["provisional_reasons"]:
        assert f">{reason}</span>" in top
    # The headline: the nation's exact gross with separators, and why the day is provisional.
    assert f"{tenge(nation['gross_kzt'])} ₸" in page
    assert "Provisional: " in page and "<b>cinemas_missing</b>" in page


def test_a_closed_day_reads_final_with_its_exclusions_and_a_week_to_date_compares_like_days(report):
    # Issue 21, cases 15 and 16: a day was provisional forever, and a week three days in was compared
    # with a whole week.
    page = (report.folder / f"{FEB29}.html").read_text()
    assert "Final: the day has closed. Its figures exclude: <b>late_sales_not_loaded</b>" in page
    assert "Connected cinemas missing: 0; silent: 0." in page
    assert "vs same 3 days of week before" in _section(page, "week")


def test_the_asset_writes_the_report_and_links_the_day_it_covers(report, tmp_path):
    exports = tmp_path / "exports"
    shutil.copytree(report.folder.parent, exports, ignore=shutil.ignore_patterns("report"))
    result = dg.materialize(
        [box_office_report],
        resources={"exports": ExportsResource(directory=str(exports))},
        partition_key=MAR1.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
    )
    [materialization] = result.asset_materializations_for_node(box_office_report.op.name)
    metadata = materialization.metadata
    assert metadata["index"].value == str(exports / "report" / "index.html")
    assert metadata["page"].value == str(exports / "report" / f"{MAR1}.html")
    assert metadata["day"].value == str(MAR1) and metadata["latest_day"].value == str(MAR2)
    assert metadata["charts"].value == len(CHARTS)
    assert metadata["status"].value.startswith("provisional (")
    assert (exports / "report" / f"{MAR1}.html").exists() and (exports / "report" / "index.html").exists()


def test_the_pages_render_in_chromium_with_every_chart_drawn_and_no_console_error(report, browser, tmp_path):
    for page in (report.index, report.folder / f"{MAR1}.html"):
        rendered = browser.render(page, PROBE)
        assert rendered.problems == [], page.name
        charts = {name: (layers, marks) for name, layers, marks in rendered.values}
        assert set(charts) == CHARTS, page.name
        for name, (layers, marks) in charts.items():
            assert layers > 0 and marks > 0, f"{page.name}: chart {name} was not drawn"
        shot = tmp_path / f"{page.stem}.png"
        shot.write_bytes(rendered.screenshot)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


@pytest.fixture(scope="module")
def live_report(built_scenario, tmp_path_factory):
    """The scenario's exports with the live marts holding 2 March so far (rows put into the built live
    tables, whose schema is the real one)."""
    folder = tmp_path_factory.mktemp("live")
    warehouse = folder / "warehouse.duckdb"
    shutil.copy(built_scenario.warehouse, warehouse)
    con = duckdb.connect(str(warehouse))
    as_of = datetime(2024, 3, 2, 14, 30, tzinfo=UTC)
    con.execute(
        "insert into live.live_today by name select 'national' as scope, ?::date as business_date, "
        "?::timestamptz as as_of, 123456.50 as gross_kzt, 61 as admissions, 9 as sessions_sold, "
        "3 as cinemas_reporting, 4 as cinemas_connected, 4 as cinemas_total, 95 as max_lag_seconds, "
        "true as is_provisional, ['live'] as provisional_reasons",
        [MAR2, as_of],
    )
    con.execute(
        "insert into live.live_films_today by name select ?::date as business_date, "
        "?::timestamptz as as_of, rank_so_far, film_id, title, gross_kzt, 1 as admissions, "
        "true as is_provisional, ['live'] as provisional_reasons "
        "from (values (1, 'F00456', 'Zhuldyz Bauyrym', 100000.50), (2, null, null, 23456.00)) "
        "as t(rank_so_far, film_id, title, gross_kzt)",
        [MAR2, as_of],
    )
    con.close()
    exports = folder / "exports"
    export_marts(warehouse, exports)
    export_marts(warehouse, exports, schema="live")
    return build_report([MAR2], exports=exports, built_at=BUILT_AT)


def test_a_day_the_live_marts_hold_shows_today_so_far_as_provisional(live_report, browser):
    page = live_report.folder / f"{MAR2}.html"
    live = _section(page.read_text(), "live")
    assert "Live as of 02 Mar 19:30 (Asia/Almaty): 3/4/4 cinemas" in live
    assert ">123,456.50 ₸<" in live and ">live</span>" in live
    assert "(session not listed yet)" in live  # sales of a session the live feed has not listed
    rendered = browser.render(page, PROBE)
    assert rendered.problems == []
    charts = {name: (layers, marks) for name, layers, marks in rendered.values}
    assert set(charts) == {*CHARTS, "live"}
    assert charts["live"][0] > 0 and charts["live"][1] == 2


def test_the_report_follows_the_marts_in_the_daily_and_replay_jobs_outside_the_warehouse_pool():
    from ekino_pipeline.definitions import defs

    for job in ("daily_job", "quarantine_replay_job"):
        assert REPORT_KEY in defs.resolve_job_def(job).asset_layer.selected_asset_keys, job
    parents = defs.resolve_asset_graph().get(REPORT_KEY).parent_keys
    assert {key.path[-1] for key in parents} == {*MARTS, "film_forecasts"}
    # It reads the exports only: a report never waits for, nor holds up, a warehouse writer.
    assert box_office_report.op.pool is None


HOSTILE = '<script>alert(1)</script> & "Co"'


@pytest.fixture(scope="module")
def hostile_report(report, tmp_path_factory):
    """The scenario's exports with markup in a film's title, a region's and a cinema's name (the names
    come from cinemas and distributors)."""
    exports = tmp_path_factory.mktemp("hostile")
    shutil.copytree(
        report.folder.parent, exports, ignore=shutil.ignore_patterns("report"), dirs_exist_ok=True
    )
    con = duckdb.connect()
    for mart, column, where in (
        ("film_daily_box_office", "title", "rank_of_day = 1"),
        ("film_weekly_box_office", "title", "chart_rank = 1"),
        ("region_daily", "region_name", "gross_kzt > 0"),
        ("cinema_reporting_status", "cinema_name", "true"),
    ):
        path = exports / f"{mart}.parquet"
        con.execute(
            f"copy (select * replace (case when {where} then $hostile else {column} end as {column}) "
            f"from read_parquet('{path}')) to '{path}.new' (format parquet)",
            {"hostile": HOSTILE},
        )
        (exports / f"{mart}.parquet.new").replace(path)
    con.close()
    return build_report([MAR1], exports=exports, built_at=BUILT_AT)


def test_titles_and_names_are_escaped_in_every_table(hostile_report):
    page = (hostile_report.folder / f"{MAR1}.html").read_text()
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Co&#34;"
    for anchor in ("top", "week", "regions", "cinemas"):
        assert f">{escaped}<" in _section(page, anchor), anchor
    assert "<script>alert" not in page and '"Co"' not in page


def test_titles_with_markup_read_as_text_in_the_browser(hostile_report, browser):
    probe = """[
        document.querySelector('#top table').innerText,
        [...document.querySelectorAll('[data-chart=top] .ytick text')].map(t => t.textContent),
    ]"""
    rendered = browser.render(hostile_report.folder / f"{MAR1}.html", probe)
    assert rendered.problems == []
    table, ticks = rendered.values
    assert HOSTILE in table
    # The charts showed a title's quotes as &quot; (plotly decodes &lt; &gt; &amp; only).
    assert HOSTILE in ticks


@pytest.fixture(scope="module")
def forecast_report(built_scenario, tmp_path_factory):
    """The scenario's exports with a forecast published for each film screened on 2 March."""
    from ekino_pipeline.forecasting.publish import SCHEMA, publish

    exports = tmp_path_factory.mktemp("forecasts")
    export_marts(built_scenario.warehouse, exports)
    day = pd.read_parquet(exports / "film_daily_box_office.parquet")
    day = day[day["business_date"] == MAR2]
    rows = []
    for n, r in enumerate(day.itertuples()):
        so_far = Decimal(r.cumulative_gross_kzt).quantize(Decimal("0.01"))
        rows.append(
            {name: None for name in SCHEMA.names}
            | {
                "film_id": r.film_id,
                "as_of_date": MAR2,
                "title": r.title,
                "days_since_release": 10 + n,
                "gross_to_date_kzt": so_far,
                "predicted_gross_low_kzt": so_far * 2,
                "predicted_gross_kzt": so_far * 3,
                "predicted_gross_high_kzt": so_far * 5,
                # The first film is state-funded: the funding section shows its forecast recoupment.
                "funded_amount_kzt": so_far * 4 if n == 0 else None,
                "predicted_recoupment_rate": Decimal("0.75") if n == 0 else None,
                "model_version": "gbq-test",
                "data_as_of": MAR2,
                "training_cutoff": MAR2,
                "published_at": BUILT_AT,
            }
        )
    publish(exports, pd.DataFrame(rows, columns=SCHEMA.names))
    return build_report([MAR2], exports=exports, built_at=BUILT_AT), len(rows)


def test_the_report_draws_each_leading_films_forecast_band(forecast_report, browser):
    report, n_films = forecast_report
    page = report.folder / f"{MAR2}.html"
    text = page.read_text()
    assert "forecast final, ₸ (80% interval)" in _section(text, "top")
    assert "model gbq-test" in _section(text, "trend")
    funding = _section(text, "funding")
    assert "Funded films still showing on 2024-03-02" in funding and "75.0%" in funding
    rendered = browser.render(
        page,
        """[...document.querySelectorAll('div.chart')].map(c => [
            c.dataset.chart, c.querySelectorAll('g.point').length, c.querySelectorAll('path.point').length,
            c.querySelectorAll('g.errorbar').length,
        ])""",
    )
    assert rendered.problems == []
    charts = {name: marks for name, *marks in rendered.values}
    assert set(charts) == {*CHARTS, "forecast"}
    banded = min(n_films, 5)
    # For each leading film: a bar of its gross so far, a diamond at its forecast, the band around it.
    assert charts["forecast"] == [banded, banded, banded]
