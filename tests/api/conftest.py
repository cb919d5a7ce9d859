"""The API's fixtures: the hand-made scenario's marts built by dbt for real, exported and published
once per test session (and shared by the xdist workers of one run), and real uvicorn servers over them."""

from __future__ import annotations

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
from tests.transformation.dbt_helpers import build_once, once_per_run, shared_folder
from tests.transformation.scenarios import clean_days, with_anomalies, with_declared_returns

AS_OF = "2024-03-03"


@pytest.fixture(scope="session")
def published_exports(tmp_path_factory) -> Path:
    """The exports folder of the scenario of tests/transformation (clean days, anomalies, declared
    returns), built by dbt as of 2024-03-03 and published as the pipeline publishes: the same build as
    the transformation tests' `built_scenario`, once per test run."""
    fixture = with_declared_returns(with_anomalies(clean_days()))
    warehouse = build_once(tmp_path_factory, "scenario", fixture, as_of_date=AS_OF)
    folder = shared_folder(tmp_path_factory, "api-exports")
    exports = folder / "exports"
    with once_per_run(folder) as to_do:
        if to_do:
            exported = export_marts(warehouse, exports)
            publications.publish(exports, [t.path for t in exported])
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
