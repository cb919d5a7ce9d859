"""The simulator over real HTTP: the contract, paging, auth, faults, and truth equal to what is served."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
import referencing
import referencing.jsonschema
import requests
import yaml

from ekino_pipeline.calendar import business_day_bounds
from ekino_pipeline.errors import ConfigError
from ekino_pipeline.exchange.contract import OPENAPI_PATH as CONTRACT_PATH
from ekino_pipeline.exchange.registry import load_registry
from ekino_sim import SAMPLE_REGISTRY_DIR
from ekino_sim import faults as F
from ekino_sim.network import Network
from ekino_sim.server import SimulatorServer

NOW = datetime(2024, 3, 20, tzinfo=UTC)
DAY = date(2024, 3, 8)
CLEAN = "ALA-0002"  # a ten-hall cinema without faults
FAULT_DAYS = {"from_date": "2024-03-08", "until_date": "2024-03-10"}

RESPONSE = [F.OUTAGE, F.SERVER_ERRORS, F.RATE_LIMIT, F.SLOW, F.TRUNCATED_JSON, F.OVERSIZED_PAGE, F.API_DOWN]
RECORD = [
    F.DUPLICATE_EVENTS, F.OUT_OF_ORDER, F.UNKNOWN_SESSION, F.UNKNOWN_FILM, F.FOREIGN_CINEMA,
    F.FUTURE_TIMESTAMPS, F.BAD_AMOUNTS, F.WRONG_TYPES, F.MISSING_FIELDS, F.EXTRA_FIELDS,
]  # fmt: skip
PARAMS = {
    F.SLOW: {"delay_seconds": 0.5},
    F.OVERSIZED_PAGE: {"size_bytes": 3_000_000},
    F.RATE_LIMIT: {"retry_after": 2},
}


def _faulty_cinemas() -> dict[str, str]:
    """One connected cinema with at least two halls per scenario, none of them CLEAN."""
    ids = [
        c.cinema_id
        for c in load_registry(SAMPLE_REGISTRY_DIR).connected_cinemas
        if len(c.halls) >= 2 and c.cinema_id != CLEAN
    ]
    return dict(zip(RESPONSE + RECORD, ids, strict=False))


FAULTY = _faulty_cinemas()


@pytest.fixture(scope="module")
def sim():
    faults = [
        {"cinema_id": cinema_id, "scenario": scenario, **FAULT_DAYS, **PARAMS.get(scenario, {})}
        for scenario, cinema_id in FAULTY.items()
    ]
    with SimulatorServer(seed=7, faults=faults, now=NOW) as server:
        yield server


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


# -- the contract as JSON Schema ------------------------------------------------------------------------


def _from_openapi(node):
    """OpenAPI 3.0 schemas are JSON Schema but for `nullable`, which becomes a type list."""
    if isinstance(node, list):
        return [_from_openapi(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _from_openapi(v) for k, v in node.items()}
    if node.pop("nullable", False) and "type" in node:
        node["type"] = [node["type"], "null"]
    return node


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value) -> bool:
    return not isinstance(value, str) or bool(RFC3339.match(value) and datetime.fromisoformat(value))


CONTRACT = _from_openapi(yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8")))
SCHEMAS = referencing.Registry().with_resource(
    "urn:ekino-contract", referencing.jsonschema.DRAFT7.create_resource(CONTRACT)
)


def validator(pointer: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(
        {"$ref": f"urn:ekino-contract#{pointer}"}, registry=SCHEMAS, format_checker=FORMATS
    )


def response_validator(path: str) -> jsonschema.Draft7Validator:
    escaped = path.replace("/", "~1")
    return validator(f"/paths/{escaped}/get/responses/200/content/application~1json/schema")


PAGE = {
    "/v1/sessions": response_validator("/v1/sessions"),
    "/v1/ticket-events": response_validator("/v1/ticket-events"),
}
ERROR = validator("/components/schemas/Error")
EVENT = validator("/components/schemas/TicketEvent")
SESSION = validator("/components/schemas/Session")


def event_violations(event: dict, cinema_id: str, start: datetime, end: datetime) -> list[str]:
    """Why a served event breaks the contract (schema, id prefix, zero-iff-invitation, window)."""
    problems = [e.message for e in EVENT.iter_errors(event)]
    if problems:
        return problems
    problems += [
        f"{n} not of {cinema_id}"
        for n in ("event_id", "ticket_id", "session_id")
        if not event[n].startswith(cinema_id + ":")
    ]
    if (Decimal(event["amount_kzt"]) == 0) != (event["category"] == "invitation"):
        problems.append("amount zero exactly when the category is invitation")
    if not start <= datetime.fromisoformat(event["occurred_at"]) < end:
        problems.append("occurred_at outside the window")
    return problems


def session_violations(session: dict, cinema_id: str) -> list[str]:
    problems = [e.message for e in SESSION.iter_errors(session)]
    if not problems:
        problems += [
            f"{n} not of {cinema_id}"
            for n in ("session_id", "hall_id")
            if not session[n].startswith(cinema_id + ":")
        ]
    return problems


# -- helpers ------------------------------------------------------------------------------------------------


def auth(sim: SimulatorServer, cinema_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.tokens[cinema_id]}"}


def day_window(day: date) -> dict[str, str]:
    start, end = business_day_bounds(day)
    return {"from": start.isoformat(), "to": end.isoformat()}


def get(http, sim, cinema_id: str, path: str, **params) -> requests.Response:
    return http.get(
        f"{sim.url}/cinemas/{cinema_id}{path}", params=params, headers=auth(sim, cinema_id), timeout=30
    )


def fetch_all(
    http, sim, cinema_id: str, path: str, limit: int, clean: bool | None = None, **params
) -> list[dict]:
    """Every record of a query, page by page; a clean cinema's pages must satisfy the contract."""
    clean = cinema_id not in FAULTY.values() if clean is None else clean
    key = "sessions" if path == "/v1/sessions" else "events"
    records, token = [], None
    while True:
        extra = {"page_token": token} if token else {}
        response = get(http, sim, cinema_id, path, limit=limit, **params, **extra)
        assert response.status_code == 200, response.text
        body = response.json()
        if clean:
            PAGE[path].validate(body)
        assert len(body[key]) <= limit
        records += body[key]
        token = body["next_page_token"]
        if token is None:
            return records
        assert len(body[key]) == limit, "only the last page may be short"


