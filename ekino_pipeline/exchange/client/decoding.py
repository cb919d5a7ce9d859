"""Turning a response body into records: JSON with its envelope checked, or a page of ticket events
read whole by Arrow's JSON reader when it is plainly valid (the columnar fast path)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from ekino_pipeline.exchange import contract
from ekino_pipeline.exchange.client.errors import BrokenBody

# What a page of ticket events looks like to the columnar reader; it refuses any other field or type.
_EVENTS_ENVELOPE = pa.schema(
    [("events", pa.list_(contract.TICKET_EVENT_JSON_TYPE)), ("next_page_token", pa.string())]
)
# The reader cannot tell a missing next_page_token from a null one; the compact tail of the body can.
# The last member before the root object's closing brace is a member of the root.
_PAGE_TAIL = re.compile(rb'\],"next_page_token":(null|"([^"\\\x00-\x1f]+)")\}\Z')


def decode_json(body: bytes) -> object:
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise BrokenBody("body is not UTF-8") from None
    except (ValueError, RecursionError) as exc:
        raise BrokenBody(f"body is not valid JSON ({str(exc)[:80]}; {len(body)} bytes)") from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def list_envelope(key: str, *, paged: bool) -> Callable[[object], None]:
    """A check that a decoded body is `{key: [...]}`, with a `next_page_token` when `paged`."""

    def check(payload: object) -> None:
        if not isinstance(payload, dict):
            raise BrokenBody(f"expected a JSON object, got {type_name(payload)}")
        if not isinstance(payload.get(key), list):
            raise BrokenBody(f"no {key!r} list in the response")
        if paged:
            if "next_page_token" not in payload:
                raise BrokenBody("no 'next_page_token' in the response")
            token = payload["next_page_token"]
            if token is not None and (not isinstance(token, str) or not token):
                raise BrokenBody("next_page_token is neither null nor a non-empty string")

    return check


@dataclass(frozen=True)
class ColumnarPage:
    """A page read and validated in Arrow: every record valid, in served order."""

    table: pa.Table
    next_page_token: str | None


def columnar_events(
    body: bytes, validate: Callable[[pa.StructArray], pa.Table | None]
) -> ColumnarPage | None:
    """A page of ticket events through Arrow's JSON reader, or None when anything about it (its
    layout, a type, a field, a record) calls for the record-by-record path, which decides."""
    tail = _PAGE_TAIL.search(body, max(0, len(body) - 4096))
    if tail is None:
        return None
    try:
        token = None if tail.group(2) is None else tail.group(2).decode("utf-8")
        # open_json, not read_json: read_json starts (and ends) a thread on every call, whatever
        # use_threads says, which cost more than parsing a small page.
        read = pa_json.open_json(
            pa.BufferReader(body),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=len(body) + 1),
            parse_options=pa_json.ParseOptions(
                explicit_schema=_EVENTS_ENVELOPE, unexpected_field_behavior="error"
            ),
        ).read_all()
    except (pa.ArrowException, ValueError):  # a field, type or byte the contract's reader refuses
        return None
    if read.num_rows != 1:  # several JSON documents in one body
        return None
    events = read.column("events").chunk(0)
    if events.null_count:
        return None
    table = validate(events.flatten())
    return None if table is None else ColumnarPage(table, token)


def events_out_of_order(table: pa.Table, previous_key: tuple | None) -> int:
    """Records that sort before the one served just before them, by (occurred_at, event_id)."""
    ts, ids = table.column("occurred_at"), table.column("event_id")
    earlier = pc.or_(pc.less(ts[1:], ts[:-1]), pc.and_(pc.equal(ts[1:], ts[:-1]), pc.less(ids[1:], ids[:-1])))
    count = pc.sum(earlier).as_py() or 0
    if previous_key is not None and (ts[0].as_py(), ids[0].as_py()) < previous_key:
        count += 1
    return count
