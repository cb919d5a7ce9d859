"""A run killed with SIGKILL in its warehouse step, on the local instance with the daemon, whether the
daemon launched it or an operator started it from a shell: it is marked failed and the next run that
needs the `warehouse` pool completes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml

from ekino_pipeline.monitoring.dead_runs import (
    DEAD_RUN_SENSOR_INTERVAL_SECONDS,
    build_dead_run_sensor,
    is_dead,
)
from ekino_pipeline.run_process import (
    RunProcess,
    process_started_at,
    record_run_process,
    recorded_run_processes,
)

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
        # A killed run is marked failed by the next sensor tick, and its slot freed by the first poll
        # after free_slots_after_run_end_seconds: within two minutes.
        worst = (
            DEAD_RUN_SENSOR_INTERVAL_SECONDS
            + monitoring["poll_interval_seconds"]
            + monitoring["free_slots_after_run_end_seconds"]
        )
        assert worst <= 120, name
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


@dataclass
class Daemon:
    instance: dg.DagsterInstance
    env: dict[str, str]
    step_file: Path
    launch: Path

    def slow_step_started(self) -> tuple[int, int]:
        """(the slow step's pid, its run's pid) once the step runs."""
        _wait("the slow step starts", 180, self.step_file.is_file)
        step_pid, run_pid = map(int, self.step_file.read_text().split())
        return step_pid, run_pid

    def marked_failed(self, run: dg.DagsterRun, step_pid: int) -> None:
        _wait(
            "the killed run is marked failed",
            60,
            lambda: self.instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE,
        )
        _wait("its step process dies with it", 10, lambda: process_started_at(step_pid) is None)

    def next_warehouse_run_completes(self) -> None:
        (self.launch / "quick_job").touch()
        (quick,) = _wait("the next run is created", 60, lambda: _runs(self.instance, "quick_job"))
        done = _wait(
            "the next warehouse run completes",
            90,
            lambda: (
                self.instance.get_run_by_id(quick.run_id).is_finished
                and self.instance.get_run_by_id(quick.run_id)
            ),
        )
        assert done.status == dg.DagsterRunStatus.SUCCESS


@pytest.fixture
def daemon(tmp_path) -> Iterator[Daemon]:
    """The local instance (intervals cut to a second) with its daemon running the test's location."""
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
    process = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-m", LOCATION],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with instance:
            yield Daemon(instance, env, step_file, launch)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_a_run_killed_in_its_warehouse_step_is_marked_failed_and_the_next_run_gets_the_pool(daemon):
    # Regression: a run killed with SIGKILL while loading the warehouse kept its `warehouse` slot and
    # stayed STARTED; every later load or dbt step waited forever.
    (daemon.launch / "slow_job").touch()
    step_pid, run_pid = daemon.slow_step_started()
    (killed,) = _runs(daemon.instance, "slow_job")
    assert killed.status == dg.DagsterRunStatus.STARTED

    os.kill(run_pid, signal.SIGKILL)
    daemon.marked_failed(killed, step_pid)
    daemon.next_warehouse_run_completes()


def test_a_run_started_from_a_shell_and_killed_frees_its_pool_slot(daemon):
    # Regression (issue 21, case 9): `dagster asset materialize` killed with SIGKILL kept its
    # `warehouse` slot, still "blocked by limit for pool warehouse" after 15 minutes: no code server
    # had recorded its process, so the dead-run sensor could not vouch for it.
    shell = subprocess.Popen(
        [str(BIN / "dagster"), "asset", "materialize", "-m", LOCATION, "--select", "slow_warehouse_step"],
        env=daemon.env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        step_pid, run_pid = daemon.slow_step_started()
        assert run_pid == shell.pid  # the shell command's own process runs the run
        started = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
        (killed,) = daemon.instance.get_runs(filters=started)
        os.kill(shell.pid, signal.SIGKILL)
        shell.wait()
        daemon.marked_failed(killed, step_pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()
    daemon.next_warehouse_run_completes()


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
        )  # a run that recorded no process (it never set up the warehouse)
        build_dead_run_sensor()(dg.build_sensor_context(instance=instance))
        status = {run.run_id: instance.get_run_by_id(run.run_id).status for run in (dead, alive, unknown)}
        assert status == {
            dead.run_id: dg.DagsterRunStatus.FAILURE,
            alive.run_id: dg.DagsterRunStatus.STARTED,
            unknown.run_id: dg.DagsterRunStatus.STARTED,
        }


def test_the_sensor_fails_a_run_whose_own_record_names_a_process_gone_on_this_host():
    # Issue 21, case 9: a run started from a shell has no "Started process" of a code server; it
    # records its own process (pid, host, start time) when its warehouse step sets up.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    child_started = process_started_at(child.pid)
    child.wait()
    with dg.instance_for_test() as instance:

        def started_run() -> dg.DagsterRun:
            return instance.add_run(
                dg.DagsterRun(
                    job_name="daily_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED
                )
            )

        dead, elsewhere, alive = started_run(), started_run(), started_run()
        host = socket.gethostname()
        instance.report_engine_event(RunProcess(child.pid, host, child_started).message(), dead)
        instance.report_engine_event(RunProcess(child.pid, f"not-{host}", child_started).message(), elsewhere)
        assert record_run_process(instance, alive) == RunProcess(
            os.getpid(), host, process_started_at(os.getpid())
        )
        record_run_process(instance, alive)  # a second step of the run: recorded once
        assert len(recorded_run_processes(instance, alive.run_id)) == 1

        build_dead_run_sensor()(dg.build_sensor_context(instance=instance))
        status = {run.run_id: instance.get_run_by_id(run.run_id).status for run in (dead, elsewhere, alive)}
        assert status == {
            dead.run_id: dg.DagsterRunStatus.FAILURE,
            elsewhere.run_id: dg.DagsterRunStatus.STARTED,  # another host's pid says nothing here
            alive.run_id: dg.DagsterRunStatus.STARTED,
        }
