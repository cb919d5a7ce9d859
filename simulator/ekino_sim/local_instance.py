"""The demo's Dagster instance, driven through the webserver's GraphQL as the UI drives it.

`make demo` starts `dagster-webserver` alone (it starts the code server) on the demo's instance and
launches each step as a run, as the Launchpad does: the run is the code location's (same origin and job
snapshot as `make ui` loads, so it can be re-executed from there), with its partition or partition range
in its tags. Two choices make it fast, both confined to the demo's own time:
- while the demo runs, its instance launches a run in the process that submits it (DefaultRunCoordinator
  and Dagster's SyncInMemoryRunLauncher, `DEMO_LAUNCHER`): the webserver, which loads the definitions
  once for all the runs, where a process per run would load them again each time (tens of seconds on a
  busy 2-core machine). `launch_run` thus returns once the run has ended. The instance gets
  deploy/local/dagster.yaml back when the demo ends, so that `make ui` launches runs as usual.
- no daemon: the silent-cinema sensor is evaluated by its code server (`sensorDryRun`), its cursor kept
  and its run request launched, rather than waiting for a tick.

`make ui` then opens the same instance with the same environment (the demo's `environment.json`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import requests
import yaml

from ekino_pipeline.errors import ConfigError
from ekino_sim.processes import ChildGroup, forget_on_death, remove_on_death, stop_children

ROOT = Path(__file__).resolve().parents[2]
INSTANCE_CONFIG = ROOT / "deploy" / "local" / "dagster.yaml"
LOCATION = "ekino_pipeline"
REPOSITORY = "__repository__"  # the repository of a code location's Definitions
ENVIRONMENT_FILE = "environment.json"
ENVIRONMENT_KEYS = ("DAGSTER_HOME", "EKINO_HOME", "EKINO_EXCHANGE_BASE_URL", "EKINO_SECRETS_FILE")
SIMULATOR_KEYS = ("seed", "port", "faults_file", "secrets_file")
DEMO_LAUNCHER = """
# While `make demo` runs (local_instance.py): a run is launched in the process that submits it.
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
run_launcher:
  module: dagster._core.launcher.sync_in_memory_run_launcher
  class: SyncInMemoryRunLauncher
"""

LOCATION_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
LAUNCH_RUN = """
mutation($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId jobName status startTime endTime } }
  ... on PythonError { message } ... on Error { message } ... on RunConfigValidationInvalid {
    errors { message } } } }
"""
SENSOR_DRY_RUN = """
mutation($selector: SensorSelector!, $cursor: String) {
  sensorDryRun(selectorData: $selector, cursor: $cursor) { __typename
  ... on DryRunInstigationTick { evaluationResult { runRequests { runKey runConfigYaml tags { key value } }
    skipReason cursor error { message } } }
  ... on PythonError { message } ... on SensorNotFoundError { message } } }
"""
RELOAD_LOCATION = """
mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) { __typename } }
"""
SET_SENSOR_CURSOR = """
mutation($selector: SensorSelector!, $cursor: String) { setSensorCursor(sensorSelector: $selector,
  cursor: $cursor) { __typename ... on PythonError { message } ... on SensorNotFoundError { message } } }
"""
START_SENSOR = """
mutation($selector: SensorSelector!) { startSensor(sensorSelector: $selector) { __typename
  ... on Sensor { sensorState { status } } ... on PythonError { message } ... on Error { message } } }
