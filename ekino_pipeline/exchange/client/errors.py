"""What the exchange client raises. No message ever carries the cinema's token."""

from __future__ import annotations


class ExchangeError(Exception):
    """Base of every error the client raises; messages never contain the token."""


class ExchangeConfigError(ExchangeError, ValueError):
    """The cinema's settings forbid the request: no usable token, an address a token must not travel
    to, a request leaving the cinema's origin. Nothing was sent, and retrying cannot help."""


class ExchangeHTTPError(ExchangeError):
    """The exchange answered with an error status (after retries, for the retryable ones)."""

    def __init__(
        self, message: str, *, status: int, code: str | None = None, server_message: str | None = None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = server_message


class ExchangeAuthError(ExchangeHTTPError):
    """401 (missing or invalid token) or 403 (a valid token of another cinema)."""


class ExchangeConnectionError(ExchangeError):
    """The exchange could not be reached or stopped answering, after retries."""


class ResponseTooLarge(ExchangeError):
    """A response body over `max_response_bytes`; refused without reading it all."""


class MalformedResponse(ExchangeError):
    """Non-JSON, truncated JSON or a wrong envelope, still so after retries."""


class DeadlineExceeded(ExchangeError):
    """The client's overall deadline (all calls together) ran out."""


class BrokenBody(Exception):
    """A 200 response whose body cannot be used; `transport` when the transfer failed.

    Never leaves the client package: the transport retries it, then raises MalformedResponse (or
    ExchangeConnectionError when `transport`) in its place."""

    def __init__(self, reason: str, *, transport: bool = False):
        super().__init__(reason)
        self.transport = transport
