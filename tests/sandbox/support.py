"""What the sandbox's tests share: the providers' paths and credentials, a valid send body
per provider, and a running sandbox with a client session talking to it."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

import sandbox

ROOT = Path(__file__).resolve().parents[2]

PATHS = {
    "justcall": "/justcall/v2/texts/send",
    "carrierx": "/carrierx/core/v2/sms/messages",
    "textingline": "/textingline/api/v1/messaging/message",
    "skycore": "/skycore/api",
}
AUTH = {
    "justcall": {"Authorization": "sandbox-key:sandbox-secret"},
    "carrierx": {"Authorization": "Bearer sandbox-token"},
    "textingline": {
        "Authorization": "Basic " + base64.b64encode(b"sandbox-id:sandbox-secret").decode()
    },
    "skycore": {"x-api-key": "sandbox-key"},
}
BAD_AUTH = {
    "justcall": {
        "Authorization": "Basic " + base64.b64encode(b"sandbox-key:sandbox-secret").decode()
    },
    "carrierx": {"Authorization": "Bearer wrong"},
    "textingline": {"Authorization": "Basic " + base64.b64encode(b"sandbox-id:nope").decode()},
    "skycore": {"x-api-key": "SANDBOX-KEY"},
}
PROVIDERS = tuple(PATHS)
MAGIC = {
    "opted_out": "+15005550001",
    "invalid_destination": "+15005550002",
    "destination_blocked": "+15005550003",
}


def message(provider: str, to: str = "+14155559876", **extra: Any) -> dict[str, Any]:
    """A valid send body for `provider` to `to` (digits form for CarrierX)."""
    body: dict[str, Any]
    if provider == "justcall":
        body = {"from": "+14155551234", "to": to, "body": "hello"}
    elif provider == "carrierx":
        body = {"from": "15162065575", "to": to.lstrip("+"), "message": "hello"}
    elif provider == "textingline":
        body = {"from": "+18005559876", "to": to, "body": "hello"}
    else:
        body = {"action": "sendsms", "from": "00000", "to": to, "message-text": "hello"}
    body.update(extra)
    return body


class Client:
    """A running sandbox plus a client session talking to it."""

    def __init__(self, url: str, session: aiohttp.ClientSession, running: sandbox.Running):
        self.url = url
        self.session = session
        self.running = running

    async def send(
        self,
        provider: str,
        payload: Any,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, Any, Any]:
        hdrs = AUTH[provider] if headers is None else headers
        kwargs: dict[str, Any] = {"headers": hdrs}
        if isinstance(payload, bytes | str):
            kwargs["data"] = payload
        else:
            kwargs["json"] = payload
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        async with self.session.post(self.url + PATHS[provider], **kwargs) as resp:
            return resp.status, await resp.json(content_type=None), resp.headers

    async def get(self, path: str, **params: Any) -> Any:
        async with self.session.get(self.url + path, params=params) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def configure(self, provider: str, patch: dict[str, Any]) -> Any:
        async with self.session.put(f"{self.url}/_sandbox/config/{provider}", json=patch) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def ledger(self, provider: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"since": since}
        if provider:
            params["provider"] = provider
        return list((await self.get("/_sandbox/ledger", **params))["entries"])

    async def stats(self) -> dict[str, Any]:
        return dict(await self.get("/_sandbox/stats"))


@asynccontextmanager
async def running(config: dict[str, Any] | None = None) -> AsyncIterator[Client]:
    server = await sandbox.start("127.0.0.1", 0, config)
    try:
        async with aiohttp.ClientSession() as session:
            yield Client(server.url, session, server)
    finally:
        await server.close()


def check_auth(provider: str, status: int, body: Any) -> None:
    if provider == "justcall":
        assert status == 401 and body["status"] == "error"
    elif provider == "carrierx":
        assert status == 401 and body["errors"]
    elif provider == "textingline":
        assert status == 401 and body["code"] == 33001 and body["status"] == 401
        assert "moreInfo" in body
    else:
        assert status == 200 and body["status"] == "Failure" and body["error-code"] == "E102"
