"""Templates substitute {name} fields and refuse anything that reaches into objects."""

from __future__ import annotations

import pytest

from producer.template import Template
from sms.errors import TemplateError


def test_fields_are_substituted() -> None:
    t = Template("Hi {first_name}, see you at {time}. {first_name}!")
    assert t.fields == ("first_name", "time")
    assert t.render({"first_name": "Ada", "time": "9:00"}) == "Hi Ada, see you at 9:00. Ada!"


def test_doubled_braces_are_literal() -> None:
    assert Template("{{not a field}} {x}").render({"x": "1"}) == "{not a field} 1"


@pytest.mark.parametrize(
    "text",
    ["{x.__class__}", "{x[0]}", "{0}", "{}", "{x!r}", "{x:>10}", "{x.__globals__[os]}"],
)
def test_unsafe_fields_are_refused(text: str) -> None:
    with pytest.raises(TemplateError):
        Template(text)


def test_unbalanced_braces_are_refused() -> None:
    with pytest.raises(TemplateError):
        Template("Hi {name")


def test_values_are_not_formatted_again() -> None:
    assert Template("{x}").render({"x": "{y.__class__}"}) == "{y.__class__}"


def test_missing_names_the_absent_columns() -> None:
    assert Template("{a} {b} {c}").missing({"a", "c"}) == ["b"]


def test_render_without_a_value_names_it() -> None:
    with pytest.raises(TemplateError, match=r"\{b\}"):
        Template("{a}{b}").render({"a": "1"})
