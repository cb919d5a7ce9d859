"""Resources of the ingestion room: the exchange (URLs and tokens) and the landing zone."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from ekino_pipeline.errors import ConfigError
from ekino_pipeline.exchange.registry import CINEMA_ID_PATTERN, Registry, RegistryError, load_registry
from ekino_pipeline.ingestion.landing import LandingZone

_JSON_TYPES = {list: "a list", str: "a string", bool: "true or false", type(None): "null"}


class _Members(list):
    """A JSON object's members in order, duplicates kept: json.loads would let the last one win."""


class TokenError(ConfigError):
    """The secrets cannot be read or used. Its message names the source (file or variable) and the
    position of the entry at fault, never a key or a value of it: a token pasted in the place of a
    cinema id must not reach a log, the event store or an alert."""


def parse_tokens(text: str, source: str) -> dict[str, str]:
    """{cinema_id: token} from the JSON object in `text`; `source` names it in errors."""
    try:
        payload = json.loads(text, object_pairs_hook=_Members)
    except ValueError as exc:
        # Only the position: the decoder's own message is safe today, but the text around it is not.
        where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
        raise TokenError(f"{source} is not valid JSON{where}") from None
    except RecursionError:
        raise TokenError(f"{source} is not valid JSON (nested too deep)") from None
    if not isinstance(payload, _Members):
        found = _JSON_TYPES.get(type(payload), "a number")
        raise TokenError(f"{source} must hold a JSON object of cinema id to token, not {found}")
    tokens: dict[str, str] = {}
    for number, (key, value) in enumerate(payload, start=1):
        if not CINEMA_ID_PATTERN.fullmatch(key):
            raise TokenError(
                f"{source}, entry {number}: the key is not a cinema id like ALA-0001 (not shown: it could "
                "be a token)"
            )
        if key in tokens:
            raise TokenError(f"{source}, entry {number}: cinema {key} is listed a second time")
        if not isinstance(value, str) or not value:
            raise TokenError(f"{source}, entry {number}: the token of cinema {key} is not a non-empty string")
        tokens[key] = value
    return tokens


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
    allow_plain_http: bool = False  # EKINO_ALLOW_PLAIN_HTTP: plain http beyond loopback, on purpose

    def load_tokens(self) -> dict[str, str]:
        tokens: dict[str, str] = {}
        if self.secrets_file:
            path = Path(self.secrets_file)
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise TokenError(f"secrets file {path} does not exist") from None
            except UnicodeDecodeError:
                raise TokenError(f"secrets file {path} is not UTF-8 text") from None
            except OSError as exc:
                raise TokenError(f"secrets file {path} cannot be read: {exc.strerror}") from None
            tokens.update(parse_tokens(text, f"secrets file {path}"))
        if self.tokens_json:
            tokens.update(parse_tokens(self.tokens_json, "EKINO_CINEMA_TOKENS"))
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
            "allow_plain_http": self.allow_plain_http,
        }


class LandingResource(dg.ConfigurableResource):
    """The landing zone root (`EKINO_LANDING_ROOT`, default `$EKINO_HOME/landing`)."""

    root: str

    def zone(self) -> LandingZone:
        return LandingZone(Path(self.root))


class RegistryResource(dg.ConfigurableResource):
    """The folder of national registry CSVs (`EKINO_REGISTRY_DIR`); read at run time, so connecting a
    cinema takes effect on the next run without a deploy."""

    directory: str

    def load(self) -> Registry:
        try:
            return load_registry(Path(self.directory))
        except RegistryError as exc:
            # The message names file, row and column; the operator edits the CSV, not our code.
            raise dg.Failure(str(exc)) from None