# -- the contract -----------------------------------------------------------------------------------------


def test_the_contract_is_served_at_openapi_yaml(sim, http):
    response = http.get(f"{sim.url}/openapi.yaml", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/yaml")
    assert response.content == CONTRACT_PATH.read_bytes()


def test_every_answer_validates_against_the_contract(sim, http):
    health = get(http, sim, CLEAN, "/v1/health")
    response_validator("/v1/health").validate(health.json())
    assert health.json()["cinema_id"] == CLEAN
    halls = get(http, sim, CLEAN, "/v1/halls").json()
    response_validator("/v1/halls").validate(halls)
    assert {h["hall_id"] for h in halls["halls"]} == {h.hall_id for h in sim.registry.cinema(CLEAN).halls}
    for path, params in (("/v1/sessions", {"date": DAY.isoformat()}), ("/v1/ticket-events", day_window(DAY))):
        body = get(http, sim, CLEAN, path, limit=1000, **params).json()
        PAGE[path].validate(body)
        assert body["sessions" if path == "/v1/sessions" else "events"]
    assert all(not event_violations(e, CLEAN, *business_day_bounds(DAY)) for e in body["events"])
    error = http.get(f"{sim.url}/cinemas/{CLEAN}/v1/health", timeout=10)
    ERROR.validate(error.json())


def test_a_page_holds_500_records_unless_told_otherwise(sim, http):
    body = get(http, sim, CLEAN, "/v1/ticket-events", **day_window(DAY)).json()
    assert len(body["events"]) == 500 and body["next_page_token"]


def test_pages_concatenate_to_the_same_records_whatever_the_limit(sim, http):
    for path, params in (("/v1/sessions", {"date": DAY.isoformat()}), ("/v1/ticket-events", day_window(DAY))):
        small = fetch_all(http, sim, CLEAN, path, limit=7, **params)
        large = fetch_all(http, sim, CLEAN, path, limit=1000, **params)
        assert small == large and len(large) > 7


def test_a_second_simulator_with_the_same_seed_serves_the_same_bytes(sim, http):
    with SimulatorServer(seed=7, now=NOW) as twin, SimulatorServer(seed=8, now=NOW) as other:
        params = {"limit": 300, **day_window(DAY)}
        mine = get(http, sim, CLEAN, "/v1/ticket-events", **params).content
        assert get(http, twin, CLEAN, "/v1/ticket-events", **params).content == mine
        assert get(http, other, CLEAN, "/v1/ticket-events", **params).content != mine
        assert twin.tokens == sim.tokens != other.tokens


def test_records_come_ordered_by_time_then_id(sim, http):
    events = fetch_all(http, sim, CLEAN, "/v1/ticket-events", limit=1000, **day_window(DAY))
    keys = [(datetime.fromisoformat(e["occurred_at"]), e["event_id"]) for e in events]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    sessions = fetch_all(http, sim, CLEAN, "/v1/sessions", limit=1000, date=DAY.isoformat())
    keys = [(datetime.fromisoformat(s["starts_at"]), s["session_id"]) for s in sessions]
    assert keys == sorted(keys)


def test_a_page_token_always_returns_the_same_page(sim, http):
    params = {"limit": 100, **day_window(DAY)}
    token = get(http, sim, CLEAN, "/v1/ticket-events", **params).json()["next_page_token"]
    first = get(http, sim, CLEAN, "/v1/ticket-events", page_token=token, **params)
    again = get(http, sim, CLEAN, "/v1/ticket-events", page_token=token, **params)
    assert first.status_code == 200 and first.content == again.content


def test_a_page_token_from_another_query_is_a_bad_request(sim, http):
    token = get(http, sim, CLEAN, "/v1/sessions", limit=5, date=DAY.isoformat()).json()["next_page_token"]
    response = get(http, sim, CLEAN, "/v1/sessions", limit=5, date="2024-03-09", page_token=token)
    assert response.status_code == 400
    ERROR.validate(response.json())


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/sessions", {}),
        ("/v1/sessions", {"date": "2024-3-8"}),
        ("/v1/sessions", {"date": "2024-02-30"}),
        ("/v1/sessions", {"date": "2024-03-08", "limit": "0"}),
        ("/v1/sessions", {"date": "2024-03-08", "limit": "1001"}),
        ("/v1/sessions", {"date": "2024-03-08", "limit": "ten"}),
        ("/v1/sessions", {"date": "2024-03-08", "page_token": "not-a-token"}),
        ("/v1/ticket-events", {"from": "2024-03-08T00:00:00+06:00"}),
        ("/v1/ticket-events", {"from": "2024-03-08", "to": "2024-03-09"}),
        ("/v1/ticket-events", {"from": "2024-03-08T00:00:00", "to": "2024-03-09T00:00:00"}),
        ("/v1/ticket-events", {"from": "2024-03-09T00:00:00+05:00", "to": "2024-03-09T00:00:00+05:00"}),
        ("/v1/ticket-events", {"from": "2024-03-09T00:00:00+05:00", "to": "2024-03-08T00:00:00+05:00"}),
        ("/v1/ticket-events", {"from": "2024-01-01T00:00:00Z", "to": "2024-02-01T00:00:01Z"}),
        (
            "/v1/ticket-events",
            {"from": "2024-03-08T00:00:00Z", "to": "2024-03-09T00:00:00Z", "limit": "1001"},
        ),
        # Instants at the ends of the calendar were a 500: they overflowed on the way to Almaty time.
        ("/v1/ticket-events", {"from": "9999-12-31T00:00:00Z", "to": "9999-12-31T23:59:59Z"}),
        ("/v1/ticket-events", {"from": "9999-12-31T20:00:00Z", "to": "9999-12-31T23:00:00Z"}),
        ("/v1/ticket-events", {"from": "0001-01-01T00:00:00+05:00", "to": "0001-01-02T00:00:00Z"}),
        ("/v1/ticket-events", {"from": "0001-01-01T00:00:00Z", "to": "0001-01-01T01:00:00-05:00"}),
    ],
)
def test_bad_parameters_are_a_400_with_an_error_body(sim, http, path, params):
    response = get(http, sim, CLEAN, path, **params)
    assert response.status_code == 400, response.text
    ERROR.validate(response.json())


