"""The silent-cinema sensor against landed pulls of a simulated network with silent and dead cinemas."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from ekino_pipeline.calendar import BUSINESS_TZ
from ekino_pipeline.definitions import build_resources
from ekino_pipeline.ingestion import assets as ingestion_assets
from ekino_pipeline.monitoring import sensors
from ekino_pipeline.monitoring.reporting import ALL_QUARANTINED, API_DOWN, NO_SALES, NOT_PULLED
from ekino_pipeline.monitoring.sensors import build_silent_cinema_sensor
from ekino_pipeline.settings import Settings
from ekino_sim import SAMPLE_REGISTRY_DIR
from tests.conftest import EkinoHome, start_simulator
from tests.ingestion.helpers import EXCHANGE_ASSETS, materialize

DAY = date(2024, 3, 5)
SILENT, DEAD, HEALTHY, REJECTED = "ALA-0001", "ALA-0002", "ALA-0004", "SHY-0001"
CINEMAS = [SILENT, DEAD, HEALTHY, REJECTED]


def _registry(folder: Path, connected: set[str]) -> Path:
    """The shipped registry with only `connected` cinemas connected."""
    shutil.copytree(SAMPLE_REGISTRY_DIR, folder, dirs_exist_ok=True)
    path = folder / "cinemas.csv"
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["connected"] = "true" if row["cinema_id"] in connected else "false"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return folder


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """SILENT sells nothing on DAY+1 (API up), DEAD does not answer on DAY+1, every event REJECTED
    serves on DAY+1 breaks the contract; all are back on DAY+2."""
    tmp = tmp_path_factory.mktemp("silent")
    one_day = {
        "from_date": (DAY + timedelta(days=1)).isoformat(),
        "until_date": (DAY + timedelta(days=1)).isoformat(),
    }
    sim, secrets = start_simulator(
        tmp,
        faults=[
            {"cinema_id": SILENT, "scenario": "silent", **one_day},
            {"cinema_id": DEAD, "scenario": "api_down", **one_day},
            {"cinema_id": REJECTED, "scenario": "wrong_types", "rate": 1.0, **one_day},
        ],
    )
    home = EkinoHome(tmp / "ekino", sim, secrets)
    home.env["EKINO_REGISTRY_DIR"] = str(_registry(tmp / "registry", set(CINEMAS)))
    mp = pytest.MonkeyPatch()
    yield home, mp
    mp.undo()
    sim.stop()


def _pull(home: EkinoHome, mp, day: date) -> dg.ExecuteInProcessResult:
    result = materialize(
        mp,
        home.env,
        day.isoformat(),
        cinemas=CINEMAS,
        max_failed_share=0.5,
        exchange_overrides={"retries": 1, "backoff_factor": 0.01},
    )
    assert result.success
    return result


def _evaluate(home: EkinoHome, at: datetime, cursor: str | None):
    resources = build_resources(Settings.from_env(home.env))
    sensor = build_silent_cinema_sensor(clock=lambda: at)
    context = dg.build_sensor_context(
        cursor=cursor, resources=resources, instance=dg.DagsterInstance.ephemeral()
    )
    return sensor(context)


def test_the_sensor_flags_a_silent_and_a_dead_cinema_once_and_then_their_recovery(network):
    home, mp = network
    for day in (DAY, DAY + timedelta(days=1)):
        _pull(home, mp, day)
    morning = datetime.combine(DAY + timedelta(days=2), datetime.min.time(), tzinfo=BUSINESS_TZ) + timedelta(
        hours=9
    )

    first = _evaluate(home, morning, None)
    assert len(first.run_requests) == 1
    alerts = first.run_requests[0].run_config["ops"]["notify_cinema_alerts"]["config"]
    states = {a["cinema_id"]: a["state"] for a in alerts["flagged"]}
    assert states == {SILENT: NO_SALES, DEAD: API_DOWN, REJECTED: ALL_QUARANTINED}
    assert json.loads(first.cursor) == states
    check = first.asset_events[0]
    assert check.passed is False
    assert len(check.metadata["flagged_cinemas"].value.records) == 3

    # The same episode is not announced twice.
    again = _evaluate(home, morning + timedelta(hours=1), first.cursor)
    assert not again.run_requests
    assert json.loads(again.cursor) == states

    # Both report again on DAY+2: one recovery notice each, and the check passes.
    _pull(home, mp, DAY + timedelta(days=2))
    evening = morning + timedelta(hours=12)
    recovered = _evaluate(home, evening, again.cursor)
    alerts = recovered.run_requests[0].run_config["ops"]["notify_cinema_alerts"]["config"]
    assert alerts["flagged"] == [] and sorted(alerts["recovered"]) == sorted([SILENT, DEAD, REJECTED])
    assert json.loads(recovered.cursor) == {}
    assert recovered.asset_events[0].passed is True


def test_connecting_a_cinema_in_the_registry_takes_effect_at_the_next_evaluation(network, tmp_path):
    home, mp = network
    for day in (DAY, DAY + timedelta(days=1)):
        _pull(home, mp, day)
    at = datetime.combine(DAY + timedelta(days=2), datetime.min.time(), tzinfo=BUSINESS_TZ) + timedelta(
        hours=9
    )
    before = json.loads(_evaluate(home, at, None).cursor)
    newly = "AST-0003"
    _registry(Path(home.env["EKINO_REGISTRY_DIR"]), {*CINEMAS, newly})
    try:
        after = json.loads(_evaluate(home, at, json.dumps(before)).cursor)
    finally:
        _registry(Path(home.env["EKINO_REGISTRY_DIR"]), set(CINEMAS))
    assert newly not in before and after[newly] == NOT_PULLED


def test_a_silence_shorter_than_the_threshold_is_not_flagged(network):
    home, mp = network
    for day in (DAY, DAY + timedelta(days=1)):
        _pull(home, mp, day)
    # 23:00 on the silent day: about a day since SILENT's last sale and DEAD's last answer.
    night = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), tzinfo=BUSINESS_TZ)
    late = night + timedelta(hours=23)
    assert _evaluate(home, late, None).run_requests
    patient = EkinoHome(home.home, home.simulator, home.secrets_file)
    patient.env = {**home.env, "EKINO_SILENT_AFTER_HOURS": "48"}
    assert not _evaluate(patient, late, None).run_requests


def test_the_landing_asset_its_check_and_the_sensor_agree_on_every_cinemas_state(network):
    home, mp = network
    _pull(home, mp, DAY)
    bad_day = _pull(home, mp, DAY + timedelta(days=1))
    (event,) = bad_day.asset_materializations_for_node(ingestion_assets.ticket_events.op.name)
    metadata = {name: value.value for name, value in event.metadata.items()}
    status = {r.data["cinema_id"]: r.data["status"] for r in metadata["cinemas"].records}
    # Regression: a cinema whose whole feed was quarantined was "success", and one without events
    # counted as silent whether or not it had sessions.
    assert status == {HEALTHY: "reported", SILENT: "silent", DEAD: "failed", REJECTED: "quarantined"}
    assert metadata["cinema_states"] == {"failed": 1, "quarantined": 1, "reported": 1, "silent": 1}
    assert metadata["cinemas_reporting"] == 1
    assert metadata["coverage"] == f"{DAY + timedelta(days=1)}: 1 reporting / 4 connected / 103 cinemas"

    # Late on the bad day, so that a later day some other test pulled is not yet the newest.
    late = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), tzinfo=BUSINESS_TZ) + timedelta(
        hours=23
    )
    sensed = _evaluate(home, late, None)
    flagged = {
        a["cinema_id"]: a["state"]
        for a in sensed.run_requests[0].run_config["ops"]["notify_cinema_alerts"]["config"]["flagged"]
    }
    assert flagged == {SILENT: NO_SALES, DEAD: API_DOWN, REJECTED: ALL_QUARANTINED}
    check = {name: value.value for name, value in sensed.asset_events[0].metadata.items()}
    assert (check["connected"], check["reporting"]) == (4, metadata["cinemas_reporting"])
    counts = {state: check[state] for state in (NO_SALES, API_DOWN, ALL_QUARANTINED, NOT_PULLED)}
    assert counts == {NO_SALES: 1, API_DOWN: 1, ALL_QUARANTINED: 1, NOT_PULLED: 0}


def test_the_reporting_check_on_a_past_partition_judges_that_day_and_fails_when_its_cinemas_were_silent(
    network,
):
    # Regression: the check judged a past partition against today's date, so it passed whatever the
    # partition's cinemas had done.
    home, mp = network

    def checked(day: date) -> dg.AssetCheckEvaluation:
        result = materialize(
            mp,
            home.env,
            day.isoformat(),
            assets=[*EXCHANGE_ASSETS, sensors.connected_cinemas_reporting],
            cinemas=CINEMAS,
            max_failed_share=0.5,
            exchange_overrides={"retries": 1, "backoff_factor": 0.01},
        )
        (evaluation,) = [
            e for e in result.get_asset_check_evaluations() if e.check_name == sensors.REPORTING_CHECK
        ]
        return evaluation

    bad = checked(DAY + timedelta(days=1))
    assert bad.passed is False
    assert {name: bad.metadata[name].value for name in (NO_SALES, API_DOWN, ALL_QUARANTINED)} == {
        NO_SALES: 1,
        API_DOWN: 1,
        ALL_QUARANTINED: 1,
    }
    # The next day, every cinema back, passes: the day after is judged on its own.
    assert checked(DAY + timedelta(days=2)).passed is True
