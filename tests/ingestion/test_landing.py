"""The landing zone's commit protocol, without any HTTP."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from ekino_pipeline.ingestion.landing import LandingZone, new_attempt_id

DAY = date(2024, 3, 5)
SCHEMA = pa.schema([("x", pa.int64())])


def _land(zone: LandingZone, rows: int) -> dict:
    attempt = new_attempt_id()
    writer = zone.open_writer("ticket_events", DAY, "ALA-0001", "data", attempt, SCHEMA)
    writer.write(pa.table({"x": list(range(rows))}))
    writer.commit()
    manifest = {"attempt_id": attempt, "files": {"data": writer.path.name}, "landed": rows}
    zone.commit("ticket_events", DAY, "ALA-0001", manifest)
    return manifest


def test_a_new_commit_replaces_the_previous_attempts_files(tmp_path):
    zone = LandingZone(tmp_path)
    first = _land(zone, 3)
    second = _land(zone, 5)
    folder = zone.cinema_day_dir("ticket_events", DAY, "ALA-0001")
    assert sorted(p.name for p in folder.iterdir()) == sorted(["_manifest.json", second["files"]["data"]])
    assert zone.read_manifest("ticket_events", DAY, "ALA-0001")["attempt_id"] == second["attempt_id"]
    assert first["files"]["data"] != second["files"]["data"]


def test_an_aborted_attempt_leaves_the_committed_one_readable(tmp_path):
    zone = LandingZone(tmp_path)
    committed = _land(zone, 3)
    writer = zone.open_writer("ticket_events", DAY, "ALA-0001", "data", new_attempt_id(), SCHEMA)
    writer.write(pa.table({"x": [1]}))
    # The process dies here: no commit, no abort. Readers still see exactly the committed attempt.
    files = zone.committed_files("ticket_events", [DAY])
    assert [f.name for f in files] == [committed["files"]["data"]]


@pytest.mark.parametrize("bad", ["../etc", "ALA-0001/..", "ala-0001", "ALA-00001", "ALA-0001'; drop"])
def test_a_cinema_id_outside_the_strict_pattern_never_reaches_a_path(tmp_path, bad):
    with pytest.raises(ValueError, match="invalid cinema_id"):
        LandingZone(tmp_path).cinema_day_dir("ticket_events", DAY, bad)
