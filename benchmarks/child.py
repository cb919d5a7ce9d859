"""Measurements run in child processes, so each one's peak memory and CPU are its own.

`python -m benchmarks.child TASK '<json arguments>'` runs `TASK` and prints one line `RESULT <json>`
holding what the task returned plus its process's CPU seconds and peak RSS.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ekino_pipeline.processes import cpu_seconds, descendants_cpu_seconds, peak_rss_mb

TASKS = {
    "bare": "benchmarks.extract:bare_fetch",
    "ours": "benchmarks.extract:ours",
    "dlt": "benchmarks.extract:dlt_rest_api",
    "sensor": "benchmarks.sensor:evaluate",
    "template": "benchmarks.history:template",
}
PREFIX = "RESULT "
ROOT = Path(__file__).resolve().parents[1]


def run_child(task: str, args: dict, env: dict[str, str] | None = None, timeout: float = 1200) -> dict:
    """Run a task in a fresh interpreter; its stdout and stderr go to ours except the result line."""
    command = [sys.executable, "-m", "benchmarks.child", task, json.dumps(args)]
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run(
        command, env=full_env, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False
    )
    results = [line for line in done.stdout.splitlines() if line.startswith(PREFIX)]
    if done.returncode != 0 or not results:
        tail = "\n".join(done.stdout.splitlines()[-20:])
        raise RuntimeError(f"benchmark task {task} failed with exit code {done.returncode}:\n{tail}")
    return json.loads(results[-1].removeprefix(PREFIX))


def main() -> None:
    task, raw = sys.argv[1], sys.argv[2]
    module, _, name = TASKS[task].partition(":")
    function = getattr(importlib.import_module(module), name)
    started = time.perf_counter()
    result = function(**json.loads(raw))
    result.setdefault("process_seconds", round(time.perf_counter() - started, 3))
    # The processes a task started count too: the ingestion asset's pull workers report their memory,
    # and their CPU is read from the kernel with everything else the task started.
    own_cpu, own_rss = cpu_seconds(), peak_rss_mb()
    result["process_cpu_seconds"] = round(own_cpu + descendants_cpu_seconds(), 3)
    result["own_peak_rss_mb"] = round(own_rss, 1)
    result["peak_rss_mb"] = round(own_rss + result.get("worker_peak_rss_mb", 0), 1)
    sys.stdout.flush()
    print(PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
