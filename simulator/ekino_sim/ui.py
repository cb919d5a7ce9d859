"""`make ui`: the simulator and the Dagster UI together, on embedded defaults, for a newcomer.

When the demo has run (its home holds `environment.json`), the UI opens the demo's instance with the
demo's environment and a simulator serving the same network (seed, faults, port, secrets file), so that
it shows the demo as it ran and the runs re-executed from it work. Otherwise a fresh `./.ekino` home.

The open data API (`ekino api`, over the same home's exports) runs beside the UI, on port 8000.
`dagster dev` runs the daemon beside the UI: the sensors and schedules (stopped unless
`EKINO_AUTOMATIONS=running`, the dead-run sensor always running) and the run monitoring of
deploy/local/dagster.yaml, which frees the pool slots of runs that died. It stops with `ekino-sim ui`,
however that is stopped (processes.py).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from ekino_pipeline.errors import ConfigError
from ekino_sim import SAMPLE_REGISTRY_DIR
from ekino_sim.local_instance import ENVIRONMENT_FILE, install_instance_config, read_environment
from ekino_sim.processes import ChildGroup

ROOT = Path(__file__).resolve().parents[2]
DEMO_HOME = ROOT / ".ekino" / "demo"
DEFAULT_HOME = ROOT / ".ekino"
SIMULATOR_PORT = 8765
API_PORT = 8000


def default_home() -> Path:
    """The demo's home once the demo has run, else `./.ekino`."""
    return DEMO_HOME if (DEMO_HOME / ENVIRONMENT_FILE).exists() else DEFAULT_HOME


def ui_plan(home: Path, sim_port: int | None = None) -> tuple[dict[str, str], dict]:
    """The environment of the UI's code location and the simulator it needs, for a home: the saved
    ones of a demo home, else fresh ones."""
    home = home.resolve()
    saved = read_environment(home)
    if saved is not None:
        simulator = saved["simulator"]
        environment = saved["environment"]
        if sim_port is not None and sim_port != simulator["port"]:
            simulator = {**simulator, "port": sim_port}
            environment = {**environment, "EKINO_EXCHANGE_BASE_URL": f"http://127.0.0.1:{sim_port}"}
        return environment, simulator
    port = SIMULATOR_PORT if sim_port is None else sim_port
    secrets = home / "secrets.json"
    environment = {
        "DAGSTER_HOME": str(home / "dagster_home"),
        "EKINO_HOME": str(home),
        "EKINO_EXCHANGE_BASE_URL": f"http://127.0.0.1:{port}",
        "EKINO_SECRETS_FILE": str(secrets),
        # The simulated network's registry: the pipeline ships none of its own.
        "EKINO_REGISTRY_DIR": str(SAMPLE_REGISTRY_DIR),
    }
    return environment, {"seed": 1, "port": port, "faults_file": None, "secrets_file": str(secrets)}


def run_ui(
    home: Path | None = None, port: int = 3000, sim_port: int | None = None, api_port: int = API_PORT
) -> int:
    from ekino_sim.server import SimulatorServer

    home = (home or default_home()).resolve()
    environment, simulator = ui_plan(home, sim_port)
    try:
        install_instance_config(Path(environment["DAGSTER_HOME"]))
    except OSError as exc:
        raise ConfigError(f"--home {home}: cannot make its Dagster instance: {exc.strerror or exc}") from None
    host = urlsplit(environment["EKINO_EXCHANGE_BASE_URL"]).hostname or "127.0.0.1"
    with SimulatorServer(
        seed=simulator["seed"],
        secrets_file=simulator["secrets_file"],
        faults=simulator["faults_file"],
        host=host,
        port=simulator["port"],
    ) as sim:
        api_port = api_port or _free_port()
        print(
            f"home {home}; simulator at {sim.url}; Dagster UI at http://127.0.0.1:{port}; "
            f"open data API at http://127.0.0.1:{api_port}",
            flush=True,
        )
        # The address it bound: the saved one, or the free port it took when asked for port 0.
        return _dagster_dev({**environment, "EKINO_EXCHANGE_BASE_URL": sim.url}, port, api_port)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dagster_dev(environment: Mapping[str, str], port: int, api_port: int) -> int:
    """dagster dev (and the open data API beside it) until it ends, or until this process is asked to
    stop (Ctrl-C, SIGTERM, SIGHUP: the command line's `stop_on_signals`), when it is stopped as on
    Ctrl-C: its webserver, daemon and code server with it, and the API."""
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "dagster"), "dev", "-w", str(ROOT / "workspace.yaml"), "-p", str(port)]
    env = {**os.environ, **environment}
    api_command = [str(bin_dir / "ekino"), "api", "--port", str(api_port)]
    with (
        ChildGroup(api_command, env=env, cwd=ROOT, stop_signal=signal.SIGTERM, grace=5.0),
        ChildGroup(command, env=env, cwd=ROOT, grace=20.0) as dagster_dev,
    ):
        try:
            return dagster_dev.wait()
        except KeyboardInterrupt:
            return 0
