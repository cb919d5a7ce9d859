"""Every file the code's docstrings and comments, the README and the docs point a reader to exists: a room
moved leaves no signpost to where it was.

A reference is a relative path ending in a source file's suffix (`live/session.py`, `deploy/x.yaml`),
read from the repository's root, the product's package, the simulator's package, the tests or the dbt
project. docs/scaling.md is left out: its dated sections tell of files as they were on the day.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASES = (
    ROOT,
    ROOT / "ekino_pipeline",
    ROOT / "simulator",
    ROOT / "simulator" / "ekino_sim",
    ROOT / "tests",
    ROOT / "dbt_project",
)
READ = ("ekino_pipeline", "simulator", "benchmarks", "tests", "docs")
# Paths that name a place at run time, not a file of the repository.
NOT_IN_THE_REPOSITORY = re.compile(r"^(EKINO_HOME|\.ekino|exports)/|^benchmarks/results\.json$")
REFERENCE = re.compile(r"(?<![\w./$-])((?:[\w-]+/)+[\w.-]+\.(?:py|sql|yml|yaml|md|toml))(?![\w/])")


def texts() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "Makefile"]
    for folder in READ:
        found += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md") and p.is_file()]
    skipped = ("scaling.md", Path(__file__).name)
    return [p for p in found if p.name not in skipped and ".venv" not in p.parts]


def test_every_file_a_text_points_to_exists():
    missing = []
    for path in texts():
        for match in REFERENCE.finditer(path.read_text(encoding="utf-8", errors="replace")):
            reference = match.group(1)
            if NOT_IN_THE_REPOSITORY.search(reference):
                continue
            if not any((base / reference).exists() for base in BASES):
                missing.append(f"{path.relative_to(ROOT)}: {reference}")
    assert missing == []


def test_a_moved_file_is_caught():
    assert REFERENCE.findall("the session (monitoring/live.py) and `deploy/local/dagster.yaml`") == [
        "monitoring/live.py",
        "deploy/local/dagster.yaml",
    ]
    assert not any((base / "monitoring/live.py").exists() for base in BASES)
