"""The pull spread over a pool of worker processes: the same day as in one process, a failing cinema
isolated, a dead worker's cinema-days pulled again or recorded as failed, no orphan left pulling after
its parent's SIGKILL, and no token where another process could read it."""

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
from ekino_pipeline.ingestion.landing import KILLED
from ekino_pipeline.ingestion.workers import WORKER_EXITED, process_count
from ekino_sim import SAMPLE_REGISTRY_DIR
from tests.conftest import EkinoHome, start_simulator
from tests.ingestion.helpers import landing, manifests, materialize, read_landed

DAY = date(2024, 3, 5)
EVENTS = [ingestion_assets.ticket_events]
ROOT = Path(__file__).resolve().parents[2]
CONNECTED = [c.cinema_id for c in load_registry(SAMPLE_REGISTRY_DIR).connected_cinemas]


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = result.asset_materializations_for_node(ingestion_assets.ticket_events.op.name)
    return {name: value.value for name, value in event.metadata.items()}


def _comparable(table):
    """Landed rows without what differs between two pulls of the same data (attempt and pull time)."""
    return table.drop_columns(["attempt_id", "extracted_at"]).sort_by("event_id").to_pylist()


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    return parents


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
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


def _pool_workers(pid: int) -> list[int]:
    """The live pool workers under `pid`: the processes a fork server forked (they share its command)."""
    parents = _parents()
    tree = _descendants(pid)
    return [
        p
        for p in tree
        if _alive(p) and "multiprocessing.forkserver" in _cmdline(p) and parents.get(p) in tree
    ]


