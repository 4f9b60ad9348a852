"""Tests for sms.encoding: GSM-7 / UCS-2 detection and segment counting."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sms.encoding import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    Encoding,
    SegmentInfo,
    is_gsm7,
    segment_info,
)

GSM = Encoding.GSM7
UCS2 = Encoding.UCS2
EMOJI = "\U0001f600"  # 😀, outside the BMP: a surrogate pair in UTF-16

CASES: list[tuple[str, str, Encoding, int, int]] = [
    # id, body, encoding, units, segments
    ("empty", "", GSM, 0, 0),
    ("hello", "hello", GSM, 5, 1),
    ("gsm-160", "a" * 160, GSM, 160, 1),
    ("gsm-161", "a" * 161, GSM, 161, 2),
    ("gsm-306", "a" * 306, GSM, 306, 2),
    ("gsm-307", "a" * 307, GSM, 307, 3),
    ("gsm-1530", "a" * 1530, GSM, 1530, 10),
    ("gsm-1531", "a" * 1531, GSM, 1531, 11),
    ("ext-80-is-160", "{" * 80, GSM, 160, 1),
    ("ext-81-is-162", "{" * 81, GSM, 162, 2),
    ("ext-euro", "€5", GSM, 3, 1),
    ("ext-all", "^{}\\[~]|€\f", GSM, 20, 1),
    ("gsm-159-plus-ext", "a" * 159 + "[", GSM, 161, 2),
    # 152 septets, then an escape pair that would straddle 153: it moves to segment 2 whole,
    # which then fills up (2 + 151) and the last 'a' needs a third: ceil(306/153) would say 2.
    ("ext-straddles-153", "a" * 152 + "{" + "a" * 152, GSM, 306, 3),
    ("ext-ends-at-153", "a" * 151 + "{" + "a" * 153, GSM, 306, 2),
    ("ext-straddle-tail", "a" * 152 + "{" + "a" * 7, GSM, 161, 2),
    ("ext-76-per-segment", "~" * 153, GSM, 306, 3),
    ("e-acute-is-gsm", "café", GSM, 4, 1),
    ("a-acute-is-ucs2", "cá", UCS2, 2, 1),
    ("c-cedilla-capital-gsm", "Ç", GSM, 1, 1),
    ("c-cedilla-small-ucs2", "ç", UCS2, 1, 1),
    ("greek-capitals-gsm", "ΔΦΓΛΩΠΨΣΘΞ", GSM, 10, 1),
    ("greek-small-ucs2", "\u03b1", UCS2, 1, 1),
    ("latin1-gsm", "£¥¤§¡¿ÄÖÑÜäöñüàèéùìòØøÅåÆæßÉ", GSM, 28, 1),
    ("newlines-gsm", "a\nb\r\nc", GSM, 6, 1),
    ("backtick-ucs2", "`", UCS2, 1, 1),
    ("tab-ucs2", "a\tb", UCS2, 3, 1),
    ("curly-quote-ucs2", "it\u2019s", UCS2, 4, 1),
    ("ucs2-70", "á" * 70, UCS2, 70, 1),
    ("ucs2-71", "á" * 71, UCS2, 71, 2),
    ("ucs2-134", "á" * 134, UCS2, 134, 2),
    ("ucs2-135", "á" * 135, UCS2, 135, 3),
    ("gsm-text-plus-one-ucs2", "a" * 100 + "á", UCS2, 101, 2),
    ("ext-is-one-unit-in-ucs2", "{" * 69 + "á", UCS2, 70, 1),
    ("emoji", EMOJI, UCS2, 2, 1),
    ("emoji-35", EMOJI * 35, UCS2, 70, 1),
    ("emoji-36", EMOJI * 36, UCS2, 72, 2),
    ("emoji-in-text", "hi " + EMOJI, UCS2, 5, 1),
    # 66 units, then a surrogate pair that would straddle 67: it moves to segment 2 whole.
    ("surrogate-straddles-67", "á" * 66 + EMOJI + "á" * 66, UCS2, 134, 3),
    ("surrogate-ends-at-67", "á" * 65 + EMOJI + "á" * 67, UCS2, 134, 2),
    ("emoji-33-per-segment", EMOJI * 67, UCS2, 134, 3),
    ("lone-surrogate", "\ud83d", UCS2, 1, 1),
]


@pytest.mark.parametrize(
    ("body", "encoding", "units", "segments"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_segment_info(body: str, encoding: Encoding, units: int, segments: int) -> None:
    info = segment_info(body)
    assert info == SegmentInfo(encoding, units, segments, len(body))
    assert is_gsm7(body) == (encoding is GSM)


def test_basic_table_is_127_characters() -> None:
    # 128 code points minus ESC (0x1B), all distinct, no overlap with the extension table.
    assert len(GSM7_BASIC) == 127
    assert "\x1b" not in GSM7_BASIC
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


def test_ascii_outside_gsm7() -> None:
    outside = {chr(c) for c in range(128)} - GSM7_BASIC - GSM7_EXTENSION
    expected = {chr(c) for c in range(32) if chr(c) not in "\n\r\f"} | {"`", "\x7f"}
    assert outside == expected
    for ch in sorted(outside):
        assert not is_gsm7("abc" + ch)
        assert segment_info("abc" + ch).encoding is UCS2


def test_encoding_is_str_enum() -> None:
    assert str(Encoding.GSM7) == "gsm7" == Encoding.GSM7.value
    assert Encoding("ucs2") is Encoding.UCS2


def _reference(body: str) -> SegmentInfo:
    """Slow, obvious implementation: per-character costs and greedy packing."""
    if not body:
        return SegmentInfo(GSM, 0, 0, 0)
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body):
        enc, single, concat = GSM, 160, 153
        costs = [2 if c in GSM7_EXTENSION else 1 for c in body]
    else:
        enc, single, concat = UCS2, 70, 67
        costs = [2 if ord(c) > 0xFFFF else 1 for c in body]
    units = sum(costs)
    if units <= single:
        return SegmentInfo(enc, units, 1, len(body))
    segments, used = 1, 0
    for cost in costs:
        if used + cost > concat:
            segments += 1
            used = 0
        used += cost
    return SegmentInfo(enc, units, segments, len(body))


_gsm_chars = st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION))
_any_chars = st.one_of(
    _gsm_chars,
    st.sampled_from(["á", "ç", "\u03b1", "\u2019", EMOJI, "\U0001f3fd", "`"]),
    st.characters(codec="utf-8"),
)
# Two-letter alphabets make pairs land on segment boundaries often enough to matter.
_gsm_bodies = st.one_of(
    st.text(_gsm_chars, max_size=700),
    st.text(st.sampled_from("a{"), min_size=150, max_size=700),
)
_bodies = st.one_of(
    _gsm_bodies,
    st.text(_any_chars, max_size=400),
    st.text(st.sampled_from(["á", EMOJI]), min_size=60, max_size=300),
)


@given(_bodies)
def test_matches_reference(body: str) -> None:
    assert segment_info(body) == _reference(body)


@given(_bodies, _any_chars)
def test_segments_monotonic_when_appending(body: str, ch: str) -> None:
    assert segment_info(body + ch).segments >= segment_info(body).segments


@given(_gsm_bodies)
def test_gsm_units_at_least_characters(body: str) -> None:
    info = segment_info(body)
    assert info.encoding is GSM
    assert info.units >= info.characters


@given(_bodies)
def test_ceil_is_a_lower_bound(body: str) -> None:
    info = segment_info(body)
    if info.units == 0:
        assert info.segments == 0
        return
    single, concat = (160, 153) if info.encoding is GSM else (70, 67)
    if info.units <= single:
        assert info.segments == 1
    else:
        assert info.segments >= math.ceil(info.units / concat)
        # Each segment wastes at most one unit to keep a pair whole.
        assert info.segments <= math.ceil(info.units / (concat - 1))


@pytest.mark.parametrize(
    ("single", "pair"), [pytest.param("a", "{", id="gsm7"), pytest.param("á", EMOJI, id="ucs2")]
)
def test_pair_at_every_offset(single: str, pair: str) -> None:
    # Random bodies rarely put a pair exactly on a boundary; sweep every offset instead.
    for before in range(0, 320):
        for after in (0, 1, 2, 60, 65, 66, 67, 150, 151, 152, 153):
            body = single * before + pair + single * after
            assert segment_info(body) == _reference(body), (before, after)
            body = single * before + pair * 2 + single * after + pair
            assert segment_info(body) == _reference(body), (before, after)
