"""The live mode end to end: real simulator on a controlled clock, real Dagster runs, real DuckDB file.

Ticks land increments, the loader appends them, dbt builds the live marts and they are exported; the
figures equal what the exchange served so far, a cinema whose feed stops shows a growing lag, and the
daily run of the day after it closed equals the exchange with no live batch counted twice.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from ekino_pipeline.calendar import BUSINESS_TZ
from ekino_pipeline.definitions import build_resources
from ekino_pipeline.ingestion import assets as ingestion_assets
from ekino_pipeline.ingestion import loading
from ekino_pipeline.live import assets as live_assets
from ekino_pipeline.live import dbt as live_transformation
from ekino_pipeline.settings import Settings
from ekino_pipeline.transformation.project import dbt_project
from ekino_sim.network import SimulatedClock
from ekino_sim.server import SimulatorServer
from tests.conftest import ConnectionsSeen

DAY = date(2025, 6, 14)  # a Saturday
EVENING = datetime(2025, 6, 14, 14, 0, tzinfo=UTC)  # 19:00 in Almaty
N_CINEMAS = 8
LIVE_ASSETS = [*live_assets.ASSETS, *live_transformation.ASSETS]

pytestmark = pytest.mark.slow


class Wall:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def live_home(tmp_path_factory):
    """A small network on a clock the test moves, and a home whose live job has ticked twice, five
    minutes apart, the second time with one cinema's feed stopped (its token gone)."""
    root = tmp_path_factory.mktemp("live")
    wall = Wall()
    clock = SimulatedClock(rate=1, start=EVENING, wall=wall)
    secrets = root / "secrets.json"
    sim = SimulatorServer(
        seed=7, n_cinemas=N_CINEMAS, secrets_file=secrets, registry_dir=root / "registry", clock=clock
    )
    sim.start()
    env = {
        "EKINO_HOME": str(root / "ekino"),
        "EKINO_EXCHANGE_BASE_URL": sim.url,
        "EKINO_SECRETS_FILE": str(secrets),
        "EKINO_REGISTRY_DIR": str(root / "registry"),
        "EKINO_START_DATE": "2025-06-01",
    }
    mp = pytest.MonkeyPatch()
    for name, value in env.items():
        mp.setenv(name, value)
    connections = ConnectionsSeen(mp, live_assets)
    settings = Settings.from_env()
    resources = build_resources(settings)
    connected = sorted(sim.tokens)
    stopped = connected[0]
    ticks = []
    for n, minute in enumerate((0, 5)):
        wall.t = minute * 60
        if n == 1:  # the cinema's feed stops: its token is withdrawn
            secrets.write_text(json.dumps({c: t for c, t in sim.tokens.items() if c != stopped}))
        as_of = clock.now()
        config = {"as_of": as_of.isoformat()}
        clients_before = len(connections.given)
        result = dg.materialize(
            LIVE_ASSETS,
            resources=resources,
            run_config={
                "ops": {
                    "landing__live_ticket_events": {"config": config},
                    "live_raw_tables": {"config": config},
                }
            },
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
        assert result.success
        ticks.append(
            {
                "as_of": as_of,
                "national": _national(settings),
                "cinemas": {
                    r["cinema_id"]: r
                    for r in pq.read_table(settings.exports_dir / "live_cinemas_today.parquet").to_pylist()
                },
                "truth": {c: sim.truth(c, DAY)["ticket_events"] for c in connected},
                "clients_connections": connections.given[clients_before:],
                "materialized": {
                    m.asset_key.path[-1]: m.materialization.metadata
                    for m in result.get_asset_materialization_events()
                },
            }
        )
    yield {
        "sim": sim,
        "wall": wall,
        "settings": settings,
        "resources": resources,
        "ticks": ticks,
        "stopped": stopped,
        "connected": connected,
        "env": env,
        "connections": connections,
    }
    mp.undo()
    sim.stop()


def _national(settings: Settings) -> dict:
    rows = pq.read_table(settings.exports_dir / "live_today.parquet").to_pylist()
    return next(r for r in rows if r["scope"] == "national")


def test_the_live_marts_equal_what_the_exchange_served_so_far(live_home):
    first = live_home["ticks"][0]
    national = first["national"]
    assert national["business_date"] == DAY
    assert national["gross_kzt"] == sum(Decimal(t["gross_kzt"]) for t in first["truth"].values())
    assert national["sales"] == sum(t["sales"] for t in first["truth"].values())
    assert national["cinemas_reporting"] == national["cinemas_connected"] == len(live_home["connected"])
    assert national["cinemas_total"] == N_CINEMAS
    assert national["is_provisional"] and national["provisional_reasons"] == ["live"]


def test_the_live_marts_materializations_carry_their_rows_and_the_preview_in_almaty_time(live_home):
    first = live_home["ticks"][0]
    today = first["materialized"]["live_today"]
    assert (
        today["dagster/row_count"].value
        == pq.read_metadata(live_home["settings"].exports_dir / "live_today.parquet").num_rows
    )
    as_of = first["as_of"].astimezone(BUSINESS_TZ)
    assert f"live as of {as_of:%Y-%m-%d %H:%M} +05**" in today["live_today"].value
    assert f"{first['national']['gross_kzt']:,} KZT" in today["live_today"].value


def test_each_tick_run_alone_pulls_its_cinemas_over_connections_of_its_own_closed_when_it_ends(live_home):
    given = [tick["clients_connections"] for tick in live_home["ticks"]]
    # Both ticks created clients (events and sessions), none of them on connections of its own.
    assert all(given) and None not in given[0] + given[1]
    assert [{id(c) for c in tick} for tick in given] == [{id(given[0][0])}, {id(given[1][0])}]
    assert given[0][0] is not given[1][0] and live_home["connections"].closed == [given[0][0], given[1][0]]


def test_a_cinema_whose_feed_stops_shows_a_growing_lag(live_home):
    stopped = live_home["stopped"]
    before, later = (t["cinemas"][stopped] for t in live_home["ticks"])
    assert before["live_status"] == "reporting" and before["feed_lag_seconds"] == 0
    assert later["live_status"] == "failing" and "no token" in later["last_error"]
    assert later["feed_lag_seconds"] == 300
    assert later["lag_seconds"] == before["lag_seconds"] + 300
    others = [c for c in live_home["connected"] if c != stopped]
    assert all(live_home["ticks"][-1]["cinemas"][c]["live_status"] == "reporting" for c in others)
    national = live_home["ticks"][-1]["national"]
    assert national["cinemas_reporting"] == national["cinemas_connected"] - 1
    assert "cinemas_missing" in national["provisional_reasons"]


def test_the_stopped_cinema_keeps_what_it_reported_and_the_others_go_on(live_home):
    last = live_home["ticks"][-1]
    stopped = live_home["stopped"]
    others = [c for c in live_home["connected"] if c != stopped]
    expected = sum(Decimal(last["truth"][c]["gross_kzt"]) for c in others)
    expected += Decimal(live_home["ticks"][0]["truth"][stopped]["gross_kzt"])
    assert last["national"]["gross_kzt"] == expected


def test_the_films_ranked_so_far_hold_the_national_gross(live_home):
    films = pq.read_table(live_home["settings"].exports_dir / "live_films_today.parquet").to_pylist()
    assert sum(f["gross_kzt"] for f in films) == live_home["ticks"][-1]["national"]["gross_kzt"]
    ranked = sorted(films, key=lambda f: f["rank_so_far"])
    assert ranked[0]["rank_so_far"] == 1 and ranked[0]["film_id"] is not None
    assert all(f["is_provisional"] for f in films)


def test_the_daily_run_after_the_day_closes_equals_the_exchange_with_no_duplicate(live_home):
    sim, wall, settings = live_home["sim"], live_home["wall"], live_home["settings"]
    sim.secrets_file.write_text(json.dumps(sim.tokens))
    wall.t = 12 * 3600  # the simulated clock is now past the day's end
    result = dg.materialize(
        [*ingestion_assets.ASSETS, loading.raw_tables],
        partition_key=DAY.isoformat(),
        resources=live_home["resources"],
        run_config={
            "ops": {
                op: {"config": {"presale_lookback_days": 0, "upcoming_session_days": 0}}
                for op in ("landing__sessions", "landing__ticket_events")
            }
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert result.success
    truths = [sim.truth(c, DAY)["ticket_events"] for c in live_home["connected"]]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        n, unique, gross = con.execute(
            "select count(*), count(distinct event_id), "
            "sum(case when event_type = 'sale' then amount_kzt else -amount_kzt end) "
            "from raw.ticket_events where business_date = ?",
            [DAY],
        ).fetchone()
        daily_attempts = {
            b for (b,) in con.execute("select distinct attempt_id from raw.ticket_events").fetchall()
        }
    with duckdb.connect(str(settings.live_path), read_only=True) as con:
        live_batches = {
            b for (b,) in con.execute("select distinct attempt_id from raw.live_ticket_events").fetchall()
        }
    assert n == unique == sum(t["valid_unique"] for t in truths)
    assert gross == sum(Decimal(t["gross_kzt"]) for t in truths)
    assert live_batches and live_batches.isdisjoint(daily_attempts)


def test_no_daily_model_reads_the_live_tables():
    manifest = json.loads(dbt_project.manifest_path.read_text())
    live_sources = {k for k, s in manifest["sources"].items() if s["name"].startswith("live_")}
    readers = {
        node["name"]
        for node in manifest["nodes"].values()
        if set(node.get("depends_on", {}).get("nodes", [])) & live_sources
    }
    assert readers, "the live models read the live sources"
    for name in readers:
        node = next(n for n in manifest["nodes"].values() if n["name"] == name)
        assert "live" in node["tags"], f"{name} reads the live tables but is not a live model"


def test_every_live_table_column_is_described_and_every_description_is_a_column(live_home):
    manifest = json.loads(dbt_project.manifest_path.read_text())
    documented = {
        n["name"]: set(n["columns"])
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and "live" in n["tags"]
    }
    with duckdb.connect(str(live_home["settings"].live_path), read_only=True) as con:
        built = {}
        for table, column in con.execute(
            "select table_name, column_name from duckdb_columns() where schema_name = 'live'"
        ).fetchall():
            built.setdefault(table, set()).add(column)
    assert set(built) == set(documented)
    for table, columns in built.items():
        assert columns == documented[table], table
