"""Ingestion assets materialized for real against the simulator over HTTP."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from decimal import Decimal

import dagster as dg
import pyarrow.compute as pc
import pytest

from ekino_pipeline.calendar import business_date_of
from ekino_pipeline.exchange.registry import load_registry
from ekino_pipeline.ingestion import assets as ingestion_assets
from ekino_sim import SAMPLE_REGISTRY_DIR
from tests.conftest import EkinoHome, start_simulator
from tests.ingestion.helpers import manifests, materialize, read_landed

DAY = date(2024, 3, 5)


def _check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.asset_key.to_user_string(): e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_a_pilot_day_lands_every_connected_cinema_and_reconciles_with_what_was_served(
    monkeypatch, pilot_home: EkinoHome
):
    result = materialize(monkeypatch, pilot_home.env, DAY.isoformat())
    assert result.success
    assert all(_check_results(result).values()) and len(_check_results(result)) == 2

    sim = pilot_home.simulator
    connected = [c.cinema_id for c in sim.registry.connected_cinemas]
    events = manifests(pilot_home.env, "ticket_events", DAY)
    assert sorted(events) == sorted(connected)
    landed = read_landed(pilot_home.env, "ticket_events", DAY)
    assert landed.num_rows == sum(m["landed"] for m in events.values())
    assert len(pc.unique(landed["event_id"])) == landed.num_rows
    for cinema_id, manifest in events.items():
        truth = sim.network.truth(cinema_id, DAY)["ticket_events"]
        assert manifest["status"] == "success"
        assert manifest["served"] == truth["served"]
        assert manifest["landed"] == truth["valid_unique"]
        assert Decimal(manifest["gross_kzt"]) == Decimal(truth["gross_kzt"])
    sessions = manifests(pilot_home.env, "sessions", DAY)
    for cinema_id, manifest in sessions.items():
        assert manifest["landed"] == sim.network.truth(cinema_id, DAY)["sessions"]["served"]

    materialization = next(
        e.materialization
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.materialization.asset_key == dg.AssetKey(["landing", "ticket_events"])
    )
    metadata = materialization.metadata
    assert metadata["cinemas_connected"].value == 68
    assert metadata["cinemas_total"].value == 103
    assert metadata["cinemas_reporting"].value == 68
    assert len(metadata["cinemas"].value.records) == 68


def test_re_materializing_a_day_replaces_it_without_duplicates(monkeypatch, pilot_home: EkinoHome):
    cinemas = ["ALA-0001", "AST-0003"]
    first = materialize(monkeypatch, pilot_home.env, DAY.isoformat(), cinemas=cinemas)
    again = materialize(monkeypatch, pilot_home.env, DAY.isoformat(), cinemas=cinemas)
    assert first.success and again.success
    landed = read_landed(pilot_home.env, "ticket_events", DAY)
    assert len(pc.unique(landed["event_id"])) == landed.num_rows
    assert landed.num_rows == sum(
        pilot_home.simulator.network.truth(c, DAY)["ticket_events"]["valid_unique"] for c in cinemas
    )
    # Only the committed attempt's files remain in each cinema-day folder: its data file (a clean day
    # quarantines nothing and has no quarantine file) and the manifest naming it.
    committed = manifests(pilot_home.env, "ticket_events", DAY)
    for cinema_id in cinemas:
        folder = (
            pilot_home.home / "landing" / "ticket_events" / f"business_date={DAY}" / f"cinema_id={cinema_id}"
        )
        assert committed[cinema_id]["files"] == {"data": f"data-{committed[cinema_id]['attempt_id']}.parquet"}
        assert sorted(p.name for p in folder.iterdir()) == [
            "_manifest.json",
            committed[cinema_id]["files"]["data"],
        ]


def test_a_re_pull_of_named_cinemas_leaves_the_rest_of_the_day_untouched(monkeypatch, pilot_home: EkinoHome):
    assert materialize(monkeypatch, pilot_home.env, DAY.isoformat(), cinemas=["ALA-0001", "ALA-0002"]).success
    before = manifests(pilot_home.env, "ticket_events", DAY)
    assert materialize(monkeypatch, pilot_home.env, DAY.isoformat(), cinemas=["ALA-0002"]).success
    after = manifests(pilot_home.env, "ticket_events", DAY)
    assert after["ALA-0001"]["attempt_id"] == before["ALA-0001"]["attempt_id"]
    assert after["ALA-0002"]["attempt_id"] != before["ALA-0002"]["attempt_id"]


def test_a_cinema_that_is_not_connected_cannot_be_pulled_by_name(monkeypatch, pilot_home: EkinoHome):
    not_connected = next(c.cinema_id for c in pilot_home.simulator.registry.cinemas if not c.connected)
    result = materialize(monkeypatch, pilot_home.env, DAY.isoformat(), cinemas=[not_connected])
    assert not result.success


def test_the_25_hour_business_day_of_2024_02_29_loses_and_duplicates_nothing(
    monkeypatch, pilot_home: EkinoHome
):
    day = date(2024, 2, 29)
    cinemas = ["ALA-0001", "AKT-0001"]  # Aktobe ran on UTC+5 while Almaty ran on UTC+6
    result = materialize(monkeypatch, pilot_home.env, day.isoformat(), cinemas=cinemas)
    assert result.success
    landed = read_landed(pilot_home.env, "ticket_events", day)
    sim = pilot_home.simulator
    assert landed.num_rows == sum(sim.network.truth(c, day)["ticket_events"]["valid_unique"] for c in cinemas)
    assert len(pc.unique(landed["event_id"])) == landed.num_rows
    occurred = landed["occurred_at"].to_pylist()
    assert {business_date_of(ts) for ts in occurred} == {day}
    # Events of the 25th hour (18:00-19:00 UTC on 02-29, i.e. 23:00-24:00 at UTC+5) landed on 02-29.
    hours = {ts.hour for ts in occurred if ts.date() == day}
    assert 18 in hours
    # And the neighbouring days share nothing with it.
    for neighbour in (day - timedelta(days=1), day + timedelta(days=1)):
        assert materialize(monkeypatch, pilot_home.env, neighbour.isoformat(), cinemas=cinemas).success
        other = read_landed(pilot_home.env, "ticket_events", neighbour)
        assert not set(other["event_id"].to_pylist()) & set(landed["event_id"].to_pylist())


CONNECTED = [c.cinema_id for c in load_registry(SAMPLE_REGISTRY_DIR).connected_cinemas]
SCENARIOS = [
    ("outage", {}),
    ("server_errors", {"times": 3}),
    ("rate_limit", {"times": 2, "retry_after": 1}),
    ("truncated_json", {"times": 2}),
    ("duplicate_events", {}),
    ("out_of_order", {}),
    ("unknown_film", {}),
    ("foreign_cinema", {}),
    ("future_timestamps", {}),
    ("bad_amounts", {}),
    ("wrong_types", {}),
    ("missing_fields", {}),
    ("extra_fields", {}),
    ("oversized_page", {"size_bytes": 2_000_000}),
    ("api_down", {}),
    ("slow", {"times": 1, "delay_seconds": 2}),
]
# Each scenario on its own connected cinema; the last two connected cinemas stay healthy.
CINEMA_OF = {scenario: CONNECTED[i] for i, (scenario, _) in enumerate(SCENARIOS)}
FAULTS = {CONNECTED[i]: {"scenario": scenario, **params} for i, (scenario, params) in enumerate(SCENARIOS)}
HEALTHY = CONNECTED[-2:]


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture(scope="module", params=[1, 2], ids=["in-process", "two-worker-processes"])
def faulty_day(request, tmp_path_factory):
    """One materialization of a day on a network where each faulty cinema has its own scenario, pulled
    in the run's process and again by two worker processes (whose logs the run relays)."""
    tmp = tmp_path_factory.mktemp("faults")
    faults = [{"cinema_id": c, **spec} for c, spec in FAULTS.items()]
    sim, secrets = start_simulator(tmp, faults=faults)
    home = EkinoHome(tmp / "ekino", sim, secrets)
    mp = pytest.MonkeyPatch()
    cinemas = sorted([*FAULTS, *HEALTHY])
    instance = dg.DagsterInstance.ephemeral()
    collect = _Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        result = materialize(
            mp,
            home.env,
            DAY.isoformat(),
            cinemas=cinemas,
            instance=instance,
            max_failed_share=0.5,
            processes=request.param,
            exchange_overrides={"read_timeout": 1.0, "backoff_factor": 0.05, "max_response_bytes": 1_000_000},
        )
    finally:
        root.removeHandler(collect)
        root.setLevel(previous_level)
    yield home, result, cinemas, instance, collect.lines, request.param
    mp.undo()
    sim.stop()


