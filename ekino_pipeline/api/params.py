"""The parameters an endpoint takes, declared once: the OpenAPI document is written from these
declarations and every request is checked against them, so the two cannot disagree.

A request with a parameter that is malformed, out of range, given twice or unknown is refused whole
with 400, naming each such parameter; nothing is guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
WEEKDAYS = {"thursday": 3, "friday": 4}
_KEY_LIKE = re.compile(r"ekino_[0-9a-f]{8}_", re.IGNORECASE)


def _shown(text: str) -> str:
    """A bad value as an error message quotes it: short, and never an API key sent by mistake."""
    if _KEY_LIKE.search(text):
        return "(a value shaped like an API key, not shown)"
    return repr(text[:40] + ("..." if len(text) > 40 else ""))


class BadParameters(ValueError):
    """What is wrong with which parameter, in order."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # date, thursday, friday, string, enum, integer, boolean
    description: str
    required: bool = False
    location: str = "query"
    enum: tuple[str, ...] = ()
    pattern: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    default: object = None
    max_length: int = 100
    example: str | None = None
    _compiled: re.Pattern | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if self.pattern:
            object.__setattr__(self, "_compiled", re.compile(self.pattern))

    def schema(self) -> dict:
        if self.kind in ("date", *WEEKDAYS):
            schema: dict = {"type": "string", "format": "date"}
        elif self.kind == "integer":
            schema = {"type": "integer"}
            if self.minimum is not None:
                schema["minimum"] = self.minimum
            if self.maximum is not None:
                schema["maximum"] = self.maximum
        elif self.kind == "boolean":
            schema = {"type": "boolean"}
        elif self.kind == "enum":
            schema = {"type": "string", "enum": list(self.enum)}
        else:
            schema = {"type": "string", "minLength": 1, "maxLength": self.max_length}
            if self.pattern:
                schema["pattern"] = self.pattern
        if self.default is not None:
            schema["default"] = self.default
        return schema

    def openapi(self) -> dict:
        out = {
            "name": self.name,
            "in": self.location,
            "required": self.required or self.location == "path",
            "description": self.description,
            "schema": self.schema(),
        }
        if self.example is not None:
            out["example"] = self.example
        return out

    def parse(self, text: str) -> object:
        """The value, or ValueError saying what was expected."""
        if self.kind in ("date", *WEEKDAYS):
            try:
                if not _DATE.match(text):
                    raise ValueError
                value = date.fromisoformat(text)
            except ValueError:
                raise ValueError(f"{_shown(text)} is not a date (YYYY-MM-DD)") from None
            if self.kind in WEEKDAYS and value.weekday() != WEEKDAYS[self.kind]:
                raise ValueError(f"{value} is a {value:%A}, not a {self.kind.title()}")
            return value
        if self.kind == "integer":
            if not re.fullmatch(r"-?\d{1,9}", text):
                raise ValueError(f"{_shown(text)} is not an integer")
            value = int(text)
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"{value} is below {self.minimum}")
            if self.maximum is not None and value > self.maximum:
                raise ValueError(f"{value} is above {self.maximum}")
            return value
        if self.kind == "boolean":
            if text not in ("true", "false"):
                raise ValueError(f"{_shown(text)} is not true or false")
            return text == "true"
        if self.kind == "enum":
            if text not in self.enum:
                raise ValueError(f"{_shown(text)} is not one of {', '.join(self.enum)}")
            return text
        if not 1 <= len(text) <= self.max_length:
            raise ValueError(f"is empty or longer than {self.max_length} characters")
        if self._compiled is not None and not self._compiled.fullmatch(text):
            raise ValueError(f"{_shown(text)} does not match {self.pattern}")
        return text


FORMAT = Param(
    "format", "enum", "json (default) or csv (the rows only; coverage in headers)", enum=("json", "csv")
)
LIMIT = Param("limit", "integer", "rows per page", minimum=1, maximum=1000, default=100)
OFFSET = Param("offset", "integer", "rows to skip", minimum=0, maximum=10_000_000, default=0)
PAGED = (FORMAT, LIMIT, OFFSET)


def parse(
    declared: Iterable[Param], query: Iterable[tuple[str, str]], path: dict[str, str] | None = None
) -> dict[str, object]:
    """The request's parameters by name (defaults filled in), or BadParameters naming each bad one."""
    declared = list(declared)
    by_name = {p.name: p for p in declared if p.location == "query"}
    problems: dict[str, str] = {}
    values: dict[str, object] = {}
    seen: set[str] = set()
    for name, text in query:
        if name in seen:
            problems[name] = "given more than once"
            continue
        seen.add(name)
        param = by_name.get(name)
        if param is None:
            shown = "(a name shaped like an API key)" if _KEY_LIKE.search(name) else name[:40]
            problems[shown] = f"unknown parameter (this endpoint takes: {', '.join(by_name) or 'none'})"
            continue
        try:
            values[name] = param.parse(text)
        except ValueError as exc:
            problems[name] = str(exc)
    for param in declared:
        if param.location == "path":
            try:
                values[param.name] = param.parse((path or {})[param.name])
            except ValueError as exc:
                problems[param.name] = str(exc)
        elif param.name not in values and param.name not in problems:
            if param.required:
                problems[param.name] = "required"
            else:
                values[param.name] = param.default
    if problems:
        raise BadParameters(problems)
    return values
