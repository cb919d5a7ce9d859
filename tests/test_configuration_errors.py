"""Every fault of configuration or command line is one line on stderr naming its cause, and exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ekino_pipeline.cli import main
from ekino_pipeline.errors import ConfigError
from ekino_pipeline.settings import Settings
from ekino_sim import SAMPLE_REGISTRY_DIR
from ekino_sim.cli import main as sim_main

EKINO = str(Path(sys.executable).parent / "ekino")
SAMPLE = str(SAMPLE_REGISTRY_DIR)


SIMULATOR_COMMANDS = {"simulate", "registry", "demo", "ui"}  # `ekino-sim`'s; the rest are `ekino`'s


def run(argv: list[str], capsys) -> tuple[int, str]:
    command = sim_main if argv[0] in SIMULATOR_COMMANDS else main
    try:
        code = command(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # --port 70000 was an OverflowError traceback from bind().
        (["simulate", "--port", "70000", "--secrets-file", "s.json"], "argument --port: 70000 is not a port"),
        (["ui", "--simulator-port", "-1"], "argument --simulator-port: -1 is not a port"),
        # --days -3 was an IndexError, after the demo's home had been deleted.
        (["demo", "--days", "-3"], "argument --days: -3 is below 1"),
        (["demo", "--days", "many"], "argument --days: 'many' is not a whole number"),
        (["registry", "--out", "x", "--cinemas", "0"], "argument --cinemas: 0 is below 1"),
        (["replay-quarantine", "--from", "2024-13-01", "--to", "2024-01-02"], "--from '2024-13-01' is not"),
        # A day at the calendar's end was an OverflowError traceback.
        (
            ["replay-quarantine", "--from", "9999-12-31", "--to", "9999-12-31", "--registry-dir", SAMPLE],
            "--from 9999-12-31 is beyond the business days the calendar holds",
        ),
        # 1,000,000 cinemas was a ValueError traceback from the registry generator.
        (["registry", "--out", "x", "--cinemas", "1000000"], "argument --cinemas: 1000000 is above 199980"),
        (
            ["simulate", "--secrets-file", "s.json", "--cinemas", "1000000"],
            "argument --cinemas: 1000000 is above 199980",
        ),
        # --start garbage, --rate 0 and --rate -1 were ValueError tracebacks.
        (
            ["simulate", "--secrets-file", "s.json", "--start", "garbage"],
            "argument --start: 'garbage' is not",
        ),
        (["simulate", "--secrets-file", "s.json", "--rate", "0"], "argument --rate: 0 is not above 0"),
        (["simulate", "--secrets-file", "s.json", "--rate", "-1"], "argument --rate: -1 is not above 0"),
        (["simulate", "--secrets-file", "s.json", "--rate", "inf"], "argument --rate: inf is not above 0"),
        (
            ["simulate", "--secrets-file", "s.json", "--start", "2025-06-13T18:00:00"],
            "argument --start: '2025-06-13T18:00:00' has no offset",
        ),
        # A simulator started in 9999 answered 500 to every request.
        (
            ["simulate", "--secrets-file", "s.json", "--start", "9999-12-31T20:00:00+00:00"],
            "argument --start: 9999-12-31T20:00:00+00:00 is outside the simulated years 1970 to 2100",
        ),
    ],
)
def test_a_bad_argument_is_one_line_naming_it_and_exit_2(tmp_path, monkeypatch, capsys, argv, expected):
    monkeypatch.chdir(tmp_path)  # a regression would write its files here
    code, err = run(argv, capsys)
    assert code == 2
    assert expected in one_line(err)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("- {scenario: outage}\n", "entry 1: fault 'outage': cinema_id must look like ALA-0001"),
        ("- {cinema_id: ALA-0001, scenario: nope}\n", "entry 1: fault for ALA-0001: unknown scenario 'nope'"),
        (
            "- {cinema_id: ALA-0001, scenario: outage}\n"
            "- {cinema_id: ALA-0001, scenario: slow, delay_seconds: x}\n",
            "entry 2: fault slow for ALA-0001: delay_seconds",
        ),
        ("{{{\n", "is not valid yaml"),
        ("cinema_id: ALA-0001\n", "must hold a list of faults"),
    ],
)
def test_a_malformed_or_unknown_fault_scenario_is_one_line_naming_the_file_and_entry(
    tmp_path, capsys, content, expected
):
    faults = tmp_path / "faults.yaml"
    faults.write_text(content)
    secrets = tmp_path / "secrets.json"
    code, err = run(
        ["simulate", "--port", "0", "--secrets-file", str(secrets), "--faults", str(faults)], capsys
    )
    assert code == 2
    line = one_line(err)
    assert line.startswith(f"ekino-sim simulate: fault file {faults}")
    assert expected in line
    assert not secrets.exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["registry", "--out", "{file}/registry"],
            "ekino-sim registry: cannot write the registry to {file}/registry",
        ),
        (
            [
                "simulate",
                "--port",
                "0",
                "--secrets-file",
                "{tmp}/s.json",
                "--registry-dir",
                "{file}/registry",
            ],
            "ekino-sim simulate: cannot write the registry to {file}/registry",
        ),
        (
            ["simulate", "--port", "0", "--secrets-file", "{file}/s.json"],
            "ekino-sim simulate: cannot write the secrets",
        ),
        (
            ["simulate", "--host", "nowhere.invalid", "--port", "0", "--secrets-file", "{tmp}/s.json"],
            "ekino-sim simulate: cannot listen on nowhere.invalid:0",
        ),
    ],
)
def test_a_file_or_address_that_cannot_be_used_is_one_line_naming_it(tmp_path, capsys, argv, expected):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    names = {"file": str(blocker), "tmp": str(tmp_path)}
    code, err = run([arg.format(**names) for arg in argv], capsys)
    assert code == 2
    assert one_line(err).startswith(expected.format(**names))
    assert not (tmp_path / "s.json").exists()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        # A bad EKINO_START_DATE was 77 lines ending in "month must be in 1..12", the variable unnamed.
        ("EKINO_START_DATE", "2024-13-01", "EKINO_START_DATE='2024-13-01' is not a date YYYY-MM-DD"),
        ("EKINO_SILENT_AFTER_HOURS", "soon", "EKINO_SILENT_AFTER_HOURS='soon' is not a number of hours"),
        ("EKINO_SILENT_LOOKBACK_DAYS", "0", "EKINO_SILENT_LOOKBACK_DAYS='0' is not a number of days"),
        ("EKINO_ALLOW_PLAIN_HTTP", "maybe", "EKINO_ALLOW_PLAIN_HTTP='maybe' is not a yes or no"),
        ("EKINO_AUTOMATIONS", "on", "EKINO_AUTOMATIONS='on' is not 'running' or 'stopped'"),
    ],
)
def test_a_bad_environment_variable_is_a_config_error_naming_it(monkeypatch, capsys, name, value, expected):
    with pytest.raises(ConfigError, match=expected):
        Settings.from_env({name: value})
    monkeypatch.setenv(name, value)
    code, err = run(["replay-quarantine", "--from", "2024-01-01", "--to", "2024-01-02"], capsys)
    assert code == 2
    assert one_line(err).startswith(f"ekino replay-quarantine: {expected}")


@pytest.mark.parametrize("home", ["a-file", "nowhere"])
def test_a_home_without_a_landing_zone_is_one_line_naming_it_not_zero_records(
    tmp_path, monkeypatch, capsys, home
):
    # EKINO_HOME=/etc/passwd (or a home that does not exist) said "0 records still quarantined", exit 0.
    (tmp_path / "a-file").write_text("not a home")
    monkeypatch.setenv("EKINO_HOME", str(tmp_path / home))
    monkeypatch.delenv("EKINO_LANDING_ROOT", raising=False)
    argv = ["replay-quarantine", "--from", "2024-01-01", "--to", "2024-01-02"]
    code, err = run([*argv, "--registry-dir", str(SAMPLE_REGISTRY_DIR)], capsys)
    assert code == 2
    assert one_line(err).startswith(
        f"ekino replay-quarantine: no landing zone at {tmp_path / home / 'landing'}"
    )


def test_plain_http_beyond_loopback_is_allowed_only_by_a_setting():
    assert Settings.from_env({}).allow_plain_http is False
    assert Settings.from_env({"EKINO_ALLOW_PLAIN_HTTP": "1"}).allow_plain_http is True
    assert Settings.from_env({"EKINO_ALLOW_PLAIN_HTTP": "no"}).allow_plain_http is False


def test_a_registry_missing_a_column_is_one_line_naming_the_file_and_column(tmp_path, monkeypatch, capsys):
    registry = tmp_path / "registry"
    shutil.copytree(SAMPLE_REGISTRY_DIR, registry)
    cinemas = registry / "cinemas.csv"
    lines = cinemas.read_text().splitlines()
    cinemas.write_text("\n".join(",".join(line.split(",")[:-1]) for line in lines) + "\n")
    monkeypatch.setenv("EKINO_HOME", str(tmp_path / "home"))
    code, err = run(
        ["replay-quarantine", "--from", "2024-01-01", "--to", "2024-01-02", "--registry-dir", str(registry)],
        capsys,
    )
    assert code == 2
    assert f"{cinemas}: missing column(s) base_url" in one_line(err)


def _cli(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [EKINO, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_installed_command_prints_one_line_and_ekino_debug_shows_the_traceback():
    args = ["replay-quarantine", "--from", "2024-01-01", "--to", "2024-01-02"]
    plain = _cli(args, EKINO_START_DATE="2024-13-01")
    assert plain.returncode == 2
    assert one_line(plain.stderr) == (
        "ekino replay-quarantine: EKINO_START_DATE='2024-13-01' is not a date YYYY-MM-DD: "
        "month must be in 1..12"
    )
    debug = _cli(args, EKINO_START_DATE="2024-13-01", EKINO_DEBUG="1")
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr and "EKINO_START_DATE" in debug.stderr
    verbose = _cli(["--verbose", *args], EKINO_START_DATE="2024-13-01")
    assert verbose.returncode != 0
    assert "Traceback" in verbose.stderr and "EKINO_START_DATE" in verbose.stderr


def test_loading_the_dagster_definitions_with_a_bad_start_date_names_the_variable():
    # partitions.py reads EKINO_START_DATE at import: Dagster's load error must say which variable.
    loaded = subprocess.run(
        [sys.executable, "-c", "import ekino_pipeline.definitions"],
        env={**os.environ, "EKINO_START_DATE": "2024-13-01"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert loaded.returncode != 0
    assert loaded.stderr.strip().splitlines()[-1] == (
        "ekino_pipeline.errors.ConfigError: EKINO_START_DATE='2024-13-01' is not a date YYYY-MM-DD: "
        "month must be in 1..12"
    )
