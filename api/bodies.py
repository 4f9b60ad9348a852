"""Reading a JSON request body safely: bounded in size (by aiohttp), depth and content.

`json.loads` recurses once per nesting level, so `[` repeated a few thousand times raises
RecursionError; the depth is counted on the raw bytes first (`MAX_DEPTH`), without recursion.
Every string in the document (keys too) is then checked for NUL, control characters and lone
surrogates (sms/text.py), which would pass validation and fail later when saved. Whatever a
client sends ends here as a value or as a `BadBody` naming the problem and, for a bad string,
the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sms.text import text_problem

#: The deepest nesting of arrays and objects a JSON body may have.
MAX_DEPTH = 32

#: Where a value sits in a document: keys and list indexes from the top.
Path = tuple[str | int, ...]

_OPEN, _CLOSE, _QUOTE, _ESCAPE = frozenset(b"[{"), frozenset(b"]}"), ord('"'), ord("\\")


@dataclass(frozen=True)
class BadBody(Exception):
    """A body refused: 400 when it is not JSON we can read, 422 for a string we refuse."""

    status: int
    reason: str
    path: Path = ()

    @property
    def field(self) -> str:
        """The path of the refused string, dotted (`media_urls.1`), or `body` for the whole."""
        return ".".join(str(p) for p in self.path) or "body"


def json_depth(body: bytes) -> int:
    """The deepest nesting of `[` and `{` outside strings (a linear scan, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _ESCAPE:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSE:
            depth -= 1
    return deepest


def parse_json(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `body`, or BadBody saying what is wrong with it and where."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(400, f"body is not UTF-8: byte {exc.start + 1} is invalid") from None
    if json_depth(body) > max_depth:
        raise BadBody(400, f"body is nested deeper than {max_depth} levels")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadBody(400, f"body is not valid JSON: {exc}") from None
    found = first_bad_string(value)
    if found is not None:
        path, problem = found
        raise BadBody(422, problem, path)
    return value


def first_bad_string(value: Any) -> tuple[Path, str] | None:
    """Where the first string (key or value) that `text_problem` refuses is, and why."""
    stack: list[tuple[Path, Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return path, problem
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                problem = text_problem(key)
                if problem:
                    return path, f"key {key!r}: {problem}"
                stack.append(((*path, key), child))
        elif isinstance(item, list):
            stack.extend(((*path, i), child) for i, child in reversed(list(enumerate(item))))
    return None