def test_a_31_day_window_is_allowed(sim, http):
    response = get(
        http,
        sim,
        CLEAN,
        "/v1/ticket-events",
        limit=1,
        **{"from": "2024-02-01T00:00:00Z", "to": "2024-03-03T00:00:00Z"},
    )
    assert response.status_code == 200


def test_tokens_decide_who_may_read_what(sim, http):
    url = f"{sim.url}/cinemas/{CLEAN}/v1/halls"
    assert http.get(url, timeout=10).status_code == 401
    assert http.get(url, headers={"Authorization": "Bearer nonsense"}, timeout=10).status_code == 401
    assert http.get(url, headers={"Authorization": sim.tokens[CLEAN]}, timeout=10).status_code == 401
    other = next(c for c in sim.tokens if c != CLEAN)
    forbidden = http.get(url, headers=auth(sim, other), timeout=10)
    assert forbidden.status_code == 403
    ERROR.validate(forbidden.json())
    assert http.get(url, headers=auth(sim, CLEAN), timeout=10).status_code == 200


def test_unknown_or_unconnected_cinemas_and_unknown_paths_are_404(sim, http):
    unconnected = next(c.cinema_id for c in sim.registry.cinemas if not c.connected)
    assert unconnected not in sim.tokens
    for path in (
        "/cinemas/ZZZ-9999/v1/health",
        f"/cinemas/{unconnected}/v1/health",
        f"/cinemas/{CLEAN}/v2/halls",
        "/nowhere",
    ):
        response = http.get(f"{sim.url}{path}", headers=auth(sim, CLEAN), timeout=10)
        assert response.status_code == 404, path
        ERROR.validate(response.json())


