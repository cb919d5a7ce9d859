"""A process that pulls cinema-days through the worker pool, for tests that kill it midway:

    python -m tests.ingestion.pool_parent '{"landing_root": ..., "base_url": ..., "secrets_file": ...,
                                            "cinemas": [...], "day": "YYYY-MM-DD"}'

It prints each committed manifest's cinema as it comes back, and `done` at the end."""

import json
import sys
from datetime import date
from pathlib import Path

from ekino_pipeline.ingestion.workers import PullPlan, PullTask, pull_in_processes


def main() -> None:
    args = json.loads(sys.argv[1])
    plan = PullPlan(
        dataset="ticket_events",
        landing_root=args["landing_root"],
        client_options={"read_timeout": 30.0, "allow_plain_http": True},
        base_url=args["base_url"],
        tokens=json.loads(Path(args["secrets_file"]).read_text()),
        run_id="pool-parent",
    )
    day = date.fromisoformat(args["day"])
    tasks = [PullTask(cinema, f"cinemas/{cinema}", day) for cinema in args["cinemas"]]
    for manifest in pull_in_processes(plan, tasks, processes=len(tasks), threads=1):
        print(manifest["cinema_id"], flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
