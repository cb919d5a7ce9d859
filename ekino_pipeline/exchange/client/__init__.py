"""HTTP client for one cinema's ticketing exchange (openapi.yaml), built on `requests`.

`transport` carries requests (token, retries, limits, deadline) over `connections` (kept open between
cinemas' clients when they share a host), `decoding` turns bodies into records,
`endpoints` knows the API's paths and paging, `errors` names what can go wrong.
"""

from ekino_pipeline.exchange.client.connections import SharedConnections
from ekino_pipeline.exchange.client.endpoints import MAX_PAGE_SIZE, MAX_WINDOW, ExchangeClient, Page
from ekino_pipeline.exchange.client.errors import (
    DeadlineExceeded,
    ExchangeAuthError,
    ExchangeConfigError,
    ExchangeConnectionError,
    ExchangeError,
    ExchangeHTTPError,
    MalformedResponse,
    ResponseTooLarge,
)
from ekino_pipeline.exchange.client.transport import BEARER_TOKEN_PATTERN, RETRY_STATUSES, origin

__all__ = [
    "BEARER_TOKEN_PATTERN",
    "MAX_PAGE_SIZE",
    "MAX_WINDOW",
    "RETRY_STATUSES",
    "DeadlineExceeded",
    "ExchangeAuthError",
    "ExchangeClient",
    "ExchangeConfigError",
    "ExchangeConnectionError",
    "ExchangeError",
    "ExchangeHTTPError",
    "MalformedResponse",
    "Page",
    "ResponseTooLarge",
    "SharedConnections",
    "origin",
]
