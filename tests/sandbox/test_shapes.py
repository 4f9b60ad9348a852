"""Each provider's success answer, in the shape its document gives."""

from __future__ import annotations

from tests.helpers import async_test
from tests.sandbox.support import message, running


@async_test
async def test_justcall_success_shape_and_headers() -> None:
    async with running() as sb:
        status, body, headers = await sb.send("justcall", message("justcall"))
        assert status == 200
        assert body["status"] == "success" and body["message"] == "Message sent"
        data = body["data"]
        assert data["message_id"].startswith("msg_")
        assert data == {
            "message_id": data["message_id"],
            "from": "+14155551234",
            "to": "+14155559876",
            "direction": "outbound",
            "status": "queued",
        }
        for name in (
            "Limit",
            "Remaining",
            "Reset",
            "Burst-Limit",
            "Burst-Remaining",
            "Burst-Reset",
        ):
            assert f"X-Rate-Limit-{name}" in headers
        (entry,) = await sb.ledger()
        assert entry["provider"] == "justcall" and entry["account"] == "sandbox-key"
        assert entry["id"] == data["message_id"] and entry["request"] == message("justcall")
        assert entry["media"] == [] and entry["body"] == "hello"


@async_test
async def test_carrierx_success_shape() -> None:
    async with running() as sb:
        payload = message(
            "carrierx", user_data="our-42", media_urls=["https://x.example/a.png"], message="é"
        )
        status, body, _ = await sb.send("carrierx", payload)
        assert status == 200
        assert body["status"] == "queued" and body["type"] == "mms"
        assert body["user_data"] == "our-42" and body["message_segments"] == 1
        assert body["media_urls"] == ["https://x.example/a.png"]
        assert body["group_recipients"] == [] and body["direction"] == "outbound"
        assert len(body["message_sid"]) == 36 and body["date_status_changed"] is None
        for key in ("date_changed", "date_created", "mcc", "mnc", "partner_sid", "price"):
            assert key in body
        status, body, _ = await sb.send("carrierx", message("carrierx", message="a" * 161))
        assert body["message_segments"] == 2 and body["type"] == "sms"
        legacy = {"from_did": "15162065575", "to_did": "15162065574", "message": "old names"}
        status, body, _ = await sb.send("carrierx", legacy)
        assert status == 200 and body["from"] == "15162065575" and body["to"] == "15162065574"
        entries = await sb.ledger("carrierx")
        assert [e["media"] for e in entries] == [["https://x.example/a.png"], [], []]


@async_test
async def test_textingline_success_shape_and_mms_without_body() -> None:
    async with running() as sb:
        status, body, headers = await sb.send("textingline", message("textingline"))
        assert status == 201
        assert body["id"].startswith("msg_") and body["status"] == "sent"
        assert body["direction"] == "outbound" and body["body"] == "hello"
        assert body["sentAt"].endswith("Z") and body["createdAt"].endswith("Z")
        assert "errorType" not in body
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(headers)
        mms = {"to": "+18005551234", "from": "+18005559876", "mediaUrl": "https://x.example/a.jpg"}
        status, body, _ = await sb.send("textingline", mms)
        assert status == 201 and body["status"] == "sent"


@async_test
async def test_skycore_success_shape() -> None:
    async with running() as sb:
        payload = message("skycore", to="+10000000001", action="SendSMS")
        status, body, _ = await sb.send("skycore", payload)
        assert status == 200
        assert body["status"] == "Success" and body["tracking-id"]
        assert body["to"] == "+10000000001" and body["from"] == "00000"
        assert body["status-details"] == "SMS request accepted and queued for delivery"
        status, body, _ = await sb.send("skycore", message("skycore", to="10000000001"))
        assert body["status"] == "Success" and body["to"] == "10000000001"
        assert [e["to"] for e in await sb.ledger("skycore")] == ["+10000000001", "10000000001"]
