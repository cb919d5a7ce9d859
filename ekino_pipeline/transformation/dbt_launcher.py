"""`ekino-dbt`: dbt as the pipeline runs it, the `dbt` command line unchanged but for `--version`.

dagster-dbt asks its executable for the version before the first dbt invocation of every resource
(`dbt --version`, once per step process): dbt's own answer imports the whole of dbt and asks pypi.org
for its latest release, a second and a half of CPU, and a wait of up to a second where PyPI cannot be
reached (a ministry's closed network). Here `--version` answers from the installed package's metadata,
in the lines dbt prints; every other command line goes to dbt's own entry point.
"""

from __future__ import annotations

import sys
from importlib import metadata


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        print(f"Core:\n  - installed: {metadata.version('dbt-core')}")
        return
    from dbt.cli.main import cli

    sys.exit(cli())


if __name__ == "__main__":
    main()