def _lock_owners(folder: Path) -> set[int]:
    """The pids that hold an attempt of the day's cinema-days now, from their lock files."""
    owners = set()
    for lock in folder.glob("*/.attempt-*.lock"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            owners.add(json.loads(lock.read_text())["pid"])
    return owners


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


def _kill_a_worker_of_each_pool(pools: int, folder: Path, seen: dict) -> None:
    """Kill one worker of each of the next `pools` pools of this process, once both its workers are
    pulling; note what each worker's command line and environment expose."""
    deadline = time.monotonic() + 90
    known: set[int] = set()
    while time.monotonic() < deadline and len(seen["killed"]) < pools:
        pulling = sorted((_lock_owners(folder) & set(_pool_workers(os.getpid()))) - known)
        if len(pulling) == 2:
            for pid in pulling:
                with contextlib.suppress(OSError):
                    seen[pid] = Path(f"/proc/{pid}/cmdline").read_bytes()
                    seen[pid] += Path(f"/proc/{pid}/environ").read_bytes()
            os.kill(pulling[0], signal.SIGKILL)
            seen["killed"].append(pulling[0])
            known.update(pulling)
        time.sleep(0.02)


def _materialize_while_killing(monkeypatch, home: EkinoHome, cinemas: list[str], pools: int):
    seen: dict = {"killed": []}
    folder = landing(home.env).root / "ticket_events" / f"business_date={DAY.isoformat()}"
    killer = threading.Thread(target=_kill_a_worker_of_each_pool, args=(pools, folder, seen))
    killer.start()
    try:
        result = materialize(
            monkeypatch,
            home.env,
            DAY.isoformat(),
            assets=EVENTS,
            cinemas=cinemas,
            processes=2,
            max_concurrency=2,
            max_failed_share=1.0,
        )
    finally:
        killer.join()
    assert len(seen["killed"]) == pools, "no worker process was seen"
    tokens = json.loads(home.secrets_file.read_text())
    exposed = [
        c for pid, found in seen.items() if pid != "killed" for c, t in tokens.items() if t.encode() in found
    ]
    assert exposed == []  # no token in any worker's command line or environment
    return result


def test_a_worker_killed_midway_costs_its_pool_and_a_fresh_pool_pulls_what_it_left_undone(
    monkeypatch, tmp_path
):
    # Every cinema answers its first request slowly, so the workers are still pulling when one dies.
    cinemas = CONNECTED[:6]
    faults = [{"cinema_id": c, "scenario": "slow", "times": 1, "delay_seconds": 1.5} for c in cinemas]
    sim, secrets = start_simulator(tmp_path, faults=faults)
    try:
        home = EkinoHome(tmp_path / "ekino", sim, secrets)
        result = _materialize_while_killing(monkeypatch, home, cinemas, pools=1)
        assert result.success
        events = manifests(home.env, "ticket_events", DAY)
        assert sorted(events) == cinemas
        for cinema_id, manifest in events.items():
            assert manifest["status"] == "success", manifest["error"]
            assert (
                manifest["landed"] == sim.network.truth(cinema_id, DAY)["ticket_events"]["valid_unique"] > 0
            )
        # The attempts the broken pool killed are on record, found by the same run's next pull.
        killed = [h for m in events.values() for h in m["history"] if h["error_type"] == KILLED]
        assert killed and {h["found_dead_by_run_id"] for h in killed} == {result.run_id}
        assert _metadata(result)["failed_cinema_days"] == 0
        landed = read_landed(home.env, "ticket_events", DAY)
        assert len(pc.unique(landed["event_id"])) == landed.num_rows == _metadata(result)["landed"]
        assert _pool_workers(os.getpid()) == []
    finally:
        sim.stop()


def test_cinema_days_that_two_broken_pools_in_a_row_left_undone_are_failed_with_the_reason(
    monkeypatch, tmp_path
):
    cinemas = CONNECTED[:6]
    faults = [{"cinema_id": c, "scenario": "slow", "times": 2, "delay_seconds": 3.0} for c in cinemas]
    sim, secrets = start_simulator(tmp_path, faults=faults)
    try:
        home = EkinoHome(tmp_path / "ekino", sim, secrets)
        result = _materialize_while_killing(monkeypatch, home, cinemas, pools=2)
        assert result.success  # max_failed_share 1.0: the run reports, the cinema-days say what failed
        events = manifests(home.env, "ticket_events", DAY)
        assert sorted(events) == cinemas
        failed = {c for c, m in events.items() if m["status"] == "failed"}
        assert failed
        for cinema_id in failed:
            assert events[cinema_id]["error_type"] == WORKER_EXITED
            assert "died before this cinema-day was done, 2 pools in a row" in events[cinema_id]["error"]
            assert events[cinema_id]["landed"] == 0 and events[cinema_id]["files"] == {}
        checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert [c.asset_check_evaluation_data.passed for c in checks] == [True]
        assert _metadata(result)["failed_cinema_days"] == len(failed)

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
        assert _pool_workers(os.getpid()) == []
    finally:
        sim.stop()


def test_no_pool_process_outlives_a_sigkill_of_its_parent_and_nothing_more_is_committed(tmp_path):
    # Issue 21, case 8: pull workers outlived their killed run, retrying a dead address with the tokens.
    cinemas = CONNECTED[:2]
    faults = [{"cinema_id": c, "scenario": "slow", "times": 1, "delay_seconds": 5} for c in cinemas]
    sim, secrets = start_simulator(tmp_path, faults=faults)
    root = tmp_path / "landing"
    args = {"landing_root": str(root), "base_url": sim.url, "secrets_file": str(secrets)}
    parent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.ingestion.pool_parent",
            json.dumps({**args, "cinemas": cinemas, "day": DAY.isoformat()}),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: only the parent itself is killed below
    )
    try:
        folder = root / "ticket_events" / f"business_date={DAY.isoformat()}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            tree = _descendants(parent.pid)
            # Both workers pulling, waiting on their slow cinema: each holds an attempt's lock.
            if len(_lock_owners(folder) & set(tree)) == 2:
                break
            assert parent.poll() is None, "the parent ended before its workers were seen"
            time.sleep(0.02)
        else:
            raise AssertionError("the pool's workers never started pulling")
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        gone_by = time.monotonic() + 3
        while time.monotonic() < gone_by and any(_alive(p) for p in tree):
            time.sleep(0.05)
        assert [p for p in tree if _alive(p)] == []  # the workers, their fork server, its tracker
        assert parent.stdout.read() == ""
        time.sleep(5)  # past the moment the slow answers would have come
        assert not any(root.rglob("_manifest.json"))
    finally:
        with contextlib.suppress(ProcessLookupError):  # what survived, before the fix
            os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
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
            # Both workers up, and pulling: each holds an attempt's lock, its owner record says whose.
            workers = _lock_owners(folder) & set(tree)
            if len(workers) == 2:
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


def test_a_worker_converts_to_arrow_without_importing_pandas():
    """pyarrow imports pandas on its first conversion of a Python value; a worker tells it pandas is
    missing (a second of CPU on the pool's critical path), and conversion, quarantine rows included,
    still works."""
    script = """
import sys
from datetime import UTC, date, datetime
from ekino_pipeline.ingestion import workers
sys.meta_path.insert(0, workers._WithoutPandas)
import pyarrow as pa, pyarrow.compute as pc
table = pa.Table.from_pylist([{"day": date(2024, 3, 5), "at": datetime(2024, 3, 5, tzinfo=UTC), "n": 1}])
assert pc.equal(pa.scalar("sale"), "sale").as_py() and table.num_rows == 1
try:
    import pandas
except ModuleNotFoundError:
    print("no pandas", "pandas" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "no pandas False"
