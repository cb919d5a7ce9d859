"""A run killed with SIGKILL in its warehouse step, on the local instance with the daemon: it is marked
failed and the next run that needs the `warehouse` pool completes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import yaml

from ekino_pipeline.monitoring.dead_runs import build_dead_run_sensor, is_dead, process_started_at

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCATION = "tests.monitoring.dead_run_location"


def _instance_yaml(dagster_home: Path) -> None:
    """The shipped local instance, with the daemon's intervals cut to a second."""
    config = yaml.safe_load((ROOT / "deploy" / "local" / "dagster.yaml").read_text())
    assert config["run_monitoring"]["enabled"] is True
    assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    config["run_monitoring"].update(poll_interval_seconds=1, free_slots_after_run_end_seconds=1)
    config["run_retries"]["enabled"] = False  # the retried run would sleep too: this test is about the pool
    config.setdefault("run_queue", {})["dequeue_interval_seconds"] = 1
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))


def _wait(what: str, seconds: float, condition):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds:.0f} s: {what}")


def _runs(instance: dg.DagsterInstance, job: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(job_name=job)))


def test_both_instances_free_the_slots_of_ended_runs_and_retry_only_runs_that_died(tmp_path):
    for name in ("local", "production"):
        config = yaml.safe_load((ROOT / "deploy" / name / "dagster.yaml").read_text())
        monitoring = config["run_monitoring"]
        assert monitoring["enabled"] is True
        assert 0 < monitoring["free_slots_after_run_end_seconds"] <= 120
        assert monitoring["poll_interval_seconds"] <= 60
        assert config["run_retries"] == {
            "enabled": True,
            "max_retries": 1,
            "retry_on_asset_or_op_failure": False,
        }
    shutil.copy(ROOT / "deploy" / "local" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_monitoring_enabled
        # The launcher whose runs the dead-run sensor can check (it cannot check them itself).
        assert type(instance.run_launcher) is dg.DefaultRunLauncher


def test_a_process_that_is_gone_or_younger_than_its_record_is_dead():
    me, started = os.getpid(), process_started_at(os.getpid())
    assert started is not None and not is_dead(me, started + 1)
    assert is_dead(me, started - 60)  # the pid was recorded before this process existed: a reused pid
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert is_dead(child.pid, time.time())


def test_a_run_killed_in_its_warehouse_step_is_marked_failed_and_the_next_run_gets_the_pool(tmp_path):
    # Regression: a run killed with SIGKILL while loading the warehouse kept its `warehouse` slot and
    # stayed STARTED; every later load or dbt step waited forever.
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    _instance_yaml(dagster_home)
    step_file, launch = tmp_path / "step", tmp_path / "launch"
    launch.mkdir()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "EKINO_TEST_STEP_FILE": str(step_file),
        "EKINO_TEST_LAUNCH_DIR": str(launch),
    }
    # The storage is created here, before the daemon's processes open it: two first openings of one
    # SQLite instance race to create its tables.
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-m", LOCATION],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with instance:
            (launch / "slow_job").touch()
            step_pid, run_pid = map(
                int, _wait("the slow step starts", 180, step_file.is_file) and step_file.read_text().split()
            )
            (killed,) = _runs(instance, "slow_job")
            assert killed.status == dg.DagsterRunStatus.STARTED

            os.kill(run_pid, signal.SIGKILL)
            _wait(
                "the killed run is marked failed",
                60,
                lambda: instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE,
            )
            _wait("its step process dies with it", 10, lambda: process_started_at(step_pid) is None)

            (launch / "quick_job").touch()
            (quick,) = _wait("the next run is created", 60, lambda: _runs(instance, "quick_job"))
            done = _wait(
                "the next warehouse run completes",
                90,
                lambda: (
                    instance.get_run_by_id(quick.run_id).is_finished and instance.get_run_by_id(quick.run_id)
                ),
            )
            assert done.status == dg.DagsterRunStatus.SUCCESS
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()


def _started_run(instance: dg.DagsterInstance, pid: int) -> dg.DagsterRun:
    run = instance.add_run(
        dg.DagsterRun(job_name="daily_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED)
    )
    instance.report_engine_event(f"Started process for run (pid: {pid}).", run)
    return run


def test_the_sensor_fails_a_started_run_whose_process_is_gone_and_leaves_the_others():
    # The case the code server cannot see: it died with the run it had launched.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with dg.instance_for_test() as instance:
        dead = _started_run(instance, child.pid)
        alive = _started_run(instance, os.getpid())
        unknown = instance.add_run(
            dg.DagsterRun(job_name="daily_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED)
        )  # a run from a shell: no pid recorded by a code server
        build_dead_run_sensor()(dg.build_sensor_context(instance=instance))
        status = {run.run_id: instance.get_run_by_id(run.run_id).status for run in (dead, alive, unknown)}
        assert status == {
            dead.run_id: dg.DagsterRunStatus.FAILURE,
            alive.run_id: dg.DagsterRunStatus.STARTED,
            unknown.run_id: dg.DagsterRunStatus.STARTED,
        }