"""
SCRATCH_MIN_FREE = 1 << 30
SENSOR_NAME_TAG = "dagster/sensor_name"  # the tags the daemon gives a sensor's runs
RUN_KEY_TAG = "dagster/run_key"


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
    """The saved environment of a demo home; None where there is none; a ConfigError (one line) for a
    file that is not one (malformed, partial, unreadable)."""
    path = home / ENVIRONMENT_FILE
    if home.exists() and not home.is_dir():
        raise ConfigError(f"{home} is not a directory")
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        environment, simulator = dict(saved["environment"]), dict(saved["simulator"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a demo's saved environment: {type(exc).__name__} {exc}") from None
    missing = [k for k in ENVIRONMENT_KEYS if not isinstance(environment.get(k), str)]
    missing += [f"simulator.{k}" for k in SIMULATOR_KEYS if k not in simulator]
    if missing:
        raise ConfigError(f"{path} is not a demo's saved environment: no {', '.join(missing)}")
    if not isinstance(simulator["port"], int) or not isinstance(simulator["seed"], int):
        raise ConfigError(
            f"{path} is not a demo's saved environment: the simulator's port and seed are numbers"
        )
    return {"environment": environment, "simulator": simulator}


def install_instance_config(dagster_home: Path, demo_launcher: bool = False) -> None:
    """deploy/local/dagster.yaml in the instance, with the demo's launcher while the demo runs."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    if demo_launcher:
        text = INSTANCE_CONFIG.read_text(encoding="utf-8") + DEMO_LAUNCHER
        (dagster_home / "dagster.yaml").write_text(text, encoding="utf-8")
    else:
        shutil.copy(INSTANCE_CONFIG, dagster_home / "dagster.yaml")


def scratch_parent() -> Path | None:
    """A directory in memory (tmpfs) for the instance's storage while the demo runs, if there is one
    with room to spare (the 14-day demo's storage takes some 50 MB; a container's /dev/shm may be 64)."""
    shm = Path("/dev/shm")  # noqa: S108 - a mkdtemp directory in it, mode 0700
    if not (shm.is_dir() and os.access(shm, os.W_OK | os.X_OK)):
        return None
    return shm if shutil.disk_usage(shm).free >= SCRATCH_MIN_FREE else None


def with_execution(run_config_yaml: str, execution: Mapping) -> str:
    """A run config's YAML with `execution` in place of an empty or missing one, edited as text: parsed
    and dumped again, a timestamp string in it would come back in another format."""
    block = yaml.safe_dump({"execution": dict(execution)})
    edited, replaced = re.subn(r"^execution: *\{\} *\n?", block, run_config_yaml, flags=re.MULTILINE)
    return edited if replaced else f"{run_config_yaml.rstrip()}\n{block}"


