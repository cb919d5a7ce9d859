"""The pull spread over worker processes: the same day as in one process, isolation when a worker dies,
no orphan left pulling, and no token where another process could read it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pyarrow.compute as pc
import pytest

from ekino_pipeline.exchange.registry import load_registry
from ekino_pipeline.ingestion import assets as ingestion_assets
from ekino_pipeline.ingestion.workers import PullPlan, PullTask, process_count
from ekino_sim import SAMPLE_REGISTRY_DIR
from tests.conftest import EkinoHome, start_simulator
from tests.ingestion.helpers import landing, manifests, materialize, read_landed

DAY = date(2024, 3, 5)
EVENTS = [ingestion_assets.ticket_events]
WORKER_MODULE = "ekino_pipeline.ingestion.workers"


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = result.asset_materializations_for_node(ingestion_assets.ticket_events.op.name)
    return {name: value.value for name, value in event.metadata.items()}


def _comparable(table):
    """Landed rows without what differs between two pulls of the same data (attempt and pull time)."""
    return table.drop_columns(["attempt_id", "extracted_at"]).sort_by("event_id").to_pylist()


def _workers_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and WORKER_MODULE.encode() in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def test_a_day_pulled_by_worker_processes_equals_the_same_day_pulled_in_one(
    monkeypatch, tmp_path, pilot_simulator
):
    one = EkinoHome(tmp_path / "one", pilot_simulator, pilot_simulator.secrets_file)
    two = EkinoHome(tmp_path / "two", pilot_simulator, pilot_simulator.secrets_file)
    # With the sessions: a cinema's reporting state reads both pulls of its day.
    pulls = [ingestion_assets.sessions, *EVENTS]
    in_process = materialize(monkeypatch, one.env, DAY.isoformat(), assets=pulls, processes=1)
    in_workers = materialize(monkeypatch, two.env, DAY.isoformat(), assets=pulls, processes=2)
    assert in_process.success and in_workers.success

    alone, shared = _metadata(in_process), _metadata(in_workers)
    assert "worker_processes" not in alone
    assert shared["worker_processes"] == 2
    assert shared["worker_cpu_seconds"] > 0 and shared["worker_peak_rss_mb"] > 0
    for field in ("served", "landed", "quarantined", "duplicates_dropped", "gross_kzt", "cinemas_reporting"):
        assert shared[field] == alone[field], field
    assert alone["cinemas_reporting"] == 68

    a, b = manifests(one.env, "ticket_events", DAY), manifests(two.env, "ticket_events", DAY)
    assert sorted(a) == sorted(b) and len(a) == 68
    for cinema_id in a:
        assert a[cinema_id]["run_id"] == in_process.run_id
        assert b[cinema_id]["run_id"] == in_workers.run_id
        for field in ("status", "served", "landed", "gross_kzt", "first_record_at", "last_record_at"):
            assert a[cinema_id][field] == b[cinema_id][field], (cinema_id, field)
    landed_a = read_landed(one.env, "ticket_events", DAY)
    landed_b = read_landed(two.env, "ticket_events", DAY)
    assert landed_b.num_rows == alone["landed"] > 10_000
    assert _comparable(landed_a) == _comparable(landed_b)


def test_a_worker_killed_midway_fails_only_its_unreported_cinema_days_and_no_token_is_exposed(
    monkeypatch, tmp_path
):
    # Every cinema answers its first request slowly, so the workers are still pulling when one dies.
    connected = [c.cinema_id for c in load_registry(SAMPLE_REGISTRY_DIR).connected_cinemas][:6]
    faults = [{"cinema_id": c, "scenario": "slow", "times": 1, "delay_seconds": 1.5} for c in connected]
    sim, secrets = start_simulator(tmp_path, faults=faults)
    tokens = json.loads(secrets.read_text())
    seen: dict[str, object] = {}

    def kill_the_first_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = _workers_of(os.getpid())
            if len(workers) == 2:
                for pid in workers:
                    exposed = Path(f"/proc/{pid}/cmdline").read_bytes()
                    exposed += Path(f"/proc/{pid}/environ").read_bytes()
                    seen[pid] = [c for c, token in tokens.items() if token.encode() in exposed]
                os.kill(workers[0], signal.SIGKILL)
                seen["killed"] = workers[0]
                return
            time.sleep(0.02)

    try:
        home = EkinoHome(tmp_path / "ekino", sim, secrets)
        killer = threading.Thread(target=kill_the_first_worker)
        killer.start()
        result = materialize(
            monkeypatch,
            home.env,
            DAY.isoformat(),
            assets=EVENTS,
            cinemas=connected,
            processes=2,
            max_concurrency=2,
            max_failed_share=1.0,
        )
        killer.join()
        assert "killed" in seen, "no worker process was seen"
        assert all(found == [] for pid, found in seen.items() if pid != "killed"), seen
        assert result.success

        events = manifests(home.env, "ticket_events", DAY)
        assert sorted(events) == connected
        failed = {c for c, m in events.items() if m["status"] == "failed"}
        # Shards are dealt round-robin: the killed worker held half of the cinemas, none reported.
        assert len(failed) == 3
        for cinema_id in failed:
            assert events[cinema_id]["error_type"] == "WorkerExited"
            assert "exit code -9" in events[cinema_id]["error"]
            assert events[cinema_id]["landed"] == 0 and events[cinema_id]["files"] == {}
        for cinema_id in set(connected) - failed:
            truth = sim.network.truth(cinema_id, DAY)["ticket_events"]
            assert events[cinema_id]["landed"] == truth["valid_unique"] > 0
        checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert [c.asset_check_evaluation_data.passed for c in checks] == [True]
        assert _metadata(result)["failed_cinema_days"] == 3

        # The failed cinemas alone, again: the day is whole, each event once.
        again = materialize(
            monkeypatch, home.env, DAY.isoformat(), assets=EVENTS, cinemas=sorted(failed), processes=2
        )
        assert again.success
        events = manifests(home.env, "ticket_events", DAY)
        assert all(m["status"] == "success" for m in events.values())
        landed = read_landed(home.env, "ticket_events", DAY)
        assert landed.num_rows == sum(m["landed"] for m in events.values())
        assert len(pc.unique(landed["event_id"])) == landed.num_rows
        assert _workers_of(os.getpid()) == []
    finally:
        sim.stop()


def test_a_worker_whose_parent_goes_away_stops_at_once_and_commits_nothing(tmp_path):
    sim, secrets = start_simulator(
        tmp_path, faults=[{"cinema_id": "ALA-0001", "scenario": "slow", "times": 1, "delay_seconds": 5}]
    )
    try:
        root = tmp_path / "landing"
        plan = PullPlan(
            dataset="ticket_events",
            landing_root=str(root),
            client_options={"read_timeout": 30.0},
            base_url=sim.url,
            tokens=json.loads(secrets.read_text()),
        )
        payload = {**plan.shard([PullTask("ALA-0001", "cinemas/ALA-0001", DAY)]), "threads": 1}
        assert list(payload["tokens"]) == ["ALA-0001"]  # a worker gets its own cinemas' tokens only
        worker = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        worker.stdin.write(json.dumps(payload) + "\n")
        worker.stdin.flush()
        time.sleep(1.0)  # started, and waiting on the slow cinema
        assert worker.poll() is None
        started = time.monotonic()
        worker.stdin.close()
        assert worker.wait(timeout=4) == 70
        assert time.monotonic() - started < 3
        assert worker.stdout.read() == ""
        time.sleep(5)  # past the moment the slow answer would have come
        assert not any(root.rglob("_manifest.json"))
    finally:
        sim.stop()


@pytest.mark.parametrize("processes", [1, 2])
def test_a_cinema_without_a_token_fails_alone_with_the_reason(monkeypatch, tmp_path, caplog, processes):
    ids = [c.cinema_id for c in load_registry(SAMPLE_REGISTRY_DIR).connected_cinemas]
    cinemas, missing = [ids[0], ids[20], ids[40]], ids[20]
    sim, secrets = start_simulator(tmp_path)
    try:
        tokens = json.loads(secrets.read_text())
        del tokens[missing]
        partial = tmp_path / "partial-secrets.json"
        partial.write_text(json.dumps(tokens))
        home = EkinoHome(tmp_path / "ekino", sim, partial)
        result = materialize(
            monkeypatch,
            home.env,
            DAY.isoformat(),
            assets=EVENTS,
            cinemas=cinemas,
            processes=processes,
            max_failed_share=0.5,
        )
        assert result.success
        events = manifests(home.env, "ticket_events", DAY)
        assert events[missing]["status"] == "failed"
        assert events[missing]["error"] == f"no token for cinema {missing} in the secrets"
        assert events[missing]["error_type"] == "MissingToken"
        # It was logged as an "unexpected error" with a traceback: it is a setting, and one line.
        assert "unexpected error" not in caplog.text
        assert f"{missing} 2024-03-05: attempt 1 failed: no token for cinema {missing}" in caplog.text
        assert [events[c]["status"] for c in cinemas if c != missing] == ["success", "success"]
        assert (_metadata(result).get("worker_processes") or 1) == processes
    finally:
        sim.stop()


def test_the_number_of_processes_follows_the_size_of_the_day(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert process_count(68, 0) == 1  # a pilot day: start-up would cost more than it saves
    assert process_count(400, 0) == 2
    assert process_count(1320, 0) == 6
    assert process_count(20_000, 0) == 8
    assert process_count(68, 3) == 3
    assert process_count(2, 3) == 2  # never more workers than cinema-days


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited: only its parent's wait is missing


def test_no_step_or_worker_process_survives_a_sigkill_of_the_run_process(tmp_path):
    # Regression: SIGKILL of `dagster asset materialize` left its step and worker processes pulling,
    # then hanging, with the run still STARTED.
    connected = [c.cinema_id for c in load_registry(SAMPLE_REGISTRY_DIR).connected_cinemas][:8]
    faults = [{"cinema_id": c, "scenario": "slow", "times": 1000, "delay_seconds": 0.5} for c in connected]
    sim, secrets = start_simulator(tmp_path, faults=faults)
    home = EkinoHome(tmp_path / "ekino", sim, secrets)
    (tmp_path / "dagster").mkdir()
    config = {
        "cinemas": connected,
        "processes": 2,
        "max_concurrency": 2,
        "presale_lookback_days": 0,
    }
    run = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "tests.ingestion.pull_location",
            "--select",
            "landing/ticket_events",
            "--partition",
            DAY.isoformat(),
            "--config-json",
            json.dumps({"ops": {"landing__ticket_events": {"config": config}}}),
        ],
        env={**os.environ, **home.env, "DAGSTER_HOME": str(tmp_path / "dagster")},
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: only the top process is killed below
    )
    try:
        deadline = time.monotonic() + 240  # a loaded machine takes long to start dagster twice
        folder = landing(home.env).root / "ticket_events" / f"business_date={DAY.isoformat()}"
        while time.monotonic() < deadline:
            tree = _descendants(run.pid)
            workers = [p for p in tree if _alive(p) and WORKER_MODULE in _cmdline(p)]
            # Both workers up, and pulling: a lock file holds its owner's record.
            if len(workers) == 2 and any(lock.read_text() for lock in folder.glob("*/.attempt-*.lock")):
                break
            assert run.poll() is None, "the run ended before its workers were seen"
            time.sleep(0.05)
        else:
            raise AssertionError("the run's worker processes never started")
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        gone_by = time.monotonic() + 5
        while time.monotonic() < gone_by and any(_alive(p) for p in tree):
            time.sleep(0.05)
        survivors = [p for p in tree if _alive(p)]
        assert survivors == [], f"processes of the killed run still running: {survivors}"
        # The workers' unfinished cinema-days are attempts killed, of that run, by those workers:
        # what the next pull of each puts on record as failed before pulling again.
        zone = landing(home.env)
        killed = [dead for c in connected for dead in zone.killed_attempts("ticket_events", DAY, c)]
        assert killed
        with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
            (dead_run,) = instance.get_runs()
        assert {dead.run_id for dead in killed} == {dead_run.run_id}
        assert {dead.pid for dead in killed} <= set(workers)
    finally:
        with contextlib.suppress(ProcessLookupError):  # what survived, before the fix
            os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        sim.stop()
