"""pydantic's validation errors in Salvo's words: the one place every door (the HTTP API, the
command line, the Python API, the settings file) turns them into what a user reads.

Each error becomes a Problem: the field as users write it (`from`, not `sender`; a nested one
joined with dots, a list's item by its index), what was wrong and what is allowed, e.g.
`send_at: required but missing`, `lane: 'x' is not one of transactional, bulk`, `to: the number 5
is not text`. A validator's own words (a ValueError Salvo raises) are kept
as they are; an error type not mapped here keeps pydantic's message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from sms.errors import Problem
from sms.plural import counted

#: What a time must be, at every door (the CLI's --at, a message's send_at, a blast's).
TIME_RULE = "an ISO 8601 time (2026-11-24T09:00:00+00:00)"
#: Fields whose name in the models is not the one users write.
FIELD_NAMES: Mapping[str, str] = {"sender": "from"}
#: How a required field that is missing is refused, at every door.
MISSING = "required but missing"
#: How a field no model knows is refused, unless a door says otherwise (settings: a setting).
UNKNOWN = "not a known field"
#: The longest text shown back in a reason.
SHOWN = 40

_KINDS = {
    "string": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "list": "a list",
    "dict": "an object",
    "datetime": TIME_RULE,
}
#: Each mapped error type: the kind of value it wanted (said as "... is not <kind>").
_TYPES: dict[str, str] = {
    "string_type": "string",
    "string_unicode": "string",
    "int_type": "int",
    "int_parsing": "int",
    "int_from_float": "int",
    "float_type": "float",
    "float_parsing": "float",
    "finite_number": "float",
    "decimal_type": "float",
    "decimal_parsing": "float",
    "bool_type": "bool",
    "bool_parsing": "bool",
    "list_type": "list",
    "tuple_type": "list",
    "set_type": "list",
    "frozen_set_type": "list",
    "iterable_type": "list",
    "dict_type": "dict",
    "model_type": "dict",
    "model_attributes_type": "dict",
    "dataclass_type": "dict",
    "datetime_type": "datetime",
    "datetime_parsing": "datetime",
    "datetime_from_date_parsing": "datetime",
    "datetime_object_invalid": "datetime",
    "date_type": "datetime",
    "date_parsing": "datetime",
    "date_from_datetime_parsing": "datetime",
    "date_from_datetime_inexact": "datetime",
}
_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}


def shown(value: Any) -> str:
    """A value as a reason shows it back: text quoted (cut at SHOWN characters), a number as
    `the number 5`, JSON's true, false and null as such, a list or an object by its kind."""
    if isinstance(value, str):
        text = value if len(value) <= SHOWN else value[:SHOWN] + "…"
        return repr(text)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list | tuple | set | frozenset):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def one_of(value: Any, allowed: Iterable[str]) -> str:
    """`'x' is not one of transactional, bulk`: the reason for a value outside a set."""
    return f"{shown(value)} is not one of {', '.join(allowed)}"


def reason(err: ErrorDetails, unknown: str = UNKNOWN) -> str:
    """One pydantic error's reason in Salvo's words (pydantic's own for a type not mapped)."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "missing":
        return MISSING
    if kind == "extra_forbidden":
        return unknown
    if kind == "value_error":
        return err["msg"].removeprefix("Value error, ")
    if kind == "assertion_error":
        return err["msg"].removeprefix("Assertion failed, ")
    if kind in ("enum", "literal_error"):
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        if allowed:
            return one_of(value, allowed)
    if kind in _TYPES:
        return f"{shown(value)} is not {_KINDS[_TYPES[kind]]}"
    if kind in ("string_too_short", "string_too_long"):
        least = kind == "string_too_short"
        limit = ctx.get("min_length" if least else "max_length")
        return (
            f"{shown(value)} is too {'short' if least else 'long'}, "
            f"{'at least' if least else 'at most'} {counted(int(limit or 0), 'character')}"
        )
    if kind in ("too_short", "too_long"):
        least = kind == "too_short"
        limit = ctx.get("min_length" if least else "max_length")
        found = ctx.get("actual_length")
        return f"{counted(int(found or 0), 'item')}, {'at least' if least else 'at most'} {limit}"
    if kind in _BOUNDS:
        name, words = _BOUNDS[kind]
        bound = ctx.get(name)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)  # "greater than 0", not "0.0"
        return f"{shown(value)} is out of range, must be {words} {bound}"
    if kind == "int_parsing_size":
        return f"{shown(value)} is too large a number"
    if kind == "json_invalid":
        return f"not valid JSON ({ctx.get('error', 'unreadable')})"
    return err["msg"]


def field_name(loc: tuple[int | str, ...], names: Mapping[str, str] = FIELD_NAMES) -> str:
    """An error's place as users write it: `from` for `sender`, `options.click_tracking`,
    `media_urls.1` (the empty place is '')."""
    return ".".join(names.get(str(part), str(part)) for part in loc)


def problems(
    exc: ValidationError,
    *,
    root: str = "message",
    names: Mapping[str, str] = FIELD_NAMES,
    unknown: str = UNKNOWN,
) -> list[Problem]:
    """Every error of `exc` as a Problem naming its field (`root` when it is about the whole
    value: a model's own check, or a single value such as a query parameter)."""
    return [
        Problem(field_name(err["loc"], names) or root, reason(err, unknown)) for err in exc.errors()
    ]
