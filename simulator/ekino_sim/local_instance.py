"""The local Dagster instance driven as an operator drives it: `dagster dev` (webserver, daemon and code
server) started in the background, backfills and sensors launched through the webserver's GraphQL.

`make demo` runs its jobs this way, so that they are in the instance as any run is (Runs, Jobs,
Backfills, the Overview timeline) and can be re-executed from the UI against the same code location;
`make ui` then opens the same instance with the same environment (the demo's `environment.json`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import requests
import yaml

ROOT = Path(__file__).resolve().parents[2]
LOCATION = "ekino_pipeline"
REPOSITORY = "__repository__"  # the repository of a code location's Definitions
ENVIRONMENT_FILE = "environment.json"
FINISHED_RUN = {"SUCCESS", "FAILURE", "CANCELED"}
# A job backfill is COMPLETED once its runs are submitted; it is over when none of them is unfinished.
BACKFILL_ENDED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

LOCATION_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }
"""
BACKFILL = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { status error { message }
    runs { runId jobName status tags { key value } }
    unfinishedRuns { runId } }
  ... on Error { message } } }
"""
START_SENSOR = """
mutation($selector: SensorSelector!) { startSensor(sensorSelector: $selector) { __typename
  ... on Sensor { sensorState { status } } ... on Error { message } } }
"""
SENSOR_TICKS = """
query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename
  ... on Sensor { sensorState { ticks(limit: 1) { status runIds skipReason error { message } } } }
  ... on Error { message } } }
"""
RUN = """
query($id: ID!) { runOrError(runId: $id) { __typename
  ... on Run { runId jobName status runConfigYaml tags { key value } } ... on Error { message } } }
"""


class LocalInstanceError(RuntimeError):
    """The local instance did not do what was asked (a load error, a failed run, a timeout)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_environment(home: Path, environment: Mapping[str, str], simulator: Mapping) -> Path:
    """The environment the instance's code location runs with, for `make ui` to open it again.

    Variables and the simulator's settings only: the secrets file is named, its tokens never copied."""
    path = home / ENVIRONMENT_FILE
    path.write_text(
        json.dumps({"environment": dict(environment), "simulator": dict(simulator)}, indent=2) + "\n",
        encoding="utf-8",
    )
    return path


