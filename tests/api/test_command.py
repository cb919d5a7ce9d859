"""`ekino api` serves the exports of EKINO_HOME (or EKINO_EXPORTS_DIR) until it is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.api.conftest import free_port

EKINO = str(Path(sys.executable).parent / "ekino")


def test_ekino_api_serves_the_published_exports_and_stops_on_sigterm(published_exports, tmp_path):
    port = free_port()
    env = {**os.environ, "EKINO_HOME": str(tmp_path), "EKINO_EXPORTS_DIR": str(published_exports)}
    proc = subprocess.Popen([EKINO, "api", "--port", str(port)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "ekino api did not serve"
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/v1/national/yearly", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert answer.status_code == 200 and answer.json()["data"]
        assert requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()["openapi"] == "3.1.0"
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then ends as the signal asked.
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
    assert f"http://127.0.0.1:{port}" in proc.stdout.read()
