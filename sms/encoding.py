"""GSM-7 / UCS-2 detection and SMS segment counting.

A body that uses only the GSM 03.38 default alphabet (basic table plus the extension table) is
sent as GSM-7: 160 septets in a single segment, 153 per segment once concatenated (the other 7
go to the concatenation header). Extension-table characters are sent as ESC + character and
take two septets. Anything else makes the whole body UCS-2: 70 code units in one segment, 67
per segment concatenated; characters outside the Basic Multilingual Plane (most emoji) are a
UTF-16 surrogate pair and take two units.

National language shift tables (Turkish, Spanish, Portuguese, ...) are not modelled: a body
that needs them is counted as UCS-2, which is what the providers we use do.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "Encoding",
    "SegmentInfo",
    "is_gsm7",
    "segment_info",
    "smarten",
    "ucs2_characters",
]

# GSM 03.38 basic table in code order, 0x00-0x7F. 0x1B (ESC) is the escape to the extension
# table, not a character, so it is left out: 127 characters.
_GSM7_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00-0x0F
    "Δ_ΦΓΛΩΠΨΣΘΞ"  # 0x10-0x1A
    "ÆæßÉ"  # 0x1C-0x1F (0x1B is ESC)
    " !\"#¤%&'()*+,-./"  # 0x20-0x2F
    "0123456789:;<=>?"  # 0x30-0x3F
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"  # 0x40-0x5F
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"  # 0x60-0x7F
)
# GSM 03.38 extension table: each is sent as ESC + code, two septets.
_GSM7_EXTENSION_TABLE = "\f^{}\\[~]|€"

GSM7_BASIC: frozenset[str] = frozenset(_GSM7_BASIC_TABLE)
GSM7_EXTENSION: frozenset[str] = frozenset(_GSM7_EXTENSION_TABLE)
_GSM7_ALL: frozenset[str] = GSM7_BASIC | GSM7_EXTENSION

# Byte tables for the pure-ASCII fast path (bytes.translate with a delete set runs in C).
_BASIC_ASCII = bytes(sorted(ord(c) for c in GSM7_BASIC if c.isascii()))
_EXTENSION_ASCII = bytes(sorted(ord(c) for c in GSM7_EXTENSION if c.isascii()))

_EXTENSION_RE = re.compile("[" + re.escape(_GSM7_EXTENSION_TABLE) + "]")
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")

GSM7_SINGLE = 160
GSM7_CONCAT = 153
UCS2_SINGLE = 70
UCS2_CONCAT = 67


class Encoding(StrEnum):
    """Data coding of an SMS body."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How a body will be encoded and how many segments it is billed as."""

    encoding: Encoding
    units: int
    """GSM-7 septets (extension characters count 2) or UCS-2 code units (astral count 2)."""
    segments: int
    """0 for an empty body, else the number of SMS parts it is sent (and billed) as."""
    characters: int
    """len(body): Python code points."""


_EMPTY = SegmentInfo(Encoding.GSM7, 0, 0, 0)


def _ascii_extension_count(body: str) -> int | None:
    """For an ASCII body: the number of extension characters, or None if it is not GSM-7."""
    rest = body.encode("ascii").translate(None, _BASIC_ASCII)
    if not rest:
        return 0
    if rest.translate(None, _EXTENSION_ASCII):
        return None  # an ASCII character outside GSM-7 (a control character or '`')
    return len(rest)


def is_gsm7(body: str) -> bool:
    """True if every character of body is in the GSM 03.38 basic or extension table."""
    if body.isascii():
        return _ascii_extension_count(body) is not None
    return _GSM7_ALL.issuperset(body)


def _pack(length: int, doubles: Iterator[re.Match[str]], capacity: int) -> int:
    """Segments needed for `length` characters when the matched ones cost 2 units, the rest 1.

    A double-unit character (a GSM escape pair, a UTF-16 surrogate pair) must not be split
    across two segments, so when only one unit is left in a segment that unit goes unused and
    the pair starts the next one. That is why ceil(units / capacity) is only a lower bound.
    The loop runs once per double-unit character, not once per character.
    """
    segments = 1
    room = capacity
    pos = 0  # index of the next character not yet placed
    for match in doubles:
        singles = match.start() - pos
        if singles > room:
            singles -= room
            full, rem = divmod(singles, capacity)
            segments += full + (rem > 0)
            room = capacity - rem if rem else 0
        else:
            room -= singles
        if room < 2:
            segments += 1
            room = capacity
        room -= 2
        pos = match.start() + 1
    singles = length - pos
    if singles > room:
        segments += -(-(singles - room) // capacity)
    return segments


@functools.lru_cache(maxsize=4096)
def segment_info(body: str) -> SegmentInfo:
    """Encoding, units and segment count of an SMS body.

    Remembered for the last 4,096 bodies: a campaign's templated bodies repeat (a blast checks
    each against its provider's limit and then counts its segments), and the answer is a frozen
    value, the same for the same text."""
    characters = len(body)
    if not characters:
        return _EMPTY

    escapes: int | None
    if body.isascii():
        escapes = _ascii_extension_count(body)
    elif _GSM7_ALL.issuperset(body):
        escapes = len(_EXTENSION_RE.findall(body))
    else:
        escapes = None

    if escapes is not None:
        units = characters + escapes
        if units <= GSM7_SINGLE:
            segments = 1
        elif not escapes:
            segments = -(-units // GSM7_CONCAT)
        else:
            segments = _pack(characters, _EXTENSION_RE.finditer(body), GSM7_CONCAT)
        return SegmentInfo(Encoding.GSM7, units, segments, characters)

    # UTF-16 length; surrogatepass so a lone surrogate (bad upstream decoding) counts as 1.
    units = len(body.encode("utf-16-le", "surrogatepass")) // 2
    if units <= UCS2_SINGLE:
        segments = 1
    elif units == characters:
        segments = -(-units // UCS2_CONCAT)
    else:
        segments = _pack(characters, _ASTRAL_RE.finditer(body), UCS2_CONCAT)
    return SegmentInfo(Encoding.UCS2, units, segments, characters)


#: Typographic look-alikes and their GSM-7 equivalents, for smart encoding (opt-in): the usual
#: culprits that turn a whole message into UCS-2 (curly quotes from a word processor, long
#: dashes, non-breaking and other special spaces, the ellipsis) and invisible characters that
#: carry nothing. Letters are never changed: an accent that is not in GSM-7 stays, and with it
#: UCS-2, since replacing it would change the words.
LOOKALIKES: dict[str, str] = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u2035\u02bc\u02bb\u2039\u203a`\u00b4", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043", "-"),
    **dict.fromkeys(
        "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
        "\u202f\u205f\u3000\t",
        " ",
    ),
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad", ""),
    "\u2026": "...",
    "\u2022": "-",
    "\u2024": ".",
    "\u2044": "/",
    "\u02c6": "^",
    "\u02dc": "~",
}
_SMARTEN = str.maketrans(LOOKALIKES)


def smarten(body: str) -> str:
    """`body` with its typographic look-alikes replaced by GSM-7 equivalents (LOOKALIKES)."""
    if body.isascii() and "`" not in body and "\t" not in body:
        return body
    return body.translate(_SMARTEN)


def ucs2_characters(body: str) -> list[str]:
    """The characters of `body` outside GSM-7 (those that force UCS-2), each as often as it
    occurs."""
    if body.isascii() and _ascii_extension_count(body) is not None:
        return []
    return [c for c in body if c not in _GSM7_ALL]
