"""The control API under `/_sandbox/`: ledger, arrivals, stats, reset and live config."""

from __future__ import annotations

import heapq
import json
from typing import Any

from aiohttp import web

from sandbox import inbound
from sandbox.config import PROVIDERS, ConfigError, build, merge
from sandbox.hub import Hub
from sandbox.provider import JSON_TYPE, dumps

MAX_PAGE = 10_000


def _json(payload: object, status: int = 200) -> web.Response:
    return web.Response(body=dumps(payload), status=status, content_type=JSON_TYPE)


def _bad(message: str) -> web.Response:
    return _json({"error": message}, 400)


class Control:
    """Handlers of the control API, bound to one Hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def add_routes(self, app: web.Application) -> None:
        """Register every `/_sandbox/` route."""
        router = app.router
        router.add_get("/_sandbox/health", self.health)
        router.add_get("/_sandbox/ledger", self.ledger)
        router.add_get("/_sandbox/arrivals", self.arrivals)
        router.add_get("/_sandbox/stats", self.stats)
        router.add_post("/_sandbox/reset", self.reset)
        router.add_get("/_sandbox/config", self.get_config)
        router.add_put("/_sandbox/config", self.put_config)
        router.add_put("/_sandbox/config/{provider}", self.put_provider_config)
        router.add_post("/_sandbox/inbound/{provider}", self.post_inbound)

    async def health(self, request: web.Request) -> web.Response:
        """Liveness probe."""
        return _json({"status": "ok"})

    async def ledger(self, request: web.Request) -> web.Response:
        """Accepted messages with seq > since, optionally of one provider, at most 10000."""
        provider = request.query.get("provider")
        if provider is not None and provider not in PROVIDERS:
            return _bad(f"unknown provider {provider!r}")
        try:
            since = int(request.query.get("since", "0"))
            limit = min(MAX_PAGE, int(request.query.get("limit", str(MAX_PAGE))))
        except ValueError:
            return _bad("since and limit must be integers")
        if since < 0 or limit < 1:
            return _bad("since must be >= 0 and limit >= 1")
        chunk, next_seq = self.hub.ledger.page(provider, since, limit)
        return _json({"entries": [m.entry() for m in chunk], "next": next_seq})

    async def arrivals(self, request: web.Request) -> web.Response:
        """[epoch, http_status, outcome] per send request; status 0 = no answer (reset/hang)."""
        provider = request.query.get("provider")
        providers = self.hub.providers
        if provider is not None:
            if provider not in providers:
                return _bad(f"unknown provider {provider!r}")
            return _json({"arrivals": providers[provider].state.arrivals})
        streams = [
            [[*row, name] for row in sorted(p.state.arrivals, key=lambda r: r[0])]
            for name, p in providers.items()
        ]
        merged = list(heapq.merge(*streams, key=lambda r: r[0]))
        return _json({"arrivals": merged})

    async def stats(self, request: web.Request) -> web.Response:
        """Counters per provider."""
        return _json({name: p.state.stats() for name, p in self.hub.providers.items()})

    async def reset(self, request: web.Request) -> web.Response:
        """Clear ledger, arrivals, counters, idempotency and limits; keep config."""
        self.hub.reset()
        return _json({"status": "reset"})

    async def get_config(self, request: web.Request) -> web.Response:
        """The whole current config."""
        return _json({name: p.state.config for name, p in self.hub.providers.items()})

    async def put_config(self, request: web.Request) -> web.Response:
        """Merge an object keyed by provider into the config; answer the whole config."""
        patch = await _body(request)
        if not isinstance(patch, dict):
            return _bad("expected a JSON object keyed by provider")
        try:
            build(patch)
            for name, part in patch.items():
                self._apply(name, part)
        except ConfigError as exc:
            return _bad(str(exc))
        return await self.get_config(request)

    async def put_provider_config(self, request: web.Request) -> web.Response:
        """Merge a JSON object into one provider's config; answer that provider's config."""
        name = request.match_info["provider"]
        if name not in self.hub.providers:
            return _bad(f"unknown provider {name!r}")
        patch = await _body(request)
        try:
            config = self._apply(name, patch)
        except ConfigError as exc:
            return _bad(str(exc))
        return _json(config)

    async def post_inbound(self, request: web.Request) -> web.Response:
        """Post a reply `{from, to, text[, url]}` in the provider's shape to `url` (default: its
        inbound_url, else callback_url); answer the receiver's status and answer."""
        name = request.match_info["provider"]
        provider = self.hub.providers.get(name)
        if provider is None:
            return _bad(f"unknown provider {name!r}")
        body = await _body(request)
        if not isinstance(body, dict):
            return _bad('expected {"from": ..., "to": ..., "text": ...}')
        fields = [body.get(k) for k in ("from", "to", "text")]
        if not all(isinstance(v, str) for v in fields) or not fields[0] or not fields[1]:
            return _bad("from and to must be numbers, text a string")
        url = body.get("url") or inbound.destination(provider)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return _bad("no url given and no inbound_url or callback_url configured")
        sender, recipient, text = (str(v) for v in fields)
        status, answer = await inbound.post(
            self.hub.receipts, provider, sender, recipient, text, url
        )
        return _json({"status": status, "answer": answer})

    def _apply(self, name: str, patch: Any) -> dict[str, Any]:
        provider = self.hub.providers[name]
        config = merge(name, provider.state.config, patch)
        provider.configure(config, reseed="seed" in patch)
        return config


async def _body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except ValueError:
        return None
