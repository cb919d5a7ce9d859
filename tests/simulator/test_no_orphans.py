"""Every process `ekino-sim ui` and `ekino-sim demo` start dies with them, however they are stopped.

Each test starts the command in a session of its own with a token in its environment, stops it the way a
user or a script would, and then looks in /proc for any process left of that session or carrying the
token (a process that changed its session still inherits the environment).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import requests

from ekino_sim.processes import ChildGroup, stop_children

EKINO_SIM = str(Path(sys.executable).parent / "ekino-sim")
TOKEN_VARIABLE = "EKINO_SIM_TEST_TOKEN"
# Starting dagster dev (three processes loading the definitions) takes minutes on a busy 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
STARTUP_TIMEOUT = 600.0
# What "dies with it" allows: the graceful stop of dagster dev, then the kill of what is left.
STOP_TIMEOUT = 45.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_of(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[4])


def _left(session: int, token: str) -> list[str]:
    """The live processes of the session, or carrying the token: their pid and command line."""
    mark = f"{TOKEN_VARIABLE}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        in_session = _session_of(int(entry.name)) == session
        if (in_session or mark in environ) and _session_of(int(entry.name)) is not None:
            found.append(f"{entry.name} {command[:160]}")
    return found


def _wait_until_none_left(session: int, token: str, timeout: float = STOP_TIMEOUT) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := _left(session, token)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def _environment(token: str) -> dict[str, str]:
    return {**os.environ, TOKEN_VARIABLE: token, "EKINO_AUTOMATIONS": ""}


def _wait_for_ui(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None or proc.args[0] == "sh", log.read_text()[-3000:]
        try:
            if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    text = log.read_text()  # its start says why (a port taken, a failed load), its end what runs
    shown = text if len(text) <= 6000 else f"{text[:3000]}\n...\n{text[-3000:]}"
    raise AssertionError(f"the UI did not serve in {STARTUP_TIMEOUT:.0f} s: {shown}")


def _ui_command(home: Path, port: int) -> list[str]:
    return [
        EKINO_SIM,
        "ui",
        "--home",
        str(home),
        "--port",
        str(port),
        "--simulator-port",
        "0",
        "--api-port",
        "0",
    ]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_ui_started_in_the_background_by_a_script_stops_whole_on_a_signal_to_the_scripts_group(
    tmp_path, signum
):
    # Issue 21 case 6: a background job ignores SIGINT and dagster dev maps SIGTERM to it: Dagster stayed.
    token, port, log = uuid.uuid4().hex, _free_port(), tmp_path / "ui.log"
    command = " ".join(_ui_command(tmp_path / "home", port))
    script = subprocess.Popen(
        ["sh", "-c", f"{command} >{log} 2>&1 & wait"], env=_environment(token), start_new_session=True
    )
    try:
        _wait_for_ui(port, script, log)
        os.killpg(script.pid, signum)
        left = _wait_until_none_left(script.pid, token)
    finally:
        for line in _left(script.pid, token):
            os.kill(int(line.split()[0]), signal.SIGKILL)
    assert left == [], "\n".join(left)


def test_ui_stopped_alone_with_sigterm_stops_dagster_with_it(tmp_path):
    # Issue 21 case 7: SIGTERM to the `ekino-sim ui` process alone orphaned the Dagster tree.
    token, port, log = uuid.uuid4().hex, _free_port(), tmp_path / "ui.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _ui_command(tmp_path / "home", port),
            env=_environment(token),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_ui(port, proc, log)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=STOP_TIMEOUT)
        left = _wait_until_none_left(proc.pid, token)
    finally:
        for line in _left(proc.pid, token):
            os.kill(int(line.split()[0]), signal.SIGKILL)
    assert left == [], "\n".join(left)


def _demo_mid_pull(home: Path, token: str, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [EKINO_SIM, "demo", "--home", str(home), "--days", "1"],
            env=_environment(token),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    landing = home / "landing"
    while not (landing.is_dir() and any(landing.rglob("*"))):
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"the pull did not start: {log.read_text()[-3000:]}"
        time.sleep(0.2)
    return proc


def test_demo_killed_mid_pull_leaves_no_process_behind(tmp_path):
    # Issue 21 case 8: SIGKILL of the demo mid-pull left the run process and pull workers retrying the
    # dead simulator's port with the cinemas' tokens.
    token = uuid.uuid4().hex
    proc = _demo_mid_pull(tmp_path / "home", token, tmp_path / "demo.log")
    try:
        proc.kill()
        proc.wait(timeout=30)
        left = _wait_until_none_left(proc.pid, token)
    finally:
        for line in _left(proc.pid, token):
            os.kill(int(line.split()[0]), signal.SIGKILL)
    assert left == [], "\n".join(left)


def test_demo_stopped_mid_pull_cancels_its_run_and_leaves_no_process_behind(tmp_path):
    token, home = uuid.uuid4().hex, tmp_path / "home"
    proc = _demo_mid_pull(home, token, tmp_path / "demo.log")
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_TIMEOUT) == 128 + signal.SIGTERM
        left = _wait_until_none_left(proc.pid, token)
    finally:
        for line in _left(proc.pid, token):
            os.kill(int(line.split()[0]), signal.SIGKILL)
    assert left == [], "\n".join(left)
    # Canceled, not left STARTED (its pool slots held for ever) nor failed (`make ui` would retry it).
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        [run] = [record.dagster_run for record in instance.get_run_records()]
    assert (run.job_name, run.status) == ("daily_job", dg.DagsterRunStatus.CANCELED)


def test_a_child_that_stops_on_its_signal_is_not_kept_until_its_grace_runs_out(tmp_path):
    # Its exited leader, a zombie until reaped, still counted as its group's member: every stop of
    # `ekino-sim ui` waited out dagster dev's whole grace. Here the grace is far beyond the wait.
    child = ChildGroup(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        env=os.environ,
        cwd=tmp_path,
        stop_signal=signal.SIGTERM,
        grace=600.0,
    )
    stopping = threading.Thread(target=stop_children, args=(child,), daemon=True)
    stopping.start()
    stopping.join(timeout=120)
    assert not stopping.is_alive(), "the stop waited for the grace of a child that had ended"
    assert child.proc.returncode == -signal.SIGTERM
