"""The demo runs through the Dagster instance, and `make ui` opens that instance as the demo left it: a
short demo (two days), then a webserver started with the environment `make ui` would use, asked through
GraphQL what ran."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests

from ekino_sim.demo import HOME_MARKER, run_demo
from ekino_sim.local_instance import (
    ENVIRONMENT_FILE,
    INSTANCE_CONFIG,
    LOCATION,
    REPOSITORY,
    free_port,
    read_environment,
)
from ekino_sim.ui import ui_plan

ROOT = Path(__file__).resolve().parents[2]
DAYS = 2
SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
# The module's first test builds the fixture: a demo through Dagster's webserver, minutes on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

WHAT_RAN = """
query($partitions: [String!], $selector: PipelineSelector!, $sensor: SensorSelector!) {
  runsOrError { ... on Runs { results {
    runId jobName status pipelineSnapshotId startTime endTime runConfigYaml tags { key value }
    repositoryOrigin { repositoryLocationName repositoryName } } } }
  assetOrError(assetKey: {path: ["landing", "ticket_events"]}) { ... on Asset {
    assetMaterializations(partitions: $partitions) { partition runId } } }
  pipelineOrError(params: $selector) { ... on Pipeline { pipelineSnapshotId } }
  sensorOrError(sensorSelector: $sensor) { ... on Sensor { sensorState { status
    typeSpecificData { ... on SensorData { lastCursor } } } } }
}
"""


def _webserver(environment: dict[str, str], port: int) -> subprocess.Popen:
    webserver = Path(sys.executable).parent / "dagster-webserver"
    return subprocess.Popen(
        [str(webserver), "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env={**os.environ, **environment},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's home, what it printed and what the instance says through the webserver that `make ui`
    would start (the demo's saved environment)."""
    home = tmp_path_factory.mktemp("demo") / "home"
    printed = _run_demo_capturing(home)
    environment, _ = ui_plan(home)
    port = free_port()
    proc = _webserver(environment, port)
    try:
        windows = _window(printed)
        variables = {
            "partitions": windows,
            "selector": {**SELECTOR, "pipelineName": "daily_job"},
            "sensor": {**SELECTOR, "sensorName": "silent_cinema_sensor"},
        }
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            try:
                payload = requests.post(
                    f"http://127.0.0.1:{port}/graphql",
                    json={"query": WHAT_RAN, "variables": variables},
                    timeout=30,
                ).json()
                if payload.get("data", {}).get("pipelineOrError", {}).get("pipelineSnapshotId"):
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the webserver did not serve the code location"
            time.sleep(1)
        yield {
            "home": home,
            "printed": printed,
            "data": payload["data"],
            "window": windows,
            "url": f"http://127.0.0.1:{port}/graphql",
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _run_demo_capturing(home: Path) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run_demo(DAYS, home, simulator_port=0) == 0, out.getvalue()[-3000:]
    return out.getvalue()


def _window(printed: str) -> list[str]:
    # "e-Kino demo: daily_job for 2 business days 2026-11-29..2026-11-30 (Asia/Almaty), home ..."
    first, last = printed.split(" business days ", 1)[1].split(" ", 1)[0].split("..")
    days = (date.fromisoformat(last) - date.fromisoformat(first)).days
    return [(date.fromisoformat(first) + timedelta(days=n)).isoformat() for n in range(days + 1)]


def _runs(demo, job: str | None = None) -> list[dict]:
    return [r for r in demo["data"]["runsOrError"]["results"] if job is None or r["jobName"] == job]


def _tags(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["tags"]}


def test_the_demos_daily_job_is_one_successful_run_over_its_window(demo):
    window = demo["window"]
    [run] = _runs(demo, "daily_job")
    tags = _tags(run)
    assert (run["jobName"], run["status"]) == ("daily_job", "SUCCESS")
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
        window[0],
        window[-1],
    )
    materialized = demo["data"]["assetOrError"]["assetMaterializations"]
    assert sorted({m["partition"] for m in materialized if m["runId"] == run["runId"]}) == window


