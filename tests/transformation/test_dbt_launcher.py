"""`ekino-dbt`, the dbt the pipeline runs: `--version` answered from the package metadata without
importing dbt (dagster-dbt asks it before every invocation), everything else handed to dbt unchanged."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from ekino_pipeline.transformation.project import DBT_PROJECT_DIR, dbt_executable

# What dagster-dbt reads from `<executable> --version` (DbtCliResource._cli_version).
VERSION = re.compile(r"(\d+\.\d+\.\d+)")


def _launcher(*args: str, block_dbt: bool = False) -> subprocess.CompletedProcess:
    """The launcher's main in a fresh interpreter; with `block_dbt`, importing dbt fails there."""
    code = "import sys\n"
    if block_dbt:
        code += "sys.modules['dbt'] = None\n"
    code += f"sys.argv = ['ekino-dbt', *{list(args)!r}]\n"
    code += "from ekino_pipeline.transformation.dbt_launcher import main\nmain()\n"
    command = [sys.executable, "-c", code]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_the_version_is_dbt_cores_and_is_answered_without_importing_dbt():
    done = _launcher("--version", block_dbt=True)
    assert done.returncode == 0, done.stderr
    assert VERSION.search(done.stdout).group(1) == metadata.version("dbt-core")


def test_any_other_command_line_is_dbts_own(tmp_path):
    done = _launcher(
        "parse",
        "--quiet",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(tmp_path / "target"),
        "--log-path",
        str(tmp_path / "logs"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "target" / "manifest.json").is_file()
    refused = _launcher("no-such-command")
    assert refused.returncode == 2 and "No such command" in refused.stderr


def test_the_pipeline_runs_the_launcher_installed_beside_its_interpreter():
    executable = Path(dbt_executable())
    assert executable.name == "ekino-dbt" and executable.parent == Path(sys.executable).parent
    command = [str(executable), "--version"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert VERSION.search(done.stdout).group(1) == metadata.version("dbt-core")
