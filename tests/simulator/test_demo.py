"""The demo's own steps that are not the pipeline's: its home, the registry catching up with the demo's
film, the film week it compares, how it prints the discrepancies, the distributors' reports a deployment
starts with, and the partitions its runs are given."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from ekino_pipeline.errors import ConfigError
from ekino_pipeline.exchange.registry import load_registry
from ekino_sim import SAMPLE_REGISTRY_DIR, cli, local_instance
from ekino_sim.demo import (
    HOME_MARKER,
    UNDER_DECLARING_CINEMA,
    UNKNOWN_FILM,
    declared_week,
    import_recent_reports,
    partition_tags,
    prepare_home,
    register_unknown_film,
)
from ekino_sim.demo_tables import print_discrepancies, print_nation
from ekino_sim.local_instance import DemoDagster, with_execution


def test_the_demo_refuses_to_delete_a_home_it_did_not_make_and_leaves_it_as_it_was(tmp_path, capsys):
    # Issue 21 case 1: `ekino demo --home DIR` deleted an existing DIR whatever it held.
    home = tmp_path / "someone"
    (home / "thesis").mkdir(parents=True)
    (home / "thesis" / "chapter1.tex").write_text("years of work")
    assert cli.main(["demo", "--home", str(home)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and HOME_MARKER in err and "refusing" in err
    assert (home / "thesis" / "chapter1.tex").read_text() == "years of work"
    assert sorted(p.name for p in home.rglob("*")) == ["chapter1.tex", "thesis"]


def test_the_demo_starts_again_in_a_home_it_made_and_marks_a_new_or_empty_one(tmp_path):
    new, empty = tmp_path / "new" / "home", tmp_path / "empty"
    empty.mkdir()
    for home in (new, empty):
        prepare_home(home)
        assert [p.name for p in home.iterdir()] == [HOME_MARKER]
    (new / "dagster_home").mkdir()
    (new / "exports.parquet").write_text("an earlier demo's")
    prepare_home(new)
    assert [p.name for p in new.iterdir()] == [HOME_MARKER]


def test_the_demo_refuses_a_home_that_is_a_file_or_under_one(tmp_path):
    a_file = tmp_path / "passwd"
    a_file.write_text("root")
    for home in (a_file, a_file / "home"):
        with pytest.raises(ConfigError, match="directory"):
            prepare_home(home)
    assert a_file.read_text() == "root"


def test_the_demos_runs_name_one_partition_or_the_range_of_their_window():
    assert partition_tags(["2026-11-20"]) == {"dagster/partition": "2026-11-20"}
    assert partition_tags(["2026-11-20", "2026-11-21", "2026-11-22"]) == {
        "dagster/asset_partition_range_start": "2026-11-20",
        "dagster/asset_partition_range_end": "2026-11-22",
    }


def test_the_demo_registers_the_film_its_faulty_cinema_screens_in_a_registry_that_still_loads(tmp_path):
    registry_dir = tmp_path / "registry"
    shutil.copytree(SAMPLE_REGISTRY_DIR, registry_dir)
    assert UNKNOWN_FILM not in load_registry(registry_dir).film_ids
    register_unknown_film(registry_dir)
    registry = load_registry(registry_dir)
    assert UNKNOWN_FILM in registry.film_ids
    assert len(registry.films) == len(load_registry(SAMPLE_REGISTRY_DIR).films) + 1


def test_the_demo_compares_the_last_film_week_its_cinemas_have_declared():
    first = date(2026, 11, 10)
    # Thursday 2026-11-26 at 10:00 in Almaty: the week that closed that morning is not declared yet.
    assert declared_week(first, datetime(2026, 11, 26, 5, 0, tzinfo=UTC)) == date(2026, 11, 12)
    # At 13:00 it is.
    assert declared_week(first, datetime(2026, 11, 26, 8, 0, tzinfo=UTC)) == date(2026, 11, 19)
    assert declared_week(first, datetime(2026, 11, 30, 8, 0, tzinfo=UTC)) == date(2026, 11, 19)
    # A window that holds no declared week whole compares none.
    assert declared_week(date(2026, 11, 25), datetime(2026, 11, 30, 8, 0, tzinfo=UTC)) is None


def test_the_demo_prints_the_under_declaring_cinema_and_not_a_truthful_one(tmp_path, capsys):
    week = date(2026, 11, 19)
    line = {
        "film_id": "F00001",
        "title": "Kelin",
        "film_week_start": week,
        "tracked_gross_kzt": Decimal("100000.00"),
        "provisional_reasons": ["day_open"],
    }
    lines = [
        {**line, "cinema_id": UNDER_DECLARING_CINEMA, "declared_gross_kzt": Decimal("85000.00"),
         "difference_kzt": Decimal("-15000.00"), "difference_pct": Decimal("-15.00"),
         "discrepancy": "under_declared", "is_discrepancy": True},
        {**line, "cinema_id": "ALA-0002", "declared_gross_kzt": Decimal("100000.00"),
         "difference_kzt": Decimal("0.00"), "difference_pct": Decimal("0.00"),
         "discrepancy": None, "is_discrepancy": False},
    ]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(lines), tmp_path / "declared_returns_discrepancies.parquet")
    print_discrepancies(tmp_path, week)
    printed = capsys.readouterr().out
    assert "2 cinemas, 2 film lines, 1 over the tolerance" in printed
    assert UNDER_DECLARING_CINEMA in printed and "under_declared" in printed and "-15000.00" in printed
    assert "ALA-0002" not in printed


def test_the_demo_starts_with_distributors_reports_from_each_films_release_up_to_its_first_day(tmp_path):
    registry_dir = tmp_path / "registry"
    shutil.copytree(SAMPLE_REGISTRY_DIR, registry_dir)
    first = date(2026, 11, 16)  # a Monday: the film week holding it opened on Thursday 2026-11-12
    import_recent_reports(registry_dir, first, tmp_path / "reports.csv")
    registry = load_registry(registry_dir)
    films = {f.film_id: f for f in registry.films}
    recent = [r for r in registry.history if r.film_id and films[r.film_id].release_date.year == 2026]
    assert len({r.film_id for r in recent}) > 100
    assert max(r.period_start for r in recent) == date(2026, 11, 12)
    for film_id in {r.film_id for r in recent}:
        weeks = sorted(r.period_start for r in recent if r.film_id == film_id)
        assert weeks[0] == films[film_id].release_date
    shipped = load_registry(SAMPLE_REGISTRY_DIR).history
    assert set(shipped) <= set(registry.history)


def test_the_sensors_alert_run_executes_in_process_with_its_requested_config_kept_as_written():
    # The request's YAML keeps its timestamp strings as they are: parsed and dumped again they would change.
    requested = (
        "execution: {}\nloggers: {}\nops:\n  notify_cinema_alerts:\n    config:\n      flagged:\n"
        "      - cinema_id: ALA-0001\n        since: '2026-11-29T19:00:00+00:00'\nresources: {}\n"
    )
    edited = with_execution(requested, {"config": {"in_process": {}}})
    assert yaml.safe_load(edited) == {
        **yaml.safe_load(requested),
        "execution": {"config": {"in_process": {}}},
    }
    assert "since: '2026-11-29T19:00:00+00:00'" in edited
    assert yaml.safe_load(with_execution("ops: {}\n", {"config": {"in_process": {}}})) == {
        "ops": {},
        "execution": {"config": {"in_process": {}}},
    }


def test_the_demo_prints_closed_days_final_with_what_they_exclude_and_open_days_open(tmp_path, capsys):
    day = {
        "gross_kzt": Decimal("100.00"),
        "admissions": 1,
        "cinemas_reporting": 67,
        "cinemas_connected": 68,
        "cinemas_total": 103,
        "excluded_quarantined_gross_kzt": Decimal("10880.00"),
        "n_cinemas_missing": 0,
        "n_cinemas_silent": 1,
        "exclusions": ["cinemas_silent", "records_quarantined"],
    }
    days = [
        {**day, "business_date": date(2026, 12, 3), "is_provisional": False, "provisional_reasons": []},
        {**day, "business_date": date(2026, 12, 4), "is_provisional": True, "n_cinemas_missing": 2,
         "exclusions": ["cinemas_missing", "cinemas_silent"],
         "provisional_reasons": ["day_open", "cinemas_missing", "cinemas_silent"]},
    ]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(days), tmp_path / "national_daily.parquet")
    with duckdb.connect() as con:
        print_nation(
            con.cursor(),
            lambda name: f"read_parquet('{tmp_path / name}.parquet')",
            *[d["business_date"] for d in days],
        )
    closed, still_open = capsys.readouterr().out.splitlines()[-2:]
    assert closed.split()[:5] == ["2026-12-03", "100.00", "1", "67/68/103", "final"]
    assert "10880.00" in closed and closed.endswith("cinemas_silent (1), records_quarantined")
    assert still_open.split()[4] == "open" and "cinemas_missing (2), cinemas_silent (1)" in still_open


def test_only_the_demos_webserver_opens_its_instance_the_code_server_starts_without_it(monkeypatch, tmp_path):
    # Both opening a new SQLite instance at once stamped its schedule storage twice: "more than one
    # head", and the demo's own stop (and `make ui`) could not open the instance any more.
    started = []
    monkeypatch.setattr(local_instance, "scratch_parent", lambda: None)
    monkeypatch.setattr(local_instance, "ChildGroup", lambda cmd, env, **_: started.append((cmd, env)))
    DemoDagster({"DAGSTER_HOME": str(tmp_path / "dagster_home")}, tmp_path / "dagster.log").start()
    [(code_server, code_env), (webserver, web_env)] = started
    assert code_server[1:4] == ["-m", "dagster", "api"] and "DAGSTER_HOME" not in code_env
    assert "dagster_webserver" in webserver[2] and web_env["DAGSTER_HOME"] == str(tmp_path / "dagster_home")
