"""What a simulated network gives the pipeline before any request: its registry and its cinemas'
bearer tokens (derived from the seed, so a restarted simulator keeps them), in a secrets file."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
from pathlib import Path

from ekino_pipeline.errors import ConfigError
from ekino_pipeline.exchange.registry import Registry, load_registry
from ekino_sim import SAMPLE_REGISTRY_DIR, reference


def token_for(seed: int, cinema_id: str) -> str:
    """A cinema's bearer token: derived from the seed, so a restarted simulator keeps its tokens."""
    return hmac.new(str(seed).encode(), cinema_id.encode(), hashlib.sha256).hexdigest()[:40]


def write_secrets(path: Path | str, tokens: dict[str, str]) -> Path:
    """Write {cinema_id: token} as JSON, readable by the owner only, atomically (temporary + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(tokens, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # an existing temporary file keeps its old mode otherwise
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def network_registry(
    n_cinemas: int = reference.PILOT_CINEMAS, registry_dir: Path | str | None = None
) -> Registry:
    """The registry a simulator serves; written to registry_dir so the pipeline can read the same one."""
    if registry_dir is not None:
        try:
            reference.write_registry(registry_dir, n_cinemas, reference.DEFAULT_SEED)
        except OSError as exc:
            raise ConfigError(f"cannot write the registry to {registry_dir}: {exc.strerror or exc}") from exc
        return load_registry(registry_dir)
    if n_cinemas == reference.PILOT_CINEMAS:
        return load_registry(SAMPLE_REGISTRY_DIR)
    with tempfile.TemporaryDirectory(prefix="ekino-registry-") as tmp:
        reference.write_registry(tmp, n_cinemas, reference.DEFAULT_SEED)
        return load_registry(tmp)
