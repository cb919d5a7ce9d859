"""The box office report's pages: for a business day, the day's top 10, its film week's chart, the trend
of the leading films over the weeks before it, gross by region, the cinemas that did not report, the
funding outcomes and, when the live marts hold that day, today so far.

What each part shows is gathered in `sections.py` from the exports (`marts.py`), its chart drawn in
`charts.py`, its words and tables written by the Jinja templates in `templates/`, which escape every value
(titles and names come from cinemas and distributors).

Pages are written to `<exports>/report/<day>.html`, atomically (a reader sees the old page or the new
one); `index.html` is the latest day on record, with links to every day kept. The plotly library is
written once beside them (`plotly-<version>.min.js`, named by version so that older pages keep theirs):
nothing is fetched from the network when a page is opened.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import jinja2
import plotly
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from ekino_pipeline.analysis import exports_dir
from ekino_pipeline.calendar import BUSINESS_TZ
from ekino_pipeline.report import formatting, sections
from ekino_pipeline.report.marts import MARTS, Marts

REPORT_FOLDER = "report"
INDEX = "index.html"


@dataclass(frozen=True)
class Page:
    day: date
    path: Path
    charts: int
    provisional_reasons: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    folder: Path
    index: Path
    latest_day: date | None
    pages: list[Page]


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ekino_pipeline.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters |= {
        "tenge": formatting.tenge,
        "short_tenge": formatting.short_tenge,
        "count": formatting.count,
        "rate": formatting.rate,
        "coverage": formatting.coverage,
        "reasons": formatting.reasons_of,
        "reason": formatting.reason_text,
        "film": formatting.film_name,
        "almaty": formatting.local_time,
        "long_day": formatting.long_day,
        "cause": formatting.cause,
        "text": formatting.optional,
    }
    # The charts' figures, inlined in scripts: compact, and ₸ as itself.
    env.policies["json.dumps_kwargs"] = {"separators": (",", ":"), "ensure_ascii": False}
    return env


def plotly_script_name() -> str:
    return f"plotly-{plotly.__version__}.min.js"


def _render(section: sections.Section) -> Markup:
    template = environment().get_template(f"sections/{section.template}")
    return Markup(template.render(section.context, charts=section.charts))  # noqa: S704 (autoescaped)


def render_page(
    m: Marts, day: date, *, days_kept: list[date], built_at: datetime, index: bool = False
) -> tuple[str, int, tuple[str, ...]]:
    """The page of a business day as HTML, the number of charts on it and its provisional reasons."""
    header = sections.national(m, day)
    parts = sections.of_day(m, day)
    kept = sorted(set(days_kept))
    text = (
        environment()
        .get_template("page.html.j2")
        .render(
            day=day,
            index=index,
            header=_render(header),
            sections=[_render(part) for part in parts],
            previous=max((d for d in kept if d < day), default=None),
            next=min((d for d in kept if d > day), default=None),
            kept=kept,
            plotly_script=plotly_script_name(),
            built_at=built_at.astimezone(BUSINESS_TZ),
            marts=MARTS,
            live=m.has_live(),
            folder=m.folder,
            reasons=formatting.REASONS,
        )
    )
    return text, sum(len(part.charts) for part in parts), header.context["reasons"]


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_plotly_script(folder: Path) -> Path:
    target = folder / plotly_script_name()
    if not target.exists():
        _write_atomically(target, get_plotlyjs())
    return target


def pages_kept(folder: Path) -> list[date]:
    kept = []
    for path in folder.glob("????-??-??.html"):
        try:
            kept.append(date.fromisoformat(path.stem))
        except ValueError:
            continue
    return sorted(kept)


def build_report(
    days: Iterable[date],
    *,
    home: str | Path | None = None,
    exports: str | Path | None = None,
    built_at: datetime | None = None,
) -> Report:
    """Writes the pages of `days` and the index (the latest day on record) under `<exports>/report/`."""
    folder_in = exports_dir(home, exports)
    m = Marts.load(folder_in)
    built_at = built_at or datetime.now(UTC)
    folder = folder_in / REPORT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    ensure_plotly_script(folder)
    days = sorted(set(days))
    on_record = m.days_on_record()
    latest = on_record[-1] if on_record else (days[-1] if days else None)
    kept = sorted(set(pages_kept(folder)) | set(days) | ({latest} if latest else set()))
    pages = []
    for day in sorted(set(days) | ({latest} if latest else set())):
        text, charts, reasons = render_page(m, day, days_kept=kept, built_at=built_at)
        path = folder / f"{day}.html"
        _write_atomically(path, text)
        pages.append(Page(day, path, charts, reasons))
    index = folder / INDEX
    if latest is not None:
        text, _, _ = render_page(m, latest, days_kept=kept, built_at=built_at, index=True)
    else:
        text = environment().get_template("empty.html.j2").render()
    _write_atomically(index, text)
    return Report(folder, index, latest, pages)
