"""The exchange the benchmarks pull from: the simulator in a process of its own, answering from a cache.

Generating a large network's day costs the simulator seconds of CPU per thousand cinemas; that is not
what we measure. The server keeps every page it has answered (the simulator's own caches hold only a
few hundred cinema-days), so after one warm-up pass every contender fetches the very same bytes from a
server that only copies them to a socket. It runs in another process, so its CPU and memory are not
counted against the pipeline; its CPU is read from /proc and reported apart.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ekino_sim.server import SimulatorServer


def serve(args: argparse.Namespace) -> None:
    sim = SimulatorServer(
        cache_pages=True,
        seed=args.seed,
        n_cinemas=args.cinemas,
        secrets_file=args.secrets,
        registry_dir=args.registry_dir,
        now=datetime.fromisoformat(args.now),
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with sim:
        print(json.dumps({"url": sim.url, "connected": len(sim.tokens)}), flush=True)
        # The parent holds our stdin: when it goes away, so do we.
        threading.Thread(target=lambda: (sys.stdin.read(), stopping.set()), daemon=True).start()
        stopping.wait()


@dataclass
class PageServer:
    """A running page server process: its URL, its secrets file and its registry folder."""

    process: subprocess.Popen
    url: str
    connected: int
    secrets_file: Path
    registry_dir: Path

    @classmethod
    def start(cls, workdir: Path, n_cinemas: int, now: datetime, seed: int = 7) -> PageServer:
        workdir.mkdir(parents=True, exist_ok=True)
        secrets, registry = workdir / "secrets.json", workdir / "registry"
        command = [sys.executable, "-m", "benchmarks.pages", "--cinemas", str(n_cinemas), "--seed", str(seed)]
        command += ["--secrets", str(secrets), "--registry-dir", str(registry), "--now", now.isoformat()]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = process.stdout.readline()
        if not line:
            process.wait(timeout=10)
            raise RuntimeError(f"the page server exited with {process.returncode} before serving")
        hello = json.loads(line)
        return cls(process, hello["url"], hello["connected"], secrets, registry)

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tokens(self) -> dict[str, str]:
        return json.loads(self.secrets_file.read_text(encoding="utf-8"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> PageServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cinemas", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--secrets", required=True)
    parser.add_argument("--registry-dir", required=True)
    parser.add_argument("--now", required=True)
    serve(parser.parse_args(argv))


if __name__ == "__main__":
    main()
