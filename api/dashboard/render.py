"""Pages from the Jinja templates in this package's `templates/`, with the headers every
dashboard answer carries (no caching, no framing, scripts and styles from this server only)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web

from api.dashboard.session import CSRF_FIELD, SESSION

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("api.dashboard", "templates"),
    autoescape=jinja2.select_autoescape(default=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def duration(seconds: float | None) -> str:
    """A span of time in words a person reads at a glance: 45 s, 3 min 20 s, 2 h 5 min."""
    if seconds is None:
        return "-"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def moment(epoch: float | None) -> str:
    """An epoch second as an ISO 8601 time in UTC, to the second."""
    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def ago(epoch: float | None) -> str:
    """How long ago an epoch second was."""
    return "-" if not epoch else f"{duration(time.time() - epoch)} ago"


ENV.filters.update(duration=duration, moment=moment, ago=ago)


def page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """Render `template` with `context`, the session's CSRF token and the path it answers."""
    session = request.get(SESSION)
    text = ENV.get_template(template).render(
        csrf_field=CSRF_FIELD,
        csrf=session.csrf if session is not None else "",
        signed_in=session is not None,
        path=request.path,
        **context,
    )
    return web.Response(text=text, status=status, content_type="text/html", headers=HEADERS)
