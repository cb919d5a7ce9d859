"""The pieces of the simulator's answers: a reply, the contract's JSON error shape, a proxy's HTML error
page, RFC 3339 instants read strictly, and opaque stateless page tokens."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ekino_pipeline.calendar import business_date_of

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadRequest(ValueError):
    pass


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False  # api_down: close without answering


def json_reply(status: int, payload: Any, **headers: str) -> Reply:
    return Reply(status, json.dumps(payload, separators=(",", ":")).encode(), headers=headers)


def error_reply(status: int, code: str, message: str, **headers: str) -> Reply:
    return json_reply(status, {"error": {"code": code, "message": message}}, **headers)


def gateway_page(status: int, reason: str) -> Reply:
    # What a reverse proxy in front of a cinema's system sends: HTML, not the contract's JSON.
    body = f"<html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1></body></html>\n"
    return Reply(status, body.encode(), "text/html")


def parse_instant(name: str, text: str) -> datetime:
    if " " in text:
        raise BadRequest(f"{name} contains a space: was the '+' of its offset sent unencoded (use %2B)?")
    if not RFC3339.fullmatch(text):
        raise BadRequest(f"{name} must be an RFC 3339 timestamp with an offset, got {text!r}")
    text = text.upper()
    main, _, rest = text.partition(".")
    if rest:  # Python reads at most six fractional digits
        digits = re.match(r"\d+", rest).group()
        text = f"{main}.{digits[:6]}{rest[len(digits) :]}"
    try:
        value = datetime.fromisoformat(text)
        # An instant near the ends of the calendar (9999-12-31) cannot be moved into another zone:
        # the client's fault, a 400, not the simulator's.
        value.astimezone(UTC)
        business_date_of(value)
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"{name} is not a valid timestamp: {exc}") from None
    return value


def micros(ts: datetime) -> int:
    return (ts - EPOCH) // timedelta(microseconds=1)


class Paging:
    """Opaque, stateless page tokens: an offset and a digest of the query it belongs to."""

    def __init__(self, seed: int):
        self._secret = f"ekino-page:{seed}".encode()

    def _digest(self, query: str) -> str:
        return hmac.new(self._secret, query.encode(), hashlib.sha256).hexdigest()[:16]

    def encode(self, offset: int, query: str) -> str:
        raw = f"{offset}.{self._digest(query)}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, token: str, query: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            offset_text, digest = raw.split(".")
            offset = int(offset_text)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise BadRequest("page_token is not a token this server issued") from None
        if offset < 0 or not hmac.compare_digest(digest, self._digest(query)):
            raise BadRequest("page_token belongs to another query")
        return offset