def test_each_fault_scenario_lands_valid_events_quarantines_bad_ones_and_spares_the_others(faulty_day):
    home, result, cinemas, _, _, _ = faulty_day
    assert result.success
    events = manifests(home.env, "ticket_events", DAY)
    sim = home.simulator
    failed_as_expected = {CINEMA_OF[s] for s in ("outage", "oversized_page", "api_down")}
    for cinema_id in cinemas:
        manifest = events[cinema_id]
        if cinema_id in failed_as_expected:
            assert manifest["status"] == "failed", cinema_id
            assert manifest["error"], cinema_id
            continue
        assert manifest["status"] == "success", (cinema_id, manifest["error"])
        truth = sim.network.truth(cinema_id, DAY)["ticket_events"]
        assert manifest["served"] == truth["served"], cinema_id
        assert manifest["landed"] == truth["valid_unique"], cinema_id
        assert manifest["quarantined"] == truth["invalid"], cinema_id
        assert manifest["duplicates_dropped"] == truth["duplicates"], cinema_id
        assert (
            manifest["served"]
            == manifest["landed"] + manifest["quarantined"] + manifest["duplicates_dropped"]
        )
    quarantine = read_landed(home.env, "ticket_events", DAY, "quarantine")
    for scenario in ("foreign_cinema", "future_timestamps", "bad_amounts", "wrong_types", "missing_fields"):
        cinema_id = CINEMA_OF[scenario]
        assert events[cinema_id]["quarantined"] > 0, cinema_id
        rows = quarantine.filter(pc.equal(quarantine["cinema_id"], cinema_id))
        assert rows.num_rows == events[cinema_id]["quarantined"]
        assert all(rows["reason"].to_pylist()) and all(rows["raw_record"].to_pylist()), cinema_id
    assert events[CINEMA_OF["duplicate_events"]]["duplicates_dropped"] > 0
    extra = events[CINEMA_OF["extra_fields"]]
    assert extra["extra_fields"] > 0 and extra["quarantined"] == 0
    assert manifests(home.env, "sessions", DAY)[CINEMA_OF["unknown_film"]]["quarantined"] > 0
    assert "1000000" in events[CINEMA_OF["oversized_page"]]["error"]


