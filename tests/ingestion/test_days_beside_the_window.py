"""The days pulled beside a window: the ticket events of the presale lookback before it and the sessions
of the upcoming days after it, pulled once, without deciding the run."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pyarrow.compute as pc

from ekino_pipeline.calendar import PRESALE_HORIZON_DAYS, daterange
from ekino_pipeline.ingestion import assets as ingestion_assets
from tests.conftest import EkinoHome, start_simulator
from tests.ingestion.helpers import manifests, materialize, read_landed

FIRST, LAST = date(2024, 3, 5), date(2024, 3, 6)
CINEMAS = ["ALA-0001", "SHY-0001"]
PULLS = [ingestion_assets.sessions, ingestion_assets.ticket_events]
BESIDE = {"presale_lookback_days": PRESALE_HORIZON_DAYS, "upcoming_session_days": PRESALE_HORIZON_DAYS}


def _metadata(result: dg.ExecuteInProcessResult, asset) -> dict:
    # A window's run records one materialization per day, each with the run's metadata.
    event = result.asset_materializations_for_node(asset.op.name)[0]
    return {name: value.value for name, value in event.metadata.items()}


def _reconciled(result: dg.ExecuteInProcessResult, dataset: str) -> dict:
    (check,) = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.asset_key == dg.AssetKey(["landing", dataset])
    ]
    return {"passed": check.passed, **{k: v.value for k, v in check.metadata.items()}}


def test_a_backfill_from_scratch_pulls_its_presale_lookback_once_and_a_later_day_pulls_none(
    monkeypatch, pilot_home: EkinoHome
):
    env = pilot_home.env
    lookback = list(daterange(FIRST - timedelta(days=8), FIRST - timedelta(days=1)))
    upcoming = list(daterange(LAST + timedelta(days=1), LAST + timedelta(days=8)))
    backfill = materialize(monkeypatch, env, f"{FIRST}...{LAST}", assets=PULLS, cinemas=CINEMAS, **BESIDE)
    assert backfill.success

    events = _metadata(backfill, ingestion_assets.ticket_events)
    assert events["lookback_days"] == 8
    assert events["lookback_cinema_days_pulled"] == 8 * len(CINEMAS)
    assert events["lookback_failed_cinema_days"] == 0
    pulled_before = {day: manifests(env, "ticket_events", day) for day in lookback}
    assert all(sorted(m) == CINEMAS for m in pulled_before.values())
    assert {m["status"] for day in lookback for m in pulled_before[day].values()} == {"success"}
    assert events["lookback_landed"] == sum(m["landed"] for d in lookback for m in pulled_before[d].values())
    # The window's figures stay the window's: the lookback is reported beside them.
    assert events["landed"] == sum(
        m["landed"] for d in (FIRST, LAST) for m in manifests(env, "ticket_events", d).values()
    )
    assert _reconciled(backfill, "ticket_events") == {
        "passed": True,
        "cinema_days_checked": (2 + 8) * len(CINEMAS),
        "mismatches": 0,
        "details": "none",
    }
    # Ticket events only before the window, sessions only after it.
    assert all(manifests(env, "sessions", day) == {} for day in lookback)
    assert all(manifests(env, "ticket_events", day) == {} for day in upcoming)
    sessions = _metadata(backfill, ingestion_assets.sessions)
    assert sessions["upcoming_cinema_days_pulled"] == 8 * len(CINEMAS)
    assert all(sorted(manifests(env, "sessions", day)) == CINEMAS for day in upcoming)
    # What the lookback is for: sales before the window of the window's first sessions.
    first_sessions = set(read_landed(env, "sessions", FIRST)["session_id"].to_pylist())
    before = read_landed(env, "ticket_events", FIRST - timedelta(days=1))
    presales = before.filter(pc.equal(before["event_type"], "sale"))
    assert first_sessions & set(presales["session_id"].to_pylist())

    later = LAST + timedelta(days=1)
    daily = materialize(monkeypatch, env, later.isoformat(), assets=PULLS, cinemas=CINEMAS, **BESIDE)
    assert daily.success
    assert _metadata(daily, ingestion_assets.ticket_events)["lookback_cinema_days_pulled"] == 0
    # Only the day newly within the horizon: the others were listed by the backfill.
    assert _metadata(daily, ingestion_assets.sessions)["upcoming_cinema_days_pulled"] == len(CINEMAS)
    for day in lookback[1:]:
        after = manifests(env, "ticket_events", day)
        assert {c: m["attempt_id"] for c, m in after.items()} == {
            c: m["attempt_id"] for c, m in pulled_before[day].items()
        }


def test_a_failed_lookback_day_neither_fails_the_run_nor_counts_in_the_window_and_is_pulled_again(
    monkeypatch, tmp_path
):
    down, healthy = CINEMAS
    bad_day = FIRST - timedelta(days=3)
    fault = {"cinema_id": down, "scenario": "outage", "from_date": bad_day, "until_date": bad_day, "times": 1}
    sim, secrets = start_simulator(tmp_path, faults=[fault])
    try:
        home = EkinoHome(tmp_path / "ekino", sim, secrets)
        run = dict(
            assets=[ingestion_assets.ticket_events],
            cinemas=CINEMAS,
            max_failed_share=0.0,  # any failure of the window would fail the run
            max_attempts=1,
            presale_lookback_days=8,
            exchange_overrides={"retries": 0},
        )
        first = materialize(monkeypatch, home.env, FIRST.isoformat(), **run)
        assert first.success
        metadata = _metadata(first, ingestion_assets.ticket_events)
        assert metadata["failed_cinema_days"] == 0
        assert metadata["lookback_cinema_days_pulled"] == 16
        assert metadata["lookback_failed_cinema_days"] == 1
        assert f"{down} {bad_day}" in metadata["lookback_failures"]
        table = {r.data["cinema_id"]: r.data for r in metadata["cinemas"].records}
        assert table[down]["error"] == ""  # the window's table knows only the window
        assert manifests(home.env, "ticket_events", bad_day)[down]["status"] == "failed"

        # The next day's run pulls the one lookback cinema-day that never succeeded, and no other.
        second = materialize(monkeypatch, home.env, (FIRST + timedelta(days=1)).isoformat(), **run)
        assert second.success
        assert _metadata(second, ingestion_assets.ticket_events)["lookback_cinema_days_pulled"] == 1
        repaired = manifests(home.env, "ticket_events", bad_day)[down]
        assert repaired["status"] == "success"
        assert repaired["landed"] == sim.network.truth(down, bad_day)["ticket_events"]["valid_unique"] > 0
        assert manifests(home.env, "ticket_events", bad_day)[healthy]["run_id"] == first.run_id
    finally:
        sim.stop()
