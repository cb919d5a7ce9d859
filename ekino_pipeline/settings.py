"""Where the pipeline keeps things, decided in one place from the environment.

Embedded defaults run anywhere (a `./.ekino` home with a DuckDB file and a local landing folder);
production points the same variables elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ekino_pipeline.calendar import parse_date
from ekino_pipeline.exchange.registry import SHIPPED_REGISTRY_DIR

DEFAULT_START_DATE = date(2024, 1, 1)


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("EKINO_HOME") or ".ekino").resolve()
        start = env.get("EKINO_START_DATE")
        secrets = env.get("EKINO_SECRETS_FILE")
        return cls(
            home=home,
            landing_root=Path(env.get("EKINO_LANDING_ROOT") or home / "landing").resolve(),
            warehouse_path=Path(env.get("EKINO_WAREHOUSE_PATH") or home / "warehouse.duckdb").resolve(),
            exports_dir=Path(env.get("EKINO_EXPORTS_DIR") or home / "exports").resolve(),
            registry_dir=Path(env.get("EKINO_REGISTRY_DIR") or SHIPPED_REGISTRY_DIR).resolve(),
            exchange_base_url=env.get("EKINO_EXCHANGE_BASE_URL") or None,
            secrets_file=Path(secrets).resolve() if secrets else None,
            start_date=parse_date(start) if start else DEFAULT_START_DATE,
            daily_cron=env.get("EKINO_DAILY_CRON") or cls.daily_cron,
            intraday_cron=env.get("EKINO_INTRADAY_CRON") or cls.intraday_cron,
            silent_after_hours=float(env.get("EKINO_SILENT_AFTER_HOURS") or cls.silent_after_hours),
            silent_lookback_days=int(env.get("EKINO_SILENT_LOOKBACK_DAYS") or cls.silent_lookback_days),
        )
