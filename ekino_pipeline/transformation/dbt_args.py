"""The dbt command line of a partition window: a pure function, so it can be tested on its own."""

from __future__ import annotations

import json
from datetime import date

# Every production build leaves out the dbt unit tests: their inputs are fixed rows, so a build would
# only run the same checks again at every partition or refresh (dbt's advice: run them in development
# and CI). `make test` runs each of them (tests/transformation/test_dbt_build.py).
WITHOUT_UNIT_TESTS = ("--exclude-resource-type", "unit_test")


def dbt_build_args(
    first_day: date,
    last_day: date,
    warehouse_path: str | None = None,
    *,
    full_history_tests: bool = False,
    exports_dir: str | None = None,
) -> list[str]:
    """`dbt build` over the ticket-event business days [first_day, last_day].

    The models widen the window themselves to the session days those events can touch (one day before,
    presale_horizon_days after); defaults for every var live in dbt_project.yml. The data tests of the
    event-level models check the rows the build read, or with `full_history_tests` the whole history.
    `exports_dir` is where the models reading the published forecasts find them.

    The dbt unit tests are left out (WITHOUT_UNIT_TESTS).
    """
    if last_day < first_day:
        raise ValueError(f"the window ends ({last_day}) before it starts ({first_day})")
    variables = {"start_date": first_day.isoformat(), "end_date": last_day.isoformat()}
    if full_history_tests:
        variables["full_history_tests"] = True
    if warehouse_path is not None:
        variables["warehouse_path"] = str(warehouse_path)
    if exports_dir is not None:
        variables["exports_dir"] = str(exports_dir)
    return ["build", *WITHOUT_UNIT_TESTS, "--vars", json.dumps(variables, sort_keys=True)]
