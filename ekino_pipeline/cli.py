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


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line: the usage is one `--help` away."""

    def error(self, message: str) -> None:
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


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


def _replay_quarantine(args: argparse.Namespace) -> int:
    from ekino_pipeline.calendar import business_day_bounds, daterange, parse_date
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
        try:
            business_day_bounds(days[flag])
        except OverflowError:
            return usage_error(
                f"{flag} {text} is beyond the business days the calendar holds (0001-01-02 to 9999-12-30)"
            )
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
    if not settings.landing_root.is_dir():
        # A mistyped EKINO_HOME would otherwise read as a landing zone with nothing quarantined.
        return usage_error(
            f"no landing zone at {settings.landing_root} (EKINO_LANDING_ROOT, default $EKINO_HOME/landing; "
            f"EKINO_HOME is {settings.home})"
        )

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
    parser = Parser(prog="ekino", description="e-Kino national film-monitoring pipeline")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log at debug level; show the traceback of an error"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    history = sub.add_parser(
        "import-history",
        help="validate a box office history CSV (reported before e-Kino) and make it the registry's",
    )
    history.add_argument("file", help="CSV with the columns of the registry's box_office_history.csv")
    history.add_argument("--registry-dir", help="registry to import into (default EKINO_REGISTRY_DIR)")
    history.set_defaults(func=_import_history)

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
        "--registry-dir", help="registry CSVs to validate against (default EKINO_REGISTRY_DIR)"
    )
    replay.set_defaults(func=_replay_quarantine)

    from ekino_pipeline.api.cli import add_commands as add_api_commands

    add_api_commands(sub)
    return parser


def _debug(args: argparse.Namespace) -> bool:
    return args.verbose or os.environ.get("EKINO_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse and run one command; a ConfigError is one line on stderr and exit 2."""
    args = parser.parse_args(argv)
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
        print(f"{parser.prog} {args.command}: {' '.join(str(exc).split())}", file=sys.stderr)
        return USAGE_ERROR


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
