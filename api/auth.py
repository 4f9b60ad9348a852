"""API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`, checked in constant time.

Everything under /v1/ needs a key except receipts and inbound messages, which providers
authenticate their own way (a per-account secret in the URL, or JustCall's signature).
/healthz, /metrics and /openapi.json are open: they carry no message data and probes and
scrapers must reach them. With no `api_keys` configured every protected request is refused.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import SecretStr

from api.shared import SETTINGS, error

PROTECTED = "/v1/"
OPEN = ("/v1/receipts/", "/v1/inbound/")  # GET /v1/inbound (the listing) needs a key


def presented_key(request: web.Request) -> str | None:
    """The key a request carries, from either header."""
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    key = request.headers.get("X-API-Key", "").strip()
    return key or None


def key_matches(presented: str, keys: list[SecretStr]) -> bool:
    """Whether `presented` is one of `keys`, comparing with every key in constant time."""
    given = presented.encode(errors="surrogateescape")  # a header byte that was not UTF-8
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.get_secret_value().encode())
    return found


def needs_key(path: str) -> bool:
    """Whether a path is behind the API keys."""
    return path.startswith(PROTECTED) and not path.startswith(OPEN)


@web.middleware
async def require_api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 for a protected path without a configured key."""
    if needs_key(request.path):
        presented = presented_key(request)
        keys = request.app[SETTINGS].api_keys
        if presented is None or not key_matches(presented, keys):
            why = "missing API key" if presented is None else "unknown API key"
            return error(401, why, headers={"WWW-Authenticate": 'Bearer realm="salvo"'})
    return await handler(request)
