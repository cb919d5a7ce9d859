"""The production instance configuration (deploy/production/dagster.yaml) on a real PostgreSQL.

The server comes from EKINO_TEST_PG_* (default: the local server, database `test`). Under CI=true an
unreachable server is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from ekino_pipeline.ingestion import assets as ingestion_assets
from tests.conftest import EkinoHome
from tests.ingestion.helpers import materialize

ROOT = Path(__file__).resolve().parents[2]
PG = {
    "EKINO_PG_HOST": os.environ.get("EKINO_TEST_PG_HOST", "127.0.0.1"),
    "EKINO_PG_PORT": os.environ.get("EKINO_TEST_PG_PORT", "5432"),
    "EKINO_PG_DB": os.environ.get("EKINO_TEST_PG_DB", "test"),
    "EKINO_PG_USER": os.environ.get("EKINO_TEST_PG_USER", "postgres"),
    "EKINO_PG_PASSWORD": os.environ.get("EKINO_TEST_PG_PASSWORD", ""),
}


@pytest.fixture
def postgres_instance(tmp_path, monkeypatch):
    try:
        psycopg2.connect(
            host=PG["EKINO_PG_HOST"],
            port=PG["EKINO_PG_PORT"],
            dbname=PG["EKINO_PG_DB"],
            user=PG["EKINO_PG_USER"],
            password=PG["EKINO_PG_PASSWORD"],
            connect_timeout=5,
        ).close()
    except psycopg2.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        pytest.skip(f"no PostgreSQL at {PG['EKINO_PG_HOST']}:{PG['EKINO_PG_PORT']}: {exc}")
    for name, value in PG.items():
        monkeypatch.setenv(name, value)
    shutil.copy(ROOT / "deploy" / "production" / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        yield instance
    finally:
        instance.dispose()


def test_the_postgres_instance_records_runs_and_partitioned_materializations(
    postgres_instance, monkeypatch, pilot_home: EkinoHome
):
    assert type(postgres_instance.run_storage).__name__ == "PostgresRunStorage"
    result = materialize(
        monkeypatch,
        pilot_home.env,
        "2024-03-05",
        assets=[ingestion_assets.national_registries, ingestion_assets.ticket_events],
        cinemas=["ALA-0001"],
        instance=postgres_instance,
    )
    assert result.success
    run = postgres_instance.get_run_by_id(result.run_id)
    assert run is not None and run.is_success
    key = dg.AssetKey(["landing", "ticket_events"])
    event = postgres_instance.get_latest_materialization_event(key)
    assert event is not None and event.run_id == result.run_id
    assert event.asset_materialization.partition == date(2024, 3, 5).isoformat()
    checks = postgres_instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(key, "served_equals_landed_quarantined_duplicates"), limit=1
    )
    assert checks and checks[0].run_id == result.run_id
