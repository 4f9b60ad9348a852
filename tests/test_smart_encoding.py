"""Smart encoding: typographic look-alikes become GSM-7, letters never change."""

from __future__ import annotations

import pytest

from sms.encoding import Encoding, segment_info, smarten, ucs2_characters


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("It\u2019s here", "It's here"),  # right single quote, the usual apostrophe
        ("\u2018quoted\u2019", "'quoted'"),
        ("\u201cDouble\u201d \u201equotes\u201f", '"Double" "quotes"'),
        ("\u00abguillemets\u00bb", '"guillemets"'),
        ("9\u201317 and 9\u201417 and 9\u221217", "9-17 and 9-17 and 9-17"),
        ("Wait\u2026", "Wait..."),
        ("10\u00a0000 and 5\u202f%", "10 000 and 5 %"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("soft\u00adhyphen", "softhyphen"),
        ("tab\there", "tab here"),
        ("back`tick", "back'tick"),
        ("\u2022 item", "- item"),
        ("plain text", "plain text"),
        ("Caf\u00e9 \u00e0 10\u20ac", "Caf\u00e9 \u00e0 10\u20ac"),  # GSM-7 already: unchanged
        ("\u0141\u00f3d\u017a", "\u0141\u00f3d\u017a"),  # letters outside GSM-7 stay
        ("Hi \U0001f600", "Hi \U0001f600"),  # emoji stay
    ],
)
def test_lookalikes_become_their_gsm7_equivalents(body: str, expected: str) -> None:
    assert smarten(body) == expected


def test_one_apostrophe_no_longer_doubles_the_segments() -> None:
    body = "x" * 100 + "\u2019s"
    assert segment_info(body).encoding is Encoding.UCS2
    assert segment_info(body).segments == 2
    assert segment_info(smarten(body)) == segment_info("x" * 100 + "'s")
    assert segment_info(smarten(body)).segments == 1


def test_the_characters_that_force_ucs2_are_listed_each_time_they_occur() -> None:
    assert ucs2_characters("plain {ascii} \u20ac") == []
    assert ucs2_characters("\u2019a\u2019\U0001f600") == ["\u2019", "\u2019", "\U0001f600"]
    assert ucs2_characters("back`tick") == ["`"]
