"""Tests for sms.phone: E.164 parsing, formatting and masking."""

from __future__ import annotations

import pickle

import phonenumbers
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms.phone import InvalidPhoneNumber, _fast_e164, digits_only, mask, parse_e164, region_of


@pytest.mark.parametrize(
    ("value", "region", "expected"),
    [
        ("+1 (415) 555-1234", None, "+14155551234"),
        ("+14155551234", None, "+14155551234"),
        ("+1-415-555-1234", None, "+14155551234"),
        ("+1.415.555.1234", None, "+14155551234"),
        ("  +1 415 555 1234\n", None, "+14155551234"),
        ("4155551234", "US", "+14155551234"),
        ("(415) 555-1234", "US", "+14155551234"),
        ("1 415 555 1234", "US", "+14155551234"),
        ("4155551234", "us", "+14155551234"),
        ("+1 (415) 555-1234", "GB", "+14155551234"),  # '+' wins over the default region
        ("+1 500 555 0001", None, "+15005550001"),  # test-style numbers phonenumbers accepts
        ("0044 7911 123456", None, "+447911123456"),  # '00' read as international prefix
        ("0044 7911 123456", "US", "+447911123456"),
        ("0044 7400 123456", "GB", "+447400123456"),
        ("011 44 7400 123456", "US", "+447400123456"),  # the US international prefix
        ("0011 44 7400 123456", "AU", "+447400123456"),  # the Australian one
        ("07400 123456", "GB", "+447400123456"),  # national trunk prefix
        ("+44 20 7946 0958", None, "+442079460958"),
        ("+39 06 1234 5678", None, "+390612345678"),  # Italian leading zero kept
        ("+49 30 12345678", None, "+493012345678"),
        ("+86 138 0013 8000", None, "+8613800138000"),
        ("+800 1234 5678", None, "+80012345678"),  # non-geographic
        ("\u0664\u0661\u0665\u0665\u0665\u0665\u0661\u0662\u0663\u0664", "US", "+14155551234"),
    ],
)
def test_parse_e164_valid(value: str, region: str | None, expected: str) -> None:
    assert parse_e164(value, region) == expected


@pytest.mark.parametrize(
    ("value", "region", "reason"),
    [
        ("", None, "empty"),
        ("   ", "US", "empty"),
        ("MyBrand", None, "contains letters"),  # alphanumeric sender ID
        ("+1 800 FLOWERS", None, "contains letters"),  # vanity number
        ("+1 415 555 1234 ext 12", None, "contains letters"),
        ("+1 415 555 1234 #12", None, "has an extension"),
        ("+", None, "not a number"),
        ("--", None, "not a number"),
        ("4155551234", None, "missing country code"),
        ("12", None, "missing country code"),
        ("12", "US", "too short"),
        ("+1 415 555 123", None, "too short"),
        ("+1 415 555 12345678901", None, "too long"),
        ("+999 1234", None, "unknown country code"),
        ("+0 415", None, "unknown country code"),
        ("+1 123 456 7890", None, "not a valid number for its region"),  # area code 123
        ("+44 7400 12345", None, "not a valid number for its region"),
        ("0044 1", None, "too short"),
    ],
)
def test_parse_e164_invalid(value: str, region: str | None, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        parse_e164(value, region)
    assert reason in info.value.reason
    assert info.value.value == value
    assert reason in str(info.value)


def test_parse_e164_rejects_non_string() -> None:
    with pytest.raises(InvalidPhoneNumber, match="not a string"):
        parse_e164(14155551234)  # type: ignore[arg-type]


def test_unknown_default_region_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="default_region") as info:
        parse_e164("4155551234", "ZZ")
    assert not isinstance(info.value, InvalidPhoneNumber)


def test_invalid_phone_number_is_value_error_and_pickles() -> None:
    exc = InvalidPhoneNumber("abc", "contains letters")
    assert isinstance(exc, ValueError)
    copy = pickle.loads(pickle.dumps(exc))
    assert (copy.value, copy.reason, str(copy)) == (exc.value, exc.reason, str(exc))


def test_pydantic_turns_it_into_a_validation_error() -> None:
    class Recipient(pydantic.BaseModel):
        to: str

        @pydantic.field_validator("to")
        @classmethod
        def _e164(cls, value: str) -> str:
            return parse_e164(value, "US")

    assert Recipient(to="(415) 555-1234").to == "+14155551234"
    with pytest.raises(pydantic.ValidationError, match="too short"):
        Recipient(to="12")


@pytest.mark.parametrize(
    ("e164", "expected"),
    [("+14155551234", "14155551234"), ("+447400123456", "447400123456")],
)
def test_digits_only(e164: str, expected: str) -> None:
    assert digits_only(e164) == expected


@pytest.mark.parametrize(
    "bad", ["14155551234", "+1 415 555 1234", "", "+", "+0123", "+1234567890123456"]
)
def test_digits_only_requires_e164(bad: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=r"E\.164"):
        digits_only(bad)


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+14155551234", "+1415*****34"),
        ("+447400123456", "+44740*****56"),
        ("+390612345678", "+39061*****78"),
        ("+8613800138000", "+86138******00"),
        ("+80012345678", "+800123***78"),
        ("+35312345", "+353***45"),  # short national number: keep less, hide at least 3
        ("+1234", "+1***"),
        ("4155551234", "**********"),  # not E.164: hide everything
        ("", ""),
    ],
)
def test_mask(e164: str, expected: str) -> None:
    assert mask(e164) == expected


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+14155551234", "US"),
        ("+16135550123", "CA"),
        ("+447400123456", "GB"),
        ("+390612345678", "IT"),
        ("+80012345678", None),  # non-geographic
        ("+11234567890", None),  # not a valid number
    ],
)
def test_region_of(e164: str, expected: str | None) -> None:
    assert region_of(e164) == expected


def test_region_of_requires_e164() -> None:
    with pytest.raises(InvalidPhoneNumber):
        region_of("4155551234")


def _full_parse(text: str) -> str | None:
    """What phonenumbers itself makes of a number: its E.164, or None when it is not valid."""
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if number.extension or not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _examples() -> list[str]:
    """phonenumbers' example number of every type in every region, as E.164."""
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(11):  # PhoneNumberType: fixed line ... voicemail
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                out.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    return sorted(set(out))


EXAMPLES = _examples()


def test_the_fast_path_agrees_with_phonenumbers_on_every_example_and_its_neighbours() -> None:
    """Numbers already in E.164 skip phonenumbers' parse: whenever the fast path answers, its
    answer is phonenumbers' own; it answers for nearly every valid example (the others, with a
    leading zero, a national prefix or a non-geographic code, take the full parse)."""
    answered = 0
    for example in EXAMPLES:
        for text in (
            example,
            example[:-1],
            example + "5",
            example[:-1] + "0",
            example[:4] + "9" * 8,
        ):
            fast = _fast_e164(text)
            if fast is not None:
                assert fast == text == _full_parse(text), text
        answered += _fast_e164(example) is not None
    assert answered > 0.8 * len(EXAMPLES)


@given(
    code=st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
    national=st.text(alphabet="0123456789", min_size=1, max_size=14),
)
@settings(max_examples=3000, deadline=None)
def test_the_fast_path_never_says_other_than_phonenumbers(code: int, national: str) -> None:
    text = f"+{code}{national}"
    fast = _fast_e164(text)
    if fast is not None:
        assert fast == text == _full_parse(text)
        assert parse_e164(text) == text
