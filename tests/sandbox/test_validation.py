"""Authentication, required fields, limits and formats, magic recipients and idempotent
replay, each provider's way."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import async_test
from tests.sandbox.support import AUTH, BAD_AUTH, MAGIC, PROVIDERS, check_auth, message, running


@pytest.mark.parametrize("provider", PROVIDERS)
@async_test
async def test_auth_failure(provider: str) -> None:
    async with running() as sb:
        for headers in (BAD_AUTH[provider], {}):
            status, body, _ = await sb.send(provider, message(provider), headers=headers)
            check_auth(provider, status, body)
        stats = (await sb.stats())[provider]
        assert stats["auth_failed"] == 2 and stats["accepted"] == 0
        assert await sb.ledger() == []


Check = Callable[[int, Any], bool]

MISSING: dict[str, tuple[str, Check]] = {
    "justcall": ("body", lambda s, b: s == 400 and "body" in b["message"]),
    "carrierx": ("to", lambda s, b: s == 422 and b["errors"][0]["field"] == "to"),
    "textingline": ("from", lambda s, b: s == 400 and b["code"] == 33005),
    "skycore": ("message-text", lambda s, b: s == 200 and b["error-code"] == "E712"),
}


@pytest.mark.parametrize("provider", PROVIDERS)
@async_test
async def test_missing_required_field(provider: str) -> None:
    field, check = MISSING[provider]
    async with running() as sb:
        payload = message(provider)
        del payload[field]
        status, body, _ = await sb.send(provider, payload)
        assert check(status, body), (status, body)
        assert (await sb.stats())[provider]["rejected"] == 1
        assert await sb.ledger() == []


@async_test
async def test_limits_and_formats() -> None:
    async with running() as sb:
        cases: list[tuple[str, dict[str, Any], Callable[[int, Any], bool]]] = [
            ("justcall", message("justcall", body="a" * 1601), lambda s, b: s == 422),
            ("justcall", message("justcall", body="ж" * 1121), lambda s, b: s == 422),
            ("justcall", message("justcall", to="14155559876"), lambda s, b: s == 400),
            (
                "carrierx",
                message("carrierx", media_urls=[f"https://x.example/{i}" for i in range(11)]),
                lambda s, b: s == 422 and b["errors"][0]["field"] == "media_urls",
            ),
            (
                "carrierx",
                message("carrierx", group_recipients=["15162065570"] * 11),
                lambda s, b: s == 422,
            ),
            ("carrierx", message("carrierx", message="a" * 1601), lambda s, b: s == 422),
            ("carrierx", {**message("carrierx"), "to": "+15162065574"}, lambda s, b: s == 422),
            (
                "textingline",
                message("textingline", body="a" * 641),
                lambda s, b: s == 400 and b["code"] == 33005,
            ),
            (
                "textingline",
                message("textingline", idempotencyKey="bad key!"),
                lambda s, b: s == 400 and b["details"][0]["field"] == "idempotencyKey",
            ),
            (
                "textingline",
                message("textingline", to="18005551234"),
                lambda s, b: s == 400 and b["code"] == 33003,
            ),
            (
                "skycore",
                message("skycore", action="sendmms"),
                lambda s, b: s == 200 and b["error-code"] == "E101",
            ),
            (
                "skycore",
                message("skycore", to="12ab"),
                lambda s, b: s == 200 and b["error-code"] == "E110",
            ),
        ]
        for provider, payload, check in cases:
            status, body, _ = await sb.send(provider, payload)
            assert check(status, body), (provider, status, body)
        ok = [
            ("justcall", message("justcall", body="a" * 1600)),
            ("justcall", message("justcall", body="ж" * 1120)),
            ("carrierx", message("carrierx", message="a" * 1600)),
            ("textingline", message("textingline", body="a" * 640, idempotencyKey="k@-_)(9")),
        ]
        for provider, payload in ok:
            status, body, _ = await sb.send(provider, payload)
            assert status in (200, 201), (provider, body)
        assert len(await sb.ledger()) == len(ok)
        status, body, _ = await sb.send("carrierx", b"{not json", AUTH["carrierx"])
        assert status == 415  # aiohttp sends bytes as application/octet-stream
        headers = {**AUTH["carrierx"], "Content-Type": "application/json"}
        status, body, _ = await sb.send("carrierx", b"{not json", headers)
        assert status == 400 and body["message"] == "Bad Request"


def _textingline_failed(kind: str) -> Check:
    def check(status: int, body: Any) -> bool:
        return (
            status == 201
            and body["status"] == "failed"
            and body["errorType"] == kind
            and bool(body["errorMessage"])
            and "sentAt" not in body
        )

    return check


MAGIC_EXPECT: dict[str, dict[str, Check]] = {
    "justcall": {
        kind: (lambda s, b: s == 422 and b["status"] == "error" and b["message"]) for kind in MAGIC
    },
    "carrierx": {
        kind: (lambda s, b: s == 422 and b["errors"][0]["field"] == "to") for kind in MAGIC
    },
    "textingline": {kind: _textingline_failed(kind) for kind in MAGIC},
    "skycore": {
        "opted_out": lambda s, b: s == 200 and b["error-code"] == "E715",
        "invalid_destination": lambda s, b: s == 200 and b["error-code"] == "E110",
        "destination_blocked": lambda s, b: s == 200 and b["error-code"] == "E628",
    },
}


@pytest.mark.parametrize("provider", PROVIDERS)
@async_test
async def test_magic_numbers(provider: str) -> None:
    async with running() as sb:
        for kind, number in MAGIC.items():
            for to in (number, number.lstrip("+")):
                if provider in ("justcall", "textingline") and not to.startswith("+"):
                    continue
                status, body, _ = await sb.send(provider, message(provider, to=to))
                assert MAGIC_EXPECT[provider][kind](status, body), (kind, status, body)
        assert await sb.ledger() == []
        stats = (await sb.stats())[provider]
        assert stats["accepted"] == 0 and stats["rejected"] == stats["requests"]


@async_test
async def test_textingline_idempotent_replay() -> None:
    async with running() as sb:
        payload = message("textingline", idempotencyKey="order-17")
        first = await sb.send("textingline", payload)
        second = await sb.send("textingline", payload)
        assert first[0] == second[0] == 201 and first[1] == second[1]
        assert len(await sb.ledger()) == 1
        stats = (await sb.stats())["textingline"]
        assert stats["idempotent_replays"] == 1 and stats["accepted"] == 1
        # Keys are per API key; a failed (magic) answer is replayed too.
        failed = message("textingline", to=MAGIC["opted_out"], idempotencyKey="order-18")
        a = await sb.send("textingline", failed)
        b = await sb.send("textingline", failed)
        assert a[1] == b[1] and a[1]["status"] == "failed"
        other = await sb.send("textingline", message("textingline", idempotencyKey="order-19"))
        assert other[1]["id"] != first[1]["id"]
        creds = [{"key_id": "sandbox-id", "key_secret": "sandbox-secret"}]
        creds.append({"key_id": "id2", "key_secret": "s2"})
        await sb.configure("textingline", {"credentials": creds})
        second_key = {"Authorization": "Basic " + base64.b64encode(b"id2:s2").decode()}
        third = await sb.send("textingline", payload, headers=second_key)
        assert third[0] == 201 and third[1]["id"] != first[1]["id"]
        assert len(await sb.ledger()) == 3
