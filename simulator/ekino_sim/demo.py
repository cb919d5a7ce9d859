"""`make demo`: the main job on embedded defaults against a simulated national network.

Starts the simulator (the pilot network with a few misbehaving cinemas, one of which goes silent and
one whose API stops answering near the end of the window) and the local Dagster instance (`dagster dev`
in the background, local_instance.py), runs `daily_job` for the last N business days as a backfill
launched through the webserver (one run, the assets' backfill policy being single-run), prints the
headline from the analysts' Parquet exports and what the silent-cinema sensor's first tick flags, then
stops the simulator; then replays the quarantine once the registry has caught up, and settles the last
film week that closed inside the window (`film_week_job`). Every run is the instance's, so `make ui`
shows them (the environment is kept in `environment.json` of the demo's home).
"""

from __future__ import annotations

import csv
import shutil
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import yaml

from ekino_pipeline.calendar import BUSINESS_TZ, business_date_of, film_week_start
from ekino_pipeline.exchange.registry import REGISTRY_FILES
from ekino_sim import SAMPLE_REGISTRY_DIR

ROOT = Path(__file__).resolve().parents[2]
DEMO_FAULTS = Path(__file__).parent / "demo_faults.yaml"
SILENT_CINEMA = "ALA-0001"
DOWN_CINEMA = "ZKO-0001"
UNKNOWN_FILM = "F99999"  # screened by MAN-0001 (demo_faults.yaml), absent from the shipped registry
UNDER_DECLARING_CINEMA = "AST-0006"  # misdeclared_returns in demo_faults.yaml


def _say(text: str = "") -> None:
    print(text, flush=True)


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
    return faults


def _table(cur, sql: str, params=()) -> tuple[list[str], list[tuple]]:
    rows = cur.execute(sql, list(params)).fetchall()
    return [d[0] for d in cur.description], rows


