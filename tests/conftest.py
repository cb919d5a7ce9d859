"""Shared fixtures: a real simulator over HTTP, and an isolated e-Kino home per test."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from ekino_sim import SAMPLE_REGISTRY_DIR
from ekino_sim.server import SimulatorServer

# The pipeline ships no registry: the tests read the simulator's sample unless one names another (the
# pipeline's default, $EKINO_HOME/registry, is the Ministry's own folder).
os.environ.setdefault("EKINO_REGISTRY_DIR", str(SAMPLE_REGISTRY_DIR))

# The files that take longest, mostly waiting (a demo through dagster dev, live sessions on the
# simulator's clock, the quick bench, an 11-day backfill), run first: pytest-xdist hands out files in
# collection order, and a long file handed out last would make the whole run wait for it alone.
LONGEST_FIRST = (
    "tests/simulator/test_demo_instance.py",
    "tests/simulator/test_no_orphans.py",
    "tests/benchmarks/test_harness.py",
    "tests/benchmarks/test_harness_more.py",
    "tests/test_live_mode.py",
    "tests/transformation/test_end_to_end.py",
    "tests/monitoring/test_live_session.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    # A stable sort: each file keeps its own order (a module's first test may build its fixture).
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


SEED = 7


@pytest.fixture(scope="session")
def pilot_simulator(tmp_path_factory):
    """The e-Kino pilot network (103 cinemas, 68 connected), no faults, shared by the session."""
    secrets = tmp_path_factory.mktemp("pilot") / "secrets.json"
    with SimulatorServer(seed=SEED, secrets_file=secrets) as sim:
        sim.secrets_file = secrets
        yield sim


@dataclass
class EkinoHome:
    """An isolated EKINO_HOME wired to a simulator; `env` outlives the simulator it names."""

    home: Path
    simulator: SimulatorServer
    secrets_file: Path

    def __post_init__(self):
        self.env = {
            "EKINO_HOME": str(self.home),
            "EKINO_EXCHANGE_BASE_URL": self.simulator.url,
            "EKINO_SECRETS_FILE": str(self.secrets_file),
            "EKINO_START_DATE": "2024-01-01",
            "EKINO_REGISTRY_DIR": str(SAMPLE_REGISTRY_DIR),
        }


def start_simulator(tmp_path: Path, faults=None, **kwargs) -> tuple[SimulatorServer, Path]:
    secrets = tmp_path / "secrets.json"
    sim = SimulatorServer(seed=SEED, secrets_file=secrets, faults=faults, **kwargs)
    sim.start()
    return sim, secrets


@pytest.fixture
def pilot_home(tmp_path, pilot_simulator) -> EkinoHome:
    return EkinoHome(tmp_path / "ekino", pilot_simulator, pilot_simulator.secrets_file)


class ConnectionsSeen:
    """Which SharedConnections the exchange clients a module creates were given (None: their own), and
    which SharedConnections were closed, in order."""

    def __init__(self, mp: pytest.MonkeyPatch, module):
        from ekino_pipeline.exchange.client import SharedConnections

        self.given: list = []
        self.closed: list = []
        real_client, real_close = module.ExchangeClient, SharedConnections.close

        def client(*args, **kwargs):
            self.given.append(kwargs.get("connections"))
            return real_client(*args, **kwargs)

        def close(connections):
            self.closed.append(connections)
            real_close(connections)

        mp.setattr(module, "ExchangeClient", client)
        mp.setattr(SharedConnections, "close", close)
