"""Fuzzing the readers of outside input: a clear rejection or a valid result, never an exception.

Each property runs once with hypothesis's usual budget in `make test` (a few seconds in all).
`make fuzz` sets SALVO_FUZZ_SECONDS (600) and runs each property again and again, with fresh
random inputs, for its share of that time.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.bodies import BadBody, first_bad_string, parse_json
from producer.sources import Row, blank, csv_header, csv_records, csv_rows, jsonl_rows
from producer.template import Template
from sms.errors import InvalidInput, TemplateError
from sms.inbound import PARSERS as INBOUND_PARSERS
from sms.inbound import BadInbound
from sms.providers import carrierx, justcall, skycore, textingline
from sms.providers.base import BadReceipt, Receipt
from sms.text import text_problem

#: Each provider kind's receipt reader (what its adapter's `parse_receipt` calls).
RECEIPT_PARSERS = {
    m.__name__.rsplit(".", 1)[1]: m.parse_receipt
    for m in (carrierx, justcall, skycore, textingline)
}

#: Seconds `make fuzz` gives all the properties together (0: one ordinary run each).
FUZZ_SECONDS = float(os.environ.get("SALVO_FUZZ_SECONDS", "0"))
PROPERTIES = 9  # the fuzzed properties below, which share FUZZ_SECONDS
FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def fuzz(prop: Callable[[], None]) -> None:
    """Run a hypothesis property once, then, under `make fuzz`, again until its share of
    SALVO_FUZZ_SECONDS is spent."""
    prop()
    deadline = time.monotonic() + FUZZ_SECONDS / PROPERTIES
    while time.monotonic() < deadline:
        prop()


# Inputs: bytes that look like what arrives, with the awkward parts over-represented.

AWKWARD = st.sampled_from(
    ["", ",", '"', '""', "\n", "\r\n", "\r", "\x00", "\ufeff", "\ud800", "é", "😀", " ", "{", "["]
)
FIELD = st.lists(st.one_of(st.text(max_size=20), AWKWARD), max_size=6).map("".join)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | AWKWARD,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


def raw_bytes(text: str) -> bytes:
    """Text as bytes, lone surrogates included (as the invalid UTF-8 a file might hold)."""
    return text.encode("utf-8", "surrogatepass")


def noisy(data: bytes, noise: list[tuple[int, bytes]]) -> bytes:
    """`data` with some bytes spliced in (invalid UTF-8, NUL, quotes, line breaks)."""
    out = bytearray(data)
    for at, chunk in noise:
        at = at % (len(out) + 1)
        out[at:at] = chunk
    return bytes(out)


NOISE = st.lists(
    st.tuples(
        st.integers(0, 10_000),
        st.sampled_from([b"\xff", b"\xe9", b"\x00", b'"', b"\n", b"\r", b"\xed\xa0\x80", b","]),
    ),
    max_size=4,
)


# The CSV and JSONL reader.


def read_csv(data: bytes) -> list[Row] | None:
    """Every row of a CSV, or None when its header is refused (InvalidInput)."""
    records = csv_records(io.BytesIO(data))
    try:
        header = csv_header(records, Path("fuzz.csv"))
    except InvalidInput:
        return None
    return list(csv_rows(records, header))


@FAST
@given(rows=st.lists(st.lists(FIELD, min_size=1, max_size=4), max_size=8), noise=NOISE)
def csv_reader_property(rows: list[list[str]], noise: list[tuple[int, bytes]]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["phone", "name", "x", "y"])
    writer.writerows(rows)
    data = noisy(raw_bytes(text.getvalue()), noise)
    read = read_csv(data)
    if read is None:
        return
    previous = 1
    for row in read:
        assert row.line > previous  # first lines, in order, after the header
        previous = row.line
        assert (row.values is None) == bool(row.reason)
        if row.values is not None:
            assert all("\x00" not in (v or "") for v in row.values.values())


@FAST
@given(rows=st.lists(st.lists(FIELD, min_size=4, max_size=4), max_size=8))
def csv_round_trip_property(rows: list[list[str]]) -> None:
    """What csv.writer wrote (valid UTF-8, no NUL) reads back row by row, at its first line."""
    clean = [[f.replace("\x00", "").replace("\ud800", "") for f in row] for row in rows]
    text = io.StringIO()
    writer = csv.writer(text)  # \r\n, as spreadsheets write (a field with \r is quoted)
    writer.writerow(["phone", "name", "x", "y"])
    lines = []
    for row in clean:
        lines.append(text.getvalue().count("\n") + 1)
        writer.writerow(row)
    read = read_csv(text.getvalue().encode())
    assert read is not None
    assert [r.line for r in read] == lines
    for row, got in zip(clean, read, strict=True):
        if blank(row):
            assert got.reason == "blank row"
        else:
            assert got.values == dict(zip(["phone", "name", "x", "y"], row, strict=True)), got


@FAST
@given(
    text=st.lists(
        st.one_of(
            st.text(
                alphabet=st.characters(blacklist_characters="\r\x00", blacklist_categories=("Cs",)),
                max_size=10,
            ),
            st.sampled_from(['"', '""', ",", '",', ',"', "\n", "\r\n", " ", "x"]),
        ),
        max_size=30,
    ).map("".join)
)
def csv_module_agreement_property(text: str) -> None:
    """Rows split as Python's csv module splits them, quotes in odd places included."""
    expected = [row for row in csv.reader(io.StringIO("phone,name\n" + text, newline=""))]
    header, wanted = expected[0], [row for row in expected[1:] if not blank(row)]
    records = csv_records(io.BytesIO(("phone,name\n" + text).encode()))
    assert csv_header(records, Path("fuzz.csv")) == header
    got = []
    for row in csv_rows(records, header):
        if row.reason == "blank row":
            continue
        assert not row.reason.startswith("malformed CSV"), row
        got.append(row.raw)
    assert got == wanted


