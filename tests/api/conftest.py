"""The API's fixtures: the hand-made scenario's marts built by dbt for real, exported and published
once per test session (and shared by the xdist workers of one run), and real uvicorn servers over them."""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import uvicorn

from ekino_pipeline import publications
from ekino_pipeline.api.app import create_app
from ekino_pipeline.api.keys import KeyStore
from ekino_pipeline.transformation.exports import export_marts
from tests.transformation.dbt_helpers import run_dbt
from tests.transformation.scenarios import clean_days, with_anomalies, with_declared_returns

AS_OF = "2024-03-03"


def _shared_dir(tmp_path_factory) -> Path:
    """One folder for every worker of this run (xdist's workers share their base's parent)."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "api-scenario"


@pytest.fixture(scope="session")
def published_exports(tmp_path_factory) -> Path:
    """The exports folder of the scenario of tests/transformation (clean days, anomalies, declared
    returns), built by dbt as of 2024-03-03 and published as the pipeline publishes."""
    folder = _shared_dir(tmp_path_factory)
    folder.mkdir(parents=True, exist_ok=True)
    exports = folder / "exports"
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".done").exists():
            warehouse = folder / "warehouse.duckdb"
            warehouse.unlink(missing_ok=True)
            with_declared_returns(with_anomalies(clean_days())).write(warehouse)
            run_dbt(warehouse, "build", as_of_date=AS_OF)
            exported = export_marts(warehouse, exports)
            publications.publish(exports, [t.path for t in exported])
            (folder / ".done").touch()
    return exports


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    url: str
    keys: KeyStore
    server: uvicorn.Server
    thread: threading.Thread

    def get(self, path: str, key: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if key is not None:
            headers["X-API-Key"] = key
        return requests.get(self.url + path, headers=headers, timeout=30, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(exports: Path, keys_file: Path, require_key: bool = False, anonymous_rate: int = 100_000) -> Served:
    """A real uvicorn server on a free port, in a thread of this process."""
    app = create_app(exports, keys_file, require_key=require_key, anonymous_rate=anonymous_rate)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.02)
    return Served(f"http://127.0.0.1:{port}", KeyStore(keys_file), server, thread)


@pytest.fixture(scope="module")
def api(published_exports, tmp_path_factory):
    served = serve(published_exports, tmp_path_factory.mktemp("keys") / "keys.json")
    yield served
    served.stop()


@pytest.fixture(scope="module")
def ministry_key(api) -> str:
    return api.keys.issue("ministry", rate_per_minute=100_000)[1]
