"""Message templates: `{name}` substitution and nothing else.

No attribute access, no indexing, no conversions or format specs: a template comes from a user
and a CSV's values from anywhere, so rendering must never reach into Python objects.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

from sms.errors import TemplateError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Template:
    """A parsed template; `render` fills its `{name}` fields from a mapping of strings."""

    def __init__(self, text: str) -> None:
        self.text = text
        parts: list[tuple[str, str | None]] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise TemplateError(f"template {text!r}: {exc}") from None
        for literal, field, spec, conversion in parsed:
            if field is None:
                parts.append((literal, None))
                continue
            if not _NAME.match(field):
                raise TemplateError(
                    f"template field {{{field}}}: only plain {{name}} fields are allowed "
                    "(no attribute access, indexing or positional fields)"
                )
            if conversion or spec:
                raise TemplateError(
                    f"template field {{{field}}}: conversions and format specs are not allowed"
                )
            parts.append((literal, field))
        self._parts = tuple(parts)
        self.fields = tuple(dict.fromkeys(f for _, f in parts if f is not None))

    def missing(self, available: set[str]) -> list[str]:
        """The fields this template needs that `available` lacks."""
        return [f for f in self.fields if f not in available]

    def render(self, values: Mapping[str, str | None]) -> str:
        """Fill the template; a missing value raises TemplateError naming it."""
        out: list[str] = []
        for literal, field in self._parts:
            out.append(literal)
            if field is not None:
                try:
                    value = values[field]
                except KeyError:
                    raise TemplateError(f"no value for {{{field}}}") from None
                if value is None:
                    raise TemplateError(f"no value for {{{field}}}")
                out.append(value)
        return "".join(out)
