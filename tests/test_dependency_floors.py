"""Whoever installs without the lock still gets no release with a published advisory (checked offline).

Each entry is the first release that fixes the advisories named; the floors in pyproject.toml and
the versions uv.lock resolves must both exclude everything before it. Add a line when an advisory
is published for a dependency, and raise the floor with `uv lock`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))

# package: (first fixed release, the releases just below it that must be excluded, advisories)
FIXED = {
    "requests": ("2.33.0", ["2.32.3", "2.32.5"], "CVE-2024-47081 (<2.32.4), CVE-2026-25645 (<2.33.0)"),
    "urllib3": (
        "2.7.0",
        ["2.4.0", "2.5.0", "2.6.2", "2.6.3"],
        "CVE-2025-50181/50182 (<2.5.0), CVE-2025-66418/66471 (<2.6.0), CVE-2026-21441 (<2.6.3), "
        "CVE-2026-44432 (<2.7.0)",
    ),
    # 1.11.14 is the first 1.11 release to require a sqlparse without its parser denial-of-service CVEs.
    "dbt-core": (
        "1.11.14",
        ["1.11.0", "1.11.13"],
        "sqlparse CVE-2026-54284 and others, via dbt-core 1.11.14",
    ),
    "pyarrow": ("14.0.1", ["14.0.0"], "CVE-2023-47248"),
    "pyyaml": ("5.4", ["5.3.1"], "CVE-2020-14343"),
    "sqlalchemy": ("1.3.0", ["1.2.19"], "CVE-2019-7164, CVE-2019-7548"),
    "pytest": ("9.0.3", ["8.4.2", "9.0.2"], "CVE-2025-71176"),
}


def _requirements() -> dict[str, Requirement]:
    texts = [*PYPROJECT["project"]["dependencies"]]
    for group in PYPROJECT["dependency-groups"].values():
        texts += [t for t in group if isinstance(t, str)]
    return {Requirement(t).name.lower(): Requirement(t) for t in texts}


def _locked() -> dict[str, Version]:
    return {p["name"].lower(): Version(p["version"]) for p in LOCK["package"] if "version" in p}


@pytest.mark.parametrize("package", sorted(FIXED))
def test_the_floor_of_each_direct_dependency_excludes_releases_with_known_advisories(package):
    _, affected, advisories = FIXED[package]
    requirement = _requirements()[package]
    for version in affected:
        assert not requirement.specifier.contains(version, prereleases=True), (
            f"{requirement} admits {package} {version}: {advisories}"
        )


@pytest.mark.parametrize("package", sorted(FIXED))
def test_the_lock_resolves_each_of_them_to_a_fixed_release(package):
    fixed, _, advisories = FIXED[package]
    locked = _locked()[package]
    assert locked >= Version(fixed), f"uv.lock holds {package} {locked}: {advisories}"
    assert _requirements()[package].specifier.contains(locked)
