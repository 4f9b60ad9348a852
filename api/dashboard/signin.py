"""Signing in with one of the configured API keys, and signing out."""

from __future__ import annotations

import secrets

from aiohttp import web

from api.dashboard.render import page
from api.dashboard.session import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    close_session,
    csrf_ok,
    current,
    matching_key,
    open_session,
    set_cookie,
)
from api.shared import SETTINGS


def signin_form(request: web.Request, problem: str = "", status: int = 200) -> web.Response:
    """The sign-in form, with a fresh token that its cookie must match when it is posted."""
    token = secrets.token_urlsafe(32)
    response = page(
        request,
        "signin.html",
        status=status,
        signin_token=token,
        problem=problem,
        keys_configured=bool(request.app[SETTINGS].api_keys),
        title="Sign in",
    )
    set_cookie(response, request, LOGIN_COOKIE, token)
    return response


async def signin_page(request: web.Request) -> web.StreamResponse:
    """The form; a browser already signed in goes to the campaigns."""
    if await current(request) is not None:
        raise web.HTTPSeeOther("/")
    return signin_form(request)


async def signin(request: web.Request) -> web.StreamResponse:
    """Open a session for a configured key; 403 without the form's token, 401 for a wrong key."""
    form = await request.post()
    if not csrf_ok(request.cookies.get(LOGIN_COOKIE, ""), form.get(CSRF_FIELD)) or not (
        request.cookies.get(LOGIN_COOKIE)
    ):
        return signin_form(request, "The form expired: sign in again.", status=403)
    presented = str(form.get("key", "")).strip()
    key = matching_key(presented, request.app[SETTINGS].api_keys) if presented else None
    if key is None:
        return signin_form(request, "That is not one of this server's API keys.", status=401)
    response = web.HTTPSeeOther("/")
    await open_session(request, response, key)
    raise response


async def signout(request: web.Request) -> web.StreamResponse:
    """End the session and go back to the sign-in form (guarded: the form carries the token)."""
    response = web.HTTPSeeOther("/signin")
    await close_session(request, response)
    raise response
