"""`ekino`: the project's command line.

A fault in the command line or the configuration (an argument, an environment variable, a registry,
secrets or faults file) is one line on stderr naming its cause, and exit code 2; `--verbose` or
`EKINO_DEBUG=1` shows the traceback as well. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ekino_pipeline.errors import ConfigError

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line: the usage is one `--help` away."""

    def error(self, message: str) -> None:
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535; 0 picks a free one)")
    return port


def _at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
        return value

    parse.__name__ = f"integer of at least {minimum}"
    return parse


def _simulate(args: argparse.Namespace) -> int:
    from datetime import datetime

    from ekino_pipeline.exchange.simulator.network import SimulatedClock
    from ekino_pipeline.exchange.simulator.server import run_simulator

    start = datetime.fromisoformat(args.start) if args.start else None
    if start is not None and start.tzinfo is None:
        print("ekino simulate: --start needs an offset, e.g. 2025-06-13T18:00:00+05:00", file=sys.stderr)
        return 2
    run_simulator(
        clock=SimulatedClock(rate=args.rate, start=start),
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
    from ekino_pipeline.exchange.simulator.reference import write_registry

    try:
        out = write_registry(args.out, n_cinemas=args.cinemas, seed=args.seed)
    except OSError as exc:
        raise ConfigError(f"cannot write the registry to {args.out}: {exc.strerror or exc}") from exc
    print(f"registry written to {out}")
    return 0


def _import_history(args: argparse.Namespace) -> int:
    from ekino_pipeline.exchange.registry import import_box_office_history
    from ekino_pipeline.settings import Settings

    registry_dir = Path(args.registry_dir) if args.registry_dir else Settings.from_env().registry_dir
    try:
        records = import_box_office_history(args.file, registry_dir)
    except (OSError, ValueError) as exc:
        print(f"ekino import-history: {exc}", file=sys.stderr)
        return 2
    films = len({r.film_id for r in records if r.film_id})
    print(f"box office history of {films} films ({len(records)} periods) imported into {registry_dir}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ekino_pipeline.demo import run_demo

    return run_demo(days=args.days, home=Path(args.home) if args.home else None)


def _ui(args: argparse.Namespace) -> int:
    from ekino_pipeline.ui import run_ui

    return run_ui(Path(args.home) if args.home else None, port=args.port, sim_port=args.simulator_port)


def _replay_quarantine(args: argparse.Namespace) -> int:
    from ekino_pipeline.calendar import daterange, parse_date
    from ekino_pipeline.exchange.registry import load_registry, validate_cinema_id
    from ekino_pipeline.ingestion.landing import LandingZone
    from ekino_pipeline.ingestion.replay import replay_quarantine
    from ekino_pipeline.settings import Settings

    # Mistakes in the arguments get one line on stderr and exit 2, as argparse's own do.
    def usage_error(message: str) -> int:
        print(f"ekino replay-quarantine: {message}", file=sys.stderr)
        return 2

    days = {}
    for flag, text in (("--from", args.from_date), ("--to", args.to_date)):
        try:
            days[flag] = parse_date(text)
        except ValueError as exc:
            return usage_error(f"{flag} {text!r} is not a date: {exc}")
    first, last = days["--from"], days["--to"]
    if first > last:
        return usage_error(f"--from {first} is after --to {last}")
    try:
        cinemas = [validate_cinema_id(c) for c in args.cinema or []]
    except ValueError as exc:
        return usage_error(str(exc))
    settings = Settings.from_env()
    registry_dir = Path(args.registry_dir) if args.registry_dir else settings.registry_dir
    try:
        registry = load_registry(registry_dir)
    except (OSError, ValueError) as exc:
        return usage_error(f"cannot read the registry in {registry_dir}: {exc}")

    zone = LandingZone(settings.landing_root)
    results = replay_quarantine(zone, registry, list(daterange(first, last)), cinemas=cinemas or None)
    replayed = [r for r in results if r.changed]
    for r in results:
        if r.skipped:
            print(f"{r.dataset} {r.business_date} {r.cinema_id}: not replayed, {r.skipped}")
        elif r.changed:
            reasons = "; ".join(f"{reason}: {n}" for reason, n in r.reasons.items())
            dropped = f", {r.duplicates_dropped} duplicates dropped" if r.duplicates_dropped else ""
            print(
                f"{r.dataset} {r.business_date} {r.cinema_id}: replayed {r.replayed} ({reasons})"
                f"{dropped}, {r.remaining} still quarantined"
            )
    total = sum(r.replayed for r in replayed)
    by_dataset = ", ".join(
        f"{dataset} {sum(r.replayed for r in replayed if r.dataset == dataset)}"
        for dataset in ("sessions", "ticket_events")
    )
    print(
        f"replayed {total} records in {len(replayed)} cinema-days ({by_dataset}) from {first} to {last}; "
        f"{sum(r.remaining for r in results)} records still quarantined in {zone.root}"
    )
    if replayed:
        # The landing zone changed; the warehouse and the marts follow when the window is loaded again.
        print(
            "the warehouse and marts follow when these days are loaded again: "
            f"dagster job backfill -m ekino_pipeline.definitions -j quarantine_replay_job "
            f"--from {first} --to {last}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ekino", description="e-Kino national film-monitoring pipeline")
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
        "--cinemas", type=_at_least(1), default=103, help="network size (103 = the e-Kino pilot)"
    )
    sim.add_argument("--faults", help="fault scenarios file (YAML or JSON)")
    sim.add_argument("--registry-dir", help="also write the served network's registry CSVs here")
    sim.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="simulated seconds per wall second (10 = ten times the sales per second)",
    )
    sim.add_argument("--start", help="the simulated clock's first instant, RFC 3339 (default: now)")
    sim.set_defaults(func=_simulate)

    reg = sub.add_parser("registry", help="write the national registry CSVs for a network size")
    reg.add_argument("--out", required=True)
    reg.add_argument("--cinemas", type=_at_least(1), default=103)
    reg.add_argument("--seed", type=int, default=2024)
    reg.set_defaults(func=_registry)

    history = sub.add_parser(
        "import-history",
        help="validate a box office history CSV (reported before e-Kino) and make it the registry's",
    )
    history.add_argument("file", help="CSV with the columns of registry_data/box_office_history.csv")
    history.add_argument("--registry-dir", help="registry to import into (default EKINO_REGISTRY_DIR)")
    history.set_defaults(func=_import_history)

    demo = sub.add_parser("demo", help="run the pipeline on embedded defaults against the simulator")
    demo.add_argument("--days", type=_at_least(1), default=14)
    demo.add_argument("--home", help="EKINO_HOME for the demo (default ./.ekino/demo)")
    demo.set_defaults(func=_demo)

    replay = sub.add_parser(
        "replay-quarantine",
        help="validate quarantined records of landed days again (registry caught up, rule corrected) "
        "and land those that now pass, without asking the exchange",
    )
    replay.add_argument("--from", dest="from_date", required=True, help="first business day, YYYY-MM-DD")
    replay.add_argument("--to", dest="to_date", required=True, help="last business day, YYYY-MM-DD")
    replay.add_argument(
        "--cinema", action="append", help="only this cinema id (repeatable); default every cinema"
    )
    replay.add_argument(
        "--registry-dir", help="registry CSVs to validate against (default EKINO_REGISTRY_DIR or shipped)"
    )
    replay.set_defaults(func=_replay_quarantine)

    ui = sub.add_parser("ui", help="start the simulator and the Dagster UI together")
    ui.add_argument(
        "--home",
        help="EKINO_HOME (default: the demo's home ./.ekino/demo once the demo has run, else ./.ekino); "
        "a home with environment.json is opened with the environment saved there",
    )
    ui.add_argument("--port", type=_port, default=3000)
    ui.add_argument(
        "--simulator-port", type=_port, help="default: the port the demo's simulator used, else 8765"
    )
    ui.set_defaults(func=_ui)
    return parser


def _debug(args: argparse.Namespace) -> bool:
    return args.verbose or os.environ.get("EKINO_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except ConfigError as exc:
        if _debug(args):
            raise
        # One line, whatever the message carries (a YAML parser's, say, spans several).
        print(f"ekino {args.command}: {' '.join(str(exc).split())}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
