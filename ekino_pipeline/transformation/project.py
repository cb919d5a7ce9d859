"""The dbt project of the marts and its manifest.

`python -m ekino_pipeline.transformation.project` (re)writes `dbt_project/target/manifest.json`, which is
generated, never committed. It parses with the dbt installed next to this interpreter, so the venv need
not be activated. A missing manifest is also prepared on import, so a fresh clone loads its Definitions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """dbt as the pipeline runs it: `ekino-dbt` beside this interpreter (transformation/dbt_launcher.py:
    dbt, but for a `--version` that answers without importing dbt or asking PyPI), else the dbt beside
    it (`.venv/bin/dbt`), else the first of them on PATH."""
    for name in ("ekino-dbt", "dbt"):
        beside = Path(sys.executable).parent / name
        if beside.exists():
            return str(beside)
    return shutil.which("ekino-dbt") or shutil.which("dbt") or "dbt"


def prepare_manifest() -> Path:
    """Parses the dbt project into its manifest and returns the manifest's path.

    `dbt parse` is run directly, as DbtCliResource would run it (no --vars, in the project's target, so
    that dbt parses again only the files changed since the last parse): the resource would also ask the
    executable its version (`dbt --version`, a second dbt process) and load dbt's macros into this one,
    which a parse does not need; `dagster dev` and `dg` do this on every load of the code location."""
    target = dbt_project.project_dir / dbt_project.target_path
    project, profiles = str(dbt_project.project_dir), str(dbt_project.profiles_dir)
    command = [dbt_executable(), "parse", "--quiet", "--project-dir", project, "--profiles-dir", profiles]
    command += ["--target-path", str(target), "--log-path", str(target)]
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run(  # noqa: S603 - dbt beside this interpreter, fixed arguments
        command, cwd=dbt_project.project_dir, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"dbt parse of {dbt_project.project_dir} failed (exit code {done.returncode}):\n"
            f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return dbt_project.manifest_path


# `dagster dev` reloads edited models; elsewhere the manifest prepared at build time is used as is.
_prepared_on_import = bool(os.getenv("DAGSTER_IS_DEV_CLI")) or not dbt_project.manifest_path.exists()
if _prepared_on_import:
    prepare_manifest()


if __name__ == "__main__":
    print(dbt_project.manifest_path if _prepared_on_import else prepare_manifest())
