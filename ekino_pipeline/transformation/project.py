"""The dbt project of the marts and its manifest.

`python -m ekino_pipeline.transformation.project` (re)writes `dbt_project/target/manifest.json`, which is
generated, never committed. It parses with the dbt installed next to this interpreter, so the venv need
not be activated. A missing manifest is also prepared on import, so a fresh clone loads its Definitions.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """The dbt beside this interpreter (`.venv/bin/dbt`), else the one on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.exists():
        return str(beside)
    return shutil.which("dbt") or "dbt"


def prepare_manifest() -> Path:
    """Parses the dbt project into its manifest and returns the manifest's path."""
    resource = DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())
    resource.cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
    return dbt_project.manifest_path


# `dagster dev` reloads edited models; elsewhere the manifest prepared at build time is used as is.
_prepared_on_import = bool(os.getenv("DAGSTER_IS_DEV_CLI")) or not dbt_project.manifest_path.exists()
if _prepared_on_import:
    prepare_manifest()


if __name__ == "__main__":
    print(dbt_project.manifest_path if _prepared_on_import else prepare_manifest())