def test_the_25_hour_business_day_of_2024_02_29_is_served_whole(sim, http):
    start, end = business_day_bounds(date(2024, 2, 29))
    assert end - start == timedelta(hours=25)
    events = fetch_all(http, sim, CLEAN, "/v1/ticket-events", limit=1000, **day_window(date(2024, 2, 29)))
    stamps = [datetime.fromisoformat(e["occurred_at"]) for e in events]
    assert all(start <= ts < end for ts in stamps)
    # Almaty's clocks went back an hour at midnight: the last hour is 23:00-24:00 at +05:00
    last_hour = [
        e["occurred_at"]
        for e in events
        if datetime.fromisoformat(e["occurred_at"]) >= end - timedelta(hours=1)
    ]
    assert last_hour and all(text[11:13] == "23" and text.endswith("+05:00") for text in last_hour)
    assert {e["occurred_at"][-6:] for e in events} == {"+06:00", "+05:00"}
    assert sim.truth(CLEAN, date(2024, 2, 29))["ticket_events"]["served"] == len(events)


def test_timestamps_carry_the_cinema_local_offset(sim, http):
    western = next(c.cinema_id for c in sim.registry.connected_cinemas if c.timezone == "Asia/Aqtobe")
    before, after = date(2024, 2, 28), date(2024, 3, 4)
    for cinema_id, offsets in ((western, ("+05:00", "+05:00")), (CLEAN, ("+06:00", "+05:00"))):
        for day, offset in zip((before, after), offsets, strict=True):
            sessions = get(http, sim, cinema_id, "/v1/sessions", date=day.isoformat()).json()["sessions"]
            assert sessions and {s["starts_at"][-6:] for s in sessions} == {offset}, cinema_id


def test_events_after_the_simulator_clock_are_not_served(sim, http):
    start, end = (
        datetime.fromisoformat("2024-03-19T00:00:00+05:00"),
        datetime.fromisoformat("2024-03-21T00:00:00+05:00"),
    )
    events = fetch_all(
        http,
        sim,
        CLEAN,
        "/v1/ticket-events",
        limit=1000,
        **{"from": start.isoformat(), "to": end.isoformat()},
    )
    later = Network(sim.registry, seed=7, now=end + timedelta(days=30))
    happened = [
        e for e in later.ticket_events(CLEAN, start, end) if datetime.fromisoformat(e["occurred_at"]) <= NOW
    ]
    assert events == happened
    assert len(later.ticket_events(CLEAN, start, end)) > len(events) > 0


def test_request_counters_count_each_cinema_and_status(sim, http):
    before = sim.request_counts().get(CLEAN, {})
    get(http, sim, CLEAN, "/v1/health")
    http.get(f"{sim.url}/cinemas/{CLEAN}/v1/health", timeout=10)
    counted = http.get(f"{sim.url}/_sim/requests", timeout=10).json()[CLEAN]
    assert counted["200"] == before.get("200", 0) + 1
    assert counted["401"] == before.get("401", 0) + 1


def test_truth_is_what_paging_returns_for_a_clean_cinema(sim, http):
    truth = http.get(
        f"{sim.url}/_sim/truth", params={"cinema_id": CLEAN, "date": DAY.isoformat()}, timeout=30
    ).json()
    events = fetch_all(http, sim, CLEAN, "/v1/ticket-events", limit=500, **day_window(DAY))
    sessions = fetch_all(http, sim, CLEAN, "/v1/sessions", limit=500, date=DAY.isoformat())
    assert truth == reconcile(CLEAN, DAY, sessions, events)
    assert truth["ticket_events"]["invalid"] == truth["ticket_events"]["duplicates"] == 0


