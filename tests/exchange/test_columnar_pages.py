"""The columnar path of a ticket-event page must agree with the record-by-record contract exactly:
when it vouches for a page, every record is valid and normalized alike; when any record is not, it
declines and the per-record path decides. Each corrupted page below is checked both ways."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from ekino_pipeline.calendar import business_day_bounds
from ekino_pipeline.exchange.client.decoding import columnar_events
from ekino_pipeline.exchange.contract import Rejected, ticket_events_table, validate_ticket_event

CINEMA = "ALA-0001"
DAY = date(2024, 3, 1)
WINDOW = business_day_bounds(DAY)
NOW = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


def event(n: int, **overrides) -> dict:
    record = {
        "event_id": f"{CINEMA}:E{n:06d}-S",
        "event_type": "sale",
        "ticket_id": f"{CINEMA}:T{n:06d}",
        "session_id": f"{CINEMA}:S000001",
        "occurred_at": f"2024-03-01T10:{n % 60:02d}:00+05:00",
        "amount_kzt": "2500.00",
        "seat_row": 5,
        "seat_number": 1 + n,
        "channel": "online",
        "category": "adult",
    }
    record.update(overrides)
    return record


def body(records: list, token: str | None = None, **envelope) -> bytes:
    payload = {"events": records, "next_page_token": token, **envelope}
    return json.dumps(payload, separators=(",", ":")).encode()


def columnar(raw: bytes):
    def validate(events):
        return ticket_events_table(events, cinema_id=CINEMA, window=WINDOW, now=NOW)

    return columnar_events(raw, validate)


def per_record(raw: bytes) -> list:
    return [
        validate_ticket_event(r, cinema_id=CINEMA, window=WINDOW, now=NOW) for r in json.loads(raw)["events"]
    ]


CORRUPTIONS = {
    "another cinema's id": {"event_id": "AST-0002:E1"},
    "an id without the cinema": {"ticket_id": "T000001"},
    "an id with a space": {"session_id": "ALA-0001:S 1"},
    "an id of 65 characters": {"event_id": "ALA-0001:" + "E" * 56},
    "an id with a pipe": {"event_id": "ALA-0001:E|1"},
    "an unknown event type": {"event_type": "void"},
    "an unknown channel": {"channel": "phone"},
    "an unknown category": {"category": "vip"},
    "an invitation with a price": {"category": "invitation"},
    "a free adult ticket": {"amount_kzt": "0.00"},
    "a negative amount": {"amount_kzt": "-10.00"},
    "an amount with one decimal": {"amount_kzt": "10.0"},
    "an amount as a number": {"amount_kzt": 10.5},
    "a timestamp without offset": {"occurred_at": "2024-03-01T10:00:00"},
    "a timestamp on no real day": {"occurred_at": "2024-02-30T10:00:00+05:00"},
    "a timestamp in month 13": {"occurred_at": "2024-13-01T10:00:00+05:00"},
    "a timestamp outside the window": {"occurred_at": "2024-03-02T10:00:00+05:00"},
    "a timestamp in the future": {"occurred_at": "2024-03-01T23:59:59+05:00"},
    "a seat row of zero": {"seat_row": 0},
    "a seat row as a string": {"seat_row": "5"},
    "a seat row as a float": {"seat_row": 5.0},
    "a seat row as true": {"seat_row": True},
    "a null field": {"channel": None},
    "a missing field": {"channel": "<missing>"},
    "an extra field": {"loyalty_card": "LC-1"},
    "an extra null field": {"comment": None},
}


def test_a_clean_page_is_vouched_for_with_the_very_values_of_the_contract():
    raw = body([event(n) for n in range(50)], token="abc_-123")
    result = columnar(raw)
    assert result is not None
    assert result.next_page_token == "abc_-123"
    assert result.table.to_pylist() == per_record(raw)


def test_an_empty_last_page_is_vouched_for():
    result = columnar(body([]))
    assert result is not None and result.table.num_rows == 0 and result.next_page_token is None


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_a_page_with_one_bad_record_is_left_to_the_per_record_path(name):
    overrides = dict(CORRUPTIONS[name])
    bad = event(7, **overrides)
    if overrides.get("channel") == "<missing>":
        del bad["channel"]
    raw = body([event(1), bad, event(9)])
    # The future timestamp is future only for a clock before it.
    now = datetime(2024, 3, 1, 12, tzinfo=UTC) if "future" in name else NOW
    verdicts = [
        validate_ticket_event(r, cinema_id=CINEMA, window=WINDOW, now=now) for r in json.loads(raw)["events"]
    ]
    # Extra fields are allowed by the contract, but only the per-record path counts them.
    assert any(isinstance(v, Rejected) for v in verdicts) or "extra" in name
    assert (
        columnar_events(raw, lambda ev: ticket_events_table(ev, cinema_id=CINEMA, window=WINDOW, now=now))
        is None
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"occurred_at": "2024-03-01T10:00:00.5+05:00"},
        {"occurred_at": "2024-03-01t10:00:00z"},
        {"seat_number": 2**31},
    ],
)
def test_a_valid_but_unusual_record_is_left_to_the_per_record_path(overrides):
    raw = body([event(1), event(2, **overrides)])
    assert not any(isinstance(v, Rejected) for v in per_record(raw))
    assert columnar(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        b'{"events":[],"next_page_token":null,"more":1}',
        b'{"events":[]}',
        b'{"events":null,"next_page_token":null}',
        b'{"events":[null],"next_page_token":null}',
        b'{"events":["x"],"next_page_token":null}',
        b'{"events":[],"next_page_token":""}',
        b'{"events":[],"next_page_token":null}{"events":[],"next_page_token":null}',
        b'{"events":[],"events":[],"next_page_token":null}',
        b'[{"events":[],"next_page_token":null}]',
        b'{"events":[],"next_page_token":"a\\u0041"}',
        b'{"events":[{"event_id":"ALA-0001:E1","event_id":"ALA-0001:E2"}],"next_page_token":null}',
        b'{"events":[], "next_page_token": null}',
    ],
)
def test_an_unusual_envelope_is_left_to_the_json_path(raw):
    assert columnar(raw) is None
