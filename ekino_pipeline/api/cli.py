"""`ekino api` (serve the open data API with uvicorn) and `ekino api-keys issue|revoke|list`.

The keys file is `EKINO_API_KEYS_FILE`, default `$EKINO_HOME/api/keys.json`. A token is printed once,
on stdout, when its key is issued; it is never printed, logged or stored again (only its hash).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ekino_pipeline.api.keys import DEFAULT_RATE_PER_MINUTE, ROLES, KeyCommandError, KeyStore
from ekino_pipeline.api.rate_limit import ANONYMOUS_RATE_PER_MINUTE

DEFAULT_PORT = 8000
API_HEADER = "X-API-Key"


def keys_file(home: Path) -> Path:
    return Path(os.environ.get("EKINO_API_KEYS_FILE") or home / "api" / "keys.json")


def _settings():
    from ekino_pipeline.settings import Settings

    return Settings.from_env()


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ekino_pipeline.api.app import create_app

    settings = _settings()
    app = create_app(
        settings.exports_dir,
        keys_file(settings.home),
        require_key=args.require_key,
        anonymous_rate=args.anonymous_rate,
    )
    print(
        f"e-Kino open data API at http://{args.host}:{args.port} (OpenAPI: /openapi.json) over "
        f"{settings.exports_dir}",
        flush=True,
    )
    # The access log is our own (the path without its query, the key by its id): uvicorn's would
    # print whatever a client put in the query string.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning")
    return 0


def _store() -> KeyStore:
    return KeyStore(keys_file(_settings().home))


def issue(args: argparse.Namespace) -> int:
    store = _store()
    try:
        key, token = store.issue(args.role, args.distributor, args.rate_limit, args.label or "")
    except KeyCommandError as exc:
        print(f"ekino api-keys issue: {exc}", file=sys.stderr)
        return 2
    whose = f" for {key.distributor} ({key.distributor_id})" if key.distributor else ""
    print(
        f"key {key.key_id} issued: role {key.role}{whose}, {key.rate_per_minute} requests a minute, in "
        f"{store.path}. Its token follows, shown this once: send it as the {API_HEADER} header.",
        file=sys.stderr,
    )
    print(token)
    return 0


def revoke(args: argparse.Namespace) -> int:
    try:
        key = _store().revoke(args.key_id)
    except KeyCommandError as exc:
        print(f"ekino api-keys revoke: {exc}", file=sys.stderr)
        return 2
    print(f"key {key.key_id} revoked at {key.revoked_at}")
    return 0


def list_keys(_args: argparse.Namespace) -> int:
    keys = _store().all_keys()
    if not keys:
        print("no API keys issued")
    for key in keys:
        state = f"revoked {key.revoked_at}" if key.revoked_at else "active"
        whose = f" {key.distributor_id}" if key.distributor_id else ""
        label = f" ({key.label})" if key.label else ""
        print(
            f"{key.key_id} {key.role}{whose} {key.rate_per_minute}/min {state} since {key.created_at}{label}"
        )
    return 0


def add_commands(sub) -> None:
    """`api` and `api-keys` in the product's command line."""
    api = sub.add_parser("api", help="serve the open data API over the published exports")
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    api.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    api.add_argument("--require-key", action="store_true", help="refuse requests without an API key")
    api.add_argument(
        "--anonymous-rate",
        type=int,
        default=ANONYMOUS_RATE_PER_MINUTE,
        help=f"requests a minute for each client without a key (default {ANONYMOUS_RATE_PER_MINUTE})",
    )
    api.set_defaults(func=serve)

    keys = sub.add_parser("api-keys", help="issue, revoke and list the open data API's keys")
    verbs = keys.add_subparsers(dest="verb", required=True)
    issued = verbs.add_parser("issue", help="issue a key; its token is printed once")
    issued.add_argument("--role", choices=ROLES, default="public")
    issued.add_argument("--distributor", help="a distributor key's distributor, its exact registry name")
    issued.add_argument(
        "--rate-limit",
        type=int,
        help="requests a minute (default by role: "
        + ", ".join(f"{r} {n}" for r, n in DEFAULT_RATE_PER_MINUTE.items())
        + ")",
    )
    issued.add_argument("--label", help="who holds it, for the list")
    issued.set_defaults(func=issue)
    revoked = verbs.add_parser("revoke", help="revoke a key by its id")
    revoked.add_argument("key_id")
    revoked.set_defaults(func=revoke)
    verbs.add_parser("list", help="the keys: id, role, limit, state (never a token)").set_defaults(
        func=list_keys
    )