class DemoDagster:
    """The demo's Dagster: a code server (`dagster api grpc`) and `dagster-webserver` on it, their output
    in `log_path`, on the demo's instance. `start()` returns at once, `wait_until_ready()` once the
    webserver serves the loaded code location. Both are started together, so that the webserver's start
    overlaps the code server's load of the definitions; the webserver loads them too, in the background
    (PRELOAD), for the runs it executes.

    While they run, the instance's storage is a scratch copy in memory where the system has one, moved
    into DAGSTER_HOME when they stop: Dagster's SQLite storage commits each of a run's events on its own
    (some 3,000 for the demo's daily_job), 25 ms each on this machine's disk and a quarter of a
    millisecond in memory. The watchman deletes the copy if the demo dies first."""

    PRELOAD = (
        "import sys, threading, importlib; threading.Thread(target=importlib.import_module, "
        "args=('ekino_pipeline.definitions',), daemon=True).start(); "
        "from dagster_webserver.cli import main; sys.exit(main())"
    )

    def __init__(self, environment: Mapping[str, str], log_path: Path, start_timeout: float = 600.0):
        self.environment = {**os.environ, **environment}
        self.dagster_home = Path(environment["DAGSTER_HOME"])
        self.log_path = log_path
        self.port, self.code_port = free_port(), free_port()
        self.start_timeout = start_timeout
        self.url = f"http://127.0.0.1:{self.port}"
        self._children: list[ChildGroup] = []
        self._log: IO | None = None
        self._scratch: Path | None = None
        self._run_in_flight = False

    def start(self) -> DemoDagster:
        parent = scratch_parent()
        if parent is not None:
            self._scratch = Path(tempfile.mkdtemp(prefix="ekino-demo-dagster-", dir=parent))
            remove_on_death(self._scratch)
        instance_dir = self._scratch or self.dagster_home
        install_instance_config(instance_dir, demo_launcher=True)
        workspace = instance_dir / "demo_workspace.yaml"
        location = {"host": "127.0.0.1", "port": self.code_port, "location_name": LOCATION}
        workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": location}]}), encoding="utf-8")
        environment = {**self.environment, "DAGSTER_HOME": str(instance_dir)}
        self._log = self.log_path.open("ab")
        code_server = [sys.executable, "-m", "dagster", "api", "grpc", "-m", "ekino_pipeline.definitions"]
        code_server += ["--location-name", LOCATION, "-d", str(ROOT)]
        code_server += ["-h", "127.0.0.1", "-p", str(self.code_port)]
        webserver = [sys.executable, "-c", self.PRELOAD, "-w", str(workspace), "-h", "127.0.0.1"]
        webserver += ["-p", str(self.port)]
        # Neither holds anything worth a graceful stop once the runs have ended, and a webserver busy
        # with a run does not heed SIGTERM: a short grace, then SIGKILL.
        options = {"cwd": ROOT, "stdout": self._log, "stop_signal": signal.SIGTERM, "grace": 3.0}
        # The code server runs without the instance (it needs none: the webserver runs the runs and sends
        # its instance with each sensor evaluation). Both opening a new instance at once, each stamped
        # the schedule storage's schema version: two heads, and no later open of the instance would work.
        code_server_environment = {k: v for k, v in environment.items() if k != "DAGSTER_HOME"}
        self._children = [
            ChildGroup(code_server, env=code_server_environment, **options),
            ChildGroup(webserver, env=environment, **options),
        ]
        return self

    def stop(self) -> None:
        children, self._children = self._children, []
        stop_children(*children)
        if self._log is not None:
            self._log.close()
            self._log = None
        scratch, self._scratch = self._scratch, None
        instance_dir = scratch or self.dagster_home
        (instance_dir / "demo_workspace.yaml").unlink(missing_ok=True)
        if self._run_in_flight:
            self._cancel_unfinished_runs(instance_dir)
        if scratch is not None:
            shutil.copytree(scratch, self.dagster_home, dirs_exist_ok=True)
            shutil.rmtree(scratch)
            forget_on_death(scratch)
        install_instance_config(self.dagster_home)

    def _cancel_unfinished_runs(self, instance_dir: Path) -> None:
        """The run the demo was stopped in the middle of is canceled (not failed: `make ui`'s daemon
        would retry a failed run), so that its pool slots are freed."""
        import dagster as dg

        status = dg.DagsterRunStatus
        unfinished = [status.STARTED, status.STARTING, status.NOT_STARTED]
        with dg.DagsterInstance.from_config(str(instance_dir)) as instance:
            for record in instance.get_run_records(filters=dg.RunsFilter(statuses=unfinished)):
                instance.report_run_canceled(record.dagster_run, "the demo was stopped during this run")

    def __enter__(self) -> DemoDagster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tail(self) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-20:])

    def wait_until_ready(self) -> None:
        """Until the webserver serves the code location loaded; the webserver may have started before the
        code server listened, which it then reports as a load error until told to reload."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if any(child.poll() is not None for child in self._children):
                raise LocalInstanceError(f"Dagster exited early; its log ends:\n{self._tail()}")
            try:
                data = self.graphql(LOCATION_QUERY)
            except (requests.RequestException, LocalInstanceError):
                time.sleep(0.5)
                continue
            entries = data["workspaceOrError"].get("locationEntries") or []
            loaded = [e["locationOrLoadError"] for e in entries if e["name"] == LOCATION]
            if loaded and loaded[0] is not None:
                if loaded[0]["__typename"] == "RepositoryLocation":
                    return
                with contextlib.suppress(requests.RequestException, LocalInstanceError):
                    self.graphql(RELOAD_LOCATION, {"name": LOCATION})
            time.sleep(0.5)
        raise LocalInstanceError(f"the webserver served no code location in {self.start_timeout:.0f} s")

    # -- GraphQL ------------------------------------------------------------------------------------

    def graphql(self, query: str, variables: Mapping | None = None, timeout: float = 60.0) -> dict:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": dict(variables or {})}, timeout=timeout
        )
        payload = response.json()
        if payload.get("errors"):
            raise LocalInstanceError(f"GraphQL error: {payload['errors'][0].get('message')}")
        return payload["data"]

    def _sensor_selector(self, name: str) -> dict:
        return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": name}

    def launch_run(
        self,
        job: str | None,
        *,
        tags: Mapping[str, str],
        run_config: Mapping | str | None = None,
        assets: Sequence[Sequence[str]] | None = None,
        timeout: float = 3600.0,
    ) -> dict:
        """Launch a run of a job (or of some assets: `job` None) and return it once it has ended; it
        must have succeeded. Partitions are tags: `dagster/partition`, or the range's start and end. The
        run config is a mapping, or YAML as the UI's Launchpad sends it."""
        selector: dict = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
        selector["jobName"] = job or "__ASSET_JOB"
        if assets is not None:
            selector["assetSelection"] = [{"path": list(a)} for a in assets]
        params = {
            "selector": selector,
            "runConfigData": run_config if isinstance(run_config, str) else dict(run_config or {}),
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
        }
        self._run_in_flight = True
        result = self.graphql(LAUNCH_RUN, {"params": params}, timeout=timeout)["launchRun"]
        self._run_in_flight = False
        if result["__typename"] != "LaunchRunSuccess":
            detail = result.get("message") or "; ".join(e["message"] for e in result.get("errors", []))
            raise LocalInstanceError(f"the run of {job or assets} was refused: {detail}")
        run = result["run"]
        if run["status"] != "SUCCESS":
            name = f"{run['jobName']} {run['runId'][:8]}"
            raise LocalInstanceError(f"{name} {run['status']}: see the run in the UI or {self.log_path}")
        return run

    def evaluate_sensor(self, name: str) -> dict:
        """What the sensor's tick would do now: its run requests, cursor, skip reason or error."""
        variables = {"selector": self._sensor_selector(name), "cursor": None}
        result = self.graphql(SENSOR_DRY_RUN, variables)["sensorDryRun"]
        if result["__typename"] != "DryRunInstigationTick":
            raise LocalInstanceError(f"cannot evaluate {name}: {result.get('message')}")
        return result["evaluationResult"]

    def start_sensor(self, name: str, cursor: str | None) -> None:
        """Start the sensor from the cursor its evaluation left, as its tick would have kept it."""
        selector = self._sensor_selector(name)
        result = self.graphql(SET_SENSOR_CURSOR, {"selector": selector, "cursor": cursor})["setSensorCursor"]
        if result["__typename"] != "Sensor":
            raise LocalInstanceError(f"cannot set the cursor of {name}: {result.get('message')}")
        result = self.graphql(START_SENSOR, {"selector": selector})["startSensor"]
        if result["__typename"] != "Sensor":
            raise LocalInstanceError(f"cannot start {name}: {result.get('message')}")

    def launch_sensor_requests(
        self, name: str, evaluation: dict, job: str, execution: Mapping | None = None
    ) -> list[dict]:
        """Launch the runs the sensor's evaluation requested, tagged as the daemon tags a sensor's runs,
        with `execution` config where they have none; them, ended."""
        runs = []
        for request in evaluation.get("runRequests") or []:
            tags = {t["key"]: t["value"] for t in request["tags"]}
            tags[SENSOR_NAME_TAG] = name
            if request.get("runKey"):
                tags[RUN_KEY_TAG] = request["runKey"]
            run_config = request["runConfigYaml"]
            if execution is not None and not (yaml.safe_load(run_config) or {}).get("execution"):
                run_config = with_execution(run_config, execution)
            runs.append(self.launch_run(job, tags=tags, run_config=run_config))
        return runs