@FAST
@given(
    lines=st.lists(
        st.one_of(JSON_VALUES.map(lambda v: json.dumps(v)), FIELD, st.just("[" * 3000)),
        max_size=6,
    ),
    noise=NOISE,
)
def jsonl_reader_property(lines: list[str], noise: list[tuple[int, bytes]]) -> None:
    data = noisy(raw_bytes("\n".join(lines)), noise)
    for row in jsonl_rows(io.BytesIO(data)):
        assert (row.values is None) == bool(row.reason)
        if row.values is not None:
            for value in row.values.values():
                assert value is None or "\x00" not in value


# Receipts and inbound messages: each provider's parser.


def receipt_bodies() -> st.SearchStrategy[bytes]:
    """Bodies shaped like each provider's receipts, with random values, and plain noise."""
    keys = st.sampled_from(
        [
            "message_id",
            "status",
            "timestamp",
            "request_id",
            "webhook_url",
            "type",
            "data",
            "id",
            "direction",
            "delivery_status",
            "message_sid",
            "user_data",
            "tracking-id",
            "code",
            "origin",
            "idempotencyKey",
            "updatedAt",
            "errorType",
            "date_status_changed",
            "from",
            "to",
            "body",
            "text",
            "ORIGIN",
            "FROM",
            "TO",
            "TEXT",
        ]
    )
    values = st.one_of(
        JSON_VALUES,
        st.sampled_from(
            [
                "delivered",
                "sent",
                "failed",
                "Outgoing",
                "N202",
                "SMS_MT",
                "SMS_MO",
                "sms.delivery_status_updated",
                "messaging.outgoing.message.delivered",
                "messaging.incoming.message.received",
                "+12025550123",
                "2026-12-03T10:00:00Z",
            ]
        ),
    )
    shaped = st.recursive(
        values, lambda inner: st.dictionaries(keys, inner, max_size=6), max_leaves=15
    )
    return st.one_of(
        shaped.map(lambda v: json.dumps(v).encode()),
        shaped.map(as_xml),  # Skycore's postbacks may come as XML
        st.binary(max_size=200).map(lambda b: b"<" + b),
        st.sampled_from(["utf-8", "utf-16", "latin-1", "nope"]).map(
            lambda e: f'<?xml version="1.0" encoding="{e}"?><p><ORIGIN>SMS_MO</ORIGIN></p>'.encode()
        ),
        st.binary(max_size=200),
        st.just(b"[" * 5000),
        st.text(max_size=100).map(lambda t: raw_bytes(t)),
    )


