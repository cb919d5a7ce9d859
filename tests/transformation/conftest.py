"""The hand-made scenario, seeded into a DuckDB file and built once per test run (shared by the xdist
workers) for the tests that only read it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.transformation.dbt_helpers import build_once
from tests.transformation.raw_fixture import RawFixture
from tests.transformation.scenarios import (
    clean_days,
    with_a_steady_film,
    with_anomalies,
    with_declared_returns,
)

AS_OF = "2024-03-03"
# A week after the scenario's last day: every day on record has closed (closing_lag_days is 3).
CLOSED_AS_OF = "2024-03-10"


@dataclass(frozen=True)
class Built:
    fixture: RawFixture
    warehouse: Path


@pytest.fixture(scope="session")
def built_scenario(tmp_path_factory) -> Built:
    """Clean days 2024-02-20..2024-03-01, the anomaly patterns on 2024-03-02 and declared returns for
    the film week of 2024-02-29, built in full."""
    fx = with_declared_returns(with_anomalies(clean_days()))
    return Built(fx, build_once(tmp_path_factory, "scenario", fx, as_of_date=AS_OF))


@pytest.fixture(scope="session")
def closed_scenario(tmp_path_factory) -> Built:
    """The scenario with a film screened every day since 2024-02-22, built in full as of CLOSED_AS_OF."""
    fx = with_a_steady_film(with_anomalies(clean_days()))
    return Built(fx, build_once(tmp_path_factory, "closed", fx, as_of_date=CLOSED_AS_OF))
