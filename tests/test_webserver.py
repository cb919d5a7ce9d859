"""The webserver serves the code location with no load errors (GraphQL against a started webserver)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        locationOrLoadError {
          __typename
          ... on PythonError { message }
          ... on RepositoryLocation {
            repositories {
              name
              jobs { name }
              schedules { name }
              sensors { name }
              assetGroups { groupName }
            }
          }
        }
      }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_webserver_loads_the_code_location_with_its_groups_schedules_and_sensors(tmp_path):
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "EKINO_HOME": str(tmp_path / "ekino")}
    webserver = Path(sys.executable).parent / "dagster-webserver"
    proc = subprocess.Popen(
        [str(webserver), "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        deadline = time.monotonic() + 180
        payload = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            try:
                payload = requests.post(url, json={"query": QUERY}, timeout=10).json()
            except requests.RequestException:
                time.sleep(1)
                continue
            entries = payload["data"]["workspaceOrError"]["locationEntries"]
            if entries and entries[0]["locationOrLoadError"] is not None:
                break
            time.sleep(1)
        [entry] = payload["data"]["workspaceOrError"]["locationEntries"]
        location = entry["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location
        [repository] = location["repositories"]
        assert {"daily_job", "cinema_alerts_job"} <= {j["name"] for j in repository["jobs"]}
        assert {s["name"] for s in repository["schedules"]} == {
            "daily_schedule",
            "intraday_schedule",
            "film_week_schedule",
            "declared_returns_schedule",
            "forecast_model_schedule",
            "live_schedule",
        }
        assert {s["name"] for s in repository["sensors"]} == {
            "silent_cinema_sensor",
            "run_failure_alerts",
            "dead_run_sensor",
        }
        groups = {g["groupName"] for g in repository["assetGroups"]}
        assert {"ingestion", "raw", "staging", "marts", "declared_returns", "live"} <= groups
    finally:
        proc.terminate()
        proc.wait(timeout=30)
