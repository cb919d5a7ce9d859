"""Schedules and sensors start stopped unless `EKINO_AUTOMATIONS=running` (production), so that `make ui`
on a laptop does not start pulling; the dead-run sensor always runs, the live schedule never starts alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ekino_pipeline.errors import ConfigError
from ekino_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PRINT_STATUSES = """
import json
from ekino_pipeline.definitions import defs
statuses = {s.name: s.default_status.value for s in [*defs.schedules, *defs.sensors]}
print(json.dumps(statuses))
"""
FOLLOW_THE_SETTING = {
    "daily_schedule",
    "intraday_schedule",
    "film_week_schedule",
    "declared_returns_schedule",
    "forecast_model_schedule",
    "silent_cinema_sensor",
    "run_failure_alerts",
}


def _default_statuses(tmp_path, **env) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != "EKINO_AUTOMATIONS"}
    environment.update(EKINO_HOME=str(tmp_path), **env)
    out = subprocess.run(
        [sys.executable, "-c", PRINT_STATUSES], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_setting_reads_running_or_stopped_and_names_itself_when_wrong():
    assert Settings.from_env({}).automations_running is False
    assert Settings.from_env({"EKINO_AUTOMATIONS": "running"}).automations_running is True
    assert Settings.from_env({"EKINO_AUTOMATIONS": "Stopped"}).automations_running is False
    with pytest.raises(ConfigError, match="EKINO_AUTOMATIONS='on' is not 'running' or 'stopped'"):
        Settings.from_env({"EKINO_AUTOMATIONS": "on"})


def test_automations_start_stopped_by_default_and_running_when_asked_the_dead_run_sensor_always(tmp_path):
    local = _default_statuses(tmp_path)
    production = _default_statuses(tmp_path, EKINO_AUTOMATIONS="running")
    assert set(local) == FOLLOW_THE_SETTING | {"dead_run_sensor", "live_schedule"}
    for name in FOLLOW_THE_SETTING:
        assert (local[name], production[name]) == ("STOPPED", "RUNNING"), name
    assert local["dead_run_sensor"] == production["dead_run_sensor"] == "RUNNING"
    assert local["live_schedule"] == production["live_schedule"] == "STOPPED"
