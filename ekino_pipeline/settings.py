"""Where the pipeline keeps things, decided in one place from the environment.

Embedded defaults run anywhere (a `./.ekino` home with a DuckDB file and a local landing folder);
production points the same variables elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

import dagster as dg

from ekino_pipeline.calendar import parse_date
from ekino_pipeline.errors import ConfigError

DEFAULT_START_DATE = date(2024, 1, 1)
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
T = TypeVar("T")
N = TypeVar("N", int, float)


def env_value(env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T, what: str) -> T:
    """The variable parsed, its default when unset or empty; a bad value is a ConfigError naming the
    variable (these are read at import of the Dagster definitions, where a bare ValueError says not
    which of them is wrong)."""
    text = env.get(name)
    if not text:
        return default
    try:
        return parse(text)
    except ValueError as exc:
        raise ConfigError(f"{name}={text[:40]!r} is not {what}: {exc}") from None


def _positive(parse: Callable[[str], N]) -> Callable[[str], N]:
    def read(text: str) -> N:
        value = parse(text)
        if not value > 0:
            raise ValueError("must be greater than 0")
        return value

    return read


def _flag(text: str) -> bool:
    if text.strip().lower() not in _TRUE + _FALSE:
        raise ValueError(f"expected one of {', '.join(_TRUE + _FALSE)}")
    return text.strip().lower() in _TRUE


def _automations(text: str) -> bool:
    if text.strip().lower() not in ("running", "stopped"):
        raise ValueError("expected running or stopped")
    return text.strip().lower() == "running"


@dataclass(frozen=True)
class Settings:
    home: Path
    landing_root: Path
    warehouse_path: Path
    exports_dir: Path
    registry_dir: Path
    exchange_base_url: str | None
    secrets_file: Path | None
    start_date: date
    daily_cron: str = "0 5 * * *"
    intraday_cron: str = "15 * * * *"
    silent_after_hours: float = 8.0
    silent_lookback_days: int = 7
    # Plain http to a non-loopback exchange sends bearer tokens in clear text: only on purpose.
    allow_plain_http: bool = False
    # The live mode's own DuckDB file (live_session.py): never the warehouse, so the live session that
    # runs all day holds no slot of the warehouse pool and the daily run never waits for it.
    live_warehouse_path: Path | None = None

    @property
    def live_path(self) -> Path:
        return self.live_warehouse_path or self.home / "live_warehouse.duckdb"

    # Schedules and sensors start running (production) or stopped (anywhere else): see below.
    automations_running: bool = False

    # Whether schedules and sensors start running: `EKINO_AUTOMATIONS` (`running` or `stopped`).
    # Production sets `EKINO_AUTOMATIONS=running` (deploy/production); everywhere else they start
    # stopped, so that a laptop's UI does not begin pulling from the exchange within minutes. An operator
    # starts one in the UI when wanted; the instance then remembers it. `dead_run_sensor` always runs (it
    # only marks failed the runs whose process is gone, freeing their warehouse pool slot), and
    # `live_schedule` is off until started: the live mode is a choice of its own.
    @property
    def schedule_status(self) -> dg.DefaultScheduleStatus:
        running = self.automations_running
        return dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED

    @property
    def sensor_status(self) -> dg.DefaultSensorStatus:
        running = self.automations_running
        return dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED

    @staticmethod
    def env_var(name: str) -> dg.EnvVar | None:
        """An EnvVar when the variable is set: secrets then resolve at run time and never sit in config."""
        return dg.EnvVar(name) if os.environ.get(name) else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("EKINO_HOME") or ".ekino").resolve()
        secrets = env.get("EKINO_SECRETS_FILE")
        return cls(
            home=home,
            landing_root=Path(env.get("EKINO_LANDING_ROOT") or home / "landing").resolve(),
            warehouse_path=Path(env.get("EKINO_WAREHOUSE_PATH") or home / "warehouse.duckdb").resolve(),
            exports_dir=Path(env.get("EKINO_EXPORTS_DIR") or home / "exports").resolve(),
            registry_dir=Path(env.get("EKINO_REGISTRY_DIR") or home / "registry").resolve(),
            exchange_base_url=env.get("EKINO_EXCHANGE_BASE_URL") or None,
            secrets_file=Path(secrets).resolve() if secrets else None,
            start_date=env_value(
                env, "EKINO_START_DATE", parse_date, DEFAULT_START_DATE, "a date YYYY-MM-DD"
            ),
            daily_cron=env.get("EKINO_DAILY_CRON") or cls.daily_cron,
            intraday_cron=env.get("EKINO_INTRADAY_CRON") or cls.intraday_cron,
            silent_after_hours=env_value(
                env, "EKINO_SILENT_AFTER_HOURS", _positive(float), cls.silent_after_hours, "a number of hours"
            ),
            silent_lookback_days=env_value(
                env,
                "EKINO_SILENT_LOOKBACK_DAYS",
                _positive(int),
                cls.silent_lookback_days,
                "a number of days",
            ),
            allow_plain_http=env_value(env, "EKINO_ALLOW_PLAIN_HTTP", _flag, False, "a yes or no"),
            live_warehouse_path=Path(
                env.get("EKINO_LIVE_WAREHOUSE_PATH") or home / "live_warehouse.duckdb"
            ).resolve(),
            automations_running=env_value(
                env, "EKINO_AUTOMATIONS", _automations, False, "'running' or 'stopped'"
            ),
        )
