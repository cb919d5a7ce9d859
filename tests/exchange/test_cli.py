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


def test_a_simulator_that_cannot_bind_its_port_leaves_the_secrets_file_as_it_was(tmp_path):
    # It wrote the secrets file before binding: a failed start replaced the running simulator's tokens.
    secrets = tmp_path / "secrets.json"
    secrets.write_bytes(b'{"ALA-0001": "the-running-simulators-token"}\n')
    secrets.chmod(0o600)
    before = secrets.read_bytes()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        failed = subprocess.run(
            [EKINO, "simulate", "--port", str(port), "--seed", "9", "--secrets-file", str(secrets)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert failed.returncode == 2
    assert failed.stderr.strip() == (
        f"ekino simulate: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert secrets.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.json"]  # no temporary file left either
