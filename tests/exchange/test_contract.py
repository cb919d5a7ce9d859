"""Record validation against the exchange contract: one rule per test, raw records in, verdicts out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ekino_pipeline.calendar import business_day_bounds
from ekino_pipeline.exchange.contract import (
    HALL_FIELDS,
    SESSION_FIELDS,
    TICKET_EVENT_FIELDS,
    Rejected,
    extra_fields,
    validate_hall,
    validate_session,
    validate_ticket_event,
)

CINEMA = "ALA-0001"
DAY = date(2024, 3, 1)
WINDOW = business_day_bounds(DAY)
NOW = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


def event(**overrides) -> dict:
    record = {
        "event_id": "ALA-0001:E000001",
        "event_type": "sale",
        "ticket_id": "ALA-0001:T000001",
        "session_id": "ALA-0001:S000001",
        "occurred_at": "2024-03-01T10:15:00+05:00",
        "amount_kzt": "2500.00",
        "seat_row": 5,
        "seat_number": 12,
        "channel": "online",
        "category": "adult",
    }
    record.update(overrides)
    return record


def session(**overrides) -> dict:
    record = {
        "session_id": "ALA-0001:S000001",
        "film_id": "F00042",
        "hall_id": "ALA-0001:H01",
        "starts_at": "2024-03-01T19:30:00+05:00",
        "format": "IMAX",
        "audio_language": "kk",
        "subtitle_language": "ru",
    }
    record.update(overrides)
    return record


def hall(**overrides) -> dict:
    record = {"hall_id": "ALA-0001:H01", "name": "IMAX Hall", "seats": 320}
    record.update(overrides)
    return record


def check_event(raw, *, window=WINDOW, now=NOW):
    return validate_ticket_event(raw, cinema_id=CINEMA, window=window, now=now)


def check_session(raw, *, day=DAY, films=None):
    return validate_session(raw, cinema_id=CINEMA, business_day=day, known_film_ids=films)


def reason(result) -> str:
    assert isinstance(result, Rejected), f"expected a rejection, got {result!r}"
    return result.reason


# Ticket events


def test_a_valid_sale_is_normalized_to_decimal_money_and_utc_time():
    result = check_event(event())
    assert result == {
        "event_id": "ALA-0001:E000001",
        "event_type": "sale",
        "ticket_id": "ALA-0001:T000001",
        "session_id": "ALA-0001:S000001",
        "occurred_at": datetime(2024, 3, 1, 5, 15, tzinfo=UTC),
        "amount_kzt": Decimal("2500.00"),
        "seat_row": 5,
        "seat_number": 12,
        "channel": "online",
        "category": "adult",
    }
    assert type(result["amount_kzt"]) is Decimal
    assert result["occurred_at"].utcoffset() == timedelta(0)


def test_a_refund_carries_a_positive_amount():
    result = check_event(event(event_type="refund", event_id="ALA-0001:E000002"))
    assert result["event_type"] == "refund"
    assert result["amount_kzt"] == Decimal("2500.00")


def test_a_record_that_is_not_an_object_is_rejected_and_kept_as_decoded():
    raw = ["ALA-0001:E000001", "sale"]
    result = check_event(raw)
    assert reason(result) == "record: expected object, got list"
    assert result.raw is raw


def test_a_rejection_keeps_the_record_exactly_as_decoded():
    raw = event(amount_kzt="-5.00")
    result = check_event(raw)
    assert result.raw is raw
    assert result.raw["amount_kzt"] == "-5.00"


def test_a_missing_field_is_named():
    raw = event()
    del raw["seat_row"]
    assert reason(check_event(raw)) == "missing field: seat_row"


def test_several_missing_fields_are_all_named():
    raw = event()
    del raw["seat_row"], raw["channel"]
    assert reason(check_event(raw)) == "missing fields: seat_row, channel"


def test_a_seat_number_sent_as_a_string_is_a_wrong_type():
    assert reason(check_event(event(seat_number="12"))) == "seat_number: expected integer, got str"


def test_a_boolean_is_not_an_integer():
    assert reason(check_event(event(seat_row=True))) == "seat_row: expected integer, got bool"


def test_a_float_seat_is_not_an_integer():
    assert reason(check_event(event(seat_row=5.0))) == "seat_row: expected integer, got float"


@pytest.mark.parametrize("value", [0, -3])
def test_seats_are_numbered_from_one(value):
    assert reason(check_event(event(seat_number=value))) == f"seat_number: must be at least 1, got {value}"


def test_a_null_required_field_is_a_wrong_type_not_a_missing_one():
    assert reason(check_event(event(channel=None))) == "channel: expected string, got null"


@pytest.mark.parametrize("value", [2500.0, 2500, Decimal("2500.00")])
def test_money_sent_as_a_number_is_a_wrong_type(value):
    assert reason(check_event(event(amount_kzt=value))).startswith("amount_kzt: expected string, got ")


def test_a_negative_amount_is_rejected():
    assert reason(check_event(event(amount_kzt="-2500.00"))) == "amount_kzt: negative"


@pytest.mark.parametrize(
    "value", ["2500", "2500.5", "2500.000", "12345678901.00", "1e3", " 2500.00", "2500.00\n"]
)
def test_money_must_have_two_decimals_and_at_most_ten_digits(value):
    assert reason(check_event(event(amount_kzt=value))).startswith("amount_kzt: not a tenge amount")


def test_the_largest_amount_the_pattern_allows_is_exact():
    result = check_event(event(amount_kzt="9999999999.99"))
    assert result["amount_kzt"] == Decimal("9999999999.99")


def test_an_invitation_is_free():
    result = check_event(event(category="invitation", amount_kzt="0.00"))
    assert result["amount_kzt"] == Decimal("0.00")


def test_an_invitation_with_a_price_is_rejected():
    raw = event(category="invitation", amount_kzt="1500.00")
    assert reason(check_event(raw)) == "amount_kzt: 1500.00 on an invitation (must be 0.00)"


def test_a_paid_category_at_zero_is_rejected():
    raw = event(category="child", amount_kzt="0.00")
    assert reason(check_event(raw)) == "amount_kzt: 0.00 on a paid category (child)"


@pytest.mark.parametrize(
    ("name", "value"), [("event_type", "exchange"), ("channel", "fax"), ("category", "Adult")]
)
def test_values_outside_an_enum_are_rejected(name, value):
    assert reason(check_event(event(**{name: value}))) == f"{name}: unknown value {value!r}"


@pytest.mark.parametrize(
    "value", ["ALA-0001:E 1", "ALA-0001:E/1", "", "ALA-0001:" + "E" * 60, "ALA-0001:E1\n", "ALA-0001:É1"]
)
def test_an_identifier_outside_the_identifier_pattern_is_rejected(value):
    assert reason(check_event(event(event_id=value))).startswith("event_id: not a valid identifier")


def test_an_identifier_of_another_cinema_names_that_cinema():
    raw = event(session_id="SHY-0002:S000001")
    assert reason(check_event(raw)) == "session_id: names another cinema (SHY-0002)"


def test_an_identifier_without_the_cinema_prefix_is_rejected():
    assert reason(check_event(event(ticket_id="T000001"))) == "ticket_id: does not start with ALA-0001:"


def test_a_timestamp_without_offset_is_rejected():
    raw = event(occurred_at="2024-03-01T10:15:00")
    assert reason(check_event(raw)).startswith("occurred_at: no UTC offset")


@pytest.mark.parametrize(
    "value",
    ["2024-03-01", "yesterday", "2024-03-01T10:15+05:00", "2024-02-30T10:15:00Z", "2024-03-01T10:15:00+0500"],
)
def test_a_timestamp_that_is_not_rfc_3339_is_rejected(value):
    assert reason(check_event(event(occurred_at=value))).startswith("occurred_at: not an RFC 3339 timestamp")


@pytest.mark.parametrize(
    "value",
    [
        "2024-03-01T05:15:00Z",
        "2024-03-01t05:15:00z",
        "2024-03-01T05:15:00.000+00:00",
        "2024-03-01T11:15:00+06:00",
    ],
)
def test_every_rfc_3339_spelling_of_an_instant_normalizes_to_the_same_utc_time(value):
    assert check_event(event(occurred_at=value))["occurred_at"] == datetime(2024, 3, 1, 5, 15, tzinfo=UTC)


def test_the_window_includes_its_start_and_excludes_its_end():
    start, end = WINDOW
    assert check_event(event(occurred_at=start.isoformat()))["occurred_at"] == start
    assert reason(check_event(event(occurred_at=end.isoformat()))) == "occurred_at: outside requested window"
    before = (start - timedelta(microseconds=1)).isoformat()
    assert reason(check_event(event(occurred_at=before))) == "occurred_at: outside requested window"


def test_an_event_more_than_five_minutes_in_the_future_is_rejected():
    now = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
    later = event(occurred_at="2024-03-01T06:05:01Z")
    assert reason(check_event(later, now=now)) == "occurred_at: in the future"


def test_an_event_within_five_minutes_of_now_is_clock_skew_and_accepted():
    now = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
    assert isinstance(check_event(event(occurred_at="2024-03-01T06:05:00Z"), now=now), dict)


def test_a_naive_window_is_a_programming_error():
    naive = (datetime(2024, 3, 1), datetime(2024, 3, 2))
    with pytest.raises(ValueError, match="aware"):
        check_event(event(), window=naive)


def test_undefined_properties_are_accepted_left_out_and_named():
    raw = event(loyalty_card="X-1", promo={"code": "SPRING"})
    result = check_event(raw)
    assert set(result) == set(TICKET_EVENT_FIELDS)
    assert extra_fields(raw, TICKET_EVENT_FIELDS) == ("loyalty_card", "promo")


def test_a_record_with_only_defined_properties_has_no_extra_fields():
    assert extra_fields(event(), TICKET_EVENT_FIELDS) == ()
    assert extra_fields("not an object", TICKET_EVENT_FIELDS) == ()


# Sessions


def test_a_valid_session_keeps_the_offset_it_was_given_with():
    result = check_session(session())
    assert result == {
        "session_id": "ALA-0001:S000001",
        "film_id": "F00042",
        "hall_id": "ALA-0001:H01",
        "starts_at": datetime(2024, 3, 1, 14, 30, tzinfo=UTC),
        "utc_offset_minutes": 300,
        "format": "IMAX",
        "audio_language": "kk",
        "subtitle_language": "ru",
    }


def test_a_session_in_the_twenty_fifth_hour_of_29_february_2024_belongs_to_that_day():
    # Almaty left UTC+6 at 00:00 on 1 March 2024 and repeated the hour from 23:00 at UTC+5.
    late = session(starts_at="2024-02-29T23:30:00+05:00")
    result = check_session(late, day=date(2024, 2, 29))
    assert result["starts_at"] == datetime(2024, 2, 29, 18, 30, tzinfo=UTC)
    assert result["utc_offset_minutes"] == 300
    assert reason(check_session(late, day=date(2024, 3, 1))) == "starts_at: not on business day 2024-03-01"


def test_a_session_given_with_the_old_offset_is_normalized_the_same():
    result = check_session(session(starts_at="2024-02-29T20:00:00+06:00"), day=date(2024, 2, 29))
    assert result["starts_at"] == datetime(2024, 2, 29, 14, 0, tzinfo=UTC)
    assert result["utc_offset_minutes"] == 360


def test_a_session_on_another_business_day_is_rejected():
    raw = session(starts_at="2024-03-02T00:10:00+05:00")
    assert reason(check_session(raw)) == "starts_at: not on business day 2024-03-01"


def test_a_session_starting_without_offset_is_rejected():
    assert reason(check_session(session(starts_at="2024-03-01T19:30:00"))).startswith(
        "starts_at: no UTC offset"
    )


def test_a_session_without_subtitles_has_a_null_subtitle_language():
    assert check_session(session(subtitle_language=None))["subtitle_language"] is None


@pytest.mark.parametrize("value", ["EN", "eng", "e", "1a"])
def test_languages_are_two_lowercase_letters(value):
    assert reason(check_session(session(audio_language=value))).startswith(
        "audio_language: expected two lowercase"
    )
    assert reason(check_session(session(subtitle_language=value))).startswith(
        "subtitle_language: expected two"
    )


def test_the_audio_language_is_not_nullable():
    assert reason(check_session(session(audio_language=None))) == "audio_language: expected string, got null"


def test_a_subtitle_language_of_the_wrong_type_is_rejected():
    raw = session(subtitle_language=7)
    assert reason(check_session(raw)) == "subtitle_language: expected string or null, got int"


def test_a_film_unknown_to_the_registry_is_rejected_when_the_registry_is_given():
    films = frozenset({"F00001"})
    assert reason(check_session(session(), films=films)) == "film_id: unknown film F00042"
    assert isinstance(check_session(session(), films=frozenset({"F00042"})), dict)
    assert isinstance(check_session(session()), dict)


def test_a_session_in_a_hall_of_another_cinema_is_rejected():
    raw = session(hall_id="AST-0003:H02")
    assert reason(check_session(raw)) == "hall_id: names another cinema (AST-0003)"


def test_an_unknown_screening_format_is_rejected():
    assert reason(check_session(session(format="8K"))) == "format: unknown value '8K'"


def test_undefined_session_properties_are_named_and_left_out():
    raw = session(price_tier="premium")
    assert set(check_session(raw)) == {*SESSION_FIELDS, "utc_offset_minutes"}
    assert extra_fields(raw, SESSION_FIELDS) == ("price_tier",)


# Halls


def test_a_valid_hall_is_returned_with_its_seats():
    assert validate_hall(hall(), cinema_id=CINEMA) == {
        "hall_id": "ALA-0001:H01",
        "name": "IMAX Hall",
        "seats": 320,
    }


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"seats": 0}, "seats: must be at least 1, got 0"),
        ({"seats": "320"}, "seats: expected integer, got str"),
        ({"name": None}, "name: expected string, got null"),
        ({"hall_id": "KAR-0002:H01"}, "hall_id: names another cinema (KAR-0002)"),
    ],
)
def test_a_hall_breaking_a_rule_is_rejected_with_the_reason(overrides, expected):
    assert reason(validate_hall(hall(**overrides), cinema_id=CINEMA)) == expected


def test_undefined_hall_properties_are_named_and_left_out():
    raw = hall(accessible=True)
    assert set(validate_hall(raw, cinema_id=CINEMA)) == set(HALL_FIELDS)
    assert extra_fields(raw, HALL_FIELDS) == ("accessible",)
