"""Dashboard sessions: signed in with one of the configured API keys, held in Redis.

The cookie carries a random token (HttpOnly, SameSite=Strict, Secure over HTTPS); Redis keeps,
under the token's SHA-256, the session's CSRF token and the SHA-256 of the key it signed in
with, so every `salvo api` process behind one Redis knows the session, and removing a key from
`api_keys` ends the sessions it opened. Every form carries the CSRF token; a POST without the
right one is refused. The sign-in form, before any session, is guarded the same way by a token
in a cookie of its own (double submit).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from aiohttp import web
from pydantic import SecretStr

from api.shared import REDIS, SETTINGS
from sms import keys

COOKIE = "salvo_session"
LOGIN_COOKIE = "salvo_signin"
CSRF_FIELD = "csrf"
LIFETIME = 12 * 3600  # seconds a session lasts from sign-in

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION = "dashboard_session"  # request key of the signed-in Session


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: its CSRF token, for the forms of the pages it is shown."""

    digest: str
    csrf: str


def digest(value: str) -> str:
    """SHA-256 in hex: what Redis keeps instead of a token or a key."""
    return hashlib.sha256(value.encode(errors="surrogateescape")).hexdigest()  # any cookie


def key_digests(configured: list[SecretStr]) -> set[str]:
    """The digests of the configured API keys."""
    return {digest(k.get_secret_value()) for k in configured}


def matching_key(presented: str, configured: list[SecretStr]) -> str | None:
    """The digest of `presented` if it is one of the configured keys (constant time), else None."""
    given = presented.encode(errors="surrogateescape")
    found = False
    for key in configured:
        found |= hmac.compare_digest(given, key.get_secret_value().encode())
    return digest(presented) if found else None


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
    """A cookie no script can read and no other site's request carries."""
    response.set_cookie(
        name,
        value,
        max_age=LIFETIME,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


async def open_session(request: web.Request, response: web.StreamResponse, key: str) -> None:
    """Record a new session for the key with digest `key` and give the browser its cookie."""
    token = secrets.token_urlsafe(32)
    name = keys.dashboard_session(digest(token))
    client = request.app[REDIS]
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(
            name,
            mapping={"csrf": secrets.token_urlsafe(32), "key": key, "created": repr(time.time())},
        )
        pipe.expire(name, LIFETIME)
        await pipe.execute()
    set_cookie(response, request, COOKIE, token)
    response.del_cookie(LOGIN_COOKIE, path="/")


async def close_session(request: web.Request, response: web.StreamResponse) -> None:
    """Forget the request's session, in Redis and in the browser."""
    token = request.cookies.get(COOKIE)
    if token:
        await request.app[REDIS].delete(keys.dashboard_session(digest(token)))
    response.del_cookie(COOKIE, path="/")


async def current(request: web.Request) -> Session | None:
    """The request's session, if its cookie names one whose key is still configured."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    name = digest(token)
    client = request.app[REDIS]
    answer = await client.hmget(keys.dashboard_session(name), "csrf", "key")
    csrf, key = cast(list[str | None], answer)
    if csrf is None or key not in key_digests(request.app[SETTINGS].api_keys):
        return None
    return Session(name, csrf)


def csrf_ok(expected: str, given: object) -> bool:
    """Whether a form's token is the expected one (constant time)."""
    return isinstance(given, str) and hmac.compare_digest(
        given.encode(errors="surrogateescape"), expected.encode()
    )


def signed_in(handler: Handler) -> Handler:
    """Wrap a page: without a session, GETs go to the sign-in page and anything else gets 401;
    a POST must carry the session's CSRF token (else 403)."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        session = await current(request)
        if session is None:
            if request.method == "GET":
                raise web.HTTPSeeOther("/signin")
            return web.Response(status=401, text="sign in first")
        if request.method == "POST":
            form = await request.post()
            if not csrf_ok(session.csrf, form.get(CSRF_FIELD)):
                return web.Response(status=403, text="the form's CSRF token is missing or wrong")
        request[SESSION] = session
        return await handler(request)

    return guarded
