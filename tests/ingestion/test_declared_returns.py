"""The declared-returns asset and its loader, materialized for real against the simulator over HTTP."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import dagster as dg
import duckdb

from ekino_pipeline.definitions import build_resources
from ekino_pipeline.display import ERROR_CELL_CHARS
from ekino_pipeline.ingestion.declared_returns import declared_returns
from ekino_pipeline.ingestion.loading import raw_declared_returns
from ekino_pipeline.settings import Settings
from ekino_sim import faults as F
from tests.conftest import EkinoHome, start_simulator
from tests.ingestion.helpers import manifests, read_landed

WEEK = date(2024, 3, 7)
CINEMAS = ["ALA-0001", "ALA-0002", "ALA-0004", "ALA-0007", "ALA-0008"]
DOWN, UNDER, BROKEN = "ALA-0004", "ALA-0007", "ALA-0008"


def run_week(monkeypatch, env: dict[str, str], week: date = WEEK) -> dg.ExecuteInProcessResult:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    resources = build_resources(Settings.from_env(), retries=1, backoff_factor=0.01)
    return dg.materialize(
        [declared_returns, raw_declared_returns],
        partition_key=week.isoformat(),
        resources=resources,
        run_config={"ops": {declared_returns.op.name: {"config": {"cinemas": CINEMAS}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_each_film_week_of_a_run_over_several_carries_its_own_figures(monkeypatch, tmp_path):
    sim, secrets = start_simulator(tmp_path)
    try:
        home = EkinoHome(tmp_path / "ekino", sim, secrets)
        for name, value in home.env.items():
            monkeypatch.setenv(name, value)
        weeks = [WEEK, date(2024, 3, 14)]
        result = dg.materialize(
            [declared_returns],
            resources=build_resources(Settings.from_env()),
            run_config={"ops": {declared_returns.op.name: {"config": {"cinemas": CINEMAS[:2]}}}},
            instance=dg.DagsterInstance.ephemeral(),
            tags={
                "dagster/asset_partition_range_start": weeks[0].isoformat(),
                "dagster/asset_partition_range_end": weeks[-1].isoformat(),
            },
        )
        by_week = {
            m.partition: m.metadata for m in result.asset_materializations_for_node(declared_returns.op.name)
        }
        assert sorted(by_week) == [w.isoformat() for w in weeks]
        for week in weeks:
            landed = manifests(home.env, "declared_returns", week).values()
            figures = by_week[week.isoformat()]
            assert figures["dagster/partition_row_count"].value == sum(m["landed"] for m in landed) > 0
            assert figures["declared_gross_kzt"].value == f"{sum(Decimal(m['gross_kzt']) for m in landed):,}"
        assert by_week[WEEK.isoformat()]["declared_gross_kzt"] != by_week["2024-03-14"]["declared_gross_kzt"]
    finally:
        sim.stop()


def test_a_film_week_lands_every_cinema_quarantines_broken_returns_and_a_cinema_that_is_down_fails_alone(
    monkeypatch, tmp_path
):
    faults = [
        {"cinema_id": DOWN, "scenario": F.OUTAGE, "from_date": "2024-03-07", "until_date": "2024-03-13"},
        {"cinema_id": UNDER, "scenario": F.MISDECLARED_RETURNS, "factor": 0.8},
        {"cinema_id": BROKEN, "scenario": F.WRONG_TYPES, "records": "returns", "rate": 0.3},
    ]
    sim, secrets = start_simulator(tmp_path, faults)
    try:
        home = EkinoHome(tmp_path / "ekino", sim, secrets)
        result = run_week(monkeypatch, home.env)
        assert result.success  # one cinema of five is under the failed share
        landed = manifests(home.env, "declared_returns", WEEK)
        assert sorted(landed) == CINEMAS
        assert landed[DOWN]["status"] == "failed" and "HTTP 503" in landed[DOWN]["error"]
        # The table's error cell is the cause on one short line; the manifest keeps the whole text.
        [event] = result.asset_materializations_for_node(declared_returns.op.name)
        cells = {r.data["cinema_id"]: r.data for r in event.metadata["cinemas"].value.records}
        assert "HTTP 503 maintenance" in cells[DOWN]["error"] and " GET /v1/" not in cells[DOWN]["error"]
        assert len(cells[DOWN]["error"]) <= ERROR_CELL_CHARS < len(landed[DOWN]["error"])
        assert cells[UNDER]["error"] == "" and cells[UNDER]["declared_gross_kzt"] == (
            f"{Decimal(landed[UNDER]['gross_kzt']):,}"
        )
        for cinema_id in set(CINEMAS) - {DOWN, BROKEN}:
            truth = sim.network.declared_returns(cinema_id, WEEK)
            manifest = landed[cinema_id]
            assert manifest["status"] == "success"
            assert manifest["served"] == manifest["landed"] == len(truth) > 0
            assert Decimal(manifest["gross_kzt"]) == sum(Decimal(r["gross_kzt"]) for r in truth)
        broken = landed[BROKEN]
        assert broken["status"] == "success" and broken["quarantined"] > 0 and broken["landed"] > 0
        assert broken["served"] == broken["landed"] + broken["quarantined"]
        table = read_landed(home.env, "declared_returns", WEEK)
        assert set(table["film_week_start"].to_pylist()) == {WEEK}
        check = next(e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION")
        assert check.asset_check_evaluation_data.passed

        with duckdb.connect(str(Settings.from_env(home.env).warehouse_path), read_only=True) as con:
            loaded = dict(
                con.execute(
                    "select cinema_id, count(*) from raw.declared_returns where business_date = ? group by 1",
                    [WEEK],
                ).fetchall()
            )
            statuses = dict(
                con.execute("select cinema_id, status from raw.declared_returns_manifests").fetchall()
            )
            quarantined = con.execute(
                "select cinema_id, count(*) from raw.declared_returns_quarantine group by 1"
            ).fetchall()
        assert loaded == {c: landed[c]["landed"] for c in CINEMAS if c != DOWN}
        assert statuses == {c: landed[c]["status"] for c in CINEMAS}
        assert quarantined == [(BROKEN, broken["quarantined"])]

        # Loading the week again replaces it: nothing doubles.
        assert run_week(monkeypatch, home.env).success
        with duckdb.connect(str(Settings.from_env(home.env).warehouse_path), read_only=True) as con:
            again = con.execute("select count(*) from raw.declared_returns").fetchone()[0]
        assert again == sum(loaded.values())
    finally:
        sim.stop()
