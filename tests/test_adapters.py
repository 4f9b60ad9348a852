"""The four provider adapters, without a provider: requests against the documents' examples,
every answer class from a table, the validation limits, and transport failures in `send`."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from sms.message import Message
from sms.providers import ADAPTERS, adapter_for
from sms.providers.base import Adapter, OutcomeKind
from sms.providers.carrierx import CarrierXAdapter
from sms.providers.justcall import JustCallAdapter
from sms.providers.skycore import SkycoreAdapter
from sms.providers.textingline import TextingLineAdapter, idempotency_key
from sms.settings import CarrierXAccount, JustCallAccount, SkycoreAccount, TextingLineAccount
from tests.helpers import async_test

K = OutcomeKind
NOW = int(time.time())


def justcall(base: str = "https://api.justcall.io", **kw: Any) -> JustCallAdapter:
    account = JustCallAccount(
        kind="justcall", base_url=base, api_key="api_key", api_secret="api_secret", **kw
    )
    return JustCallAdapter(account)


def carrierx(base: str = "https://api.carrierx.com", **kw: Any) -> CarrierXAdapter:
    token = "5ebc03d6-8b2b-44ad-bf65-72d4f1491dda"
    return CarrierXAdapter(CarrierXAccount(kind="carrierx", base_url=base, token=token, **kw))


def textingline(base: str = "https://platform.textingline.com", **kw: Any) -> TextingLineAdapter:
    account = TextingLineAccount(
        kind="textingline",
        base_url=base,
        key_id="your_key_id",
        key_secret="your_key_secret",
        **kw,
    )
    return TextingLineAdapter(account)


def skycore(base: str = "https://sky.example/API/", **kw: Any) -> SkycoreAdapter:
    return SkycoreAdapter(SkycoreAccount(kind="skycore", endpoint_url=base, api_key="xxxx", **kw))


FACTORIES: dict[str, Callable[..., Adapter[Any]]] = {
    "justcall": justcall,
    "carrierx": carrierx,
    "textingline": textingline,
    "skycore": skycore,
}


def msg(**fields: Any) -> Message:
    data: dict[str, Any] = {
        "account": "a",
        "to": "+14155559876",
        "from": "+14155551234",
        "body": "Hi Alex, your appointment is confirmed for tomorrow at 2 PM.",
    }
    data.update(fields)
    return Message.model_validate(data)


# -- requests, against each document's example ---------------------------------------------


def test_justcall_request_is_the_documents_sms_example() -> None:
    request = justcall().build_request(msg())
    assert request.method == "POST"
    assert request.url == "https://api.justcall.io/v2/texts/send"
    assert request.headers["Authorization"] == "api_key:api_secret"  # raw pair, not Basic
    assert request.json == {
        "from": "+14155551234",
        "to": "+14155559876",
        "body": "Hi Alex, your appointment is confirmed for tomorrow at 2 PM.",
    }


def test_justcall_mms_sends_one_media_url() -> None:
    url = "https://yourapp.com/invoices/march-2026.pdf"
    request = justcall().build_request(msg(media_urls=[url]))
    assert request.json["media_url"] == url


def test_justcall_webhook_url_is_the_receipt_url_else_the_accounts() -> None:
    adapter = justcall(webhook_url="https://hooks.example/account")
    assert adapter.build_request(msg()).json["webhook_url"] == "https://hooks.example/account"
    built = adapter.build_request(msg(), receipt_url="https://hooks.example/r/1")
    assert built.json["webhook_url"] == "https://hooks.example/r/1"
    assert "webhook_url" not in justcall().build_request(msg()).json


@pytest.mark.parametrize("base", ["http://127.0.0.1:9/justcall", "http://127.0.0.1:9/justcall/"])
def test_base_url_is_joined_without_a_double_slash(base: str) -> None:
    assert justcall(base).build_request(msg()).url == "http://127.0.0.1:9/justcall/v2/texts/send"


def test_carrierx_request_is_the_documents_example_with_our_id() -> None:
    message = msg(to="+15162065574", **{"from": "+15162065575"}, body="This is a test message")
    request = carrierx().build_request(message)
    assert request.url == "https://api.carrierx.com/core/v2/sms/messages"
    assert request.headers["Authorization"] == "Bearer 5ebc03d6-8b2b-44ad-bf65-72d4f1491dda"
    assert request.json == {
        "from": "15162065575",
        "to": "15162065574",
        "message": "This is a test message",
        "user_data": message.id,
    }


def test_carrierx_group_mms_sends_media_and_recipients_as_digits() -> None:
    message = msg(
        media_urls=["https://example.com/a.png", "https://example.com/b.png"],
        options={"group_recipients": ["+15162065576"]},
    )
    payload = carrierx().build_request(message).json
    assert payload["media_urls"] == ["https://example.com/a.png", "https://example.com/b.png"]
    assert payload["group_recipients"] == ["15162065576"]
    assert payload["type"] == "mms"


def test_carrierx_media_only_mms_leaves_out_the_empty_message() -> None:
    payload = carrierx().build_request(msg(body="", media_urls=["https://e.com/a.png"])).json
    assert "message" not in payload


def test_textingline_request_is_the_documents_example_with_an_idempotency_key() -> None:
    message = msg(
        to="+18005551234", **{"from": "+18005559876"}, body="Your verification code is 482910"
    )
    request = textingline().build_request(message)
    assert request.url == "https://platform.textingline.com/api/v1/messaging/message"
    pair = base64.b64decode(request.headers["Authorization"].removeprefix("Basic "))
    assert pair == b"your_key_id:your_key_secret"
    assert request.json == {
        "to": "+18005551234",
        "from": "+18005559876",
        "body": "Your verification code is 482910",
        "idempotencyKey": "salvo-" + message.id,
    }


def test_textingline_mms_sends_media_url_and_may_leave_out_the_body() -> None:
    payload = textingline().build_request(msg(body="", media_urls=["https://e.com/p.jpg"])).json
    assert payload["mediaUrl"] == "https://e.com/p.jpg"
    assert "body" not in payload


@pytest.mark.parametrize("message_id", ["0123abcd" * 4, "x" * 200, "a b/c!", "ü"])
def test_textingline_idempotency_key_is_valid_and_stable(message_id: str) -> None:
    key = idempotency_key(message_id)
    assert re.fullmatch(r"[A-Za-z0-9@\-_)(]{2,100}", key)
    assert key == idempotency_key(message_id)


def test_skycore_request_is_the_documents_second_example() -> None:
    message = msg(
        to="+447911123456",
        **{"from": "00000"},
        body="Visit https://www.fakeurl.com/ for more info.",
        options={"from_mask": "Dunder", "campaign_ref": "campaign2345", "click_tracking": True},
    )
    request = skycore().build_request(message)
    assert request.url == "https://sky.example/API/"  # the account's endpoint, as it is
    assert request.headers == {"x-api-key": "xxxx"}
    assert request.json == {
        "action": "sendsms",
        "message-text": "Visit https://www.fakeurl.com/ for more info.",
        "to": "447911123456",
        "from": "00000",
        "from-mask": "Dunder",
        "campaign-ref": "campaign2345",
        "click-tracking": True,
    }


def test_skycore_long_number_sender_as_digits_and_account_defaults() -> None:
    adapter = skycore(campaign_ref="default-campaign")
    payload = adapter.build_request(msg()).json
    assert payload["from"] == "14155551234"
    assert payload["to"] == "14155559876"
    assert payload["campaign-ref"] == "default-campaign"
    assert "click-tracking" not in payload
    assert "from-mask" not in payload


def test_adapter_for_picks_the_adapter_by_kind() -> None:
    for kind, factory in FACTORIES.items():
        adapter = factory()
        assert type(adapter_for(adapter.account)) is ADAPTERS[kind]
        assert ADAPTERS[kind].kind == kind


# -- answers: every outcome class, per provider ---------------------------------------------

JC_OK = {
    "status": "success",
    "message": "Message sent",
    "data": {"message_id": "msg_4d9e1a7f", "status": "queued"},
}
CX_OK = {"message_sid": "097b49df-c54e", "message_segments": 2, "status": "queued"}
TL_OK = {"id": "msg_DsAdb4EBYBh3z25sBA1qnv", "status": "sent", "direction": "outbound"}


def tl_failed(error_type: str) -> dict[str, str]:
    return {"id": "msg_Hp2s", "status": "failed", "errorType": error_type, "errorMessage": "no"}


def tl_error(code: int, status: int) -> dict[str, Any]:
    return {"code": code, "message": "something", "status": status, "moreInfo": "https://x"}


def sky_failure(code: str) -> dict[str, str]:
    return {"status": "Failure", "error-code": code, "error-info": "info", "to": "1"}


Body = dict[str, Any] | bytes


def at_now(headers: dict[str, str]) -> dict[str, str]:
    """The table's headers with each "now+N" made an epoch second N seconds from now: resolved
    when a test runs, not when the table is built, so a long run does not drift."""
    now = int(time.time())
    return {k: str(now + int(v[4:])) if v.startswith("now+") else v for k, v in headers.items()}


# provider, HTTP status, headers, body -> kind, reason fragment, provider id, retry_after
ANSWERS: list[tuple[str, int, dict[str, str], Body, K, str, str | None, float | None]] = [
    ("justcall", 200, {}, JC_OK, K.ACCEPTED, "", "msg_4d9e1a7f", None),
    ("justcall", 200, {}, {"status": "success"}, K.UNKNOWN, "message_id", None, None),
    ("justcall", 200, {}, b"<html>ok</html>", K.UNKNOWN, "200", None, None),
    ("justcall", 400, {}, {"message": "Missing from, to, or body"}, K.REJECTED, "400", None, None),
    ("justcall", 422, {}, {"message": "Message body exceeds"}, K.REJECTED, "exceeds", None, None),
    ("justcall", 404, {}, {"message": "from number not found"}, K.CONFIG_ERROR, "404", None, None),
    ("justcall", 401, {}, b"", K.CONFIG_ERROR, "401", None, None),
    ("justcall", 403, {}, {"error": "forbidden"}, K.CONFIG_ERROR, "forbidden", None, None),
    (
        "justcall",
        429,
        {"X-Rate-Limit-Remaining": "1700", "X-Rate-Limit-Burst-Reset": "now+20"},
        b"",
        K.RATE_LIMITED,
        "429",
        None,
        20,
    ),
    ("justcall", 429, {"Retry-After": "7"}, b"", K.RATE_LIMITED, "429", None, 7),
    ("justcall", 429, {}, b"", K.RATE_LIMITED, "429", None, None),
    (
        "justcall",
        429,
        {"x-rate-limit-remaining": "0", "x-rate-limit-reset": "now+1200"},
        b"",
        K.QUOTA_EXHAUSTED,
        "hourly",
        None,
        1200,
    ),
    ("justcall", 500, {}, {"message": "oops"}, K.UNKNOWN, "may have been sent", None, None),
    ("justcall", 503, {}, b"", K.UNKNOWN, "503", None, None),
    ("carrierx", 200, {}, CX_OK, K.ACCEPTED, "", "097b49df-c54e", None),
    ("carrierx", 200, {}, b"not json", K.UNKNOWN, "message_sid", None, None),
    (
        "carrierx",
        400,
        {},
        {"errors": [{"field": "to", "message": "invalid number"}]},
        K.REJECTED,
        "to: invalid number",
        None,
        None,
    ),
    ("carrierx", 404, {}, {"message": "DID not found"}, K.REJECTED, "DID not found", None, None),
    ("carrierx", 404, {}, b"", K.CONFIG_ERROR, "base_url", None, None),
    ("carrierx", 415, {}, b"", K.REJECTED, "415", None, None),
    ("carrierx", 422, {}, {"errors": ["message too long"]}, K.REJECTED, "too long", None, None),
    ("carrierx", 401, {}, b"", K.CONFIG_ERROR, "401", None, None),
    ("carrierx", 403, {}, b"", K.CONFIG_ERROR, "403", None, None),
    ("carrierx", 409, {}, {"message": "conflict"}, K.RETRYABLE, "409", None, None),
    ("carrierx", 429, {"Retry-After": "3"}, b"", K.RATE_LIMITED, "429", None, 3),
    ("carrierx", 500, {}, b"", K.UNKNOWN, "may have been sent", None, None),
    ("carrierx", 502, {}, b"<html>", K.UNKNOWN, "502", None, None),
    ("textingline", 201, {}, TL_OK, K.ACCEPTED, "", "msg_DsAdb4EBYBh3z25sBA1qnv", None),
    ("textingline", 200, {}, {**TL_OK, "status": "queued"}, K.ACCEPTED, "", TL_OK["id"], None),
    ("textingline", 201, {}, tl_failed("opted_out"), K.REJECTED, "opted_out: no", "msg_Hp2s", None),
    ("textingline", 201, {}, tl_failed("invalid_destination"), K.REJECTED, "invalid_d", None, None),
    ("textingline", 201, {}, tl_failed("invalid_sender"), K.CONFIG_ERROR, "invalid_s", None, None),
    ("textingline", 201, {}, tl_failed("platform_error"), K.REJECTED, "platform", None, None),
    ("textingline", 201, {}, tl_failed("provider_error"), K.REJECTED, "provider", None, None),
    ("textingline", 201, {}, b"{", K.UNKNOWN, "201", None, None),
    (
        "textingline",
        429,
        {"Retry-After": "12", "X-RateLimit-Remaining": "0"},
        tl_error(33002, 429),
        K.RATE_LIMITED,
        "33002",
        None,
        12,
    ),
    (
        "textingline",
        429,
        {"Retry-After": "7200", "X-RateLimit-Reset": "now+30"},
        tl_error(33012, 429),
        K.QUOTA_EXHAUSTED,
        "33012",
        None,
        7200,
    ),
    # The X-RateLimit-* headers are the per-minute limit's: they say nothing of the daily quota.
    (
        "textingline",
        429,
        {"X-RateLimit-Reset": "now+30"},
        tl_error(33012, 429),
        K.QUOTA_EXHAUSTED,
        "33012",
        None,
        None,
    ),
    *[
        ("textingline", status, {}, tl_error(code, status), K.CONFIG_ERROR, str(code), None, None)
        for code, status in [
            (33001, 401),
            (33004, 403),
            (33009, 400),
            (33011, 403),
            (33020, 403),
            (33021, 403),
            (33022, 403),
            (33023, 402),
        ]
    ],
    *[
        ("textingline", 400, {}, tl_error(code, 400), K.REJECTED, str(code), None, None)
        for code in (33003, 33005, 33010, 33014, 33015, 33016, 33017, 33018, 33019)
    ],
    ("textingline", 500, {}, tl_error(33000, 500), K.RETRYABLE, "33000", None, None),
    ("textingline", 500, {}, tl_error(33007, 500), K.RETRYABLE, "33007", None, None),
    ("textingline", 502, {}, b"<html>bad gateway</html>", K.RETRYABLE, "502", None, None),
    ("textingline", 401, {}, b"", K.CONFIG_ERROR, "401", None, None),
    ("skycore", 200, {}, {"status": "Success", "tracking-id": "t1"}, K.ACCEPTED, "", "t1", None),
    ("skycore", 200, {}, {"status": "success", "tracking-id": "t2"}, K.ACCEPTED, "", "t2", None),
    ("skycore", 200, {}, {"status": "Success"}, K.UNKNOWN, "tracking-id", None, None),
    ("skycore", 200, {}, sky_failure("E106"), K.RATE_LIMITED, "E106 info", None, None),
    ("skycore", 200, {}, sky_failure("E120"), K.QUOTA_EXHAUSTED, "E120", None, None),
    *[
        ("skycore", 200, {}, sky_failure(code), K.CONFIG_ERROR, code, None, None)
        for code in ("E102", "E103", "E104", "E105", "E107", "E109", "E111", "E713")
    ],
    ("skycore", 200, {}, sky_failure("E503"), K.RETRYABLE, "E503", None, None),
    ("skycore", 200, {}, sky_failure("E626"), K.RETRYABLE, "E626", None, None),
    *[
        ("skycore", 200, {}, sky_failure(code), K.REJECTED, code, None, None)
        for code in ("E100", "E101", "E110", "E201", "E628", "E712", "E714", "E715", "E999")
    ],
    (
        "skycore",
        200,
        {},
        {**sky_failure("E111"), "status": "failure"},
        K.CONFIG_ERROR,
        "",
        None,
        None,
    ),
    ("skycore", 500, {}, sky_failure("E503"), K.RETRYABLE, "E503", None, None),  # body decides
    ("skycore", 401, {}, sky_failure("E110"), K.REJECTED, "E110", None, None),  # body decides
    ("skycore", 200, {}, b"<html>", K.UNKNOWN, "200", None, None),
    ("skycore", 502, {}, b"", K.UNKNOWN, "502", None, None),
    ("skycore", 401, {}, b"", K.CONFIG_ERROR, "401", None, None),
    ("skycore", 403, {}, b"Forbidden", K.CONFIG_ERROR, "403", None, None),
]


@pytest.mark.parametrize(
    ("provider", "status", "headers", "body", "kind", "reason", "provider_id", "retry_after"),
    ANSWERS,
    ids=[f"{a[0]}-{a[1]}-{a[4]}-{i}" for i, a in enumerate(ANSWERS)],
)
def test_every_answer_maps_to_one_outcome_class(
    provider: str,
    status: int,
    headers: dict[str, str],
    body: Body,
    kind: OutcomeKind,
    reason: str,
    provider_id: str | None,
    retry_after: float | None,
) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    outcome = FACTORIES[provider]().parse_response(status, at_now(headers), raw)
    assert outcome.kind is kind
    assert reason in outcome.reason
    if kind is not K.ACCEPTED:
        assert outcome.reason, "every outcome but acceptance says why"
    if provider_id is not None:
        assert outcome.provider_id == provider_id
    if retry_after is None:
        assert outcome.retry_after is None
    else:
        assert outcome.retry_after == pytest.approx(retry_after, abs=5)


def test_carrierx_acceptance_carries_the_billed_segments() -> None:
    outcome = carrierx().parse_response(200, {}, json.dumps(CX_OK).encode())
    assert outcome.segments == 2


def test_justcall_rate_headers_become_a_signal_on_every_answer() -> None:
    headers = {
        "X-Rate-Limit-Limit": "1800",
        "X-Rate-Limit-Remaining": "1500",
        "X-Rate-Limit-Reset": str(NOW + 3000),
        "X-Rate-Limit-Burst-Limit": "30",
        "X-Rate-Limit-Burst-Remaining": "29",
        "X-Rate-Limit-Burst-Reset": str(NOW + 50),
    }
    outcome = justcall().parse_response(200, headers, json.dumps(JC_OK).encode())
    assert outcome.kind is K.ACCEPTED
    signal = outcome.signal
    assert signal is not None
    assert (signal.limit, signal.remaining, signal.window) == (30, 29, 60.0)
    assert signal.reset_at == pytest.approx(NOW + 50, abs=1)


def test_justcall_signal_is_the_hourly_cap_when_it_binds_harder() -> None:
    headers = {
        "X-Rate-Limit-Limit": "1800",
        "X-Rate-Limit-Remaining": "3",
        "X-Rate-Limit-Burst-Limit": "30",
        "X-Rate-Limit-Burst-Remaining": "29",
    }
    signal = justcall().parse_response(400, headers, b"").signal
    assert signal is not None
    assert (signal.limit, signal.remaining, signal.window) == (1800, 3, 3600.0)


def test_textingline_rate_headers_become_a_signal() -> None:
    headers = {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59", "X-RateLimit-Reset": "0"}
    signal = textingline().parse_response(201, headers, json.dumps(TL_OK).encode()).signal
    assert signal is not None
    assert (signal.limit, signal.remaining, signal.window) == (60, 59, 60.0)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
KEYS = st.sampled_from(
    ["status", "data", "message_id", "message_sid", "id", "errorType", "code", "error-code",
     "tracking-id", "errors", "message", "message_segments", "error-info"]
)  # fmt: skip
ANSWER_BODY = st.one_of(
    st.binary(max_size=64),
    st.dictionaries(KEYS, JSON, max_size=6).map(lambda d: json.dumps(d).encode()),
    JSON.map(lambda v: json.dumps(v).encode()),
)
HEADER_NAMES = st.sampled_from(
    ["Retry-After", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset", "X-Rate-Limit-Burst-Reset",
     "X-RateLimit-Reset", "X-RateLimit-Limit", "x-ratelimit-remaining"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    provider=st.sampled_from(sorted(FACTORIES)),
    status=st.integers(100, 599),
    headers=st.dictionaries(HEADER_NAMES, st.text(max_size=24), max_size=4),
    body=ANSWER_BODY,
)
def test_parse_response_never_raises(
    provider: str, status: int, headers: dict[str, str], body: bytes
) -> None:
    outcome = FACTORIES[provider]().parse_response(status, headers, body)
    assert isinstance(outcome.kind, OutcomeKind)
    assert outcome.retry_after is None or outcome.retry_after >= 0


# -- validation: each limit names the field and the limit -----------------------------------


def problems(adapter: Adapter[Any], **fields: Any) -> list[str]:
    return [str(p) for p in adapter.validate(msg(**fields))]


def test_valid_messages_have_no_problems() -> None:
    assert problems(justcall()) == []
    assert problems(justcall(), media_urls=["https://e.com/a.png"]) == []
    assert problems(justcall(), body="{" * 1600) == []  # the cap is 1,600 characters
    assert problems(carrierx()) == []
    assert problems(carrierx(), body="", media_urls=["https://e.com/a.png"] * 10) == []
    assert problems(textingline()) == []
    assert problems(textingline(), body="", media_urls=["https://e.com/a.png"]) == []
    assert problems(skycore(), **{"from": "00000"}) == []
    assert problems(skycore(), to="+447911123456", options={"from_mask": "Dunder Miff"}) == []


# adapter, message fields -> field, fragments of the problem
LIMITS: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    ("justcall", {"body": "a" * 1723}, "body", ("1,723 characters", "at most 1,600")),
    ("justcall", {"body": "ж" * 1121}, "body", ("1,121 UCS-2 units", "1,120 (16 segments)")),
    ("justcall", {"body": ""}, "body", ("empty",)),
    (
        "justcall",
        {"media_urls": ["https://e.com/1", "https://e.com/2"]},
        "media_urls",
        ("2 URLs", "one"),
    ),
    ("justcall", {"from": "12345"}, "from", ("short code",)),
    (
        "justcall",
        {"options": {"group_recipients": ["+14155550100"]}},
        "group_recipients",
        ("group",),
    ),
    ("carrierx", {"body": "a" * 1601}, "body", ("1,601 characters", "at most 1,600")),
    ("carrierx", {"body": ""}, "body", ("empty", "media_urls")),
    ("carrierx", {"media_urls": ["https://e.com/a"] * 11}, "media_urls", ("11 URLs", "at most 10")),
    (
        "carrierx",
        {"options": {"group_recipients": [f"+1415555{i:04d}" for i in range(100, 111)]}},
        "group_recipients",
        ("11 numbers", "at most 10"),
    ),
    ("carrierx", {"from": "12345"}, "from", ("short code",)),
    ("carrierx", {"to": "+447911123456", "media_urls": ["https://e.com/a"]}, "to", ("US only",)),
    ("textingline", {"body": "a" * 641}, "body", ("641 characters", "at most 640")),
    ("textingline", {"body": ""}, "body", ("empty", "mediaUrl")),
    ("textingline", {"media_urls": ["https://e.com/1", "https://e.com/2"]}, "media_urls", ("one",)),
    ("textingline", {"from": "12345"}, "from", ("short code",)),
    ("skycore", {"body": "a" * 1531}, "body", ("11 segments", "at most 10")),
    ("skycore", {"body": ""}, "body", ("empty",)),
    ("skycore", {"media_urls": ["https://e.com/a"]}, "media_urls", ("no media",)),
    (
        "skycore",
        {"to": "+447911123456", "options": {"from_mask": "Dunder Mifflin"}},
        "from_mask",
        ("14 characters", "at most 11"),
    ),
    ("skycore", {"options": {"from_mask": "Dunder"}}, "from_mask", ("US",)),
]


@pytest.mark.parametrize(("provider", "fields", "field", "fragments"), LIMITS)
def test_each_limit_is_a_problem_naming_field_and_limit(
    provider: str, fields: dict[str, Any], field: str, fragments: tuple[str, ...]
) -> None:
    found = [p for p in FACTORIES[provider]().validate(msg(**fields)) if p.field == field]
    assert found, f"no problem on {field}"
    for fragment in fragments:
        assert fragment in found[0].problem


def test_skycore_account_mask_is_checked_too() -> None:
    adapter = skycore(from_mask="AVeryLongBrand")
    found = adapter.validate(msg(to="+447911123456"))
    assert [p.field for p in found] == ["from_mask"]


# -- send(): transport failures become outcomes, never exceptions ---------------------------


@asynccontextmanager
async def serve(handler: Callable[[web.Request], Any]) -> AsyncIterator[str]:
    """A one-route aiohttp server on 127.0.0.1, an ephemeral port; yields its base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