def reconcile(cinema_id: str, day: date, sessions: list[dict], events: list[dict]) -> dict:
    """What the truth must say about what was served, worked out independently of the simulator."""
    start, end = business_day_bounds(day)
    seen, counts, money = (
        set(),
        {"invalid": 0, "duplicates": 0, "sale": 0, "refund": 0},
        {"sale": 0, "refund": 0},
    )
    for e in events:
        if event_violations(e, cinema_id, start, end):
            counts["invalid"] += 1
        elif e["event_id"] in seen:
            counts["duplicates"] += 1
        else:
            seen.add(e["event_id"])
            counts[e["event_type"]] += 1
            money[e["event_type"]] += Decimal(e["amount_kzt"])
    return {
        "cinema_id": cinema_id,
        "date": day.isoformat(),
        "sessions": {
            "served": len(sessions),
            "invalid": sum(bool(session_violations(s, cinema_id)) for s in sessions),
        },
        "ticket_events": {
            "served": len(events),
            "invalid": counts["invalid"],
            "duplicates": counts["duplicates"],
            "valid_unique": len(seen),
            "sales": counts["sale"],
            "refunds": counts["refund"],
            "sales_kzt": f"{money['sale']:.2f}",
            "refunds_kzt": f"{money['refund']:.2f}",
            "gross_kzt": f"{money['sale'] - money['refund']:.2f}",
        },
    }


# -- response-level faults --------------------------------------------------------------------------------


def test_an_outage_answers_503_for_as_long_as_it_lasts(sim, http):
    sim.reset_counters()
    cinema_id = FAULTY[F.OUTAGE]
    for _ in range(5):
        response = get(http, sim, cinema_id, "/v1/sessions", date=DAY.isoformat())
        assert response.status_code == 503
        ERROR.validate(response.json())
    assert get(http, sim, cinema_id, "/v1/sessions", date="2024-03-11").status_code == 200, "after until_date"


def test_an_outage_after_some_requests_answers_them_first_then_503_for_its_times(http):
    fault = {"cinema_id": CLEAN, "scenario": F.OUTAGE, "after_requests": 2, "times": 1}
    with SimulatorServer(seed=7, faults=[fault], now=NOW) as server:
        codes = [get(http, server, CLEAN, "/v1/sessions", date=DAY.isoformat()).status_code for _ in range(4)]
    assert codes == [200, 200, 503, 200]


def test_server_errors_come_as_a_burst_of_500_502_504(sim, http):
    sim.reset_counters()
    cinema_id = FAULTY[F.SERVER_ERRORS]
    statuses = [
        get(http, sim, cinema_id, "/v1/ticket-events", **day_window(DAY)).status_code for _ in range(4)
    ]
    assert statuses == [500, 502, 504, 200]


def test_rate_limiting_answers_429_with_retry_after_three_times(sim, http):
    sim.reset_counters()
    cinema_id = FAULTY[F.RATE_LIMIT]
    responses = [get(http, sim, cinema_id, "/v1/sessions", date=DAY.isoformat()) for _ in range(4)]
    assert [r.status_code for r in responses] == [429, 429, 429, 200]
    assert responses[0].headers["Retry-After"] == "2"


def test_a_slow_cinema_answers_after_the_delay(sim, http):
    sim.reset_counters()
    cinema_id = FAULTY[F.SLOW]
    began = time.monotonic()
    assert get(http, sim, cinema_id, "/v1/sessions", date=DAY.isoformat()).status_code == 200
    assert time.monotonic() - began >= 0.5


def test_truncated_json_cannot_be_parsed(sim, http):
    sim.reset_counters()
    response = get(http, sim, FAULTY[F.TRUNCATED_JSON], "/v1/ticket-events", **day_window(DAY))
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.content)


def test_an_oversized_page_is_padded_past_the_size(sim, http):
    sim.reset_counters()
    response = get(http, sim, FAULTY[F.OVERSIZED_PAGE], "/v1/sessions", date=DAY.isoformat())
    assert response.status_code == 200 and len(response.content) > 3_000_000
    assert response.json()["sessions"], "still a valid page, with a huge unknown property"


