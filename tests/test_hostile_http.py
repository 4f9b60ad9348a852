"""The HTTP API facing the internet: nothing a client sends is answered 500, slow and numerous
clients are cut off, receipts cannot be replayed, and receipt secrets never reach the log.

A real `salvo api` process on the embedded server (database 5, where no worker looks), with
short timeouts so that the tests of them are quick.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from salvo.local import ApiServer, api_process, sandbox_accounts, write_config
from tests.api_client import Api

KEY = "hostile-key-" + uuid.uuid4().hex
SECRET = "receipt-secret-" + uuid.uuid4().hex
NOWHERE = "http://127.0.0.1:9"  # no worker runs here: no provider is ever called
MAX_CONNECTIONS = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[ApiServer]:
    tmp = tmp_path_factory.mktemp("hostile")
    accounts = sandbox_accounts(NOWHERE, receipt_secret=SECRET)
    signed = {k: v for k, v in accounts["justcall"].items() if k != "receipt_secret"}
    accounts["justcall_signed"] = {**signed, "signed_webhooks": True}
    config = write_config(
        tmp / "salvo.toml",
        redis_url.rsplit("/", 1)[0] + "/5",
        accounts,
        api_keys=[KEY],
        api_header_timeout=2.0,  # the connection-cap test holds idle connections meanwhile
        api_body_timeout=1.0,
        api_max_connections=MAX_CONNECTIONS,
    )
    with api_process(config, tmp / "api.log") as running:
        yield running


@pytest.fixture
def api(server: ApiServer) -> Api:
    return Api(server.url, KEY)


def address(server: ApiServer) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(server.url)
    assert parsed.hostname and parsed.port
    return parsed.hostname, parsed.port


def raw(server: ApiServer, request: bytes, timeout: float = 10.0) -> bytes:
    """Send `request` as it is and read the whole answer (until the server closes)."""
    with socket.create_connection(address(server), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def message(**kw: object) -> dict[str, object]:
    return {"account": "carrierx", "to": "+12025550123", "from": "+14155550101", "body": "hi", **kw}


# Nothing a client sends is a 500.


@pytest.mark.parametrize("body", [b"[" * 5000, b"{" * 100_000, b'{"a":' * 3000])
def test_deeply_nested_json_is_a_400(api: Api, body: bytes) -> None:
    status, answer = api.call("POST", "/v1/messages", body)
    assert status == 400
    assert "nested deeper than 32 levels" in answer["error"]


def test_a_body_that_is_not_utf8_is_a_400(api: Api) -> None:
    status, answer = api.call("POST", "/v1/messages", b'{"body": "\xff"}')
    assert (status, answer) == (400, {"error": "body is not UTF-8: byte 11 is invalid"})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ab\\ud800", "lone surrogate U+D800 at position 3"),
        ("a\\u0000b", "NUL character at position 2"),
        ("bell\\u0007", "control character U+0007 at position 5"),
    ],
)
def test_a_string_with_a_lone_surrogate_or_control_character_is_a_422(
    api: Api, text: str, reason: str
) -> None:
    body = json.dumps(message(body="ok")).replace('"ok"', f'"{text}"')
    status, answer = api.call("POST", "/v1/messages", body.encode())
    assert status == 422, answer
    (problem,) = answer["errors"]
    assert problem["field"] == "body"
    assert reason in problem["reason"]


def test_a_bad_string_in_a_list_names_its_index(api: Api) -> None:
    body = json.dumps([message(), message(idempotency_key="k")]).replace('"k"', '"k\\ud800"')
    status, answer = api.call("POST", "/v1/messages", body.encode())
    assert status == 422
    assert answer["errors"][0]["index"] == 1
    assert answer["errors"][0]["field"] == "idempotency_key"


def test_an_idempotency_key_header_that_is_not_utf8_is_a_422(server: ApiServer) -> None:
    body = json.dumps(message()).encode()
    request = (
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Idempotency-Key: k\xed\xa0\x80\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
    ) + body
    answer = raw(server, request)
    assert answer.startswith(b"HTTP/1.1 422"), answer[:200]
    assert b"Idempotency-Key" in answer


def test_a_campaign_parameter_with_a_nul_is_a_422(api: Api) -> None:
    query = "account=carrierx&from=%2B14155550101&template=hi%00there"
    status, answer = api.call("POST", f"/v1/campaigns?{query}", b"phone\n+12025550123\n")
    assert status == 422
    assert answer["errors"] == [{"field": "template", "reason": "NUL character at position 3"}]


# Receipts: authenticated before the body is read, the same answer for every refusal.


def test_a_deep_body_on_the_signed_receipt_path_is_refused_unread(api: Api) -> None:
    headers = {"x-justcall-signature": "00", "x-justcall-request-timestamp": str(time.time())}
    status, answer = Api(api.url).call("POST", "/v1/receipts/justcall_signed", b"[" * 5000, headers)
    assert (status, answer) == (401, {"error": "receipt not authenticated"})


def test_unknown_account_and_wrong_secret_answer_the_same(api: Api) -> None:
    anyone = Api(api.url)
    body = json.dumps({"message_sid": "x", "status": "delivered"}).encode()
    answers = [
        anyone.call("POST", path, body)
        for path in (
            f"/v1/receipts/no-such-account/{SECRET}",
            "/v1/receipts/no-such-account",
            "/v1/receipts/carrierx/wrong",
            "/v1/receipts/carrierx",
        )
    ]
    assert answers == [(401, {"error": "receipt not authenticated"})] * 4


def justcall_webhook(
    url: str, request_id: str, stamp: str, status: str = "delivered"
) -> tuple[bytes, dict[str, str]]:
    """An account-level JustCall webhook for provider id `pid-{request_id}`, signed as JustCall
    documents it (the payload is not covered)."""
    kind = "sms.delivery_status_updated"
    body = json.dumps(
        {
            "request_id": request_id,
            "webhook_url": url,
            "url_id": "u1",
            "type": kind,
            "data": {"id": f"pid-{request_id}", "direction": "Outgoing", "delivery_status": status},
        }
    )
    payload = f"sandbox-secret|{urllib.parse.quote(url, safe='')}|{kind}|{stamp}"
    signature = hmac.new(b"sandbox-secret", payload.encode(), hashlib.sha256).hexdigest()
    return body.encode(), {"x-justcall-signature": signature, "x-justcall-request-timestamp": stamp}


def test_a_signed_webhook_outside_the_timestamp_window_is_refused(api: Api) -> None:
    url = f"{api.url}/v1/receipts/justcall_signed"
    anyone = Api(api.url)
    for stamp in (str(int(time.time()) - 301), "2026-01-01 00:00:00", str(time.time() + 400)):
        body, headers = justcall_webhook(url, uuid.uuid4().hex, stamp)
        status, _ = anyone.call("POST", "/v1/receipts/justcall_signed", body, headers)
        assert status == 401, stamp
    body, headers = justcall_webhook(url, uuid.uuid4().hex, str(int(time.time()) - 60))
    status, answer = anyone.call("POST", "/v1/receipts/justcall_signed", body, headers)
    assert (status, answer["result"]) == (200, "held")


def test_a_replayed_request_id_changes_nothing(api: Api) -> None:
    url = f"{api.url}/v1/receipts/justcall_signed"
    anyone = Api(api.url)
    request_id = uuid.uuid4().hex
    body, headers = justcall_webhook(url, request_id, str(int(time.time())))
    assert anyone.call("POST", "/v1/receipts/justcall_signed", body, headers)[1]["result"] == "held"
    # The same notification again, and again with another payload under the same signature.
    replayed, _ = justcall_webhook(
        url, request_id, headers["x-justcall-request-timestamp"], "failed"
    )
    for again in (body, replayed):
        status, answer = anyone.call("POST", "/v1/receipts/justcall_signed", again, headers)
        assert (status, answer) == (200, {"result": "duplicate"})


def test_a_textingline_event_id_is_accepted_once(api: Api) -> None:
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "messaging.outgoing.message.delivered",
        "data": {"id": f"msg_{uuid.uuid4().hex}"},
    }
    anyone = Api(api.url)
    path = f"/v1/receipts/textingline/{SECRET}"
    assert anyone.post(path, event)[1]["result"] == "held"
    assert anyone.post(path, event) == (200, {"result": "duplicate"})


def test_receipt_ids_that_cannot_be_stored_are_a_400(api: Api) -> None:
    body = b'{"message_sid": "a\\ud800", "status": "delivered"}'
    status, answer = Api(api.url).call("POST", f"/v1/receipts/carrierx/{SECRET}", body)
    assert status == 400
    assert "lone surrogate" in answer["error"]


def test_the_receipt_secret_never_reaches_the_log(server: ApiServer, api: Api) -> None:
    anyone = Api(api.url)
    for body in (b"[" * 5000, b"{}", b'{"message_sid": "x", "status": "delivered"}'):
        anyone.call("POST", f"/v1/receipts/carrierx/{SECRET}", body)
    anyone.call("POST", f"/v1/receipts/nope/{SECRET}", b"{}")
    anyone.call("POST", f"/v1/inbound/carrierx/{SECRET}", b"[" * 5000)
    anyone.call("POST", f"/v1/inbound/carrierx/{SECRET}", b"{}")
    time.sleep(0.2)
    assert server.log is not None
    text = server.log.read_text()
    assert "/v1/receipts/carrierx/*** 200" in text.replace('"', "").replace("POST ", "")
    assert SECRET not in text


# Slow and numerous clients.


def test_a_client_that_never_finishes_its_headers_is_cut_off(server: ApiServer) -> None:
    started = time.monotonic()
    answer = raw(server, b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert answer == b""
    assert time.monotonic() - started < 8


def test_a_body_that_never_arrives_is_a_408(server: ApiServer) -> None:
    request = (
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() + b"\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"acc'
    )
    started = time.monotonic()
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(request)
        answer = sock.recv(65536)  # the server lingers a while for the rest before closing
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert b"Connection: close" in answer
    assert time.monotonic() - started < 5


def test_connections_over_the_cap_are_answered_503(server: ApiServer) -> None:
    held = [socket.create_connection(address(server)) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.1)
        answer = raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503"), answer[:100]
        assert b"Retry-After: 1" in answer
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")


# Redis down.


def test_redis_down_is_a_503_with_retry_after(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_config(
        tmp_path / "salvo.toml",
        f"redis://127.0.0.1:{port}/0",
        sandbox_accounts(NOWHERE, receipt_secret=SECRET),
        api_keys=[KEY],
    )
    with api_process(config, tmp_path / "api.log") as down:
        api = Api(down.url, KEY)
        receipt = json.dumps({"message_sid": "x", "status": "delivered"}).encode()
        for method, path, body in (
            ("POST", "/v1/messages", json.dumps(message()).encode()),
            ("GET", "/v1/messages/abc", None),
            ("GET", "/v1/campaigns/abc", None),
            ("POST", f"/v1/receipts/carrierx/{SECRET}", receipt),
        ):
            status, answer = api.call(method, path, body)
            assert (status, answer) == (503, {"error": "Redis unreachable; retry later"}), path
        upload = "/v1/campaigns?account=carrierx&from=%2B14155550101&template=hi"
        csv = {"Content-Type": "text/csv"}
        status, answer = api.call("POST", upload, b"phone\n+12025550123\n", csv)
        assert status == 503, answer
        assert answer["error"].startswith(("Redis unreachable", "blast stopped"))
        answer = raw(
            down,
            b"GET /v1/campaigns/abc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"X-API-Key: " + KEY.encode() + b"\r\n\r\n",
        )
        assert b"Retry-After: 5" in answer
        assert SECRET not in (tmp_path / "api.log").read_text()


def test_an_upload_with_invalid_utf8_counts_every_row(api: Api) -> None:
    query = urllib.parse.urlencode(
        {
            "account": "carrierx",
            "from": "+14155550101",
            "template": "Hi {name}",
            "campaign": f"h{uuid.uuid4().hex[:12]}",
            "wait": "true",
        }
    )
    rows = b"phone,name\n+13125550001,A\n+13125550002,Jos\xe9\n+13125550003,C\n,,\n"
    status, answer = api.call("POST", f"/v1/campaigns?{query}", rows, {"Content-Type": "text/csv"})
    assert status == 202, answer
    assert (answer["rows"], answer["enqueued"], answer["rejected"]) == (4, 2, 2)
    assert answer["rejects"] == [
        {"line": 3, "reason": "not valid UTF-8: byte 17 of the row is 0xe9"},
        {"line": 5, "reason": "blank row"},
    ]


def test_the_openapi_document_refuses_the_empty_values_the_server_refuses() -> None:
    from api.openapi import DOCUMENT, MESSAGE_IN

    assert MESSAGE_IN["properties"]["account"]["minLength"] == 1
    assert MESSAGE_IN["properties"]["from"]["minLength"] == 1
    upload = DOCUMENT["paths"]["/v1/campaigns"]["post"]["parameters"]
    required = {p["name"]: p["schema"] for p in upload if p.get("required")}
    assert all(required[name]["minLength"] == 1 for name in ("account", "from", "template"))


@pytest.mark.parametrize("segment", ["%FF", "%ED%A0%80", "%00", "a%0Ab", "x" * 5000])
def test_path_segments_that_are_not_text_are_never_a_500(server: ApiServer, segment: str) -> None:
    for method, path in (
        ("GET", f"/v1/messages/{segment}"),
        ("GET", f"/v1/campaigns/{segment}"),
        ("POST", f"/v1/campaigns/{segment}/pause"),
        ("POST", f"/v1/receipts/{segment}/{segment}"),
        ("POST", f"/v1/receipts/carrierx/{SECRET}?m={segment}"),
    ):
        request = (
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Authorization: Bearer {KEY}\r\nContent-Length: 2\r\n\r\n{{}}"
        ).encode()
        answer = raw(server, request)
        assert not answer.startswith(b"HTTP/1.1 500"), (path, answer[:300])


@pytest.mark.parametrize("header", [b"X-API-Key: k\xff", b"Authorization: Bearer \xed\xa0\x80"])
def test_an_api_key_that_is_not_utf8_is_a_401(server: ApiServer, header: bytes) -> None:
    request = (
        b"GET /v1/messages/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + header + b"\r\n\r\n"
    )
    answer = raw(server, request)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]


@pytest.mark.parametrize(
    "request_line",
    [
        b"GET / HTTP/1.1\r\nCookie: salvo_session=a\xffb",
        b"GET /campaigns/x HTTP/1.1\r\nCookie: salvo_session=\xed\xa0\x80",
        b"POST /signin HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 9\r\n\r\nkey=%FF%FF",
    ],
)
def test_dashboard_cookies_and_forms_that_are_not_utf8_are_never_a_500(
    server: ApiServer, request_line: bytes
) -> None:
    head, _, body = request_line.partition(b"\r\n\r\n")
    request = head + b"\r\nHost: x\r\nConnection: close\r\n\r\n" + body
    answer = raw(server, request)
    assert not answer.startswith(b"HTTP/1.1 500"), answer[:300]