def test_the_ui_serves_every_demo_run_from_the_same_code_version(demo):
    # In-process runs were "launched from a different version": the UI warns unless both the run's
    # origin (code location, repository) and its job snapshot are those the UI loads now; a run without
    # an origin cannot be re-executed from the UI at all.
    runs = _runs(demo)
    assert {r["jobName"] for r in runs} >= {"daily_job", "quarantine_replay_job", "__ASSET_JOB"}
    for run in runs:
        assert run["status"] == "SUCCESS"
        assert run["repositoryOrigin"] == {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
    [daily] = _runs(demo, "daily_job")
    assert daily["pipelineSnapshotId"] == demo["data"]["pipelineOrError"]["pipelineSnapshotId"]


REEXECUTE = """
mutation($params: ReexecutionParams!) { launchRunReexecution(reexecutionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId parentRunId } }
  ... on PythonError { message } ... on Error { message } } }
"""


def test_the_ui_accepts_the_re_execution_of_every_demo_run(demo):
    # Queued only: the webserver of this test runs no daemon to launch them.
    for run in _runs(demo):
        params = {"parentRunId": run["runId"], "strategy": "ALL_STEPS"}
        result = requests.post(
            demo["url"], json={"query": REEXECUTE, "variables": {"params": params}}, timeout=60
        ).json()["data"]["launchRunReexecution"]
        assert result["__typename"] == "LaunchRunSuccess", (run["jobName"], result)
        assert result["run"]["parentRunId"] == run["runId"]


def test_the_silent_cinema_sensor_runs_on_from_the_demos_evaluation_and_its_alert_run_is_its(demo):
    state = demo["data"]["sensorOrError"]["sensorState"]
    assert state["status"] == "RUNNING"
    # The cursor its evaluation left: the daemon of `make ui` does not announce the same cinemas again.
    flagged_in_cursor = sorted(json.loads(state["typeSpecificData"]["lastCursor"]))
    alerts = _runs(demo, "cinema_alerts_job")
    assert all(_tags(r)["dagster/sensor_name"] == "silent_cinema_sensor" for r in alerts)
    announced = sorted(c for r in alerts for c in re.findall(r"cinema_id: (\S+)", r["runConfigYaml"]))
    assert announced == flagged_in_cursor
    printed = demo["printed"].split("Cinemas the silent-cinema sensor flags", 1)[1]
    assert all(cinema in printed for cinema in announced)
    assert ("none (" not in printed.splitlines()[1]) == bool(announced)


def test_the_demo_prints_its_wall_time_and_the_time_its_runs_took(demo):
    [(wall, n_runs, runs_time)] = re.findall(
        r"The demo took (\d+) s of wall time; its (\d+) runs took (\d+) s in all", demo["printed"]
    )
    runs = _runs(demo)
    assert int(n_runs) == len(runs)
    assert abs(int(runs_time) - sum(r["endTime"] - r["startTime"] for r in runs)) <= 1
    assert int(runs_time) <= int(wall)


def test_the_demo_leaves_its_home_marked_and_its_instance_launching_runs_as_make_ui_does(demo):
    home = demo["home"]
    assert (home / HOME_MARKER).is_file()
    assert (home / "dagster_home" / "dagster.yaml").read_text() == INSTANCE_CONFIG.read_text()
    # Its storage was made by one process: one schema version stamped (two and it would not open).
    with sqlite3.connect(home / "dagster_home" / "schedules" / "schedules.db") as con:
        assert con.execute("select count(*) from alembic_version").fetchone() == (1,)


def test_make_ui_opens_the_demo_home_with_the_demos_environment(demo):
    home = demo["home"]
    saved = read_environment(home)
    environment, simulator = ui_plan(home)
    assert environment == saved["environment"]
    assert environment["EKINO_HOME"] == str(home.resolve())
    assert environment["DAGSTER_HOME"] == str(home.resolve() / "dagster_home")
    assert {"EKINO_REGISTRY_DIR", "EKINO_SECRETS_FILE", "EKINO_START_DATE", "EKINO_EXCHANGE_BASE_URL"} <= set(
        environment
    )
    assert environment["EKINO_EXCHANGE_BASE_URL"].endswith(f":{simulator['port']}")
    assert Path(simulator["faults_file"]).exists() and simulator["seed"] == 1
    # The file names the secrets file and holds no token.
    tokens = json.loads(Path(simulator["secrets_file"]).read_text())
    saved_text = (home / ENVIRONMENT_FILE).read_text()
    assert tokens and not any(token in saved_text for token in tokens.values())


def test_make_ui_without_a_demo_home_starts_a_fresh_home_with_its_own_simulator(tmp_path):
    environment, simulator = ui_plan(tmp_path)
    assert environment["EKINO_HOME"] == str(tmp_path.resolve())
    assert environment["EKINO_EXCHANGE_BASE_URL"] == "http://127.0.0.1:8765"
    assert (simulator["port"], simulator["faults_file"]) == (8765, None)
    assert "EKINO_START_DATE" not in environment
