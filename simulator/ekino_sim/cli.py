"""`ekino-sim`: the simulator's and the demo's command line (never part of the pipeline's `ekino`).

Errors follow `ekino`'s rule: one line on stderr naming the cause, exit code 2. `demo` and `ui` stop
their child processes with them, however they are stopped (processes.py).
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime
from pathlib import Path

from ekino_pipeline.cli import Parser, run
from ekino_pipeline.errors import ConfigError
from ekino_sim.processes import Stopped, stop_on_signals
from ekino_sim.reference import MAX_CINEMAS


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535; 0 picks a free one)")
    return port


def _at_least(minimum: int, maximum: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{value} is above {maximum}")
        return value

    parse.__name__ = f"integer of at least {minimum}"
    return parse


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (rate > 0 and math.isfinite(rate)):
        raise argparse.ArgumentTypeError(f"{text} is not above 0 (and finite)")
    return rate


def _start(text: str) -> datetime:
    """An aware instant within the years the simulated network has business days for."""
    from ekino_pipeline.calendar import BUSINESS_TZ
    from ekino_sim.network import MAX_YEAR, MIN_YEAR

    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 instant, e.g. 2025-06-13T18:00:00+05:00"
        ) from None
    if start.tzinfo is None or start.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset, e.g. 2025-06-13T18:00:00+05:00")
    # Outside these years every request would be answered 500 (network.check_day).
    if (
        not datetime(MIN_YEAR, 1, 1, tzinfo=BUSINESS_TZ)
        <= start
        < datetime(MAX_YEAR + 1, 1, 1, tzinfo=BUSINESS_TZ)
    ):
        raise argparse.ArgumentTypeError(f"{text} is outside the simulated years {MIN_YEAR} to {MAX_YEAR}")
    return start


def _simulate(args: argparse.Namespace) -> int:
    from ekino_sim.network import SimulatedClock
    from ekino_sim.server import run_simulator

    run_simulator(
        clock=SimulatedClock(rate=args.rate, start=args.start),
        host=args.host,
        port=args.port,
        seed=args.seed,
        secrets_file=Path(args.secrets_file),
        n_cinemas=args.cinemas,
        faults_file=Path(args.faults) if args.faults else None,
        registry_dir=Path(args.registry_dir) if args.registry_dir else None,
    )
    return 0


def _registry(args: argparse.Namespace) -> int:
    from ekino_sim.reference import write_registry

    try:
        out = write_registry(args.out, n_cinemas=args.cinemas, seed=args.seed)
    except OSError as exc:
        raise ConfigError(f"cannot write the registry to {args.out}: {exc.strerror or exc}") from exc
    print(f"registry written to {out}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ekino_sim.demo import run_demo

    try:
        with stop_on_signals():
            return run_demo(days=args.days, home=Path(args.home) if args.home else None)
    except Stopped as stop:
        print(f"ekino-sim demo: stopped by {stop}", file=sys.stderr)
        return 128 + stop.signum


def _ui(args: argparse.Namespace) -> int:
    from ekino_sim.ui import run_ui

    # A UI asked to stop (Ctrl-C, SIGTERM) has done its job: exit 0, as dagster dev does.
    try:
        with stop_on_signals():
            home = Path(args.home) if args.home else None
            return run_ui(home, port=args.port, sim_port=args.simulator_port, api_port=args.api_port)
    except Stopped:
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ekino-sim", description="the e-Kino simulator and demo")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log at debug level; show the traceback of an error"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="serve a simulated national cinema network over HTTP")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=_port, default=8765)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--secrets-file", required=True, help="where to write cinema_id -> token (JSON)")
    sim.add_argument(
        "--cinemas",
        type=_at_least(1, MAX_CINEMAS),
        default=103,
        help=f"network size (103 = the e-Kino pilot; at most {MAX_CINEMAS})",
    )
    sim.add_argument("--faults", help="fault scenarios file (YAML or JSON)")
    sim.add_argument("--registry-dir", help="also write the served network's registry CSVs here")
    sim.add_argument(
        "--rate",
        type=_rate,
        default=1.0,
        help="simulated seconds per wall second (10 = ten times the sales per second)",
    )
    sim.add_argument(
        "--start", type=_start, help="the simulated clock's first instant, RFC 3339 (default: now)"
    )
    sim.set_defaults(func=_simulate)

    reg = sub.add_parser("registry", help="write the national registry CSVs for a network size")
    reg.add_argument("--out", required=True)
    reg.add_argument("--cinemas", type=_at_least(1, MAX_CINEMAS), default=103, help=f"at most {MAX_CINEMAS}")
    reg.add_argument("--seed", type=int, default=2024)
    reg.set_defaults(func=_registry)

    demo = sub.add_parser("demo", help="run the pipeline on embedded defaults against the simulator")
    demo.add_argument("--days", type=_at_least(1), default=14)
    demo.add_argument("--home", help="EKINO_HOME for the demo (default ./.ekino/demo)")
    demo.set_defaults(func=_demo)

    ui = sub.add_parser("ui", help="start the simulator and the Dagster UI together")
    ui.add_argument(
        "--home",
        help="EKINO_HOME (default: the demo's home ./.ekino/demo once the demo has run, else ./.ekino); "
        "a home with environment.json is opened with the environment saved there",
    )
    ui.add_argument("--port", type=_port, default=3000)
    ui.add_argument("--api-port", type=_port, default=8000, help="the open data API's port (0: a free one)")
    ui.add_argument(
        "--simulator-port", type=_port, help="default: the port the demo's simulator used, else 8765"
    )
    ui.set_defaults(func=_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
