"""The exchange client against the real simulator over HTTP, one cinema per fault scenario.

Every pull that completes must account for every record the cinema served (served = valid + rejected)
and agree with the simulator's own `/_sim/truth` for the business day.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import requests

from ekino_pipeline.calendar import business_day_bounds
from ekino_pipeline.exchange.client import (
    ExchangeClient,
    ExchangeConnectionError,
    ExchangeHTTPError,
    Page,
    ResponseTooLarge,
)
from ekino_pipeline.exchange.contract import TICKET_EVENT_FIELDS
from ekino_pipeline.exchange.registry import load_registry
from ekino_sim import SAMPLE_REGISTRY_DIR
from ekino_sim import faults as F
from ekino_sim.server import SimulatorServer

NOW = datetime(2024, 3, 20, tzinfo=UTC)
DAY = date(2024, 2, 29)  # the 25-hour business day
FAULT_DAYS = {"from_date": "2024-02-29", "until_date": "2024-03-01"}
CLEAN = "ALA-0002"
OVERSIZED_OVER_LIMIT = "oversized_page_over_limit"

# scenario -> extra fault parameters; small delays and sizes keep the run short
SCENARIOS: dict[str, dict] = {
    F.OUTAGE: {},
    F.SERVER_ERRORS: {},
    F.RATE_LIMIT: {"retry_after": 5},  # capped by the client's max_retry_after
    F.SLOW: {"delay_seconds": 1.0},
    F.TRUNCATED_JSON: {},
    F.OVERSIZED_PAGE: {"size_bytes": 200_000},
    F.API_DOWN: {},
    F.DUPLICATE_EVENTS: {"rate": 0.05},
    F.OUT_OF_ORDER: {"rate": 0.05},
    F.UNKNOWN_SESSION: {},
    F.UNKNOWN_FILM: {"rate": 0.1},
    F.FOREIGN_CINEMA: {"records": "both"},
    F.FUTURE_TIMESTAMPS: {},
    F.BAD_AMOUNTS: {"rate": 0.05},
    F.WRONG_TYPES: {"records": "both", "rate": 0.05},
    F.MISSING_FIELDS: {"records": "both", "rate": 0.05},
    F.EXTRA_FIELDS: {"records": "both", "rate": 0.05},
}
FAILING = {F.OUTAGE: ExchangeHTTPError, F.API_DOWN: ExchangeConnectionError}


def _cinemas_for_scenarios() -> dict[str, str]:
    ids = [
        c.cinema_id
        for c in load_registry(SAMPLE_REGISTRY_DIR).connected_cinemas
        if len(c.halls) >= 2 and c.cinema_id != CLEAN
    ]
    names = [*SCENARIOS, OVERSIZED_OVER_LIMIT]
    assert len(ids) >= len(names)
    return dict(zip(names, ids, strict=False))


CINEMA_OF = _cinemas_for_scenarios()


@pytest.fixture(scope="module")
def sim():
    faults = [
        {"cinema_id": CINEMA_OF[name], "scenario": name, **FAULT_DAYS, **params}
        for name, params in SCENARIOS.items()
    ]
    faults.append(
        {"cinema_id": CINEMA_OF[OVERSIZED_OVER_LIMIT], "scenario": F.OVERSIZED_PAGE, "size_bytes": 3_000_000}
    )
    with SimulatorServer(seed=7, faults=faults, now=NOW) as server:
        yield server


def client_for(sim: SimulatorServer, cinema_id: str, **overrides) -> ExchangeClient:
    options = {
        "cinema_id": cinema_id,
        "page_size": 250,
        "connect_timeout": 1.0,
        "read_timeout": 0.3,
        "retries": 4,
        "backoff_factor": 0.01,
        "max_retry_after": 0.05,
        "deadline_seconds": 60.0,
        "max_response_bytes": 2 * 2**20,
        "clock": lambda: NOW,
    }
    options.update(overrides)
    return ExchangeClient(f"{sim.url}/cinemas/{cinema_id}", sim.tokens[cinema_id], **options)


def truth(sim: SimulatorServer, cinema_id: str, day: date = DAY) -> dict:
    answer = requests.get(
        f"{sim.url}/_sim/truth", params={"cinema_id": cinema_id, "date": day.isoformat()}, timeout=30
    )
    answer.raise_for_status()
    return answer.json()


def pull(client: ExchangeClient, day: date = DAY) -> tuple[list[Page], list[Page]]:
    sessions = list(client.iter_session_pages(day))
    events = list(client.iter_ticket_event_pages(*business_day_bounds(day)))
    return sessions, events


def assert_pages_match_truth(sessions: list[Page], events: list[Page], expected: dict) -> None:
    for page in (*sessions, *events):
        assert page.served == len(page.valid) + len(page.rejected)
    assert [p.number for p in events] == list(range(1, len(events) + 1))

    served = sum(p.served for p in sessions)
    rejected = sum(len(p.rejected) for p in sessions)
    assert (served, rejected) == (expected["sessions"]["served"], expected["sessions"]["invalid"])

    want = expected["ticket_events"]
    valid = [e for p in events for e in p.valid]
    assert sum(p.served for p in events) == want["served"]
    assert sum(len(p.rejected) for p in events) == want["invalid"]
    unique = {e["event_id"]: e for e in valid}
    assert len(unique) == want["valid_unique"]
    assert len(valid) - len(unique) == want["duplicates"]
    kinds = Counter(e["event_type"] for e in unique.values())
    assert (kinds["sale"], kinds["refund"]) == (want["sales"], want["refunds"])
    sales = sum((e["amount_kzt"] for e in unique.values() if e["event_type"] == "sale"), Decimal("0.00"))
    refunds = sum((e["amount_kzt"] for e in unique.values() if e["event_type"] == "refund"), Decimal("0.00"))
    assert (sales, refunds) == (Decimal(want["sales_kzt"]), Decimal(want["refunds_kzt"]))


def test_a_clean_cinema_day_is_pulled_whole_and_matches_the_truth(sim):
    with client_for(sim, CLEAN) as client:
        assert client.health()["cinema_id"] == CLEAN
        halls, rejected_halls = client.halls()
        sessions, events = pull(client)
    assert halls and not rejected_halls
    assert len(events) > 1, "expected several pages at page_size 250"
    assert not any(p.rejected or p.extra_fields or p.out_of_order for p in (*sessions, *events))
    assert_pages_match_truth(sessions, events, truth(sim, CLEAN))


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s not in FAILING])
def test_every_fault_scenario_still_accounts_for_every_served_record(sim, scenario):
    cinema_id = CINEMA_OF[scenario]
    with client_for(sim, cinema_id) as client:
        sessions, events = pull(client)
    expected = truth(sim, cinema_id)
    assert_pages_match_truth(sessions, events, expected)
    # The fault really happened, so the pull above was no clean run in disguise.
    if scenario in F.RESPONSE_SCENARIOS:
        assert sim.fault_plan.fired(cinema_id, scenario) >= 1
    elif scenario == F.DUPLICATE_EVENTS:
        assert expected["ticket_events"]["duplicates"] > 0
    elif scenario == F.OUT_OF_ORDER:
        assert sum(p.out_of_order for p in events) > 0
    elif scenario == F.EXTRA_FIELDS:
        assert sum(p.extra_fields for p in (*sessions, *events)) > 0
    elif scenario in (F.UNKNOWN_SESSION, F.UNKNOWN_FILM):
        assert expected["ticket_events"]["invalid"] == expected["sessions"]["invalid"] == 0
    else:
        assert expected["ticket_events"]["invalid"] > 0


@pytest.mark.parametrize("scenario", list(FAILING))
def test_a_cinema_that_is_down_raises_the_matching_error(sim, scenario):
    with client_for(sim, CINEMA_OF[scenario], retries=2) as client, pytest.raises(FAILING[scenario]):
        pull(client)


def test_an_oversized_page_over_the_limit_is_refused(sim):
    with (
        client_for(sim, CINEMA_OF[OVERSIZED_OVER_LIMIT]) as client,
        pytest.raises(ResponseTooLarge) as caught,
    ):
        pull(client)
    assert f"limit of {2 * 2**20} bytes" in str(caught.value)


def test_record_faults_show_up_as_the_reasons_a_person_can_act_on(sim):
    expected = {
        F.FOREIGN_CINEMA: "names another cinema",
        F.FUTURE_TIMESTAMPS: "occurred_at: in the future",
        F.BAD_AMOUNTS: "amount_kzt:",
        F.WRONG_TYPES: "expected",
        F.MISSING_FIELDS: "missing field",
    }
    for scenario, fragment in expected.items():
        with client_for(sim, CINEMA_OF[scenario]) as client:
            _, events = pull(client)
        reasons = [r.reason for p in events for r in p.rejected]
        assert reasons and all(fragment in reason for reason in reasons), (scenario, reasons[:5])


def test_extra_fields_are_counted_and_out_of_order_records_noticed(sim):
    with client_for(sim, CINEMA_OF[F.EXTRA_FIELDS]) as client:
        sessions, events = pull(client)
    assert sum(p.extra_fields for p in events) > 0 and sum(p.extra_fields for p in sessions) > 0
    assert all(set(e) == set(TICKET_EVENT_FIELDS) for p in events for e in p.valid)
    with client_for(sim, CINEMA_OF[F.OUT_OF_ORDER]) as client:
        _, events = pull(client)
    assert sum(p.out_of_order for p in events) > 0


def test_sessions_of_films_outside_the_registry_are_rejected_when_the_registry_is_given(sim):
    cinema_id = CINEMA_OF[F.UNKNOWN_FILM]
    films = load_registry(SAMPLE_REGISTRY_DIR).film_ids
    with client_for(sim, cinema_id, known_film_ids=films) as client:
        pages = list(client.iter_session_pages(DAY))
    reasons = [r.reason for p in pages for r in p.rejected]
    # The contract allows any film id; the registry check is the caller's choice.
    assert truth(sim, cinema_id)["sessions"]["invalid"] == 0
    assert reasons and set(reasons) == {"film_id: unknown film F99999"}


def test_the_token_stays_out_of_the_logs_of_a_faulty_pull(sim, caplog):
    cinema_id = CINEMA_OF[F.TRUNCATED_JSON]
    sim.reset_counters()
    with caplog.at_level(logging.DEBUG), client_for(sim, cinema_id) as client:
        pull(client)
    assert any("retry" in r.getMessage() for r in caplog.records)
    assert not any(sim.tokens[cinema_id] in r.getMessage() for r in caplog.records)
