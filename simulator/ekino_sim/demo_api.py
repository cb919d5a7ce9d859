"""The demo's last words on the open data API: a few `curl` lines over its exports, each tried first
against the API served for a moment in this process (a second or so), with what it answered."""

from __future__ import annotations

import logging
import os
import shlex
import socket
import threading
import time
from datetime import date
from pathlib import Path

import requests

from ekino_sim.demo_tables import say

PORT = 8000  # `make api`, `make ui`


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def demo_key(home: Path, keys_file: Path) -> Path:
    """A ministry key for the demo's settlement line; its token in a file only its owner reads."""
    from ekino_pipeline.api.keys import KeyStore

    _, token = KeyStore(keys_file).issue("ministry", label="the demo")
    path = home / "api" / "demo-ministry.token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token)
    return path


def print_api_lines(home: Path, exports_dir: Path, last: date, week: date | None) -> None:
    import uvicorn

    from ekino_pipeline.api.app import create_app
    from ekino_pipeline.api.cli import keys_file

    token_file = demo_key(home, keys_file(home))
    lines = [
        (f"/v1/box-office/daily?date={last}&limit=3", None),
        (f"/v1/national/daily?from={last}&to={last}&format=csv", None),
        ("/v1/films?q=a&limit=2", None),
    ]
    if week is not None:
        lines.append((f"/v1/settlements?week={week}", token_file))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(exports_dir, keys_file(home)), port=port, log_level="warning", access_log=False
        )
    )
    # The API logs each request it serves; the demo prints what it answered instead.
    logging.getLogger("ekino_pipeline.api").setLevel(logging.WARNING)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        say(f"\nThe open data API over these exports (make api, or make ui beside the UI: port {PORT})")
        for path, token in lines:
            headers = {"X-API-Key": token.read_text(encoding="utf-8")} if token else {}
            answer = requests.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=10)
            key = f'-H "X-API-Key: $(cat {shlex.quote(str(token))})" ' if token else ""
            say(f"  curl {key}'http://127.0.0.1:{PORT}{path}'")
            say(f"    -> {answer.status_code}, {_gist(answer)}")
        say(
            f"  (every endpoint: http://127.0.0.1:{PORT}/openapi.json; keys: .venv/bin/ekino api-keys --help)"
        )
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def _gist(answer: requests.Response) -> str:
    if answer.headers.get("content-type", "").startswith("text/csv"):
        rows = answer.text.count("\n") - 1
        provisional = answer.headers.get("Ekino-Provisional", "").lower() == "true"
        return f"{rows} CSV rows, {'provisional' if provisional else 'final'}"
    if answer.status_code != 200:
        return answer.json()["error"]["message"]
    body = answer.json()
    coverage, page = body["coverage"], body["page"]
    shown = len(body["data"]) if isinstance(body.get("data"), list) else 0
    rows = f"{shown} of {page['total']} rows" if shown and shown < page["total"] else f"{page['total']} rows"
    counts = [coverage.get(k) for k in ("cinemas_reporting", "cinemas_connected", "cinemas_total")]
    covered = "" if None in counts else f", {counts[0]}/{counts[1]}/{counts[2]} cinemas"
    return f"{rows}{covered}, {'provisional' if coverage['is_provisional'] else 'final'}"