def test_no_token_appears_in_logs_events_metadata_or_errors_of_a_run_with_failing_cinemas(faulty_day):
    home, result, _, instance, log_lines, processes = faulty_day
    tokens = json.loads(home.secrets_file.read_text())
    haystack = list(log_lines)
    for entry in instance.all_logs(result.run_id):
        haystack.append(entry.user_message or "")
        haystack.append(repr(entry.dagster_event))
    for path in (home.home / "landing").rglob("*"):
        if path.is_file():
            haystack.append(path.read_bytes().decode("latin-1"))
    text = "\n".join(haystack)
    assert CINEMA_OF["outage"] in text and "failed" in text  # the haystack does hold the failures
    if processes > 1:  # and the workers' own logs, relayed by the run
        assert any(line.startswith("pull worker ") and "attempt 1 failed" in line for line in log_lines)
    for token in tokens.values():
        assert token not in text


def test_the_run_fails_when_too_many_cinemas_fail(monkeypatch, tmp_path):
    down, healthy = CONNECTED[:3], CONNECTED[3]
    faults = [{"cinema_id": c, "scenario": "outage"} for c in down]
    sim, secrets = start_simulator(tmp_path, faults=faults)
    try:
        home = EkinoHome(tmp_path / "ekino", sim, secrets)
        result = materialize(
            monkeypatch,
            home.env,
            DAY.isoformat(),
            assets=[ingestion_assets.ticket_events],
            cinemas=[*down, healthy],
            max_failed_share=0.5,
            exchange_overrides={"backoff_factor": 0.01, "retries": 1},
        )
        assert not result.success
        # The failure still left every cinema's status on disk, the healthy one landed.
        events = manifests(home.env, "ticket_events", DAY)
        assert events[healthy]["status"] == "success"
        assert {events[c]["status"] for c in down} == {"failed"}
    finally:
        sim.stop()


@pytest.mark.parametrize("processes", [1, 2], ids=["in-process", "two-worker-processes"])
def test_a_pull_that_fails_after_serving_pages_says_what_was_served_and_thrown_away(
    monkeypatch, tmp_path, processes
):
    # Both cinemas go down after one page of 50 events; the second comes back for the next attempt.
    down, back = "ALA-0002", "ALA-0004"
    faults = [
        {"cinema_id": down, "scenario": "outage", "after_requests": 1},
        {"cinema_id": back, "scenario": "outage", "after_requests": 1, "times": 1},
    ]
    sim, secrets = start_simulator(tmp_path, faults=faults)
    try:
        home = EkinoHome(tmp_path / "ekino", sim, secrets)
        result = materialize(
            monkeypatch,
            home.env,
            DAY.isoformat(),
            assets=[ingestion_assets.ticket_events],
            cinemas=[down, back],
            processes=processes,
            max_failed_share=1.0,
            exchange_overrides={"page_size": 50, "retries": 0},
        )
        assert result.success
        events = manifests(home.env, "ticket_events", DAY)
    finally:
        sim.stop()
    # Regression: a failed pull's manifest said served 0 when pages had been served before the failure.
    failed = events[down]
    assert (failed["status"], failed["attempts"]) == ("failed", 2)
    assert (failed["served"], failed["landed"], failed["files"]) == (0, 0, {})
    assert (failed["discarded_served"], failed["discarded_pages"]) == (50, 1)
    recovered = events[back]
    truth = sim.network.truth(back, DAY)["ticket_events"]
    assert (recovered["status"], recovered["attempts"]) == ("success", 2)
    assert recovered["served"] == truth["served"] > 50
    assert (
        recovered["served"]
        == recovered["landed"] + recovered["quarantined"] + recovered["duplicates_dropped"]
    )
    assert (recovered["discarded_served"], recovered["discarded_pages"]) == (50, 1)
    (event,) = result.asset_materializations_for_node(ingestion_assets.ticket_events.op.name)
    metadata = {name: value.value for name, value in event.metadata.items()}
    assert metadata["discarded_served"] == 100
    assert metadata.get("worker_processes", 1) == processes