def test_a_cinema_whose_api_is_down_hangs_up_without_answering(sim, http):
    sim.reset_counters()
    cinema_id = FAULTY[F.API_DOWN]
    with pytest.raises(requests.ConnectionError):
        get(http, sim, cinema_id, "/v1/ticket-events", **day_window(DAY))
    assert get(http, sim, cinema_id, "/v1/ticket-events", **day_window(date(2024, 3, 1))).status_code == 200
    assert sim.request_counts()[cinema_id]["closed"] >= 1


def test_response_faults_skip_requests_outside_their_days(sim, http):
    cinema_id = FAULTY[F.RATE_LIMIT]
    assert get(http, sim, cinema_id, "/v1/sessions", date="2024-03-07").status_code == 200


# -- record-level faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", RECORD)
def test_a_record_fault_is_visible_and_truth_still_equals_what_is_served(sim, http, scenario):
    cinema_id = FAULTY[scenario]
    events = fetch_all(http, sim, cinema_id, "/v1/ticket-events", limit=1000, **day_window(DAY))
    sessions = fetch_all(http, sim, cinema_id, "/v1/sessions", limit=1000, date=DAY.isoformat())
    truth = http.get(
        f"{sim.url}/_sim/truth", params={"cinema_id": cinema_id, "date": DAY.isoformat()}, timeout=30
    )
    assert truth.json() == reconcile(cinema_id, DAY, sessions, events)
    VISIBLE[scenario](cinema_id, events, sessions, truth.json())


def _ids(records: list[dict], key: str) -> list:
    return [r.get(key) for r in records]


def _visible_duplicates(cinema_id, events, sessions, truth):
    ids = _ids(events, "event_id")
    first, copies = {}, []
    for position, event_id in enumerate(ids):
        if event_id in first:
            copies.append((first[event_id], position))
        first.setdefault(event_id, position)
    copy_positions = {position for _, position in copies}
    for original, copy in copies:
        # a copy comes at least 1000 records later (another page), or among the copies at the very end
        assert copy - original >= 1000 or copy_positions >= set(range(copy, len(ids)))
    assert len(copies) == truth["ticket_events"]["duplicates"] >= 1


def _visible_out_of_order(cinema_id, events, sessions, truth):
    keys = [(datetime.fromisoformat(e["occurred_at"]), e["event_id"]) for e in events]
    assert keys != sorted(keys)


def _visible_unknown_session(cinema_id, events, sessions, truth):
    known = set(_ids(sessions, "session_id"))
    day_sessions = [e for e in events if f":S{DAY:%Y%m%d}-" in e["session_id"]]
    assert any(e["session_id"] not in known and e["session_id"].startswith(cinema_id) for e in day_sessions)
    assert truth["ticket_events"]["invalid"] == 0


def _visible_unknown_film(cinema_id, events, sessions, truth):
    assert "F99999" in _ids(sessions, "film_id")
    assert truth["sessions"]["invalid"] == 0


def _visible_foreign(cinema_id, events, sessions, truth):
    assert any(not e["event_id"].startswith(cinema_id) for e in events)
    assert any(not s["session_id"].startswith(cinema_id) for s in sessions)
    assert truth["ticket_events"]["invalid"] >= 1 and truth["sessions"]["invalid"] >= 1


def _visible_future(cinema_id, events, sessions, truth):
    assert any(datetime.fromisoformat(e["occurred_at"]) > NOW + timedelta(days=365) for e in events)


def _visible_bad_amounts(cinema_id, events, sessions, truth):
    bad = [
        e
        for e in events
        if e["amount_kzt"].startswith("-") or (e["amount_kzt"] == "0.00") != (e["category"] == "invitation")
    ]
    assert bad and truth["ticket_events"]["invalid"] == len(bad)


def _visible_wrong_types(cinema_id, events, sessions, truth):
    mistyped = [
        e
        for e in events
        if not isinstance(e["amount_kzt"], str)
        or not isinstance(e["occurred_at"], str)
        or not isinstance(e["seat_row"], int)
        or not isinstance(e["seat_number"], int)
    ]
    assert mistyped and truth["ticket_events"]["invalid"] == len(mistyped)


def _visible_missing(cinema_id, events, sessions, truth):
    required = set(CONTRACT["components"]["schemas"]["TicketEvent"]["required"])
    incomplete = [e for e in events if not required <= set(e)]
    assert incomplete and truth["ticket_events"]["invalid"] == len(incomplete)


