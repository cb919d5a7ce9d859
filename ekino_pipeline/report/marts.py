"""The marts a report reads, from the exports through the analysts' API (never the warehouse), loaded
once for all the pages of a build. Money stays exact (`Decimal`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ekino_pipeline.analysis import marts, read_mart

if TYPE_CHECKING:  # the frames come from read_mart; loading the definitions need not import pandas
    import pandas as pd

# The marts a page is built from; the live ones are used when the live job has exported them.
MARTS = (
    "film_daily_box_office",
    "national_daily",
    "region_daily",
    "film_weekly_box_office",
    "funding_outcomes_by_year",
    "cinema_reporting_daily",
    "cinema_reporting_status",
)
LIVE_MARTS = ("live_today", "live_films_today")
# Read when exported (exports made before the integrity checks lack them).
OPTIONAL_MARTS = ("integrity_findings",)
# The forecasts (forecasting/), read when the daily build has published them.
FORECAST_TABLES = ("film_forecasts",)


class ReportError(RuntimeError):
    """The exports cannot make a report (one line)."""


@dataclass
class Marts:
    folder: Path
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> Marts:
        available = set(marts(exports=folder))
        missing = [name for name in MARTS if name not in available]
        if missing:
            raise ReportError(
                f"the exports in {folder} lack {', '.join(missing)}: a daily_job build makes them"
            )
        frames = {name: read_mart(name, exports=folder) for name in MARTS}
        for name in (*LIVE_MARTS, *OPTIONAL_MARTS, *FORECAST_TABLES):
            if name in available:
                frames[name] = read_mart(name, exports=folder)
        return cls(folder, frames)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]

    def get(self, name: str) -> pd.DataFrame | None:
        return self.frames.get(name)

    def has_live(self) -> bool:
        return self.get("live_today") is not None

    def days_on_record(self) -> list[date]:
        """Business days some connected cinema was pulled for: the days a page can speak of."""
        return sorted(set(self["cinema_reporting_daily"]["business_date"]))
