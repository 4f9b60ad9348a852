"""What a campaign upload may be sent as, and where its file's bytes come from.

The body is the file itself (`text/csv`, or a JSONL type), or `multipart/form-data` with the
file in a part named `file` (what `curl -F file=@people.csv` sends). Any other content type is
refused with 415 rather than read as CSV: a form-encoded body (curl's `--data` default) is not
a file. A multipart part's file name or type says its format (`.jsonl`, `.ndjson`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import BodyPartReader, web

Format = Literal["csv", "jsonl"]

CSV_TYPES = ("text/csv", "application/csv")
JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
MULTIPART = "multipart/form-data"
FILE_PART = "file"
#: The most a form field beside the file may hold (a template is the longest of them).
FIELD_LIMIT = 64 * 1024
ACCEPTED = (*CSV_TYPES, *JSONL_TYPES, MULTIPART)


class Refused(Exception):
    """The upload is not sent in a way that carries a file; the message says how to send it."""


class BadField(Exception):
    """A form field beside the file that cannot be a parameter: too long, or not UTF-8."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


@dataclass(frozen=True)
class Upload:
    """Where the file's bytes come from (`read(n)`: at most n bytes, b"" at the end), and the
    format its content type says."""

    read: Callable[[int], Awaitable[bytes]]
    format: Format
    #: A multipart body's form fields before its file part (`curl -F account=promo -F
    #: file=@people.csv`), name and text, in order: parameters, as the query string's are.
    fields: tuple[tuple[str, str], ...] = ()


def _format(content_type: str, filename: str | None = None) -> Format:
    name = (filename or "").lower()
    if content_type in JSONL_TYPES or name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "csv"


async def _field(part: BodyPartReader) -> str:
    """A form field's text: at most FIELD_LIMIT bytes of UTF-8 (BadField otherwise)."""
    name = part.name or ""
    data = b""
    while chunk := await part.read_chunk():
        data += chunk
        if len(data) > FIELD_LIMIT:
            raise BadField(name, f"a form field of more than {FIELD_LIMIT:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadField(name, "not UTF-8 text") from None


def how_to_send() -> str:
    """How to send a campaign file, for error messages."""
    return (
        f"send the file as the body with Content-Type {' or '.join(CSV_TYPES + JSONL_TYPES)}, "
        f"or as {MULTIPART} with a part named '{FILE_PART}' (curl -F {FILE_PART}=@people.csv)"
    )


def check_type(request: web.Request) -> None:
    """Refused unless the request's content type is one an upload may have."""
    if request.content_type not in ACCEPTED:
        given = request.headers.get("Content-Type")
        said = f"Content-Type {request.content_type!r}" if given else "no Content-Type"
        raise Refused(f"a campaign upload cannot be read from {said}: {how_to_send()}")


async def open_upload(request: web.Request) -> Upload:
    """The file of an upload whose type `check_type` accepted (Refused for a multipart body
    without a `file` part)."""
    if request.content_type != MULTIPART:
        return Upload(request.content.read, _format(request.content_type))
    fields: list[tuple[str, str]] = []
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name == FILE_PART:
                ctype = part.headers.get("Content-Type", "").split(";")[0].strip().lower()
                return Upload(part.read_chunk, _format(ctype, part.filename), tuple(fields))
            if isinstance(part, BodyPartReader) and part.name and part.filename is None:
                fields.append((part.name, await _field(part)))
                continue
            await part.release()
    except (ValueError, AssertionError) as exc:  # aiohttp's word for a malformed multipart body
        raise Refused(f"malformed {MULTIPART} body ({exc}): {how_to_send()}") from None
    raise Refused(f"{MULTIPART} body without a part named '{FILE_PART}': {how_to_send()}")