async def _abort(request: web.Request) -> web.Response:
    await request.read()
    assert request.transport is not None
    request.transport.abort()  # the request was received: it may have been acted on
    await asyncio.sleep(0.5)
    return web.Response()


async def _hang(request: web.Request) -> web.Response:
    await request.read()
    await asyncio.sleep(5)
    return web.Response()


async def _send_through(provider: str, handler: Callable[[web.Request], Any] | None) -> Any:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        if handler is None:
            with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            adapter = FACTORIES[provider](f"http://127.0.0.1:{port}/", timeout=0.5)
            return await adapter.send(session, msg())
        async with serve(handler) as base:
            adapter = FACTORIES[provider](base, timeout=0.5)
            return await adapter.send(session, msg())


@pytest.mark.parametrize("provider", sorted(FACTORIES))
@pytest.mark.parametrize(
    ("handler", "kind"),
    [
        (None, K.RETRYABLE),  # connection refused: nothing was sent
        (_abort, K.UNKNOWN),  # the request was written: it may have been acted on
        (_hang, K.UNKNOWN),
    ],
    ids=["closed-port", "abort-after-request", "hang-past-timeout"],
)
@async_test
async def test_send_translates_transport_failures(
    provider: str, handler: Callable[[web.Request], Any] | None, kind: OutcomeKind
) -> None:
    outcome = await _send_through(provider, handler)
    assert outcome.kind is kind
    assert outcome.reason


