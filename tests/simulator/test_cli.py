"""`ekino-sim simulate`, `ekino-sim registry` and `ekino-sim ui` as a user runs them."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import requests

from ekino_pipeline.exchange.registry import load_registry
from ekino_sim import SAMPLE_REGISTRY_DIR, cli, ui
from ekino_sim.server import write_secrets

EKINO_SIM = str(Path(sys.executable).parent / "ekino-sim")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ekino_simulate_serves_a_grown_network_until_stopped(tmp_path):
    port, secrets, registry = _free_port(), tmp_path / "secrets.json", tmp_path / "registry"
    proc = subprocess.Popen(
        [
            EKINO_SIM,
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
        [EKINO_SIM, "registry", "--out", str(tmp_path)], check=True, capture_output=True, env=os.environ
    )
    shipped = load_registry(SAMPLE_REGISTRY_DIR)
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
            [EKINO_SIM, "simulate", "--port", str(port), "--seed", "9", "--secrets-file", str(secrets)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert failed.returncode == 2
    assert failed.stderr.strip() == (
        f"ekino-sim simulate: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert secrets.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.json"]  # no temporary file left either


def test_the_secrets_file_is_replaced_whole_by_a_rename_or_not_at_all(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.json"
    secrets.write_text('{"ALA-0001": "old"}\n')
    with secrets.open() as reader:  # a reader of the old file never sees it half rewritten
        write_secrets(secrets, {"ALA-0001": "new"})
        assert reader.read() == '{"ALA-0001": "old"}\n'
    assert json.loads(secrets.read_text()) == {"ALA-0001": "new"}
    assert oct(secrets.stat().st_mode & 0o777) == "0o600"

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        write_secrets(secrets, {"ALA-0001": "newer"})
    assert json.loads(secrets.read_text()) == {"ALA-0001": "new"}
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.json"]


def test_ekino_ui_runs_dagster_dev_with_the_daemon_on_the_local_instance(tmp_path, monkeypatch):
    # `dagster dev` runs the daemon: the run monitoring that frees a dead run's pool slots needs it.
    seen = {}

    class DagsterDev:
        def __init__(self, command, env, cwd, **kwargs):
            seen["command"] = command
            with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
                seen["run_monitoring"] = instance.run_monitoring_enabled
                seen["run_retries"] = instance.run_retries_enabled
            tokens = json.loads(Path(env["EKINO_SECRETS_FILE"]).read_text())
            health = requests.get(
                f"{env['EKINO_EXCHANGE_BASE_URL']}/cinemas/ALA-0001/v1/health",
                headers={"Authorization": f"Bearer {tokens['ALA-0001']}"},
                timeout=10,
            )
            seen["simulator"] = health.json()["cinema_id"]

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            seen["stopped"] = True

        def wait(self):
            return 0

    monkeypatch.setattr(ui, "ChildGroup", DagsterDev)
    assert ui.run_ui(tmp_path / "home", port=_free_port(), sim_port=0) == 0
    assert Path(seen["command"][0]).name == "dagster" and seen["command"][1] == "dev"
    assert (seen["run_monitoring"], seen["run_retries"], seen["simulator"]) == (True, True, "ALA-0001")
    assert seen["stopped"]


@pytest.mark.parametrize(
    "saved",
    [
        "{not json",
        '{"environment": {"DAGSTER_HOME": "/tmp/x"}}',
        '{"environment": {"EKINO_HOME": "/tmp/x"}, "simulator": {"seed": 1, "port": 8765}}',
        '["a list"]',
        '{"environment": {"DAGSTER_HOME": "d", "EKINO_HOME": "h", "EKINO_EXCHANGE_BASE_URL": "u", '
        '"EKINO_SECRETS_FILE": "s"}, "simulator": {"seed": 1, "port": "8765", "faults_file": null, '
        '"secrets_file": "s"}}',
    ],
    ids=["malformed", "no simulator", "partial", "not an object", "port not a number"],
)
def test_ekino_ui_with_a_broken_environment_file_says_so_in_one_line(tmp_path, capsys, saved):
    # Issue 21 case 13: a malformed or partial environment.json gave a JSONDecodeError or KeyError.
    home = tmp_path / "home"
    home.mkdir()
    (home / "environment.json").write_text(saved)
    assert cli.main(["ui", "--home", str(home), "--port", str(_free_port())]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "environment.json" in err and "Traceback" not in err


def test_ekino_ui_and_demo_with_a_file_for_a_home_say_so_in_one_line(tmp_path, capsys):
    # Issue 21 case 13: `--home /etc/passwd` gave a NotADirectoryError traceback.
    a_file = tmp_path / "passwd"
    a_file.write_text("root:x:0:0::/root:/bin/sh\n")
    for command in (["ui", "--home", str(a_file)], ["demo", "--home", str(a_file)]):
        assert cli.main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "not a directory" in err, err
    assert a_file.read_text() == "root:x:0:0::/root:/bin/sh\n"
