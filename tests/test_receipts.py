"""Delivery receipts, end to end on real parts, and the readers of each provider's receipt shape.

The loop: the API takes a message, a real worker sends it to the sandbox, the sandbox posts its
receipts (in the provider's own shape) back to the API, and the message ends delivered, failed or
undelivered. This module's API and worker use their own database (3) of the session's server,
and restore the sandbox's receipt settings after each test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from salvo.local import ApiServer, api_process, sandbox_accounts, worker_process, write_config
from sms import keys
from sms.message import Status
from sms.providers import carrierx, justcall, skycore, textingline
from sms.providers.base import BadReceipt, Receipt
from sms.receipts import receipt_url
from sms.settings import Settings
from sms.store import MOVED_WITH_HELD_RECEIPTS
from tests.api_client import Api
from tests.conftest import Sandbox
from tests.helpers import overtaken_send

SECRET = "rs-" + uuid.uuid4().hex
KEY = "k-" + uuid.uuid4().hex
SENDERS = {
    "justcall": "+14155550100",
    "carrierx": "+14155550101",
    "textingline": "+14155550102",
    "skycore": "+14155550103",
}
PROVIDERS = sorted(SENDERS)
DELAY_MS = 150
RECEIPTS_OFF = {
    "enabled": False,
    "delay_ms": 200,
    "fail_rate": 0.0,
    "duplicate_rate": 0.0,
    "reorder": False,
}


# The readers: pure functions from a body to a Receipt.


def test_justcall_reads_its_per_message_webhook() -> None:
    stamp = "2026-03-15T14:30:05.000Z"
    body = json.dumps({"message_id": "msg_1", "status": "delivered", "timestamp": stamp}).encode()
    assert justcall.parse_receipt(body, {}) == Receipt(
        Status.DELIVERED, "msg_1", None, "delivered", 1773585005.0
    )


def test_justcall_reads_its_account_webhook_and_ignores_incoming_texts() -> None:
    data = {"id": 7, "direction": "Outgoing", "delivery_status": "failed"}
    body = json.dumps({"type": "sms.status", "webhook_url": "u", "data": data}).encode()
    assert justcall.parse_receipt(body, {}) == Receipt(Status.FAILED, "7", reason="failed")
    incoming = body.replace(b"Outgoing", b"Incoming")
    assert justcall.parse_receipt(incoming, {}) is None


def test_justcall_signature_matches_the_documented_example() -> None:
    # The example of JustCall's "Dynamic Webhook Signatures" page.
    secret = "ea39089c40790e9dc7a080ec95e849b8fa0fa5fb"
    url = "https://webhook.site/3bcea770-370a-4b09-8b66-426f687e08a4"
    expected = "56761bae5b27a784a3ddd2af828bc5def7176bc0a8650199b04c737bd39bbecf"
    assert justcall.signature(secret, url, "call.completed", "2024-03-21 17:08:22") == expected
    body = f'{{"webhook_url":"{url}","type":"call.completed","data":{{}}}}'.encode()
    headers = {
        "X-JustCall-Signature": expected,
        "X-JustCall-Request-Timestamp": "2024-03-21 17:08:22",
    }
    assert justcall.signature_valid(secret, body, headers)
    assert not justcall.signature_valid(secret + "x", body, headers)


def test_carrierx_reads_the_sms_object_and_our_user_data() -> None:
    body = b'{"message_sid":"abc","status":"undelivered","user_data":"ours","direction":"outbound"}'
    receipt = carrierx.parse_receipt(body, {})
    assert receipt == Receipt(Status.UNDELIVERED, "abc", "ours", "status undelivered")
    assert carrierx.parse_receipt(b'{"message_sid":"abc","status":"queued"}', {}) is None


def test_textingline_reads_outgoing_message_events() -> None:
    data = {"id": "msg_9", "errorType": "opted_out"}
    body = json.dumps({"type": "messaging.outgoing.message.failed", "data": data}).encode()
    assert textingline.parse_receipt(body, {}) == Receipt(
        Status.FAILED, "msg_9", None, "failed: opted_out"
    )
    other = b'{"type":"messaging.incoming.message.received","data":{"id":"msg_9"}}'
    assert textingline.parse_receipt(other, {}) is None


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("N201", Status.SENT),
        ("N202", Status.DELIVERED),
        ("E201", Status.FAILED),
        ("E202", Status.UNDELIVERED),
    ],
)
def test_skycore_postback_codes_map_onto_our_statuses(code: str, status: Status) -> None:
    body = f'{{"origin":"SMS_MT","code":"{code}","status":"x","tracking-id":"T1"}}'.encode()
    receipt = skycore.parse_receipt(body, {})
    assert receipt is not None
    assert (receipt.status, receipt.provider_id) == (status, "T1")


@pytest.mark.parametrize(
    "parse",
    [
        justcall.parse_receipt,
        carrierx.parse_receipt,
        textingline.parse_receipt,
        skycore.parse_receipt,
    ],
)
def test_a_body_of_another_shape_is_a_bad_receipt(parse: Callable[..., Any]) -> None:
    for body in (b"not json", b"[]", b'{"status":"delivered"}'):
        with pytest.raises(BadReceipt):
            parse(body, {})


def test_the_receipt_url_carries_the_secret_and_for_justcall_our_id() -> None:
    accounts = sandbox_accounts("http://sandbox", receipt_secret="s/1")
    settings = Settings(providers=accounts, public_url="https://salvo.example/")
    assert (
        receipt_url(settings, "carrierx", "m1")
        == "https://salvo.example/v1/receipts/carrierx/s%2F1"
    )
    assert (
        receipt_url(settings, "justcall", "m1")
        == "https://salvo.example/v1/receipts/justcall/s%2F1?m=m1"
    )
    bare = Settings(providers=sandbox_accounts("http://sandbox"), public_url="https://s")
    assert receipt_url(bare, "carrierx", "m1") is None  # nothing could authenticate its receipts
    assert receipt_url(Settings(providers=accounts), "carrierx", "m1") is None


# The loop, on real parts.


@dataclass
class Loop:
    server: ApiServer
    api: Api
    config: Path


@pytest.fixture(scope="module")
def loop(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, sandbox_url: str
) -> Iterator[Loop]:
    tmp = tmp_path_factory.mktemp("receipts")
    db = redis_url.rsplit("/", 1)[0] + "/3"
    accounts = sandbox_accounts(sandbox_url, timeout=3.0, receipt_secret=SECRET)
    for name in ("carrierx", "justcall"):  # accounts that give up on a hanging provider quickly
        accounts[f"{name}_hasty"] = {**accounts[name], "timeout": 1.0}
    signed = {k: v for k, v in accounts["justcall"].items() if k != "receipt_secret"}
    accounts["justcall_signed"] = {**signed, "signed_webhooks": True}
    config = tmp / "salvo.toml"
    write_config(config, db, accounts, api_keys=[KEY])
    with api_process(config, tmp / "api.log") as server:
        # The worker must know where the API is: it builds JustCall's webhook_url from it.
        write_config(config, db, accounts, api_keys=[KEY], public_url=server.url)
        with worker_process(config, db, ("--concurrency", "2", "-n", "receipts@%h")):
            yield Loop(server, Api(server.url, KEY), config)


@pytest.fixture
def receipts(sandbox: Sandbox, loop: Loop) -> Iterator[Callable[..., None]]:
    """Turn the sandbox's receipts on for a provider, posting to the API; all off afterwards."""

    def on(provider: str, account: str | None = None, **options: Any) -> None:
        callback = f"{loop.server.url}/v1/receipts/{account or provider}/{SECRET}"
        settings = {"enabled": True, "delay_ms": DELAY_MS, **options}
        sandbox.configure(provider, callback_url=callback, receipts=settings)

    yield on
    for provider in PROVIDERS:
        sandbox.configure(
            provider, callback_url=None, receipts=RECEIPTS_OFF, hang_seconds=30.0, timeout_after=0.0
        )