def as_xml(value: object) -> bytes:
    """A receipt-shaped value as an XML postback: an element per key, nested for objects."""

    def element(name: str, inner: object) -> str:
        if isinstance(inner, dict):
            body = "".join(element(str(k), v) for k, v in inner.items())
        else:
            body = escape(json.dumps(inner) if not isinstance(inner, str) else inner)
        return f"<{name}>{body}</{name}>"

    return element("POSTBACK", value if isinstance(value, dict) else {"TEXT": value}).encode(
        "utf-8", "surrogatepass"
    )


HEADERS = st.dictionaries(
    st.sampled_from(
        [justcall.SIGNATURE_HEADER, justcall.TIMESTAMP_HEADER, "content-type", "x-other"]
    ),
    st.text(max_size=30),
    max_size=3,
)


@FAST
@given(kind=st.sampled_from(sorted(RECEIPT_PARSERS)), body=receipt_bodies(), headers=HEADERS)
def receipt_parser_property(kind: str, body: bytes, headers: dict[str, str]) -> None:
    try:
        receipt = RECEIPT_PARSERS[kind](body, headers)
    except BadReceipt:
        return
    assert receipt is None or isinstance(receipt, Receipt)
    assert isinstance(justcall.signature_valid("secret", body, headers), bool)


@FAST
@given(kind=st.sampled_from(sorted(INBOUND_PARSERS)), body=receipt_bodies(), headers=HEADERS)
def inbound_parser_property(kind: str, body: bytes, headers: dict[str, str]) -> None:
    try:
        INBOUND_PARSERS[kind](body, headers)
    except BadInbound:
        return


# The JSON body reader and the template filler.


@FAST
@given(
    body=st.one_of(
        JSON_VALUES.map(lambda v: raw_bytes(json.dumps(v, ensure_ascii=False))),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=200),
        st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
    ),
    noise=NOISE,
)
def json_body_property(body: bytes, noise: list[tuple[int, bytes]]) -> None:
    try:
        value = parse_json(noisy(body, noise))
    except BadBody as exc:
        assert exc.status in (400, 422) and exc.reason
        return
    assert first_bad_string(value) is None
    json.dumps(value).encode("utf-8")  # storable as it is


@FAST
@given(
    text=st.lists(
        st.one_of(
            st.text(max_size=10),
            st.sampled_from(
                ["{", "}", "{name}", "{0}", "{a.b}", "{x!r}", "{y:>5}", "{{", "}}", "{ }"]
            ),
        ),
        max_size=8,
    ).map("".join),
    values=st.dictionaries(
        st.sampled_from(["name", "x", "y", "a"]), st.one_of(st.none(), FIELD), max_size=4
    ),
)
def template_property(text: str, values: dict[str, Any]) -> None:
    try:
        template = Template(text)
    except TemplateError:
        return
    try:
        out = template.render(values)
    except TemplateError as exc:
        assert "no value for" in str(exc)
        return
    assert isinstance(out, str)


@FAST
@given(text=st.text(max_size=50) | FIELD)
def text_check_property(text: str) -> None:
    problem = text_problem(text)
    if problem is None:
        text.encode("utf-8")  # what passes is storable
        assert "\x00" not in text


def test_the_csv_reader_rejects_or_reads_every_row() -> None:
    fuzz(csv_reader_property)


def test_what_csv_writer_wrote_reads_back_at_its_first_line() -> None:
    fuzz(csv_round_trip_property)


def test_the_csv_reader_splits_rows_as_the_csv_module_does() -> None:
    fuzz(csv_module_agreement_property)


def test_the_jsonl_reader_rejects_or_reads_every_line() -> None:
    fuzz(jsonl_reader_property)


def test_receipt_parsers_read_or_refuse_anything() -> None:
    fuzz(receipt_parser_property)


def test_inbound_parsers_read_or_refuse_anything() -> None:
    fuzz(inbound_parser_property)


def test_the_json_body_reader_reads_or_refuses_anything() -> None:
    fuzz(json_body_property)


def test_templates_fill_or_refuse_anything() -> None:
    fuzz(template_property)


def test_text_that_passes_the_check_is_storable() -> None:
    fuzz(text_check_property)
