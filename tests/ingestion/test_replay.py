"""Quarantine replay: records quarantined by a real pull over HTTP are validated again after the registry
catches up (or a rule is corrected) and landed without asking the exchange again."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from ekino_pipeline.cli import main as ekino_main
from ekino_pipeline.definitions import build_resources
from ekino_pipeline.exchange.contract import Rejected
from ekino_pipeline.exchange.registry import load_registry
from ekino_pipeline.ingestion import assets as ingestion_assets
from ekino_pipeline.ingestion import replay as replay_module
from ekino_pipeline.ingestion.landing import (
    AtomicParquetWriter,
    CinemaDay,
    LandingZone,
    new_attempt_id,
    record_failed_pull,
)
from ekino_pipeline.ingestion.loading import raw_tables
from ekino_pipeline.ingestion.replay import replay_quarantine
from ekino_pipeline.ingestion.replay_assets import REPLAY_KEY, quarantine_replay
from ekino_pipeline.ingestion.schemas import QUARANTINE
from ekino_pipeline.settings import Settings
from ekino_sim import SAMPLE_REGISTRY_DIR
from ekino_sim.network import UNKNOWN_FILM_ID
from tests.conftest import EkinoHome, start_simulator
from tests.ingestion.helpers import materialize

DAY = date(2024, 3, 5)
CONNECTED = [c.cinema_id for c in load_registry(SAMPLE_REGISTRY_DIR).connected_cinemas]
FILMLESS, BAD_AMOUNTS = CONNECTED[0], CONNECTED[1]
UNKNOWN_FILM_REASON = f"film_id: unknown film {UNKNOWN_FILM_ID}"
PAID_AT_ZERO = "amount_kzt: 0.00 on a paid category"
EKINO = str(Path(sys.executable).parent / "ekino")


@pytest.fixture(scope="module")
def pulled(tmp_path_factory):
    """One real pull of DAY: FILMLESS sells sessions of a film the registry does not know yet, and
    BAD_AMOUNTS serves some events with impossible amounts. Tests replay copies of this landing zone."""
    tmp = tmp_path_factory.mktemp("replay")
    faults = [
        {"cinema_id": FILMLESS, "scenario": "unknown_film", "rate": 0.5},
        {"cinema_id": BAD_AMOUNTS, "scenario": "bad_amounts", "rate": 0.1},
    ]
    sim, secrets = start_simulator(tmp, faults=faults)
    mp = pytest.MonkeyPatch()
    try:
        home = EkinoHome(tmp / "ekino", sim, secrets)
        result = materialize(
            mp,
            home.env,
            DAY.isoformat(),
            assets=[ingestion_assets.sessions, ingestion_assets.ticket_events],
            cinemas=[FILMLESS, BAD_AMOUNTS],
        )
        assert result.success
    finally:
        mp.undo()
        sim.stop()
    return home.home / "landing"


@pytest.fixture
def zone(pulled, tmp_path) -> LandingZone:
    root = tmp_path / "ekino" / "landing"
    shutil.copytree(pulled, root)
    return LandingZone(root)


@pytest.fixture(scope="module")
def registered(tmp_path_factory) -> Path:
    """The shipped registry with the unknown film registered."""
    directory = tmp_path_factory.mktemp("registry")
    for csv_file in SAMPLE_REGISTRY_DIR.glob("*.csv"):
        shutil.copy(csv_file, directory / csv_file.name)
    films = directory / "films.csv"
    with films.open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    film = {
        "film_id": UNKNOWN_FILM_ID,
        "title": "Late Registration",
        "original_title": "Late Registration",
        "genres": "drama",
        "production_countries": "KZ",
        "original_language": "kk",
        "release_date": "2024-03-01",
        "distributor": "Steppe Distribution",
        "is_domestic": "true",
        "funding_project_id": "",
        "runtime_minutes": "97",
    }
    with films.open("a", newline="", encoding="utf-8") as fh:
        csv.DictWriter(fh, header, lineterminator="\n").writerow(film)
    return directory


def _manifest(zone: LandingZone, cinema_id: str = FILMLESS, dataset: str = "sessions") -> dict:
    return zone.read_manifest(dataset, DAY, cinema_id)


def _file(zone: LandingZone, manifest: dict, kind: str, cinema_id: str = FILMLESS, dataset: str = "sessions"):
    return pq.read_table(zone.cinema_day_dir(dataset, DAY, cinema_id) / manifest["files"][kind])


def _reconciles(manifest: dict) -> bool:
    return manifest["served"] == manifest["landed"] + manifest["quarantined"] + manifest["duplicates_dropped"]


def _folder(zone: LandingZone, cinema_id: str = FILMLESS, dataset: str = "sessions") -> dict[str, int]:
    folder = zone.cinema_day_dir(dataset, DAY, cinema_id)
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_registering_the_unknown_film_lands_its_quarantined_sessions_and_the_manifest_still_reconciles(
    zone, registered
):
    before = _manifest(zone)
    quarantined = _file(zone, before, "quarantine")
    assert before["quarantined"] > 1 and set(quarantined["reason"].to_pylist()) == {UNKNOWN_FILM_REASON}

    [result] = replay_quarantine(zone, load_registry(registered), [DAY], cinemas=[FILMLESS])

    n = before["quarantined"]
    after = _manifest(zone)
    assert result.replayed == after["replayed"] == n and result.remaining == 0
    assert after["landed"] == before["landed"] + n and after["quarantined"] == 0
    assert after["served"] == before["served"] and _reconciles(after)
    assert after["replays"] == [
        {
            "at": after["replays"][0]["at"],
            "attempt_id": result.attempt_id,
            "records": n,
            "duplicates_dropped": 0,
            "reasons": {UNKNOWN_FILM_REASON: n},
        }
    ]
    # The new data file holds the earlier rows and the replayed ones; no quarantine file is left.
    assert after["files"] == {"data": f"data-{result.attempt_id}.parquet"}
    assert after["data_attempt_id"] == result.attempt_id and after["attempt_id"] == before["attempt_id"]
    assert set(_folder(zone)) == {"_manifest.json", after["files"]["data"]}
    data = _file(zone, after, "data")
    assert data.num_rows == after["landed"] and len(pc.unique(data["session_id"])) == data.num_rows
    film = data.filter(pc.equal(data["film_id"], UNKNOWN_FILM_ID))
    assert sorted(film["session_id"].to_pylist()) == sorted(quarantined["record_key"].to_pylist())
    assert set(film["attempt_id"].to_pylist()) == {result.attempt_id}
    # They keep the time the exchange served them: the replay asked the exchange nothing.
    assert set(film["extracted_at"].to_pylist()) == set(quarantined["extracted_at"].to_pylist())
    old_rows = data.filter(pc.not_equal(data["film_id"], UNKNOWN_FILM_ID))
    assert set(old_rows["attempt_id"].to_pylist()) == {before["data_attempt_id"]}
    starts = pc.min_max(data["starts_at"]).values()
    assert (after["first_record_at"], after["last_record_at"]) == tuple(s.as_py().isoformat() for s in starts)


def test_replaying_a_second_time_changes_no_file_and_no_manifest(zone, registered):
    registry = load_registry(registered)
    first = replay_quarantine(zone, registry, [DAY])
    assert [(r.dataset, r.cinema_id) for r in first if r.changed] == [("sessions", FILMLESS)]
    manifest, folder = _manifest(zone), _folder(zone)

    again = replay_quarantine(zone, registry, [DAY])

    assert all(not r.changed and r.replayed == 0 for r in again)
    assert _manifest(zone) == manifest and _folder(zone) == folder


def test_without_the_film_in_the_registry_nothing_is_replayed_and_nothing_is_written(zone):
    manifest, folder = _manifest(zone), _folder(zone)

    [result] = replay_quarantine(zone, load_registry(SAMPLE_REGISTRY_DIR), [DAY], cinemas=[FILMLESS])

    assert not result.changed and result.remaining == manifest["quarantined"] > 0
    assert _manifest(zone) == manifest and _folder(zone) == folder


def _add_quarantined(zone: LandingZone, rows: list[dict]) -> None:
    """Commit the cinema-day again with more quarantined rows, as a pull that was served them would."""
    manifest = _manifest(zone)
    old = _file(zone, manifest, "quarantine")
    attempt_id = new_attempt_id()
    writer = zone.open_writer("sessions", DAY, FILMLESS, "quarantine", attempt_id, QUARANTINE)
    writer.write(pa.concat_tables([old, pa.Table.from_pylist(rows, schema=QUARANTINE)]))
    writer.commit()
    added = len(rows)
    files = {**manifest["files"], "quarantine": writer.path.name}
    zone.commit(
        "sessions",
        DAY,
        FILMLESS,
        {
            **manifest,
            "served": manifest["served"] + added,
            "quarantined": manifest["quarantined"] + added,
            "files": files,
        },
    )


def test_a_conflicting_duplicate_stays_quarantined_and_an_identical_copy_is_counted_as_a_duplicate(
    zone, registered
):
    first = _file(zone, _manifest(zone), "quarantine").to_pylist()[0]
    raw = json.loads(first["raw_record"])
    identical = dict(first)
    differing = {
        **first,
        "raw_record": json.dumps({**raw, "format": "IMAX" if raw["format"] != "IMAX" else "2D"}),
    }
    # A conflicting duplicate is never replayed, even when its record would pass today's rules.
    conflict_key = raw["session_id"] + "-B"
    conflicting = {
        **first,
        "record_key": conflict_key,
        "raw_record": json.dumps({**raw, "session_id": conflict_key}),
        "reason": f"conflicting duplicate: session_id {conflict_key} served twice, differently",
    }
    _add_quarantined(zone, [identical, differing, conflicting])
    before = _manifest(zone)

    [result] = replay_quarantine(zone, load_registry(registered), [DAY], cinemas=[FILMLESS])

    after = _manifest(zone)
    assert result.duplicates_dropped == 1 and result.remaining == 2
    assert after["replayed"] == result.replayed == before["quarantined"] - 3
    assert after["duplicates_dropped"] == before["duplicates_dropped"] + 1
    assert after["quarantined"] == 2 and _reconciles(after)
    left = _file(zone, after, "quarantine")
    assert sorted(left["record_key"].to_pylist()) == sorted([raw["session_id"], conflict_key])
    assert all(reason.startswith("conflicting duplicate") for reason in left["reason"].to_pylist())
    data = _file(zone, after, "data")
    assert data["session_id"].to_pylist().count(raw["session_id"]) == 1
    assert conflict_key not in data["session_id"].to_pylist()


def test_a_corrected_ticket_event_rule_lands_the_events_it_had_quarantined_and_the_totals_follow(
    zone, monkeypatch
):
    before = _manifest(zone, BAD_AMOUNTS, "ticket_events")
    reasons = _file(zone, before, "quarantine", BAD_AMOUNTS, "ticket_events")["reason"].to_pylist()
    at_zero = sum(r.startswith(PAID_AT_ZERO) for r in reasons)
    assert 0 < at_zero < len(reasons)  # and negative amounts, which the correction does not cover
    original = replay_module.validate_ticket_event

    def corrected(raw, **kwargs):
        """The rule as corrected: a paid category may be sold at 0.00 (a promotion)."""
        result = original(raw, **kwargs)
        if isinstance(result, Rejected) and result.reason.startswith(PAID_AT_ZERO):
            event = original({**raw, "category": "invitation"}, **kwargs)
            return event if isinstance(event, Rejected) else {**event, "category": raw["category"]}
        return result

    monkeypatch.setattr(replay_module, "validate_ticket_event", corrected)

    [result] = replay_quarantine(zone, load_registry(SAMPLE_REGISTRY_DIR), [DAY], cinemas=[BAD_AMOUNTS])

    after = _manifest(zone, BAD_AMOUNTS, "ticket_events")
    assert result.replayed == at_zero == after["replayed"] and result.remaining == len(reasons) - at_zero
    assert after["quarantined"] == before["quarantined"] - at_zero and _reconciles(after)
    data = _file(zone, after, "data", BAD_AMOUNTS, "ticket_events")
    assert data.num_rows == after["landed"] == before["landed"] + at_zero
    sales = data.filter(pc.equal(data["event_type"], "sale"))
    refunds = data.filter(pc.equal(data["event_type"], "refund"))
    assert (after["sales"], after["refunds"]) == (sales.num_rows, refunds.num_rows)
    assert after["sales"] + after["refunds"] == before["sales"] + before["refunds"] + at_zero
    gross = sum(sales["amount_kzt"].to_pylist(), Decimal("0.00")) - sum(
        refunds["amount_kzt"].to_pylist(), Decimal("0.00")
    )
    assert Decimal(after["gross_kzt"]) == gross == Decimal(before["gross_kzt"])  # they were sold at 0.00


def test_a_failed_re_pull_keeps_its_status_and_error_through_a_replay(zone, registered):
    req = CinemaDay("sessions", FILMLESS, DAY)
    failed = record_failed_pull(req, zone, error="the API stopped answering", error_type="ExchangeError")
    assert failed["files"]  # it still names the earlier attempt's files

    [result] = replay_quarantine(zone, load_registry(registered), [DAY], cinemas=[FILMLESS])

    after = _manifest(zone)
    assert result.replayed > 0 and after["landed"] == failed["landed"] + result.replayed
    assert (after["status"], after["error"], after["attempt_id"]) == (
        "failed",
        failed["error"],
        failed["attempt_id"],
    )
    assert after["data_attempt_id"] == result.attempt_id and _reconciles(after)


def test_a_crash_before_the_manifest_leaves_the_old_manifest_naming_the_old_files(
    zone, registered, monkeypatch
):
    before = _manifest(zone)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(LandingZone, "commit", crash)
    with pytest.raises(OSError, match="disk full"):
        replay_quarantine(zone, load_registry(registered), [DAY], cinemas=[FILMLESS])
    monkeypatch.undo()

    assert _manifest(zone) == before
    assert _file(zone, before, "data").num_rows == before["landed"]
    assert _file(zone, before, "quarantine").num_rows == before["quarantined"]
    [result] = replay_quarantine(zone, load_registry(registered), [DAY], cinemas=[FILMLESS])
    assert result.replayed == before["quarantined"] == _manifest(zone)["replayed"]


def test_a_pull_committed_while_the_replay_writes_is_left_as_it_is(zone, registered, monkeypatch):
    original_commit = AtomicParquetWriter.commit
    repulled = {**_manifest(zone), "attempt_id": "concurrentpull01"}

    def commit_then_repull(self):
        path = original_commit(self)
        if zone.read_manifest("sessions", DAY, FILMLESS) != repulled:
            zone.commit("sessions", DAY, FILMLESS, repulled)
        return path

    monkeypatch.setattr(AtomicParquetWriter, "commit", commit_then_repull)
    [result] = replay_quarantine(zone, load_registry(registered), [DAY], cinemas=[FILMLESS])

    assert result.skipped and not result.changed
    assert _manifest(zone) == repulled
    assert set(_folder(zone)) == {"_manifest.json", *repulled["files"].values()}


def _use_home(monkeypatch, zone: LandingZone, registry_dir: Path) -> None:
    monkeypatch.setenv("EKINO_HOME", str(zone.root.parent))
    monkeypatch.setenv("EKINO_REGISTRY_DIR", str(registry_dir))
    monkeypatch.delenv("EKINO_LANDING_ROOT", raising=False)
    monkeypatch.delenv("EKINO_WAREHOUSE_PATH", raising=False)


def test_the_replay_asset_lands_the_sessions_and_the_loader_takes_them_to_raw_sessions(
    zone, registered, monkeypatch
):
    _use_home(monkeypatch, zone, registered)
    quarantined = _manifest(zone)["quarantined"]
    settings = Settings.from_env()

    result = dg.materialize(
        [quarantine_replay, raw_tables],
        partition_key=DAY.isoformat(),
        resources=build_resources(settings),
        instance=dg.DagsterInstance.ephemeral(),
    )

    assert result.success
    [materialization] = [m for m in result.asset_materializations_for_node("landing__quarantine_replay")]
    metadata = materialization.metadata
    assert (
        metadata["replayed_sessions"].value == quarantined and metadata["replayed_ticket_events"].value == 0
    )
    assert metadata["cinema_days_touched"].value == 1
    [record] = metadata["reasons"].value.records
    assert record.data == {"dataset": "sessions", "reason": UNKNOWN_FILM_REASON, "records": quarantined}
    [check] = result.get_asset_check_evaluations()
    assert check.passed
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        [(sessions,)] = con.execute(
            "select count(*) from raw.sessions where film_id = ? and business_date = ?",
            [UNKNOWN_FILM_ID, DAY],
        ).fetchall()
        [(replayed, left)] = con.execute(
            "select replayed, quarantined from raw.landing_manifests "
            "where dataset = 'sessions' and cinema_id = ?",
            [FILMLESS],
        ).fetchall()
        [(still,)] = con.execute(
            "select count(*) from raw.quarantine where dataset = 'sessions' and cinema_id = ?", [FILMLESS]
        ).fetchall()
    finally:
        con.close()
    assert sessions == replayed == quarantined and left == still == 0


def test_the_replay_job_reloads_and_rebuilds_the_window_but_never_pulls_from_the_exchange():
    from ekino_pipeline.definitions import defs

    job = defs.resolve_job_def("quarantine_replay_job")
    selected = job.asset_layer.selected_asset_keys
    assert REPLAY_KEY in selected
    assert {dg.AssetKey(["raw", "sessions"]), dg.AssetKey(["raw", "landing_manifests"])} <= selected
    assert dg.AssetKey(["marts", "film_daily_box_office"]) in selected
    assert not {k for k in selected if k.path[0] == "landing"} - {REPLAY_KEY}
    assert job.partitions_def == defs.resolve_job_def("daily_job").partitions_def
    # In the asset graph the replay comes after the pulls and before the loader, so daily_job, which
    # runs everything, replays (finding nothing new) between them rather than beside them.
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey(["landing", "sessions"]) in graph.get(REPLAY_KEY).parent_keys
    assert REPLAY_KEY in graph.get(dg.AssetKey(["raw", "sessions"])).parent_keys
    assert REPLAY_KEY in defs.resolve_job_def("daily_job").asset_layer.selected_asset_keys


def _ekino(zone: LandingZone, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EKINO_")}
    env["EKINO_HOME"] = str(zone.root.parent)
    return subprocess.run(
        [EKINO, "replay-quarantine", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_ekino_replay_quarantine_prints_each_replayed_cinema_day_and_a_total(zone, registered):
    n = _manifest(zone)["quarantined"]
    days = ["--from", DAY.isoformat(), "--to", DAY.isoformat()]

    proc = _ekino(zone, *days, "--registry-dir", str(registered))

    assert proc.returncode == 0, proc.stderr
    assert f"sessions {DAY} {FILMLESS}: replayed {n} ({UNKNOWN_FILM_REASON}: {n})" in proc.stdout
    assert f"replayed {n} records in 1 cinema-days (sessions {n}, ticket_events 0)" in proc.stdout
    assert _manifest(zone)["replayed"] == n
    again = _ekino(zone, *days, "--registry-dir", str(registered), "--cinema", FILMLESS)
    assert again.returncode == 0, again.stderr
    assert "replayed 0 records in 0 cinema-days" in again.stdout


def test_ekino_replay_quarantine_rejects_a_bad_date_in_one_line_with_exit_2(zone):
    proc = _ekino(zone, "--from", "2024-02-30", "--to", "2024-03-05")

    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "ekino replay-quarantine: --from '2024-02-30' is not a date: day is out of range for month"
    ]
    assert not proc.stdout


def test_a_truncated_manifest_is_one_line_naming_its_file(tmp_path, monkeypatch, capsys):
    # A truncated _manifest.json failed the replay with a JSONDecodeError that named no file.
    manifest = LandingZone(tmp_path / "landing").cinema_day_dir("sessions", DAY, FILMLESS) / "_manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"files": {"data": "data-1.parq')
    monkeypatch.setenv("EKINO_HOME", str(tmp_path))
    monkeypatch.delenv("EKINO_LANDING_ROOT", raising=False)
    days = ["--from", DAY.isoformat(), "--to", DAY.isoformat()]

    code = ekino_main(["replay-quarantine", *days, "--registry-dir", str(SAMPLE_REGISTRY_DIR)])

    assert code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"ekino replay-quarantine: {manifest} is not a readable manifest: ")
