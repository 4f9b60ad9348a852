"""Inbound messages: each provider's shape read by its pure parser, and keywords."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sms.inbound import PARSERS, BadInbound, Inbound, Keyword, keyword

JUSTCALL = {
    "request_id": "r1",
    "webhook_url": "https://example.com/hook",
    "url_id": "u1",
    "type": "sms.received",
    "data": {
        "id": 912,
        "contact_number": "+12025550123",
        "justcall_number": "+14155550100",
        "direction": "Incoming",
        "sms_info": {"body": "STOP", "is_mms": "false"},
        "sms_user_time": "2026-12-03T10:00:00Z",
    },
}
CARRIERX = {
    "message_sid": "c9e3",
    "direction": "inbound",
    "from": "12025550123",
    "to": "14155550101",
    "message": "start",
    "date_created": "2026-12-03T10:00:00.000Z",
}
TEXTINGLINE = {
    "id": "evt_1",
    "type": "messaging.incoming.message.received",
    "createdAt": "2026-12-03T10:00:00Z",
    "data": {
        "id": "msg_9",
        "direction": "inbound",
        "from": "+12025550123",
        "to": "+14155550102",
        "body": "Help",
    },
}
SKYCORE_JSON = {
    "origin": "SMS_MO",
    "code": "N211",
    "from": "12025550123",
    "to": "14155550103",
    "text": "Thanks!",
    "received": "2026-12-03 10:00:00",
    "transaction-id": "t77",
}
SKYCORE_FORM = (
    "ORIGIN=SMS_MO&CODE=N211&FROM=12025550123&TO=14155550103&TEXT=stop."
    "&RECEIVED=2026-12-03+10%3A00%3A00&TRANSACTIONID=t78"
)
SKYCORE_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<POSTBACK><ORIGIN>SMS_MO</ORIGIN><CODE>N211</CODE>'
    "<FROM>12025550123</FROM><TO>14155550103</TO><TEXT>Stop &amp; go</TEXT>"
    "<RECEIVED>2026-12-03 10:00:00</RECEIVED><TRANSACTIONID>t79</TRANSACTIONID></POSTBACK>"
)
AT = 1796292000.0  # 2026-12-03T10:00:00Z


def _bytes(payload: Any) -> bytes:
    return payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("kind", "payload", "expected"),
    [
        ("justcall", JUSTCALL, Inbound("+12025550123", "+14155550100", "STOP", AT, "912")),
        ("carrierx", CARRIERX, Inbound("+12025550123", "+14155550101", "start", AT, "c9e3")),
        ("textingline", TEXTINGLINE, Inbound("+12025550123", "+14155550102", "Help", AT, "msg_9")),
        ("skycore", SKYCORE_JSON, Inbound("+12025550123", "+14155550103", "Thanks!", AT, "t77")),
        ("skycore", SKYCORE_FORM, Inbound("+12025550123", "+14155550103", "stop.", AT, "t78")),
        ("skycore", SKYCORE_XML, Inbound("+12025550123", "+14155550103", "Stop & go", AT, "t79")),
        (
            "skycore",
            '\ufeff <mo xmlns="urn:x"><origin>SMS_MO</origin><from>12025550123</from>'
            "<to>14155550103</to><text>hi</text></mo>",
            Inbound("+12025550123", "+14155550103", "hi"),
        ),
    ],
)
def test_each_provider_shape_is_read(kind: str, payload: Any, expected: Inbound) -> None:
    assert PARSERS[kind](_bytes(payload), {}) == expected


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("justcall", {**JUSTCALL, "data": {**JUSTCALL["data"], "direction": "Outgoing"}}),
        ("carrierx", {**CARRIERX, "direction": "outbound"}),
        ("textingline", {**TEXTINGLINE, "type": "messaging.outgoing.message.delivered"}),
        ("skycore", {**SKYCORE_JSON, "origin": "SMS_MT", "code": "N202"}),
        ("skycore", SKYCORE_XML.replace("SMS_MO", "SMS_MT")),
    ],
)
def test_a_delivery_event_is_not_an_inbound_message(kind: str, payload: Any) -> None:
    assert PARSERS[kind](_bytes(payload), {}) is None


@pytest.mark.parametrize(
    ("kind", "payload", "problem"),
    [
        ("justcall", "not json", "not JSON"),
        ("justcall", {"type": "sms.received"}, "expected {type, data"),
        (
            "justcall",
            {**JUSTCALL, "data": {**JUSTCALL["data"], "contact_number": "abc"}},
            "contact_number: 'abc' is not a phone number",
        ),
        ("carrierx", [1, 2], "not a JSON object"),
        ("carrierx", {"hello": 1}, "expected the SMS object"),
        ("carrierx", {**CARRIERX, "from": None}, "no from"),
        ("textingline", {"id": "e"}, "expected {id, type"),
        (
            "textingline",
            {**TEXTINGLINE, "data": {**TEXTINGLINE["data"], "body": 5}},
            "data.body is not text",
        ),
        ("skycore", "FROM=1&TO=2", "no ORIGIN"),
        ("skycore", {**SKYCORE_JSON, "to": ""}, "no TO"),
        ("skycore", SKYCORE_XML.replace("</POSTBACK>", ""), "body is not well-formed XML"),
        ("skycore", "<POSTBACK><ORIGIN>SMS_MO</ORIGIN><FROM>1</POSTBACK>", "not well-formed"),
        (
            "skycore",
            '<!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]><p>&b;</p>',
            "XML refused: DTDForbidden",
        ),
        (
            "skycore",
            '<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><p><ORIGIN>&x;</ORIGIN></p>',
            "XML refused",
        ),
        ("skycore", "<POSTBACK><CODE>N211</CODE></POSTBACK>", "no ORIGIN"),
        ("skycore", '<?xml version="1.0" encoding="nope"?><p/>', "unknown encoding: nope"),
        ("skycore", SKYCORE_XML.replace("12025550123", "12"), "FROM: '12' is not a phone number"),
    ],
)
def test_a_malformed_payload_says_what_is_wrong(kind: str, payload: Any, problem: str) -> None:
    with pytest.raises(BadInbound, match=problem.replace("{", r"\{").replace("(", r"\(")):
        PARSERS[kind](_bytes(payload), {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", Keyword.STOP),
        ("  stop  ", Keyword.STOP),
        ("Stop.", Keyword.STOP),
        ("stopall", Keyword.STOP),
        ("Unsubscribe", Keyword.STOP),
        ("cancel", Keyword.STOP),
        ("END", Keyword.STOP),
        ("quit!", Keyword.STOP),
        ("START", Keyword.START),
        ("yes", Keyword.START),
        ("unstop", Keyword.START),
        ("HELP", Keyword.HELP),
        ("info?", Keyword.HELP),
        ("please stop", None),
        ("STOPP", None),
        ("thanks", None),
        ("", None),
    ],
)
def test_keywords_are_the_whole_message(text: str, expected: Keyword | None) -> None:
    assert keyword(text) is expected