def _visible_extra(cinema_id, events, sessions, truth):
    required = set(CONTRACT["components"]["schemas"]["TicketEvent"]["required"])
    assert any(set(e) - required for e in events)
    assert truth["ticket_events"]["invalid"] == 0


VISIBLE = {
    F.DUPLICATE_EVENTS: _visible_duplicates,
    F.OUT_OF_ORDER: _visible_out_of_order,
    F.UNKNOWN_SESSION: _visible_unknown_session,
    F.UNKNOWN_FILM: _visible_unknown_film,
    F.FOREIGN_CINEMA: _visible_foreign,
    F.FUTURE_TIMESTAMPS: _visible_future,
    F.BAD_AMOUNTS: _visible_bad_amounts,
    F.WRONG_TYPES: _visible_wrong_types,
    F.MISSING_FIELDS: _visible_missing,
    F.EXTRA_FIELDS: _visible_extra,
}


@pytest.mark.parametrize("scenario", [F.WRONG_TYPES, F.DUPLICATE_EVENTS, F.BAD_AMOUNTS])
def test_a_record_is_corrupted_the_same_way_whatever_window_or_page_size(sim, http, scenario):
    cinema_id = FAULTY[scenario]
    day = fetch_all(http, sim, cinema_id, "/v1/ticket-events", limit=1000, **day_window(DAY))
    start, _ = business_day_bounds(DAY - timedelta(days=1))
    _, end = business_day_bounds(DAY + timedelta(days=1))
    wide = fetch_all(
        http,
        sim,
        cinema_id,
        "/v1/ticket-events",
        limit=77,
        **{"from": start.isoformat(), "to": end.isoformat()},
    )
    by_id = {}
    for e in wide:
        by_id.setdefault(e.get("event_id"), []).append(e)
    for e in day:
        assert e in by_id[e.get("event_id")]


def test_record_faults_can_break_sessions_too(http):
    targets = {F.WRONG_TYPES: "ALA-0002", F.MISSING_FIELDS: "ALA-0004", F.EXTRA_FIELDS: "ALA-0007"}
    faults = [{"cinema_id": c, "scenario": s, "records": "sessions"} for s, c in targets.items()]
    with SimulatorServer(seed=7, faults=faults, now=NOW) as sim:
        for scenario, cinema_id in targets.items():
            sessions = fetch_all(
                http, sim, cinema_id, "/v1/sessions", 1000, clean=False, date=DAY.isoformat()
            )
            events = fetch_all(
                http, sim, cinema_id, "/v1/ticket-events", 1000, clean=False, **day_window(DAY)
            )
            truth = sim.truth(cinema_id, DAY)
            assert truth == reconcile(cinema_id, DAY, sessions, events)
            assert truth["ticket_events"]["invalid"] == 0, "events untouched"
            broken = [s for s in sessions if session_violations(s, cinema_id)]
            assert len(broken) == truth["sessions"]["invalid"]
            assert (len(broken) == 0) == (scenario == F.EXTRA_FIELDS)
            assert scenario != F.EXTRA_FIELDS or any("price_from_kzt" in s for s in sessions)


def test_a_fault_file_with_an_unknown_scenario_or_parameter_fails_at_start(tmp_path):
    bad_scenario = tmp_path / "faults.yaml"
    bad_scenario.write_text("- {cinema_id: ALA-0001, scenario: meteor_strike}\n")
    with pytest.raises(ValueError, match="unknown scenario 'meteor_strike'"):
        SimulatorServer(seed=1, faults=bad_scenario)
    with pytest.raises(ValueError, match="unknown parameter"):
        SimulatorServer(seed=1, faults=[{"cinema_id": "ALA-0001", "scenario": "rate_limit", "retry": 3}])
    with pytest.raises(ValueError, match="retry_after"):
        SimulatorServer(
            seed=1, faults=[{"cinema_id": "ALA-0001", "scenario": "rate_limit", "retry_after": -1}]
        )
    with pytest.raises(ValueError, match="records must be one of"):
        SimulatorServer(
            seed=1, faults=[{"cinema_id": "ALA-0001", "scenario": "wrong_types", "records": "halls"}]
        )
    with pytest.raises(ValueError, match="not a connected cinema"):
        SimulatorServer(seed=1, faults=[{"cinema_id": "ALA-0003", "scenario": "outage"}])
    with pytest.raises(ValueError, match="until_date"):
        SimulatorServer(
            seed=1,
            faults=[
                {
                    "cinema_id": "ALA-0001",
                    "scenario": "outage",
                    "from_date": "2024-03-02",
                    "until_date": "2024-03-01",
                }
            ],
        )


