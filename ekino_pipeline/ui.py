"""`make ui`: the simulator and the Dagster UI together, on embedded defaults, for a newcomer.

`dagster dev` runs the daemon beside the UI: schedules, sensors (the dead-run sensor among them) and the
run monitoring of deploy/local/dagster.yaml, which frees the pool slots of runs that died."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_ui(home: Path, port: int = 3000, sim_port: int = 8765) -> int:
    from ekino_pipeline.exchange.simulator.server import SimulatorServer

    home = home.resolve()
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "deploy" / "local" / "dagster.yaml", dagster_home / "dagster.yaml")
    secrets = home / "secrets.json"
    with SimulatorServer(seed=1, secrets_file=secrets, port=sim_port) as sim:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(dagster_home),
            "EKINO_HOME": str(home),
            "EKINO_EXCHANGE_BASE_URL": sim.url,
            "EKINO_SECRETS_FILE": str(secrets),
        }
        print(f"simulator at {sim.url}; Dagster UI at http://127.0.0.1:{port}", flush=True)
        dagster = Path(sys.executable).parent / "dagster"
        command = [str(dagster), "dev", "-w", str(ROOT / "workspace.yaml"), "-p", str(port)]
        try:
            return subprocess.call(command, env=env, cwd=ROOT)  # noqa: S603 - our own fixed command
        except KeyboardInterrupt:
            return 0
