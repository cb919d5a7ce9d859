"""A landing zone whose disk refuses writes (full, or not ours): every cinema-day of the run still
ends with a failed manifest naming the reason, or, when the disk refuses even that, a failed status in
the run; never a half file."""

from __future__ import annotations

import errno
import os
from datetime import date

import pytest

from ekino_pipeline.exchange.registry import load_registry
from ekino_pipeline.ingestion import assets as ingestion_assets
from ekino_pipeline.ingestion.landing import AtomicParquetWriter
from ekino_pipeline.ingestion.landing import parquet as parquet_module
from ekino_sim import SAMPLE_REGISTRY_DIR
from tests.conftest import EkinoHome, start_simulator
from tests.ingestion.helpers import landing, manifests, materialize

DAY = date(2024, 3, 5)
EVENTS = [ingestion_assets.ticket_events]
CINEMAS = [c.cinema_id for c in load_registry(SAMPLE_REGISTRY_DIR).connected_cinemas][:6]


class _RefusingSink:
    """An open Parquet sink on a disk that refuses writes: closing it (the last flush) fails too."""

    def __init__(self, code: int):
        self.code = code

    def close(self):
        raise OSError(self.code, os.strerror(self.code))


def _refuse(code: int):
    def write(self, *args, **kwargs):
        # Part of the file reaches the disk before it refuses the rest.
        self._tmp.write_bytes(b"PAR1 half a row group")
        self._sink = _RefusingSink(code)
        raise OSError(code, os.strerror(code), str(self._tmp))

    return write


def _refuse_empty(code: int):
    def write(schema):
        raise OSError(code, os.strerror(code))

    return write


@pytest.fixture
def home(tmp_path):
    sim, secrets = start_simulator(tmp_path)
    yield EkinoHome(tmp_path / "ekino", sim, secrets)
    sim.stop()


def _debris(home: EkinoHome) -> list[str]:
    root = landing(home.env).root / "ticket_events"
    return sorted(p.name for p in root.rglob("*") if p.is_file() and p.name != "_manifest.json")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_a_parquet_write_the_disk_refuses_gives_every_cinema_day_a_failed_manifest_with_the_reason(
    monkeypatch, home, code
):
    # Regression: on a full disk, 42 of 68 cinema-days got no manifest at all.
    monkeypatch.setattr(AtomicParquetWriter, "_flush", _refuse(code))
    monkeypatch.setattr(parquet_module, "_empty_parquet", _refuse_empty(code))
    result = materialize(monkeypatch, home.env, DAY.isoformat(), assets=EVENTS, cinemas=CINEMAS)
    assert not result.success  # every cinema-day failed: more than the allowed share
    landed = manifests(home.env, "ticket_events", DAY)
    assert sorted(landed) == sorted(CINEMAS)
    for manifest in landed.values():
        assert manifest["status"] == "failed"
        assert manifest["error_type"] in ("OSError", "PermissionError")
        assert os.strerror(code) in manifest["error"]
        assert manifest["files"] == {} and manifest["landed"] == 0
    assert _debris(home) == []


def test_when_the_disk_refuses_even_the_failed_manifest_the_run_names_every_cinema_day_as_failed(
    monkeypatch, home
):
    monkeypatch.setattr(AtomicParquetWriter, "_flush", _refuse(errno.ENOSPC))
    monkeypatch.setattr(parquet_module, "_empty_parquet", _refuse_empty(errno.ENOSPC))

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    result = materialize(monkeypatch, home.env, DAY.isoformat(), assets=EVENTS, cinemas=CINEMAS)
    assert not result.success
    failure = result.failure_data_for_node(ingestion_assets.ticket_events.op.name)
    assert f"{len(CINEMAS)} of {len(CINEMAS)} cinema-days failed" in failure.user_failure_data.description
    metadata = {k: v.value for k, v in failure.user_failure_data.metadata.items()}
    assert metadata["failed_cinema_days"] == len(CINEMAS)
    assert metadata["failed_manifests_not_written"] == len(CINEMAS)
    rows = {r.data["cinema_id"]: r.data for r in metadata["cinemas"].records}
    assert sorted(rows) == sorted(CINEMAS)
    for row in rows.values():
        assert "No space left on device" in row["error"]
        assert "the failed manifest could not be written" in row["error"]
    # No half manifest, no half Parquet file.
    assert manifests(home.env, "ticket_events", DAY) == {}
    assert _debris(home) == []
