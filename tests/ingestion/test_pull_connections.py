"""A batch of pulls shares its HTTP connections: every cinema-day's client of one `pull_in_threads`
gets the batch's SharedConnections, which close when the batch ends; each cinema still lands its own
day whole."""

from __future__ import annotations

import json
from datetime import date

from ekino_pipeline.exchange.registry import load_registry
from ekino_pipeline.ingestion import workers
from ekino_pipeline.ingestion.resources import ExchangeResource
from ekino_pipeline.ingestion.workers import PullPlan, PullTask, pull_in_threads
from ekino_sim import SAMPLE_REGISTRY_DIR
from tests.conftest import ConnectionsSeen, start_simulator

DAY = date(2024, 3, 5)


def test_the_clients_of_a_batch_share_its_connections_which_close_with_it(monkeypatch, tmp_path):
    seen = ConnectionsSeen(monkeypatch, workers)
    cinemas = load_registry(SAMPLE_REGISTRY_DIR).connected_cinemas[:5]
    sim, secrets = start_simulator(tmp_path)
    try:
        plan = PullPlan(
            dataset="ticket_events",
            landing_root=str(tmp_path / "landing"),
            client_options=ExchangeResource().client_options(),
            base_url=sim.url,
            tokens=json.loads(secrets.read_text()),
            run_id="run-1",
        )
        tasks = [PullTask(c.cinema_id, c.base_url, DAY) for c in cinemas]
        manifests = list(pull_in_threads(plan, tasks, threads=2))
    finally:
        sim.stop()
    assert sorted(m["cinema_id"] for m in manifests) == sorted(c.cinema_id for c in cinemas)
    for manifest in manifests:
        truth = sim.network.truth(manifest["cinema_id"], DAY)["ticket_events"]
        assert manifest["status"] == "success" and manifest["landed"] == truth["valid_unique"]
    given = seen.given
    assert len(given) == len(cinemas) and given[0] is not None and set(map(id, given)) == {id(given[0])}
    assert seen.closed == [given[0]]
