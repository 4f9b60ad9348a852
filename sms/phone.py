"""E.164 phone numbers: parse what users write, format for providers, mask for logs."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat, ValidationResult

__all__ = ["InvalidPhoneNumber", "digits_only", "mask", "parse_e164", "region_of"]

# E.164: '+', a country code that does not start with 0, at most 15 digits in all.
_E164_RE = re.compile(r"\+[1-9][0-9]{1,14}")

_PARSE_REASONS = {
    NumberParseException.NOT_A_NUMBER: "not a number",
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}
_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong length for its region",
}


class InvalidPhoneNumber(ValueError):
    """A value that is not a valid phone number; .value is the input, .reason says why.

    A ValueError, so a pydantic validator that raises it produces a validation error.
    """

    def __init__(self, value: object, reason: str) -> None:
        super().__init__(value, reason)  # both in args, so the exception pickles
        self.value = value
        self.reason = reason

    def __str__(self) -> str:
        return f"invalid phone number {self.value!r}: {self.reason}"


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber:
    """Parse and validate text; raise InvalidPhoneNumber (with the original text) if it fails."""
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "not a number")
        if (
            exc.error_type == NumberParseException.INVALID_COUNTRY_CODE
            and region is None
            and "+" not in text
            and "\uff0b" not in text  # fullwidth plus, which phonenumbers also accepts
        ):
            reason = "missing country code"
        raise InvalidPhoneNumber(text, reason) from None
    if number.extension:
        raise InvalidPhoneNumber(text, "has an extension")
    if not phonenumbers.is_valid_number(number):
        possible = phonenumbers.is_possible_number_with_reason(number)
        reason = _POSSIBLE_REASONS.get(possible, "not a valid number for its region")
        raise InvalidPhoneNumber(text, reason)
    return number


@dataclass(frozen=True, slots=True)
class _Desc:
    """One of phonenumbers' number descriptions: the lengths it allows (empty: any) and its
    national number pattern."""

    lengths: frozenset[int]
    pattern: str


@dataclass(frozen=True, slots=True)
class _Region:
    """What phonenumbers validates a national number against for one region: its general
    description, and by length the alternation of its number types' patterns that allow that
    length (a number is valid when it matches the general description and some type)."""

    leading: re.Pattern[str] | None  # `leading_digits`: picks the region among its code's
    general: re.Pattern[str]
    general_lengths: frozenset[int]
    types: dict[int, re.Pattern[str]]

    @classmethod
    def of(cls, leading: str | None, general: _Desc, types: list[_Desc]) -> _Region:
        by_length: dict[int, re.Pattern[str]] = {}
        for length in range(1, 18):  # phonenumbers' longest national number is 17 digits
            fitting = [t.pattern for t in types if not t.lengths or length in t.lengths]
            if fitting:
                by_length[length] = re.compile("|".join(f"(?:{p})" for p in fitting))
        return cls(
            None if leading is None else re.compile(leading),
            re.compile(general.pattern),
            general.lengths,
            by_length,
        )

    def valid(self, nsn: str) -> bool:
        if self.general_lengths and len(nsn) not in self.general_lengths:
            return False
        types = self.types.get(len(nsn))
        return types is not None and bool(self.general.fullmatch(nsn) and types.fullmatch(nsn))


@dataclass(frozen=True, slots=True)
class _Code:
    """A country calling code's regions (main first) and its national prefix for parsing."""

    regions: tuple[_Region, ...]
    national_prefix: re.Pattern[str] | None


_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)
_CODES: dict[int, _Code | None] = {}
_STRICT_E164 = re.compile(r"\+([1-9][0-9]{2,14})")


def _desc(desc: object) -> _Desc | None:
    pattern = getattr(desc, "national_number_pattern", None)
    if not pattern:
        return None  # phonenumbers: no pattern matches nothing
    return _Desc(frozenset(getattr(desc, "possible_length", ()) or ()), pattern)


def _region(name: str) -> _Region | None:
    metadata = PhoneMetadata.metadata_for_region(name, None)
    if metadata is None:
        return None
    general = _desc(metadata.general_desc)
    if general is None:
        return None
    names = _TYPES if metadata.same_mobile_and_fixed_line_pattern else (*_TYPES, "mobile")
    types = [d for d in (_desc(getattr(metadata, n)) for n in names) if d is not None]
    return _Region.of(metadata.leading_digits, general, types)


def _code(code: int) -> _Code | None:
    """The compiled metadata of a geographic calling code (None for another)."""
    if code in _CODES:
        return _CODES[code]
    names = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    found: _Code | None = None
    if names and phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY not in names:
        main = PhoneMetadata.metadata_for_region(names[0], None)
        regions = tuple(r for r in (_region(n) for n in names) if r is not None)
        if main is not None and len(regions) == len(names):
            prefix = main.national_prefix_for_parsing
            found = _Code(regions, re.compile(prefix) if prefix else None)
    _CODES[code] = found
    return found


