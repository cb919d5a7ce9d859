"""What dbt gives the project's macros and sqlfluff's jinja templater does not, for `sqlfluff lint` only
(.sqlfluff names this folder as its library_path): the project's vars with one fixed window, so the
window macros render the SQL a windowed build runs; dbt's `modules` and `exceptions`; `load_relation`
as if every model were built. The linter so stays offline: no warehouse, no dbt parse."""

import datetime
import os
import re
from pathlib import Path
from types import SimpleNamespace

import yaml

PROJECT_VARS = yaml.safe_load((Path(__file__).parent.parent / "dbt_project.yml").read_text())["vars"]
# A daily partition's window, as Dagster passes it (transformation/dbt_args.py).
LINT_VARS = {**PROJECT_VARS, "start_date": "2024-03-02", "end_date": "2024-03-02", "as_of_date": "2024-03-03"}

modules = SimpleNamespace(re=re, datetime=datetime)


class CompilationError(Exception):
    """What dbt's exceptions.raise_compiler_error raises: a macro refused its arguments."""


def raise_compiler_error(message):
    raise CompilationError(message)


exceptions = SimpleNamespace(raise_compiler_error=raise_compiler_error)


def var(name, default=None):
    return LINT_VARS.get(name, default)


def env_var(name, default=None):
    return os.environ.get(name, default)


def load_relation(relation):
    return relation


def _var_date(name):
    """macros/window.sql's _var_date: dbt shares a macro whose name starts with _ across files, jinja
    does not."""
    value = LINT_VARS.get(name)
    return None if value in (None, "") else datetime.date.fromisoformat(str(value))
