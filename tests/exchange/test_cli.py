"""`ekino simulate` and `ekino registry` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from ekino_pipeline.exchange.registry import load_registry

EKINO = str(Path(sys.executable).parent / "ekino")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ekino_simulate_serves_a_grown_network_until_stopped(tmp_path):
    port, secrets, registry = _free_port(), tmp_path / "secrets.json", tmp_path / "registry"
    proc = subprocess.Popen(
        [
            EKINO,
            "simulate",
            "--port",
            str(port),
            "--seed",
            "3",
            "--secrets-file",
            str(secrets),
            "--cinemas",
            "300",
            "--registry-dir",
            str(registry),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not secrets.exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
        tokens = json.loads(secrets.read_text())
        network = load_registry(registry)
        assert len(network.cinemas) == 300
        assert sorted(tokens) == sorted(c.cinema_id for c in network.connected_cinemas)
        assert oct(secrets.stat().st_mode & 0o777) == "0o600"
        cinema = network.connected_cinemas[0].cinema_id
        base = f"http://127.0.0.1:{port}"
        for _ in range(50):
            try:
                health = requests.get(
                    f"{base}/cinemas/{cinema}/v1/health",
                    headers={"Authorization": f"Bearer {tokens[cinema]}"},
                    timeout=5,
                )
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert health.json()["cinema_id"] == cinema
        assert requests.get(f"{base}/openapi.yaml", timeout=5).text.startswith("openapi: 3")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_ekino_registry_writes_the_pilot_registry_that_ships_with_the_package(tmp_path):
    subprocess.run(
        [EKINO, "registry", "--out", str(tmp_path)], check=True, capture_output=True, env=os.environ
    )
    shipped = load_registry()
    written = load_registry(tmp_path)
    assert written == shipped
