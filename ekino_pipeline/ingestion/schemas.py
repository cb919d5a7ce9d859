"""Arrow schemas of the landing zone: what a landed record looks like, money as decimal128."""

from __future__ import annotations

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(14, 2)

_LINEAGE = [
    pa.field("cinema_id", pa.string(), nullable=False),
    pa.field("business_date", pa.date32(), nullable=False),
    pa.field("attempt_id", pa.string(), nullable=False),
    pa.field("extracted_at", UTC_TS, nullable=False),
]
LINEAGE_COLUMNS = frozenset(f.name for f in _LINEAGE)

TICKET_EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("ticket_id", pa.string(), nullable=False),
        pa.field("session_id", pa.string(), nullable=False),
        pa.field("occurred_at", UTC_TS, nullable=False),
        pa.field("amount_kzt", MONEY, nullable=False),
        pa.field("seat_row", pa.int32(), nullable=False),
        pa.field("seat_number", pa.int32(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        *_LINEAGE,
    ]
)

SESSIONS = pa.schema(
    [
        pa.field("session_id", pa.string(), nullable=False),
        pa.field("film_id", pa.string(), nullable=False),
        pa.field("hall_id", pa.string(), nullable=False),
        pa.field("starts_at", UTC_TS, nullable=False),
        pa.field("utc_offset_minutes", pa.int16(), nullable=False),
        pa.field("format", pa.string(), nullable=False),
        pa.field("audio_language", pa.string(), nullable=False),
        pa.field("subtitle_language", pa.string(), nullable=True),
        *_LINEAGE,
    ]
)

# A cinema's declared box office return per film and film week; business_date is the film week's
# Thursday, the slot a cinema-day has in the landing zone.
DECLARED_RETURNS = pa.schema(
    [
        pa.field("return_id", pa.string(), nullable=False),
        pa.field("film_id", pa.string(), nullable=False),
        pa.field("film_week_start", pa.date32(), nullable=False),
        pa.field("admissions", pa.int64(), nullable=False),
        pa.field("gross_kzt", MONEY, nullable=False),
        pa.field("declared_at", UTC_TS, nullable=False),
        pa.field("revision", pa.int32(), nullable=False),
        *_LINEAGE,
    ]
)

QUARANTINE = pa.schema(
    [
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("page", pa.int32(), nullable=False),
        pa.field("record_key", pa.string(), nullable=True),
        pa.field("raw_record", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        *_LINEAGE,
    ]
)

DATASET_SCHEMAS = {"ticket_events": TICKET_EVENTS, "sessions": SESSIONS, "declared_returns": DECLARED_RETURNS}
DATASET_KEYS = {"ticket_events": "event_id", "sessions": "session_id", "declared_returns": "return_id"}