def _print_table(columns: list[str], rows: list[tuple]) -> None:
    cells = [[str(c) for c in columns]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for n, row in enumerate(cells):
        _say(
            "  "
            + "  ".join(
                v.rjust(w) if n and v[:1].isdigit() else v.ljust(w) for v, w in zip(row, widths, strict=True)
            )
        )
        if n == 0:
            _say("  " + "  ".join("-" * w for w in widths))


def _reasons(reasons: list[str] | None) -> str:
    return ", ".join(reasons) if reasons else "final"


def print_headline(exports: Path, first: date, last: date) -> None:
    """The headline, read from the Parquet exports (the analysts' path: no warehouse lock)."""
    con = duckdb.connect()
    try:
        cur = con.cursor()
        mart = lambda name: f"read_parquet('{exports / (name + '.parquet')}')"  # noqa: E731
        _say(
            "\nThe nation by session day (coverage = cinemas reporting/connected/all; "
            "what keeps a day provisional)"
        )
        _print_table(
            *_table(
                cur,
                f"""select business_date as day, gross_kzt, admissions,
                           cinemas_reporting || '/' || cinemas_connected || '/' || cinemas_total as coverage,
                           quarantined_gross_kzt_claimed as quarantined_kzt,
                           array_to_string(provisional_reasons, ', ') as provisional
                    from {mart("national_daily")}
                    where business_date between ? and ? order by business_date""",
                [first, last],
            )
        )
        [(reasons,)] = cur.execute(
            f"select provisional_reasons from {mart('national_daily')} where business_date = ?", [last]
        ).fetchall() or [(None,)]
        _say(f"\nTop 10 films on {last} ({_reasons(reasons)})")
        _print_table(
            *_table(
                cur,
                f"""select rank_of_day as rank, title, gross_kzt, admissions, n_screenings as screenings,
                           days_in_release as day_of_release, cumulative_gross_kzt as since_release_kzt,
                           gross_source as source,
                           cinemas_reporting || '/' || cinemas_connected || '/' || cinemas_total as coverage
                    from {mart("film_daily_box_office")}
                    where business_date = ? order by rank_of_day limit 10""",
                [last],
            )
        )
        _say(f"\nRegions on {last} (no figure where no cinema is connected)")
        _print_table(
            *_table(
                cur,
                f"""select region_name as region, gross_kzt, admissions, avg_ticket_price_kzt as avg_price,
                           domestic_gross_share as domestic_share,
                           kazakh_language_admissions_share as kazakh_share,
                           cinemas_reporting || '/' || cinemas_connected || '/' || cinemas_total as coverage
                    from {mart("region_daily")} where business_date = ?
                    order by gross_kzt desc nulls last""",
                [last],
            )
        )
        _say("\nAdvance sales: the upcoming sessions' top 5 films, sold so far")
        _print_table(
            *_table(
                cur,
                f"""select session_date, title, gross_kzt, admissions_so_far as tickets,
                           n_sessions_listed as sessions, sales_through_date as sold_through
                    from {mart("advance_sales")} order by gross_kzt desc limit 5""",
            )
        )
        _say("\nQuarantine: records kept out of the box office, and the money they claim")
        _print_table(
            *_table(
                cur,
                f"""select reason_code as reason, dataset, count(*) as records,
                           count(distinct cinema_id) as cinemas, sum(gross_kzt_claimed) as claimed_kzt
                    from {mart("quarantine")} group by all order by records desc""",
            )
        )
        print_history(cur, mart)
    finally:
        con.close()


def declared_week(first: date, now: datetime) -> date | None:
    """The last film week of the window that its cinemas have declared: they declare by noon on the
    Thursday after it closed."""
    week = film_week_start(business_date_of(now)) - timedelta(days=7)
    if now.astimezone(BUSINESS_TZ).hour < 12 and now.astimezone(BUSINESS_TZ).date() == week + timedelta(
        days=7
    ):
        week -= timedelta(days=7)
    return week if week >= first else None


def print_discrepancies(exports: Path, week: date) -> None:
    """Declared returns that differ from the tickets, read from the mart's export."""
    con = duckdb.connect()
    try:
        cur = con.cursor()
        source = f"read_parquet('{exports / 'declared_returns_discrepancies.parquet'}')"
        [(pulled, lines, flagged)] = cur.execute(
            f"""select count(distinct cinema_id), count(*), count(*) filter (where is_discrepancy)
                from {source} where film_week_start = ?""",
            [week],
        ).fetchall()
        _say(
            f"\nDeclared returns for the film week {week}..{week + timedelta(days=6)}: {pulled} cinemas, "
            f"{lines} film lines, {flagged} over the tolerance (largest first)"
        )
        _print_table(
            *_table(
                cur,
                f"""select cinema_id as cinema, coalesce(title, film_id) as film,
                           declared_gross_kzt as declared_kzt, tracked_gross_kzt as tracked_kzt,
                           difference_kzt, difference_pct as pct, discrepancy,
                           array_to_string(provisional_reasons, ', ') as provisional
                    from {source} where film_week_start = ? and is_discrepancy
                    order by abs(difference_kzt) desc limit 10""",
                [week],
            )
        )
    finally:
        con.close()


def print_history(cur, mart) -> None:
    """What the state's money achieved and the nation's years, from release records and the box office
    reported before e-Kino plus what it tracked (each figure names its source)."""
    _say(
        "\nState film funding outcomes by grant year (reached theatres: release records; "
        "lifetime box office since release = reported history + tracked)"
    )
    _print_table(
        *_table(
            cur,
            f"""select grant_year, n_projects as projects, funded_amount_kzt,
                       n_reached_theatres as reached_theatres, lifetime_gross_kzt,
                       reported_gross_kzt as reported_kzt, tracked_gross_kzt as tracked_kzt,
                       gross_source as source, recoupment_rate
                from {mart("funding_outcomes_by_year")} order by grant_year""",
        )
    )
    [(projects, funded, reached, earned, reported, tracked)] = cur.execute(
        f"""select count(*), sum(amount_kzt), count(*) filter (where reached_theatres),
                   sum(lifetime_gross_kzt), sum(reported_gross_kzt), sum(tracked_gross_kzt)
            from {mart("funding_outcomes")}"""
    ).fetchall()
    _say(
        f"  In all: {projects} projects, {funded / 10**9:.1f} bn tenge granted, {reached} reached theatres, "
        f"earning {earned / 10**9:.2f} bn tenge ({reported / 10**9:.2f} bn reported before e-Kino, "
        f"{tracked / 10**6:.1f} M tracked)"
    )
    _say("\nReported periods tracking superseded (history_overlaps: tracked wins, the difference is kept)")
    _print_table(
        *_table(
            cur,
            f"""select finding, count(*) as periods, count(distinct film_id) as films,
                       sum(reported_gross_kzt) as reported_kzt, sum(tracked_gross_kzt) as tracked_kzt,
                       sum(gross_difference_kzt) as difference_kzt
                from {mart("history_overlaps")} group by finding order by finding""",
        )
    )
    _say(
        "\nNational years (the ministry's published totals until e-Kino tracks a whole year; "
        "top 20 and domestic share over the registry's films)"
    )
    _print_table(
        *_table(
            cur,
            f"""select year, gross_kzt, admissions, avg_ticket_price_kzt as avg_ticket,
                       gross_change_rate as change, domestic_gross_share as domestic_share,
                       n_top20_domestic || '/20' as top20_domestic, source,
                       n_days_tracked as days_tracked,
                       coalesce(nullif(array_to_string(provisional_reasons, ', '), ''), 'final')
                           as provisional
                from {mart("national_yearly")} order by year""",
        )
    )


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
    _say(
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


def print_revisions(warehouse_copy: Path, replayed_at: datetime) -> None:
    """What the replay revised: every change of a published figure is kept, with its instant."""
    con = duckdb.connect(str(warehouse_copy), read_only=True)
    try:
        cur = con.cursor()
        _say("\nRevisions the replay made (revisions.region_daily_revisions, valid from/to in UTC)")
        _print_table(
            *_table(
                cur,
                """with revised as (
                       select region_code, business_date from revisions.region_daily_revisions
                       group by all having count(*) > 1
                   )
                   select r.region_code as region, r.business_date as day, r.gross_kzt,
                          r.quarantined_gross_kzt_claimed as quarantined_kzt,
                          array_to_string(r.provisional_reasons, ', ') as provisional,
                          strftime(timezone('UTC', r.dbt_valid_from), '%H:%M:%S') as valid_from,
                          coalesce(strftime(timezone('UTC', r.dbt_valid_to), '%H:%M:%S'), 'now') as valid_to
                   from revisions.region_daily_revisions r join revised using (region_code, business_date)
                   where r.business_date = (select max(business_date) from revised)
                   order by r.region_code, r.dbt_valid_from""",
            )
        )
        [(n_film_days,)] = cur.execute(
            "select count(*) from revisions.film_daily_box_office_revisions where dbt_valid_from >= ?",
            [replayed_at],
        ).fetchall()
        _say(f"  ... and {n_film_days} film-day revisions since {replayed_at:%H:%M:%S} UTC")
    finally:
        con.close()


def print_settlement(exports: Path, week: date) -> None:
    """The film week's settlement by distributor, from the settlement_weekly export."""
    con = duckdb.connect()
    try:
        cur = con.cursor()
        source = f"read_parquet('{exports / 'settlement_weekly.parquet'}')"
        _say(f"\nSettlement of the film week {week}..{week + timedelta(days=6)} by distributor (KZT)")
        _print_table(
            *_table(
                cur,
                f"""select distributor, count(*) as lines, count(distinct cinema_id) as cinemas,
                           sum(gross_kzt) as gross_kzt, sum(tax_kzt) as tax_kzt,
                           sum(rental_due_kzt) as rental_due_kzt, sum(exhibitor_share_kzt) as exhibitor_kzt,
                           string_agg(distinct method, ', ' order by method) as methods,
                           count(*) filter (where is_provisional) as provisional_lines
                    from {source} where film_week_start = ? group by distributor order by distributor""",
                [week],
            )
        )
        [(gross, parts, n_without_terms, gross_without_terms, reasons)] = cur.execute(
            f"""select sum(gross_kzt) filter (where rental_due_kzt is not null),
                       sum(tax_kzt + rental_due_kzt + exhibitor_share_kzt),
                       count(*) filter (where rental_due_kzt is null),
                       coalesce(sum(gross_kzt) filter (where rental_due_kzt is null), 0),
                       list_sort(list_distinct(flatten(list(provisional_reasons))))
                from {source} where film_week_start = ?""",
            [week],
        ).fetchall()
        _say(f"  lines with rental terms: gross {gross} = tax + rental due + exhibitor share {parts}")
        if n_without_terms:
            _say(
                f"  {n_without_terms} lines without rental terms yet (gross {gross_without_terms}): "
                "no rental due until the registry has their terms"
            )
        _say(f"  provisional: {', '.join(reasons)}" if reasons else "  final")
        _say(f"  statements: {exports / 'statements' / week.isoformat()}")
    finally:
        con.close()


# The demo's runs execute their steps in the run's process, as `execute_in_process` did: a process per
# step loads the definitions once more per step, minutes on a busy 2-core machine. Re-executions from the
# UI keep this config; a run launched anew from the UI uses the default (a process per step).
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
DEMO_SIMULATOR_PORT = 8765  # that of `make ui` alone, so that the demo's exchange URL is the usual one
SIMULATOR_SEED = 1


def _start_simulator(port: int, secrets: Path, faults: Path):
    """The simulator on `port`, or on a free port when that one is taken."""
    from ekino_pipeline.errors import ConfigError
    from ekino_sim.server import SimulatorServer

    try:
        return SimulatorServer(seed=SIMULATOR_SEED, secrets_file=secrets, faults=faults, port=port).start()
    except ConfigError:
        if not port:
            raise
        return SimulatorServer(seed=SIMULATOR_SEED, secrets_file=secrets, faults=faults).start()


def run_demo(days: int = 14, home: Path | None = None, simulator_port: int = DEMO_SIMULATOR_PORT) -> int:
    from ekino_pipeline.settings import Settings
    from ekino_sim.local_instance import LocalDagster, LocalInstanceError, write_environment

    home = (home or ROOT / ".ekino" / "demo").resolve()
    if home.exists():
        shutil.rmtree(home)
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True)
    shutil.copy(ROOT / "deploy" / "local" / "dagster.yaml", dagster_home / "dagster.yaml")
    # The registry the pipeline reads is the demo's own copy, so that it can catch up later.
    registry_dir = home / "registry"
    shutil.copytree(SAMPLE_REGISTRY_DIR, registry_dir)
    secrets = home / "secrets.json"
    last = business_date_of(datetime.now(UTC)) - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    import_recent_reports(registry_dir, first, home / "distributor_reports.csv")
    # The faults are kept in the home, so that `make ui` serves the same network.
    faults = home / "faults.yaml"
    faults.write_text(yaml.safe_dump(demo_faults(last), sort_keys=False), encoding="utf-8")
    window = [d.isoformat() for d in (first + timedelta(days=n) for n in range(days))]
    started = time.monotonic()
    _say(f"e-Kino demo: daily_job for {days} business days {first}..{last} (Asia/Almaty), home {home}")
    sim = _start_simulator(simulator_port, secrets, faults)
    environment = {
        "DAGSTER_HOME": str(dagster_home),
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
    try:
        _say(
            f"simulator: {len(sim.registry.cinemas)} cinemas, "
            f"{len(sim.registry.connected_cinemas)} connected, at {sim.url}"
        )
        _say(f"Dagster (webserver, daemon, code server): starting, its log in {home / 'dagster.log'}")
        with LocalDagster(environment, home / "dagster.log") as dagster:
            _say(f"Dagster UI at {dagster.url} while the demo runs")
            try:
                return _run_jobs(dagster, sim, settings, registry_dir, first, last, window, started)
            except LocalInstanceError as exc:
                _say(f"\nThe demo stopped: {exc}")
                return 1
    finally:
        sim.stop()


def _run_jobs(dagster, sim, settings, registry_dir: Path, first: date, last: date, window, started) -> int:
    """The demo's runs, each a backfill of the instance: declared returns, daily_job, the sensor's
    tick, the registry snapshot and quarantine_replay_job, film_week_job."""
    # The week's declared returns first, so that daily_job's dbt build compares them.
    week = declared_week(first, datetime.now(UTC))
    if week is not None:
        dagster.backfill(
            "declared_returns_job", [week.isoformat()], title="demo: declared returns", run_config=IN_PROCESS
        )
    [run] = dagster.backfill(
        "daily_job", window, title=f"demo: daily_job {first}..{last}", run_config=IN_PROCESS
    )
    _say(
        f"\ndaily_job succeeded in {time.monotonic() - started:.0f} s "
        f"(backfill of {len(window)} partitions, one run {run['runId'][:8]})"
    )
    # The silent-cinema sensor, started as an operator would: the daemon's first tick judges now.
    dagster.start_sensor("silent_cinema_sensor")
    tick = dagster.sensor_tick("silent_cinema_sensor")
    # The alert runs it requested go on meanwhile; the demo waits for them before it stops Dagster.
    flagged = [a for run_id in tick["runIds"] for a in alert_config(dagster.run_config(run_id))]
    sim.stop()
    print_headline(settings.exports_dir, first, last)
    if week is not None:
        print_discrepancies(settings.exports_dir, week)
    _say("\nCinemas the silent-cinema sensor flags")
    if flagged:
        _print_table(
            ["cinema", "state", "since", "detail"],
            [(a["cinema_id"], a["state"], a["since"], a["detail"][:80]) for a in flagged],
        )
    elif tick["error"]:
        _say(f"  the sensor failed: {tick['error']['message'][:300]}")
    else:
        _say(f"  none ({tick['skipReason']})")

    # The registry catches up with the film MAN-0001 screens: its quarantined sessions are replayed and
    # the window republished without asking the exchange again (the simulator is gone).
    _say(
        f"\nThe national film registry registers {UNKNOWN_FILM}; quarantine_replay_job republishes the window"
    )
    register_unknown_film(registry_dir)
    snapshot = [["landing", f"registry_{name}"] for name in REGISTRY_FILES]
    dagster.backfill(
        None, [last.isoformat()], assets=snapshot, title="demo: registry snapshot", run_config=IN_PROCESS
    )
    replayed_at = datetime.now(UTC)
    dagster.backfill("quarantine_replay_job", window, title="demo: quarantine replay", run_config=IN_PROCESS)
    print_revisions(settings.exports_dir / settings.warehouse_path.name, replayed_at)
    # The Thursday schedule's run for the last film week that closed inside the window.
    week = film_week_start(last + timedelta(days=1)) - timedelta(days=7)
    # Film-week partitions begin with the first whole week after the first daily partition.
    if week >= settings.start_date:
        dagster.backfill("film_week_job", [week.isoformat()], title="demo: film week", run_config=IN_PROCESS)
        print_settlement(settings.exports_dir, week)
    else:
        _say(f"\nNo film week closed inside the window {first}..{last}: nothing to settle")
    for run_id in tick["runIds"]:
        dagster.wait_for_run(run_id)
    _say(f"\nExports for analysts: {settings.exports_dir}")
    _say(f"Box office report: {settings.exports_dir / 'report' / 'index.html'} (one page per day beside it)")
    _say(
        "Browse the demo as it ran (Runs, Backfills, the assets' partitions, the sensor's tick): make ui "
        f"(.venv/bin/ekino-sim ui --home {settings.home})"
    )
    return 0


def alert_config(run_config: dict) -> list[dict]:
    """The cinemas a cinema_alerts_job run announces, from its run config."""
    return run_config.get("ops", {}).get("notify_cinema_alerts", {}).get("config", {}).get("flagged", [])


if __name__ == "__main__":
    sys.exit(run_demo())