def test_a_yaml_fault_file_is_read_with_its_dates_and_parameters(tmp_path):
    path = tmp_path / "faults.yaml"
    path.write_text(
        "- cinema_id: ALA-0001\n  scenario: slow\n  from_date: 2024-03-01\n  delay_seconds: 0.1\n"
    )
    (fault,) = SimulatorServer(seed=1, faults=path).fault_plan.faults
    assert (fault.scenario, fault.from_date, fault.until_date) == (F.SLOW, date(2024, 3, 1), None)
    assert fault.params == {"times": 3, "delay_seconds": 0.1}


def test_the_demo_fault_file_is_valid():
    from ekino_sim.demo import DEMO_FAULTS

    faults = SimulatorServer(seed=1, faults=DEMO_FAULTS).fault_plan.faults
    assert {f.scenario for f in faults} >= {F.SILENT, F.DUPLICATE_EVENTS}


# -- lifecycle, secrets and grown networks ------------------------------------------------------------


def test_a_grown_network_writes_its_registry_and_owner_only_secrets(tmp_path, http):
    secrets, registry_dir = tmp_path / "secrets.json", tmp_path / "registry"
    with SimulatorServer(
        seed=3, n_cinemas=12, secrets_file=secrets, registry_dir=registry_dir, now=NOW
    ) as sim:
        assert len(load_registry(registry_dir).cinemas) == len(sim.registry.cinemas) == 12
        tokens = json.loads(secrets.read_text())
        assert tokens == sim.tokens and len(tokens) == len(sim.registry.connected_cinemas) == 8
        assert all(len(t) == 40 for t in tokens.values())
        assert os.stat(secrets).st_mode & 0o777 == 0o600
        cinema_id = next(iter(tokens))
        assert get(http, sim, cinema_id, "/v1/health").status_code == 200
    assert list(tmp_path.glob(".*tmp")) == []


def test_a_stopped_simulator_hangs_up_on_kept_alive_connections(http):
    sim = SimulatorServer(seed=1, now=NOW).start()
    url = sim.url
    assert get(http, sim, CLEAN, "/v1/health").status_code == 200
    sim.stop()
    with pytest.raises(requests.ConnectionError):
        http.get(f"{url}/cinemas/{CLEAN}/v1/health", headers=auth(sim, CLEAN), timeout=5)


def test_run_simulator_serves_until_sigterm(tmp_path):
    secrets = tmp_path / "secrets.json"
    code = f"from ekino_sim.server import run_simulator; run_simulator('127.0.0.1', 0, 5, {str(secrets)!r})"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = process.stdout.readline()
        url = re.search(r"http://\S+", line).group().rstrip(";")
        token = json.loads(secrets.read_text())[CLEAN]
        response = requests.get(
            f"{url}/cinemas/{CLEAN}/v1/health", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()


def test_the_secrets_file_is_replaced_atomically(tmp_path):
    secrets = tmp_path / "nested" / "secrets.json"
    for seed in (1, 2):
        with SimulatorServer(seed=seed, secrets_file=secrets, now=NOW) as sim:
            assert json.loads(secrets.read_text()) == sim.tokens
    assert sorted(p.name for p in secrets.parent.iterdir()) == ["secrets.json"]
    assert Path(secrets).stat().st_mode & 0o777 == 0o600


def test_a_caching_server_answers_a_page_again_from_memory_and_still_checks_the_token(tmp_path, http):
    with SimulatorServer(seed=7, now=NOW, cache_pages=True) as cached:
        window = day_window(DAY)
        first = get(http, cached, CLEAN, "/v1/ticket-events", limit=50, **window)
        assert first.status_code == 200 and first.json()["events"]
        cached.network = None  # the network is not asked again: the page comes from memory
        again = get(http, cached, CLEAN, "/v1/ticket-events", limit=50, **window)
        assert again.status_code == 200 and again.content == first.content
        url = f"{cached.url}/cinemas/{CLEAN}/v1/ticket-events"
        refused = http.get(url, params={**window, "limit": 50}, timeout=30)
        assert refused.status_code == 401


def test_a_network_with_faults_cannot_cache_its_pages():
    faults = [{"cinema_id": CLEAN, "scenario": F.OUTAGE, **FAULT_DAYS}]
    with pytest.raises(ConfigError, match="fault-free"):
        SimulatorServer(seed=7, now=NOW, faults=faults, cache_pages=True)
