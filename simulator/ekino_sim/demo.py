"""`make demo`: the main job on embedded defaults against a simulated national network.

Starts the simulator (the pilot network with a few misbehaving cinemas, one of which goes silent and
one whose API stops answering near the end of the window) and the demo's Dagster instance (its
webserver, local_instance.py), launches `daily_job` for the last N business days as one run over the
window (the assets' backfill policy being single-run), prints the headline from the analysts' Parquet
exports and what the silent-cinema sensor flags, then stops the simulator; then replays the quarantine
once the registry has caught up, and settles the last film week that closed inside the window
(`film_week_job`). Every run is the instance's, so `make ui` shows them (the environment is kept in
`environment.json` of the demo's home). It ends with its wall time and the time its runs took.

The demo deletes its home before it starts again, and only a home it made: one holding its marker file.
"""

from __future__ import annotations

import csv
import shutil
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from ekino_pipeline.calendar import BUSINESS_TZ, business_date_of, film_week_start
from ekino_pipeline.errors import ConfigError
from ekino_pipeline.exchange.registry import REGISTRY_FILES
from ekino_sim import SAMPLE_REGISTRY_DIR
from ekino_sim.demo_api import print_api_lines
from ekino_sim.demo_tables import (
    print_discrepancies,
    print_headline,
    print_integrity,
    print_revisions,
    print_settlement,
    print_table,
    say,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HOME = ROOT / ".ekino" / "demo"
HOME_MARKER = ".ekino-demo-home"
DEMO_FAULTS = Path(__file__).parent / "demo_faults.yaml"
SILENT_CINEMA = "ALA-0001"
DOWN_CINEMA = "ZKO-0001"
UNKNOWN_FILM = "F99999"  # screened by MAN-0001 (demo_faults.yaml), absent from the shipped registry
UNDER_DECLARING_CINEMA = "AST-0006"  # misdeclared_returns in demo_faults.yaml
PADDING_CINEMA = "ALA-0009"  # pads the late-night sessions of the film it screens late most (demo_faults)


def prepare_home(home: Path) -> None:
    """Make the demo's home, marked as the demo's. An existing one is deleted only if the demo made it
    (its marker is there), used if empty, and refused otherwise: `--home ~` must not wipe a home folder."""
    try:
        if home.exists():
            if not home.is_dir():
                raise ConfigError(f"--home {home} is not a directory")
            if (home / HOME_MARKER).is_file():
                shutil.rmtree(home)
            elif any(home.iterdir()):
                raise ConfigError(
                    f"--home {home} is not empty and is not a home the demo made (no {HOME_MARKER} in it): "
                    "refusing to delete it; choose a new or empty directory, or delete it yourself"
                )
        home.mkdir(parents=True, exist_ok=True)
        (home / HOME_MARKER).write_text(
            "made by `ekino-sim demo`, which deletes this directory when it runs again with this home\n",
            encoding="utf-8",
        )
    except OSError as exc:
        raise ConfigError(f"--home {home}: cannot make the demo's home: {exc.strerror or exc}") from None


def demo_faults(last: date) -> list[dict]:
    """The shipped demo faults, with a silence and an outage that begin near the end of the window."""
    faults = [f for f in yaml.safe_load(DEMO_FAULTS.read_text()) if f["cinema_id"] != SILENT_CINEMA]
    faults.append(
        {
            "cinema_id": SILENT_CINEMA,
            "scenario": "silent",
            "from_date": (last - timedelta(days=2)).isoformat(),
        }
    )
    faults.append(
        {
            "cinema_id": DOWN_CINEMA,
            "scenario": "api_down",
            "from_date": (last - timedelta(days=1)).isoformat(),
        }
    )
    faults.append(
        {"cinema_id": PADDING_CINEMA, "scenario": "padded_admissions", "film_id": padded_film(last)}
    )
    return faults


def padded_film(last: date, days: int = 14) -> str:
    """The film the padding cinema screens most from 22:00 over the window (without faults)."""
    from collections import Counter

    from ekino_pipeline.exchange.registry import load_registry
    from ekino_sim.network import Network

    network = Network(load_registry(SAMPLE_REGISTRY_DIR), SIMULATOR_SEED)
    screened = Counter(
        s.film.film_id
        for k in range(days)
        for s in network.plan(PADDING_CINEMA, last - timedelta(days=k))
        if s.start_ts - s.day_starts[0] >= 22 * 3600
    )
    return screened.most_common(1)[0][0]


def declared_week(first: date, now: datetime) -> date | None:
    """The last film week of the window that its cinemas have declared: they declare by noon on the
    Thursday after it closed."""
    week = film_week_start(business_date_of(now)) - timedelta(days=7)
    if now.astimezone(BUSINESS_TZ).hour < 12 and now.astimezone(BUSINESS_TZ).date() == week + timedelta(
        days=7
    ):
        week -= timedelta(days=7)
    return week if week >= first else None


def import_recent_reports(registry_dir: Path, first: date, reports: Path) -> None:
    """A deployment starts with the distributors' reports up to its first day: the shipped history
    (through 2025) plus the weekly reports of the films released since, imported as an operator would
    (`ekino import-history`), so lifetime figures in the window count from release."""
    from ekino_pipeline.exchange.history import HISTORY_FILE
    from ekino_pipeline.exchange.registry import import_box_office_history
    from ekino_sim.history import HISTORY_COLUMNS, recent_distributor_reports
    from ekino_sim.reference import DEFAULT_SEED

    with (registry_dir / HISTORY_FILE).open(newline="", encoding="utf-8") as fh:
        shipped = list(csv.DictReader(fh))
    with (registry_dir / "films.csv").open(newline="", encoding="utf-8") as fh:
        films = list(csv.DictReader(fh))
    recent = recent_distributor_reports(films, DEFAULT_SEED, first)
    with reports.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(shipped + recent)
    records = import_box_office_history(reports, registry_dir)
    say(
        f"box office history: {len(records)} reported periods imported, {len(recent)} of them distributors' "
        f"weeks of {len({r['film_id'] for r in recent})} films released since 2026 (up to {first})"
    )


def register_unknown_film(registry_dir: Path) -> None:
    """The registry catches up: the film the MAN-0001 fault screens (F99999) gets its registry row."""
    films = registry_dir / "films.csv"
    with films.open("a", encoding="utf-8") as fh:
        fh.write(
            f"{UNKNOWN_FILM},Koktem Ani,Koktem Ani,drama,KZ,kk,{date.today().isoformat()},"
            "Steppe Distribution,true,,104,,\n"
        )


# The demo's runs execute their steps in the run's process: a process per step loads the definitions once
# more per step, minutes on a busy 2-core machine. Re-executions from the UI keep this config; a run
# launched anew from the UI uses the default (a process per step).
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
DEMO_SIMULATOR_PORT = 8765  # that of `make ui` alone, so that the demo's exchange URL is the usual one
SIMULATOR_SEED = 1


def _start_simulator(port: int, secrets: Path, faults: Path):
    """The simulator on `port`, or on a free port when that one is taken."""
    from ekino_sim.server import SimulatorServer

    try:
        return SimulatorServer(seed=SIMULATOR_SEED, secrets_file=secrets, faults=faults, port=port).start()
    except ConfigError:
        if not port:
            raise
        return SimulatorServer(seed=SIMULATOR_SEED, secrets_file=secrets, faults=faults).start()


def partition_tags(keys: list[str]) -> dict[str, str]:
    """The tags that give a run its partition, or its range of partitions (single-run backfill policy)."""
    if len(keys) == 1:
        return {"dagster/partition": keys[0]}
    return {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}


class DemoRuns:
    """The demo's runs, launched one after the other through the webserver; what they took."""

    def __init__(self, webserver):
        self.webserver = webserver
        self.durations: list[float] = []

    def launch(self, step: str, job: str | None, keys: list[str], **kwargs) -> dict:
        tags = {**partition_tags(keys), "ekino/demo_step": step}
        return self._took(self.webserver.launch_run(job, tags=tags, run_config=IN_PROCESS, **kwargs))

    def sensor_tick(self, name: str, job: str) -> tuple[dict, list[dict]]:
        """The sensor's evaluation now, kept as its tick would keep it; the runs it requested, ended."""
        evaluation = self.webserver.evaluate_sensor(name)
        self.webserver.start_sensor(name, evaluation.get("cursor"))
        runs = self.webserver.launch_sensor_requests(name, evaluation, job, IN_PROCESS["execution"])
        for run in runs:
            self._took(run)
        return evaluation, runs

    def _took(self, run: dict) -> dict:
        self.durations.append(run["endTime"] - run["startTime"])
        return run


def run_demo(days: int = 14, home: Path | None = None, simulator_port: int = DEMO_SIMULATOR_PORT) -> int:
    from ekino_pipeline.settings import Settings
    from ekino_sim.local_instance import DemoDagster, LocalInstanceError, write_environment

    started = time.monotonic()
    home = (home or DEFAULT_HOME).resolve()
    prepare_home(home)
    # The registry the pipeline reads is the demo's own copy, so that it can catch up later.
    registry_dir = home / "registry"
    shutil.copytree(SAMPLE_REGISTRY_DIR, registry_dir)
    secrets = home / "secrets.json"
    last = business_date_of(datetime.now(UTC)) - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    # The faults are kept in the home, so that `make ui` serves the same network.
    faults = home / "faults.yaml"
    faults.write_text(yaml.safe_dump(demo_faults(last), sort_keys=False), encoding="utf-8")
    window = [d.isoformat() for d in (first + timedelta(days=n) for n in range(days))]
    say(f"e-Kino demo: daily_job for {days} business days {first}..{last} (Asia/Almaty), home {home}")
    sim = _start_simulator(simulator_port, secrets, faults)
    environment = {
        "DAGSTER_HOME": str(home / "dagster_home"),
        "EKINO_HOME": str(home),
        "EKINO_EXCHANGE_BASE_URL": sim.url,
        "EKINO_SECRETS_FILE": str(secrets),
        "EKINO_START_DATE": (first - timedelta(days=1)).isoformat(),
        "EKINO_REGISTRY_DIR": str(registry_dir),
    }
    write_environment(
        home,
        environment,
        {"seed": SIMULATOR_SEED, "port": sim.port, "faults_file": str(faults), "secrets_file": str(secrets)},
    )
    settings = Settings.from_env(environment)
    dagster = DemoDagster(environment, home / "dagster.log")
    runs = DemoRuns(dagster)
    try:
        say(
            f"simulator: {len(sim.registry.cinemas)} cinemas, "
            f"{len(sim.registry.connected_cinemas)} connected, at {sim.url}"
        )
        # The code server loads the definitions meanwhile (they do not read the registry).
        dagster.start()
        import_recent_reports(registry_dir, first, home / "distributor_reports.csv")
        say(f"Dagster (a code server, the webserver): starting, their log in {home / 'dagster.log'}")
        dagster.wait_until_ready()
        say(f"Dagster UI at {dagster.url} between the demo's runs")
        _run_steps(runs, sim, settings, registry_dir, first, last, window, started)
        status = 0
    except LocalInstanceError as exc:
        say(f"\nThe demo stopped: {exc}")
        status = 1
    finally:
        dagster.stop()
        sim.stop()
    say(
        f"\nThe demo took {time.monotonic() - started:.0f} s of wall time; "
        f"its {len(runs.durations)} runs took {sum(runs.durations):.0f} s in all"
    )
    return status


def _run_steps(runs: DemoRuns, sim, settings, registry_dir: Path, first: date, last: date, window, started):
    """The demo's runs: declared returns, daily_job, the sensor's tick and the alert run it requests,
    the registry snapshot and quarantine_replay_job, film_week_job."""
    # The week's declared returns first, so that daily_job's dbt build compares them.
    week = declared_week(first, datetime.now(UTC))
    if week is not None:
        runs.launch("declared returns", "declared_returns_job", [week.isoformat()])
    run = runs.launch(f"daily_job {first}..{last}", "daily_job", window)
    took = run["endTime"] - run["startTime"]
    say(
        f"\ndaily_job succeeded at {time.monotonic() - started:.0f} s "
        f"(one run {run['runId'][:8]} over {len(window)} partitions, {took:.0f} s)"
    )
    # The silent-cinema sensor, started as an operator would, judges now.
    evaluation, _ = runs.sensor_tick("silent_cinema_sensor", "cinema_alerts_job")
    flagged = [
        a for request in evaluation.get("runRequests") or [] for a in alert_config(request["runConfigYaml"])
    ]
    sim.stop()
    print_headline(settings.exports_dir, first, last)
    if week is not None:
        print_discrepancies(settings.exports_dir, week)
    print_integrity(settings.exports_dir)
    say("\nCinemas the silent-cinema sensor flags")
    if flagged:
        print_table(
            ["cinema", "state", "since", "detail"],
            [(a["cinema_id"], a["state"], a["since"], a["detail"][:80]) for a in flagged],
        )
    elif evaluation.get("error"):
        say(f"  the sensor failed: {evaluation['error']['message'][:300]}")
    else:
        say(f"  none ({evaluation.get('skipReason')})")

    # The registry catches up with the film MAN-0001 screens: its quarantined sessions are replayed and
    # the window republished without asking the exchange again (the simulator is gone).
    say(f"\nThe national film registry registers {UNKNOWN_FILM}; quarantine_replay_job republishes the days")
    register_unknown_film(registry_dir)
    snapshot = [["landing", f"registry_{name}"] for name in REGISTRY_FILES]
    runs.launch("registry snapshot", None, [last.isoformat()], assets=snapshot)
    replayed_at = datetime.now(UTC)
    runs.launch("quarantine replay", "quarantine_replay_job", window)
    print_revisions(settings.exports_dir / settings.warehouse_path.name, replayed_at)
    # The Thursday schedule's run for the last film week that closed inside the window.
    week = film_week_start(last + timedelta(days=1)) - timedelta(days=7)
    # Film-week partitions begin with the first whole week after the first daily partition.
    if week >= settings.start_date:
        runs.launch("film week", "film_week_job", [week.isoformat()])
        print_settlement(settings.exports_dir, week)
    else:
        say(f"\nNo film week closed inside the window {first}..{last}: nothing to settle")
    print_api_lines(settings.home, settings.exports_dir, last, week if week >= settings.start_date else None)
    say(f"\nExports for analysts: {settings.exports_dir}")
    say(f"Box office report: {settings.exports_dir / 'report' / 'index.html'} (one page per day beside it)")
    say(
        "Browse the demo as it ran (Runs, the assets' partitions and checks, the sensor): make ui "
        f"(.venv/bin/ekino-sim ui --home {settings.home})"
    )


def alert_config(run_config_yaml: str) -> list[dict]:
    """The cinemas a cinema_alerts_job run announces, from its run config."""
    run_config = yaml.safe_load(run_config_yaml) or {}
    return run_config.get("ops", {}).get("notify_cinema_alerts", {}).get("config", {}).get("flagged", [])


if __name__ == "__main__":
    sys.exit(run_demo())