def send(loop: Loop, account: str, to: str = "+12025550123") -> str:
    sender = SENDERS[account.split("_")[0]]
    status, body = loop.api.post(
        "/v1/messages", {"account": account, "to": to, "from": sender, "body": "Reminder"}
    )
    assert status == 202, body
    return str(body["ids"][0])


def wait_status(loop: Loop, mid: str, wanted: set[str], timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, record = loop.api.get(f"/v1/messages/{mid}")
        assert status == 200
        if record["status"] in wanted:
            return record  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"still {record['status']}: {record['history']}"
        time.sleep(0.05)


def wait_receipts(sandbox: Sandbox, provider: str, posted: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while (stats := sandbox.stats()[provider])["receipts_sent"] + stats["receipt_errors"] < posted:
        assert time.monotonic() < deadline, stats
        time.sleep(0.05)


def statuses(record: dict[str, Any]) -> list[str]:
    return [h["status"] for h in record["history"]]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_sent_message_is_delivered_by_its_receipt(
    provider: str, loop: Loop, sandbox: Sandbox, receipts: Callable[..., None]
) -> None:
    receipts(provider)
    mid = send(loop, provider)
    record = wait_status(loop, mid, {"delivered"})
    wait_receipts(sandbox, provider, 2)
    record = wait_status(loop, mid, {"delivered"})
    assert statuses(record) == ["queued", "sending", "sent", "delivered"]
    assert record["provider_id"] == sandbox.ledger()[0]["id"]
    assert record["reason"].startswith("receipt")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_failed_delivery_ends_failed_or_undelivered(
    provider: str, loop: Loop, sandbox: Sandbox, receipts: Callable[..., None]
) -> None:
    receipts(provider, fail_rate=1.0)
    mid = send(loop, provider)
    record = wait_status(loop, mid, {"failed", "undelivered"})
    wait_receipts(sandbox, provider, 2)
    record = wait_status(loop, mid, {"failed", "undelivered"})
    assert statuses(record)[:3] == ["queued", "sending", "sent"]
    assert statuses(record)[3:] == [record["status"]]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_duplicate_and_reordered_receipts_change_the_status_once(
    provider: str, loop: Loop, sandbox: Sandbox, receipts: Callable[..., None]
) -> None:
    receipts(provider, duplicate_rate=1.0, reorder=True)
    mid = send(loop, provider)
    wait_status(loop, mid, {"delivered"})
    wait_receipts(sandbox, provider, 4)  # delivered twice, then sent twice
    record = wait_status(loop, mid, {"delivered"})
    assert statuses(record) == ["queued", "sending", "sent", "delivered"]
    assert sandbox.stats()[provider]["receipt_errors"] == 0


def test_a_campaigns_counts_follow_its_receipts(
    loop: Loop, sandbox: Sandbox, receipts: Callable[..., None]
) -> None:
    receipts("textingline", duplicate_rate=1.0, reorder=True)
    rows = "".join(f"+1312555{i:04d},P{i}\n" for i in range(5))
    query = urllib.parse.urlencode(
        {
            "account": "textingline",
            "from": SENDERS["textingline"],
            "template": "Hi {name}",
            "campaign": f"r{uuid.uuid4().hex[:10]}",
        }
    )
    status, blast = loop.api.call(
        "POST",
        f"/v1/campaigns?{query}",
        b"phone,name\n" + rows.encode(),
        {"Content-Type": "text/csv"},
    )
    assert status == 202, blast
    wait_receipts(sandbox, "textingline", 5 * 4)
    deadline = time.monotonic() + 20
    while True:
        counts = {
            k: v
            for k, v in loop.api.get(f"/v1/campaigns/{blast['campaign']}")[1]["counts"].items()
            if v
        }
        if counts == {"delivered": 5, "total": 5}:
            break
        assert time.monotonic() < deadline, counts
        time.sleep(0.05)


def justcall_webhook(
    url: str, provider_id: str, secret: str, timestamp: str
) -> tuple[bytes, dict[str, str]]:
    """An account-level JustCall webhook, signed as JustCall documents it."""
    kind = "sms.delivery_status_updated"
    body = (
        f'{{"request_id":"r1","webhook_url":"{url}","url_id":"u1","type":"{kind}",'
        f'"data":{{"id":"{provider_id}","direction":"Outgoing","delivery_status":"delivered"}}}}'
    )
    payload = f"{secret}|{urllib.parse.quote(url, safe='')}|{kind}|{timestamp}"
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    headers = {"x-justcall-signature": signature, "x-justcall-request-timestamp": timestamp}
    return body.encode(), headers


def test_a_forged_justcall_signature_is_refused_and_changes_nothing(
    loop: Loop, sandbox: Sandbox, receipts: Callable[..., None]
) -> None:
    receipts("justcall")  # the sandbox's per-message posts carry no signature: refused
    mid = send(loop, "justcall_signed")
    sent = wait_status(loop, mid, {"sent"})
    wait_receipts(sandbox, "justcall", 2)
    assert sandbox.stats()["justcall"]["receipt_errors"] == 2
    url = f"{loop.server.url}/v1/receipts/justcall_signed"
    stamp = str(int(time.time()))  # within the accepted window (receipt_window)
    forged, headers = justcall_webhook(url, sent["provider_id"], "not-the-api-secret", stamp)
    assert (
        Api(loop.server.url).call("POST", "/v1/receipts/justcall_signed", forged, headers)[0] == 401
    )
    genuine, headers = justcall_webhook(url, sent["provider_id"], "sandbox-secret", stamp)
    tampered = genuine.replace(b"sms.delivery_status_updated", b"sms.other")
    assert (
        Api(loop.server.url).call("POST", "/v1/receipts/justcall_signed", tampered, headers)[0]
        == 401
    )
    assert wait_status(loop, mid, {"sent"}) == sent  # nothing changed, not even the history

    status, answer = Api(loop.server.url).call(
        "POST", "/v1/receipts/justcall_signed", genuine, headers
    )
    assert (status, answer["result"]) == (200, "moved")
    assert statuses(wait_status(loop, mid, {"delivered"})) == [
        "queued",
        "sending",
        "sent",
        "delivered",
    ]


def test_a_wrong_url_secret_is_refused_and_changes_nothing(loop: Loop, sandbox: Sandbox) -> None:
    mid = send(loop, "carrierx")
    sent = wait_status(loop, mid, {"sent"})
    receipt = {"message_sid": sent["provider_id"], "status": "delivered", "user_data": mid}
    body = json.dumps(receipt).encode()
    anyone = Api(loop.server.url)
    for path in (
        "/v1/receipts/carrierx/wrong",
        "/v1/receipts/carrierx",
        f"/v1/receipts/skycore/{SECRET}",
    ):
        assert anyone.call("POST", path, body)[0] in (400, 401), path
    assert anyone.call("POST", "/v1/receipts/carrierx/wrong", body)[0] == 401
    assert wait_status(loop, mid, {"sent"}) == sent
    assert anyone.call("POST", f"/v1/receipts/carrierx/{SECRET}", body)[1]["result"] == "moved"
    assert wait_status(loop, mid, {"delivered"})["status"] == "delivered"


def test_an_unknown_provider_id_is_answered_200_held_and_logged(loop: Loop) -> None:
    sid = f"nope-{uuid.uuid4().hex}"
    status, answer = Api(loop.server.url).call(
        "POST",
        f"/v1/receipts/carrierx/{SECRET}",
        f'{{"message_sid":"{sid}","status":"delivered"}}'.encode(),
    )
    assert (status, answer["result"]) == (200, "held")  # for a send not recorded yet
    assert loop.server.log is not None
    deadline = time.monotonic() + 5
    while f"provider id {sid} not recorded yet" not in loop.server.log.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize("provider", ["textingline", "skycore"])
def test_receipts_that_overtake_the_record_of_their_send_wait_for_it(
    provider: str, loop: Loop, sandbox: Sandbox, receipts: Callable[..., None]
) -> None:
    # No delay: the provider posts its receipts as soon as it has answered, often before the
    # worker has written the provider's id (these receipts carry no id of ours). Either way,
    # each message ends delivered.
    receipts(provider, delay_ms=0)
    mids = [send(loop, provider, to=f"+1202555{i:04d}") for i in range(20)]
    for mid in mids:
        record = wait_status(loop, mid, {"delivered"})
        assert statuses(record) == ["queued", "sending", "sent", "delivered"]


def test_a_held_receipt_is_applied_when_its_send_is_recorded(unit_url: str) -> None:
    """The same race, step by step: receipts first, then the worker's record of the send."""
    pid = f"tl-{uuid.uuid4().hex}"
    sent = overtaken_send(unit_url, pid, [Status.SENT, Status.DELIVERED], apply=True)
    assert sent.early == ["held", "held"]
    assert sent.moved == MOVED_WITH_HELD_RECEIPTS
    assert sent.applied == ["stale", "moved"]  # "sent" it already was; then delivered
    final = redis.Redis.from_url(unit_url, decode_responses=True).hget(
        keys.message(sent.message_id), "status"
    )
    assert final == "delivered"


@pytest.mark.parametrize("provider", ["carrierx", "justcall"])
def test_a_receipt_carrying_our_id_resolves_an_unknown_message(
    provider: str, loop: Loop, sandbox: Sandbox, receipts: Callable[..., None]
) -> None:
    # The provider accepts, then hangs past the account's 1 s timeout: the send is unknown. Its
    # receipts come later and carry our id (CarrierX user_data, JustCall's webhook_url ?m=).
    account = f"{provider}_hasty"
    sandbox.configure(provider, timeout_after=1.0, hang_seconds=2.5)
    receipts(provider, account=account, delay_ms=1800)
    mid = send(loop, account)
    wait_status(loop, mid, {"unknown"}, timeout=10)
    record = wait_status(loop, mid, {"delivered"}, timeout=10)
    assert statuses(record) == ["queued", "sending", "unknown", "sent", "delivered"]
    assert record["provider_id"] == sandbox.ledger()[0]["id"]


def test_health_sees_the_worker(loop: Loop) -> None:
    status, body = Api(loop.server.url).get("/healthz")
    assert (status, body["status"], body["redis"]) == (200, "ok", True)
    assert body["workers"] >= 1


def test_metrics_count_delivered_messages(
    loop: Loop, sandbox: Sandbox, receipts: Callable[..., None]
) -> None:
    receipts("skycore")
    wait_status(loop, send(loop, "skycore"), {"delivered"})
    _, text = Api(loop.server.url).get("/metrics")
    assert 'salvo_messages_total{account="skycore",status="delivered"}' in text


def test_salvo_status_shows_the_history(loop: Loop, sandbox: Sandbox) -> None:
    mid = send(loop, "carrierx")
    sent = wait_status(loop, mid, {"sent"})
    body = f'{{"message_sid":"{sent["provider_id"]}","status":"delivered"}}'.encode()
    Api(loop.server.url).call("POST", f"/v1/receipts/carrierx/{SECRET}", body)
    wait_status(loop, mid, {"delivered"})
    done = subprocess.run(
        [sys.executable, "-m", "salvo.cli", "--config", str(loop.config), "status", mid],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    history = done.stdout.splitlines()[-4:]  # the history closes the record's lines
    lines = [line.split(maxsplit=1)[1] for line in history]
    assert lines == ["queued", "sending", "sent", "delivered  receipt: status delivered"]