def read_environment(home: Path) -> dict | None:
    path = home / ENVIRONMENT_FILE
    if not path.exists():
        return None
    saved = json.loads(path.read_text(encoding="utf-8"))
    return {"environment": dict(saved["environment"]), "simulator": dict(saved["simulator"])}


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class LocalDagster:
    """`dagster dev` on workspace.yaml with the given environment, its output in `log_path`; stopped
    (the whole process group it leads) on exit."""

    def __init__(
        self,
        environment: Mapping[str, str],
        log_path: Path,
        port: int | None = None,
        start_timeout: float = 300.0,
    ):
        self.environment = {**os.environ, **environment}
        self.log_path = log_path
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen | None = None
        self._log: IO | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> LocalDagster:
        dagster = Path(sys.executable).parent / "dagster"
        command = [str(dagster), "dev", "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1"]
        command += ["-p", str(self.port)]
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(  # noqa: S603 - our own fixed command
            command,
            cwd=ROOT,
            env=self.environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped whole, runs and all
            # A shell's background job ignores SIGINT, and so would dagster dev (its SIGTERM too).
            preexec_fn=_interruptible,
        )
        try:
            self._wait_for_location()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            # dagster dev stops its webserver, daemon and code server on SIGINT, as on Ctrl-C (sent to
            # it alone: a code server interrupted first would be restarted by it).
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=30)
            # Whatever of its process group outlived it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _tail(self) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-20:])

    def _wait_for_location(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise LocalInstanceError(f"dagster dev exited early; its log ends:\n{self._tail()}")
            try:
                data = self.graphql(LOCATION_QUERY)
            except (requests.RequestException, LocalInstanceError):
                time.sleep(1)
                continue
            entries = data["workspaceOrError"].get("locationEntries") or []
            loaded = [e["locationOrLoadError"] for e in entries if e["name"] == LOCATION]
            if loaded and loaded[0] is not None:
                if loaded[0]["__typename"] != "RepositoryLocation":
                    raise LocalInstanceError(f"the code location did not load: {loaded[0].get('message')}")
                return
            time.sleep(1)
        raise LocalInstanceError(f"dagster dev did not serve the code location in {self.start_timeout:.0f} s")

    # -- GraphQL ------------------------------------------------------------------------------------

    def graphql(self, query: str, variables: Mapping | None = None) -> dict:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": dict(variables or {})}, timeout=60
        )
        payload = response.json()
        if payload.get("errors"):
            raise LocalInstanceError(f"GraphQL error: {payload['errors'][0].get('message')}")
        return payload["data"]

    def _sensor_selector(self, name: str) -> dict:
        return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": name}

    def launch_backfill(
        self,
        job: str | None,
        partitions: Sequence[str],
        assets: Sequence[Sequence[str]] | None = None,
        title: str | None = None,
        run_config: Mapping | None = None,
    ) -> str:
        """A backfill of a partitioned job's partitions (one run for a window when the job's assets have a
        single-run backfill policy), or of some assets' partitions (`job` None); its id."""
        params: dict = {"partitionNames": list(partitions)}
        if job is not None:
            params["selector"] = {
                "partitionSetName": f"{job}_partition_set",
                "repositorySelector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY},
            }
        if assets is not None:
            params["assetSelection"] = [{"path": list(a)} for a in assets]
        if title:
            params["title"] = title
        if run_config is not None:
            params["runConfigData"] = dict(run_config)
        result = self.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise LocalInstanceError(f"backfill of {job or assets} refused: {result.get('message')}")
        return result["backfillId"]

    def wait_for_backfill(self, backfill_id: str, timeout: float = 3600.0) -> list[dict]:
        """The backfill's runs once it is over and none of them is unfinished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            backfill = self.graphql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
            if backfill["__typename"] != "PartitionBackfill":
                raise LocalInstanceError(f"backfill {backfill_id}: {backfill.get('message')}")
            if backfill["status"] in {"FAILED", "CANCELED"} and not backfill["unfinishedRuns"]:
                error = (backfill.get("error") or {}).get("message", backfill["status"])
                raise LocalInstanceError(f"backfill {backfill_id} {backfill['status'].lower()}: {error}")
            ended = backfill["status"] in BACKFILL_ENDED and backfill["runs"]
            if ended and not backfill["unfinishedRuns"]:
                return backfill["runs"]
            time.sleep(2)
        raise LocalInstanceError(f"backfill {backfill_id} did not end in {timeout:.0f} s")

    def backfill(self, job: str | None, partitions: Sequence[str], **kwargs) -> list[dict]:
        """Launch a backfill, wait for it; its runs, which must all have succeeded."""
        runs = self.wait_for_backfill(self.launch_backfill(job, partitions, **kwargs))
        failed = [r for r in runs if r["status"] != "SUCCESS"]
        if failed:
            names = ", ".join(f"{r['jobName']} {r['runId'][:8]} {r['status']}" for r in failed)
            raise LocalInstanceError(f"{names}: see the run in the UI or {self.log_path}")
        return runs

    def run(self, run_id: str) -> dict:
        run = self.graphql(RUN, {"id": run_id})["runOrError"]
        if run["__typename"] != "Run":
            raise LocalInstanceError(f"run {run_id}: {run.get('message')}")
        return run

    def wait_for_run(self, run_id: str, timeout: float = 600.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run["status"] in FINISHED_RUN:
                return run
            time.sleep(1)
        raise LocalInstanceError(f"run {run_id} did not end in {timeout:.0f} s")

    def start_sensor(self, name: str) -> None:
        result = self.graphql(START_SENSOR, {"selector": self._sensor_selector(name)})["startSensor"]
        if result["__typename"] != "Sensor":
            raise LocalInstanceError(f"cannot start {name}: {result.get('message')}")

    def sensor_tick(self, name: str, timeout: float = 300.0) -> dict:
        """The sensor's latest tick once the daemon has finished one (a started sensor ticks at once)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sensor = self.graphql(SENSOR_TICKS, {"selector": self._sensor_selector(name)})["sensorOrError"]
            if sensor["__typename"] != "Sensor":
                raise LocalInstanceError(f"sensor {name}: {sensor.get('message')}")
            ticks = sensor["sensorState"]["ticks"]
            if ticks and ticks[0]["status"] != "STARTED":
                return ticks[0]
            time.sleep(1)
        raise LocalInstanceError(f"{name} did not tick in {timeout:.0f} s")

    def run_config(self, run_id: str) -> dict:
        return yaml.safe_load(self.run(run_id)["runConfigYaml"]) or {}