@async_test
async def test_send_returns_the_parsed_answer_with_headers() -> None:
    seen: dict[str, Any] = {}

    async def ok(request: web.Request) -> web.Response:
        seen["auth"] = request.headers.get("Authorization")
        seen["json"] = await request.json()
        return web.json_response(JC_OK, headers={"X-Rate-Limit-Burst-Remaining": "29"})

    async def go() -> Any:
        import aiohttp

        async with aiohttp.ClientSession() as session, serve(ok) as base:
            return await justcall(base).send(session, msg())

    outcome = await go()
    assert outcome.kind is K.ACCEPTED
    assert outcome.provider_id == "msg_4d9e1a7f"
    assert outcome.signal is not None and outcome.signal.remaining == 29
    assert seen["auth"] == "api_key:api_secret"
    assert seen["json"]["to"] == "+14155559876"


@async_test
async def test_send_reports_an_unusable_url_as_a_config_error() -> None:
    async def go() -> Any:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            return await justcall("http://").send(session, msg())

    assert (await go()).kind is K.CONFIG_ERROR


def test_a_resend_after_an_unknown_outcome_is_safe_only_where_the_provider_or_operator_says() -> (
    None
):
    assert textingline().resend_is_safe  # its idempotencyKey dedups a resend
    assert not carrierx().resend_is_safe
    assert carrierx(on_unknown="resend").resend_is_safe


@pytest.mark.parametrize(
    ("provider", "status", "body"),
    [
        (
            "justcall",
            404,
            b'{"status":"error","message":"from number not found or not SMS-enabled"}',
        ),
        ("skycore", 200, b'{"status":"failure","error-code":"E111","error-info":"Invalid Sender"}'),
        ("textingline", 403, b'{"code":33004,"message":"from number not assigned"}'),
    ],
)
def test_a_senders_config_error_holds_only_the_sender(
    provider: str, status: int, body: bytes
) -> None:
    outcome = FACTORIES[provider]().parse_response(status, {}, body)
    assert (outcome.kind, outcome.scope) == (K.CONFIG_ERROR, "sender")


def test_bad_credentials_hold_the_account() -> None:
    outcome = carrierx().parse_response(401, {}, b'{"message":"unauthorized"}')
    assert (outcome.kind, outcome.scope) == (K.CONFIG_ERROR, "account")
