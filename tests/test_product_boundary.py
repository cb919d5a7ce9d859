"""The product a ministry installs holds no simulator, demo or generated data, and imports none."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import ekino_pipeline

PRODUCT = Path(ekino_pipeline.__file__).parent
ROOT = PRODUCT.parent
TOOLS = ("ekino_sim",)


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_product_imports_nothing_from_the_simulator_package():
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imported_modules(path) if m.split(".")[0] in TOOLS)
        for path in PRODUCT.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_importing_the_definitions_loads_no_simulator_module():
    code = (
        "import sys, ekino_pipeline.definitions, ekino_pipeline.cli\n"
        "print(sorted(m for m in sys.modules if m.startswith('ekino_sim')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert loaded.stdout.strip() == "[]"


def _uv() -> str:
    # `make` exports UV (the uv it installs when none is on PATH).
    return os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")


def test_the_product_wheel_has_no_simulator_demo_or_sample_data(tmp_path):
    subprocess.run(
        [_uv(), "build", "--wheel", "--quiet", "--out-dir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    (wheel,) = tmp_path.glob("ekino_pipeline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ekino_pipeline/definitions.py" in names
    assert "ekino_pipeline/exchange/openapi.yaml" in names
    # The report's pages are rendered from templates that are package data, not Python.
    assert "ekino_pipeline/report/templates/page.html.j2" in names
    tools = [n for n in names if n.startswith(TOOLS) or "simulator" in n or "demo" in n or n.endswith(".csv")]
    assert tools == []
