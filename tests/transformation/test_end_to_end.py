"""Simulator -> ingestion -> raw tables -> dbt, through Dagster over HTTP: the marts equal an independent
computation over the landed events to the tenge, the simulator's anomaly scenarios appear (and nothing
else does), and a late refund moves its session's day with the earlier figure kept."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import dagster as dg
import pytest

from ekino_pipeline.calendar import BUSINESS_TZ, PRESALE_HORIZON_DAYS, daterange
from ekino_pipeline.definitions import build_resources
from ekino_pipeline.exchange.registry import load_registry
from ekino_pipeline.ingestion import assets as ingestion_assets
from ekino_pipeline.ingestion.loading import raw_tables
from ekino_pipeline.settings import Settings
from ekino_pipeline.transformation.assets import ekino_dbt_models
from ekino_sim import SAMPLE_REGISTRY_DIR
from tests.conftest import EkinoHome, start_simulator
from tests.ingestion.helpers import EXCHANGE_ASSETS, manifests, read_landed
from tests.transformation.box_office import box_office, by_film_day
from tests.transformation.dbt_helpers import mart, query

pytestmark = pytest.mark.slow

FAULTY, CLEAN = "ALA-0001", "SHY-0001"
DAY = date(2024, 3, 12)  # the faulty cinema's bad day; eight days of history before it
FIRST, LAST = DAY - timedelta(days=8), DAY + timedelta(days=2)
EVE = DAY - timedelta(days=1)
LATE_REFUNDS = DAY + timedelta(days=1)  # refunds of earlier presales arrive this day, after 10:00
CONTENT_FAULTS = ("oversold_session", "double_sold_seat", "late_sale", "orphan_refund")
FOUND_AS = {
    "oversold_session": "oversold_session",
    "double_sold_seat": "seat_sold_twice",
    "late_sale": "late_sale",
    "orphan_refund": "refund_without_sale",
}
FIGURES = ("gross_kzt", "sales_kzt", "refunds_kzt", "admissions")


def _run(monkeypatch, home: EkinoHome, first: date, last: date) -> dg.ExecuteInProcessResult:
    """Ingestion, loading and dbt over [first, last] as one single-run backfill."""
    for name, value in home.env.items():
        monkeypatch.setenv(name, value)
    config = {"config": {"cinemas": [FAULTY, CLEAN]}}
    result = dg.materialize(
        [*EXCHANGE_ASSETS, raw_tables, ekino_dbt_models],
        resources=build_resources(Settings.from_env()),
        run_config={
            "ops": {a.op.name: config for a in (ingestion_assets.sessions, ingestion_assets.ticket_events)}
        },
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
        raise_on_error=False,
    )
    assert result.success
    return result


def _landed(home: EkinoHome) -> tuple[list[dict], list[dict]]:
    """The window's sessions, and the ticket events of the window and of its presale lookback (the
    backfill pulls them so that its first days are complete)."""
    events, sessions = [], []
    for day in daterange(FIRST - timedelta(days=PRESALE_HORIZON_DAYS), LAST):
        for dataset, rows in (("ticket_events", events), ("sessions", sessions)):
            if dataset == "sessions" and day < FIRST:
                continue
            table = read_landed(home.env, dataset, day)
            rows.extend(table.to_pylist() if table is not None else [])
    return events, sessions


def _assert_marts_equal_the_landed_events(home: EkinoHome) -> None:
    warehouse = Settings.from_env(home.env).warehouse_path
    events, sessions = _landed(home)
    expected = box_office(events, sessions, by_film_day)
    films = {(r["film_id"], r["business_date"]): r for r in mart(warehouse, "film_daily_box_office", "1, 2")}
    assert films.keys() == expected.keys()
    for key, figures in expected.items():
        assert {f: films[key][f] for f in FIGURES} == figures, key

    region_of = {
        c.cinema_id: c.region_code for c in load_registry(Settings.from_env(home.env).registry_dir).cinemas
    }
    by_region = box_office(events, sessions, lambda s: (region_of[s["cinema_id"]], s["business_date"]))
    regions = {(r["region_code"], r["business_date"]): r for r in mart(warehouse, "region_daily", "1, 2")}
    for key, figures in by_region.items():
        assert {f: regions[key][f] for f in FIGURES} == figures, key
    # Regions with no connected cinema have no figure (null), not zero.
    assert sum(r["gross_kzt"] or 0 for r in regions.values()) == sum(
        v["gross_kzt"] for v in by_region.values()
    )
    assert sum(v["gross_kzt"] for v in expected.values()) > Decimal("1000000.00")  # a real span, not zeros


@pytest.fixture(scope="module")
def faulty_network(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    faults = [
        {"cinema_id": FAULTY, "scenario": s, "from_date": DAY, "until_date": DAY} for s in CONTENT_FAULTS
    ]
    faults += [
        # The day before, so that no ticket of the oversold screening loses its session.
        {
            "cinema_id": FAULTY,
            "scenario": "unknown_session",
            "from_date": EVE,
            "until_date": EVE,
            "rate": 0.05,
        },
        {"cinema_id": FAULTY, "scenario": "late_refund", "from_date": LATE_REFUNDS, "rate": 0.5},
    ]
    # The clock stands at 09:00 on the day the late refunds come: they have not happened yet.
    now = datetime.combine(LATE_REFUNDS, time(9), tzinfo=BUSINESS_TZ)
    sim, secrets = start_simulator(tmp, faults=faults, now=now)
    try:
        yield EkinoHome(tmp / "ekino", sim, secrets)
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def first_build(faulty_network):
    with pytest.MonkeyPatch.context() as monkeypatch:
        result = _run(monkeypatch, faulty_network, FIRST, LAST)
    warehouse = Settings.from_env(faulty_network.env).warehouse_path
    # One materialization per partition of the range, each with the run's metadata and its day's own.
    materialized = {
        (m.asset_key.to_user_string(), m.partition): m.materialization.metadata
        for m in result.get_asset_materialization_events()
    }
    return {
        "materialized": materialized,
        "landing_metadata": materialized[("landing/ticket_events", LAST.isoformat())],
        "anomalies": mart(warehouse, "anomalies", "anomaly_id"),
        "film_days": {
            (r["film_id"], r["business_date"]): r for r in mart(warehouse, "film_daily_box_office", "1, 2")
        },
    }


def test_the_marts_equal_an_independent_computation_over_the_landed_events(faulty_network, first_build):
    _assert_marts_equal_the_landed_events(faulty_network)


def test_the_simulators_anomaly_scenarios_appear_and_clean_days_raise_none(faulty_network, first_build):
    anomalies = first_build["anomalies"]
    assert {a["cinema_id"] for a in anomalies} == {FAULTY}, [a for a in anomalies if a["cinema_id"] != FAULTY]
    # Unknown sessions are found on the day each claims; every other finding belongs to the bad day.
    unknown = [a for a in anomalies if a["anomaly_type"] == "unknown_session"]
    assert unknown and all(a["occurred_at"].astimezone(BUSINESS_TZ).date() == EVE for a in unknown)
    found = [a for a in anomalies if a["anomaly_type"] != "unknown_session"]
    assert {a["anomaly_type"] for a in found} == {FOUND_AS[s] for s in CONTENT_FAULTS}
    assert all(a["business_date"] == DAY for a in found)


def test_coverage_is_the_same_number_in_the_landing_asset_and_the_marts(faulty_network, first_build):
    warehouse = Settings.from_env(faulty_network.env).warehouse_path
    [nation] = query(warehouse, "select * from marts.national_daily where business_date = ?", LAST)
    [film_day] = query(
        warehouse, "select * from marts.film_daily_box_office where business_date = ? limit 1", LAST
    )
    metadata = first_build["landing_metadata"]
    landed = (metadata["cinemas_reporting"].value, metadata["cinemas_connected"].value)
    assert landed == (nation["cinemas_reporting"], nation["cinemas_connected"])
    assert landed == (film_day["cinemas_reporting"], film_day["cinemas_connected"])
    # The simulator's clock stands before the last day: the two cinemas pulled have its sessions
    # scheduled and nothing sold (silent); the other connected cinemas were not pulled.
    assert metadata["cinema_states"].value == {"not_pulled": 66, "silent": 2} and landed[0] == 0
    # The day has closed (final), and says what it leaves out and how much.
    assert {"cinemas_missing", "cinemas_silent"} <= set(nation["exclusions"])
    assert (nation["n_cinemas_missing"], nation["n_cinemas_silent"]) == (66, 2)


def test_each_partition_of_a_run_over_many_days_carries_its_own_days_figures(faulty_network, first_build):
    # A single-run backfill gave every partition the whole window's figures.
    warehouse = Settings.from_env(faulty_network.env).warehouse_path
    materialized = first_build["materialized"]
    nation = {r["business_date"]: r for r in mart(warehouse, "national_daily", "business_date")}
    for day in daterange(FIRST, LAST):
        national = materialized[("marts/national_daily", day.isoformat())]
        row = nation[day]
        assert national["gross_kzt"].value == f"{row['gross_kzt']:,}"
        assert national["admissions"].value == row["admissions"]
        assert national["cinemas_reporting"].value == row["cinemas_reporting"]
        assert national["dagster/partition_row_count"].value == 1
        films = materialized[("marts/film_daily_box_office", day.isoformat())]
        assert films["dagster/partition_row_count"].value == sum(
            d == day for _, d in first_build["film_days"]
        )
        assert films["top_films"].value.startswith(f"**{day}**")
        assert films["coverage"].value.startswith(f"{day}: {row['cinemas_reporting']:,} reporting")
        events = materialized[("landing/ticket_events", day.isoformat())]
        pulled = manifests(faulty_network.env, "ticket_events", day).values()
        assert events["gross_kzt"].value == f"{sum(Decimal(m['gross_kzt']) for m in pulled):,}"
        assert events["dagster/partition_row_count"].value == sum(m["landed"] for m in pulled)
        assert events["coverage"].value.startswith(f"{day}: {events['cinemas_reporting'].value} reporting")
    assert (
        len({materialized[("marts/national_daily", d.isoformat())]["gross_kzt"].value for d in (EVE, DAY)})
        == 2
    )
    assert all(
        materialized[("marts/national_daily", d.isoformat())]["dagster/row_count"].value == len(nation)
        for d in (FIRST, LAST)
    )


def test_every_mart_has_its_parquet_export(faulty_network, first_build):
    exports = Settings.from_env(faulty_network.env).exports_dir
    warehouse = Settings.from_env(faulty_network.env).warehouse_path
    marts = {
        r["table_name"]
        for r in query(warehouse, "select table_name from duckdb_tables() where schema_name = 'marts'")
    }
    assert {p.stem for p in exports.glob("*.parquet")} == marts
    assert (exports / "warehouse.duckdb").is_file()


def test_a_late_refund_moves_its_session_day_and_the_earlier_figure_is_kept(
    monkeypatch, faulty_network, first_build
):
    # The rest of the day arrives: the hourly refresh pulls that business day again.
    faulty_network.simulator.network.now = None
    _run(monkeypatch, faulty_network, LATE_REFUNDS, LATE_REFUNDS)
    warehouse = Settings.from_env(faulty_network.env).warehouse_path

    late = query(
        warehouse,
        "select e.session_id, e.amount_kzt from raw.ticket_events as e "
        "inner join raw.sessions as s on e.session_id = s.session_id "
        "where e.event_type = 'refund' and e.business_date = ? and s.business_date > ?",
        LATE_REFUNDS,
        LATE_REFUNDS,
    )
    assert late, "the late refunds for later screenings landed"
    after = {(r["film_id"], r["business_date"]): r for r in mart(warehouse, "film_daily_box_office", "1, 2")}
    moved = [
        k
        for k, row in after.items()
        if row["refunds_kzt"] > first_build["film_days"].get(k, row)["refunds_kzt"]
    ]
    # Refunds of that day's own screenings come in too; the late ones move the later screenings' days.
    film_id, day = next(key for key in moved if key[1] > LATE_REFUNDS)
    revisions = query(
        warehouse,
        "select gross_kzt, refunds_kzt from revisions.film_daily_box_office_revisions "
        "where film_id = ? and business_date = ? order by dbt_valid_from",
        film_id,
        day,
    )
    before, now = first_build["film_days"][(film_id, day)], after[(film_id, day)]
    assert revisions == [
        {"gross_kzt": before["gross_kzt"], "refunds_kzt": before["refunds_kzt"]},
        {"gross_kzt": now["gross_kzt"], "refunds_kzt": now["refunds_kzt"]},
    ]
    _assert_marts_equal_the_landed_events(faulty_network)


def test_lifetimes_count_reported_weeks_before_tracking_once_and_list_the_weeks_tracking_superseded(
    faulty_network, first_build
):
    warehouse = Settings.from_env(faulty_network.env).warehouse_path
    first_tracked: dict[str, date] = {}
    for film_id, day in first_build["film_days"]:
        first_tracked[film_id] = min(day, first_tracked.get(film_id, day))
    performance = {r["film_id"]: r for r in mart(warehouse, "film_performance", "film_id")}
    history = load_registry(SAMPLE_REGISTRY_DIR).history
    superseded = set()
    for film_id, first in first_tracked.items():
        periods = [r for r in history if r.film_id == film_id]
        film = performance[film_id]
        assert film["reported_gross_kzt"] == sum(r.gross_kzt for r in periods if r.period_end < first)
        assert film["lifetime_gross_kzt"] == film["reported_gross_kzt"] + film["gross_kzt"]
        superseded |= {(film_id, r.period_start) for r in periods if r.period_end >= first}
    # The simulator screens films whose distributors' weeks reach into the tracked days.
    assert superseded
    overlaps = mart(warehouse, "history_overlaps", "film_id, period_start")
    assert {(r["film_id"], r["period_start"]) for r in overlaps} == superseded
    assert all(
        r["gross_difference_kzt"] == r["reported_gross_kzt"] - r["tracked_gross_kzt"] for r in overlaps
    )
