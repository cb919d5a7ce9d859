"""Resources of the ingestion room: the exchange (URLs and tokens) and the landing zone."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from ekino_pipeline.exchange.registry import validate_cinema_id
from ekino_pipeline.ingestion.landing import LandingZone


class TokenError(Exception):
    """A cinema's token is missing or the secrets could not be read (the message never holds a token)."""


class ExchangeResource(dg.ConfigurableResource):
    """How to reach connected cinemas. Tokens come from the JSON file named by `secrets_file`
    (`EKINO_SECRETS_FILE`) and/or the JSON object in `tokens_json` (`EKINO_CINEMA_TOKENS`)."""

    base_url: str | None = None
    secrets_file: str | None = None
    tokens_json: str | None = None
    page_size: int = 1000
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    retries: int = 4
    backoff_factor: float = 0.5
    max_retry_after: float = 30.0
    deadline_seconds: float = 300.0
    max_response_bytes: int = 16 * 2**20
    verify_tls: bool = True

    def load_tokens(self) -> dict[str, str]:
        tokens: dict[str, str] = {}
        if self.secrets_file:
            path = Path(self.secrets_file)
            try:
                tokens.update(json.loads(path.read_text(encoding="utf-8")))
            except FileNotFoundError as exc:
                raise TokenError(f"secrets file {path} does not exist") from exc
            except (OSError, ValueError):
                # The exception text could quote the file's content: name the file, not the error.
                raise TokenError(f"secrets file {path} is not a readable JSON object") from None
        if self.tokens_json:
            try:
                tokens.update(json.loads(self.tokens_json))
            except ValueError:
                raise TokenError("EKINO_CINEMA_TOKENS is not a JSON object") from None
        for cinema_id in tokens:
            validate_cinema_id(cinema_id)
        return tokens

    def client_options(self) -> dict:
        """ExchangeClient's keyword arguments, but for the address, token, cinema and film list."""
        return {
            "page_size": self.page_size,
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "retries": self.retries,
            "backoff_factor": self.backoff_factor,
            "max_retry_after": self.max_retry_after,
            "deadline_seconds": self.deadline_seconds,
            "max_response_bytes": self.max_response_bytes,
            "verify": self.verify_tls,
        }


class LandingResource(dg.ConfigurableResource):
    """The landing zone root (`EKINO_LANDING_ROOT`, default `$EKINO_HOME/landing`)."""

    root: str

    def zone(self) -> LandingZone:
        return LandingZone(Path(self.root))
