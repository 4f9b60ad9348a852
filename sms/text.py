"""What text Salvo accepts from outside: no NUL or other control characters, no lone surrogates.

A lone surrogate (`\\ud800`) cannot be encoded as UTF-8, so it fails wherever the text is saved
or sent; a NUL or a terminal control character is never part of a real message and often a sign
of a binary file read as text. Every door (the CLI, the HTTP API, the Python API, campaign files)
refuses both with the same words, naming the position. Tab, newline and carriage return are text.
"""

from __future__ import annotations

import re

#: C0 controls but tab, newline and carriage return; DEL; and the UTF-16 surrogates.
_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why `value` is not acceptable text (naming the first bad character and where), or None."""
    found = _BAD.search(value)
    if found is None:
        return None
    char, at = found.group(), found.start() + 1
    if char == "\x00":
        return f"NUL character at position {at}"
    if "\udc80" <= char <= "\udcff":  # how Python carries a byte that was not UTF-8
        return (
            f"byte {ord(char) - 0xDC00:#04x} at position {at} is not UTF-8 "
            f"(lone surrogate U+{ord(char):04X})"
        )
    if "\ud800" <= char <= "\udfff":
        return (
            f"lone surrogate U+{ord(char):04X} at position {at} "
            "(not valid Unicode; was the input UTF-8?)"
        )
    return f"control character U+{ord(char):04X} at position {at}"
