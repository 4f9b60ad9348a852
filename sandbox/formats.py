"""Number formats, magic recipients, SMS segment counting, timestamps and message ids."""

from __future__ import annotations

import re
import secrets
import string
import uuid
from datetime import UTC, datetime

E164_PLUS = re.compile(r"\+[1-9][0-9]{1,14}")
DIGITS_ONLY = re.compile(r"[1-9][0-9]{1,14}")
OPTIONAL_PLUS = re.compile(r"\+?[1-9][0-9]{1,14}")
SHORTCODE_OR_NUMBER = re.compile(r"\+?[0-9]{3,15}")

MAGIC: dict[str, str] = {
    "15005550001": "opted_out",
    "15005550002": "invalid_destination",
    "15005550003": "destination_blocked",
}

# GSM 03.38 default alphabet (escape excluded) and its extension table (two septets each).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "^{}\\[~]|€\f"
GSM_ALL = GSM_BASIC | frozenset(GSM_EXTENSION)

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def digits(number: str) -> str:
    """The number without a leading `+` (numbers are format-checked before this is used)."""
    return number[1:] if number.startswith("+") else number


def magic_kind(number: str) -> str | None:
    """Which magic outcome a recipient number asks for, if any."""
    return MAGIC.get(digits(number))


def is_gsm(text: str) -> bool:
    """True when every character is in the GSM-7 alphabet or its extension table."""
    return GSM_ALL.issuperset(text)


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units (characters outside the BMP count twice)."""
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    """Number of SMS segments: GSM-7 160/153 (extension chars count twice), else UCS-2 70/67."""
    if is_gsm(text):
        units = len(text) + sum(text.count(c) for c in GSM_EXTENSION)
        single, multi = 160, 153
    else:
        units = utf16_units(text)
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)


def is_http_url(value: object) -> bool:
    """True for a non-empty http(s) URL string."""
    return isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) > 8


def iso(ts: float) -> str:
    """ISO 8601 UTC with milliseconds and a trailing Z, e.g. 2026-03-15T14:30:05.000Z."""
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def hex_id(prefix: str = "") -> str:
    """A random 64-bit hex id with an optional prefix."""
    return prefix + secrets.token_hex(8)


def base62_id(prefix: str = "") -> str:
    """A random 128-bit id written in 22 base62 characters with an optional prefix."""
    n = secrets.randbits(128)
    out = []
    for _ in range(22):
        n, r = divmod(n, 62)
        out.append(_BASE62[r])
    return prefix + "".join(out)


def uuid_id() -> str:
    """A random UUID4 string."""
    return str(uuid.uuid4())
