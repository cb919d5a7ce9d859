"""API keys: issued and revoked by `ekino api-keys`, kept hashed in one JSON file.

A token is `ekino_<key id>_<secret>` (32 random bytes); the file keeps its SHA-256 only, so neither the
file nor a log can give a token back. The key id (8 hex digits) names a key in the command line and in
the API's log; it is no secret. Roles: `public` (the published figures), `distributor` (those, and the
settlement of its own distributor, named at issue), `ministry` (every settlement). Each key has its own
rate limit (requests a minute). The file (default `$EKINO_HOME/api/keys.json`, mode 0600) is replaced
atomically under a lock, so two commands never lose a key; the API reads it again when it changes, so
a revoked key stops working at its next request.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from ekino_pipeline.atomic_files import replacing

ROLES = ("public", "distributor", "ministry")
DEFAULT_RATE_PER_MINUTE = {"public": 120, "distributor": 120, "ministry": 600}
TOKEN_PREFIX = "ekino_"  # noqa: S105 - the tokens' prefix, no secret
_TOKEN = re.compile(r"^ekino_([0-9a-f]{8})_[A-Za-z0-9_-]{20,100}$")


class KeyCommandError(ValueError):
    """A key command that cannot be done, in one line."""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    role: str
    distributor: str | None
    distributor_id: str | None
    rate_per_minute: int
    label: str
    created_at: str
    revoked_at: str | None
    token_sha256: str

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class KeyStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._seen: tuple[int, int] | None = None
        self._keys: dict[str, ApiKey] = {}

    # -- the command line's side ------------------------------------------------------------------
    def issue(
        self, role: str, distributor: str | None = None, rate_per_minute: int | None = None, label: str = ""
    ) -> tuple[ApiKey, str]:
        """A new key and its token: the only time the token exists outside its holder's hands."""
        if role not in ROLES:
            raise KeyCommandError(f"role {role!r} is not one of {', '.join(ROLES)}")
        if (role == "distributor") != bool(distributor and distributor.strip()):
            raise KeyCommandError("a distributor key names its distributor (--distributor), and only it does")
        if rate_per_minute is not None and rate_per_minute < 1:
            raise KeyCommandError(
                f"rate limit {rate_per_minute} is not a positive number of requests a minute"
            )
        from ekino_pipeline.transformation.statements import distributor_id  # dagster: not for --help

        with self._locked() as keys:
            key_id = secrets.token_hex(4)
            while key_id in keys:
                key_id = secrets.token_hex(4)
            token = f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
            key = ApiKey(
                key_id=key_id,
                role=role,
                distributor=distributor.strip() if distributor else None,
                distributor_id=distributor_id(distributor.strip()) if distributor else None,
                rate_per_minute=rate_per_minute or DEFAULT_RATE_PER_MINUTE[role],
                label=label,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                revoked_at=None,
                token_sha256=_digest(token),
            )
            keys[key_id] = key
        return key, token

    def revoke(self, key_id: str) -> ApiKey:
        with self._locked() as keys:
            if key_id not in keys:
                raise KeyCommandError(f"no key {key_id!r} in {self.path}")
            if keys[key_id].revoked_at is None:
                keys[key_id] = replace(
                    keys[key_id], revoked_at=datetime.now(UTC).isoformat(timespec="seconds")
                )
            return keys[key_id]

    def all_keys(self) -> list[ApiKey]:
        return sorted(self._read().values(), key=lambda k: (k.created_at, k.key_id))

    # -- the API's side -----------------------------------------------------------------------------
    def verify(self, token: str) -> ApiKey | None:
        """The active key of a token; None for a malformed, unknown or revoked one."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        self._refresh()
        key = self._keys.get(match.group(1))
        if key is None or not key.active or not hmac.compare_digest(key.token_sha256, _digest(token)):
            return None
        return key

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._keys, self._seen = {}, None
            return
        seen = (stat.st_ino, stat.st_mtime_ns)
        if seen != self._seen:
            self._keys, self._seen = self._read(), seen

    # -- the file -----------------------------------------------------------------------------------
    def _read(self) -> dict[str, ApiKey]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {k["key_id"]: ApiKey(**k) for k in document.get("keys", [])}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, ApiKey]]:
        """The keys to change in place; written back atomically (mode 0600) when the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            keys = self._read()
            yield keys
            payload = json.dumps({"version": 1, "keys": [asdict(k) for k in keys.values()]}, indent=1)
            with replacing(self.path) as tmp:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(payload)