def _fast_e164(text: str) -> str | None:
    """`text` when it is already E.164 and phonenumbers would find it valid and write it the
    same; None when unsure (then parse it in full).

    The same checks as phonenumbers.parse, is_valid_number and format_number, on the same
    metadata, without their generality: the country code is the digits' prefix in
    COUNTRY_CODE_TO_REGION_CODE; a national number that starts with 0 (kept as a leading zero)
    or with the national prefix (which parse may strip), or a non-geographic code, are left to
    the full parse; a code of several regions (+1) is given the region phonenumbers picks
    (`leading_digits`, else the first region whose types match) and validated for it.
    tests/test_phone.py checks it against the full parse.
    """
    strict = _STRICT_E164.fullmatch(text)
    if strict is None:
        return None
    digits = strict.group(1)
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    nsn = digits[size:]
    if len(nsn) < 2 or nsn[0] == "0":
        return None
    compiled = _code(code)
    if compiled is None or (compiled.national_prefix and compiled.national_prefix.match(nsn)):
        return None
    regions = compiled.regions
    if len(regions) > 1:
        picked = None
        for region in regions:
            if region.leading is not None:
                if region.leading.match(nsn):
                    picked = region
                    break
            elif region.valid(nsn):
                return text
        if picked is None:
            return None
        regions = (picked,)
    return text if regions[0].valid(nsn) else None


def parse_e164(value: str, default_region: str | None = None) -> str:
    """Parse a user-written number into E.164 ('+1 (415) 555-1234' -> '+14155551234').

    Numbers without a '+' need default_region (an ISO 3166 code such as 'US'), except that a
    leading '00' is also read as the international prefix. The number must be valid
    (phonenumbers.is_valid_number), not just of a possible length. Letters are refused:
    alphanumeric sender IDs and vanity numbers ('1-800-FLOWERS') are not handled here.
    Raises InvalidPhoneNumber with a short reason.
    """
    if not isinstance(value, str):
        raise InvalidPhoneNumber(value, "not a string")
    if default_region is None or default_region.upper() in phonenumbers.SUPPORTED_REGIONS:
        fast = _fast_e164(value)
        if fast is not None:
            return fast
    text = value.strip()
    if not text:
        raise InvalidPhoneNumber(value, "empty")
    if any(ch.isalpha() for ch in text):
        raise InvalidPhoneNumber(value, "contains letters")
    region = default_region.upper() if default_region else None
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown default_region {default_region!r}")

    try:
        number = _parse(text, region)
    except InvalidPhoneNumber as exc:
        # '00' is the international prefix in most of the world, but phonenumbers only reads
        # it so when default_region uses it (not for 'US', nor without a region).
        if not text.startswith("00"):
            raise InvalidPhoneNumber(value, exc.reason) from None
        try:
            number = _parse("+" + text[2:], None)
        except InvalidPhoneNumber as exc2:
            raise InvalidPhoneNumber(value, exc2.reason) from None
    return str(phonenumbers.format_number(number, PhoneNumberFormat.E164))


def _check_e164(e164: str) -> None:
    if not isinstance(e164, str) or not _E164_RE.fullmatch(e164):
        raise InvalidPhoneNumber(e164, "not in E.164 form")


def digits_only(e164: str) -> str:
    """'+14155551234' -> '14155551234' (CarrierX and Skycore want no '+')."""
    _check_e164(e164)
    return e164[1:]


def _country_code_length(digits: str) -> int:
    """Length of the country code at the start of digits (codes are prefix-free), 0 if none."""
    for length in (1, 2, 3):
        if int(digits[:length]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return length
    return 0


def mask(e164: str) -> str:
    """Mask a number for logs: '+14155551234' -> '+1415*****34'.

    Keeps the country code, the first 3 and the last 2 digits of the national number, fewer
    for short numbers so that at least 3 digits are always hidden. Never raises: anything
    that is not E.164 is masked completely.
    """
    if not isinstance(e164, str) or not _E164_RE.fullmatch(e164):
        return "*" * len(e164) if isinstance(e164, str) else "***"
    digits = e164[1:]
    cc = _country_code_length(digits)
    national = digits[cc:]
    n = len(national)
    head = min(3, max(0, n - 5))
    tail = min(2, max(0, n - head - 3))
    return "+" + digits[:cc] + national[:head] + "*" * (n - head - tail) + national[n - tail :]


def region_of(e164: str) -> str | None:
    """ISO 3166 region of an E.164 number ('US', 'GB', ...).

    None when no single region owns it: non-geographic numbers (+800, +882, ...) or numbers
    that are not valid. Raises InvalidPhoneNumber if e164 is not in E.164 form.
    """
    _check_e164(e164)
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    if not region or region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return None
    return str(region)
