"""What `salvo api` writes to its log about requests, with receipt secrets masked.

A receipt or inbound URL carries its account's secret as the last path segment
(`/v1/receipts/{account}/{secret}`, `/v1/inbound/{account}/{secret}`): every line that names a
request path goes through `masked`, so the secret is never written, whatever happened to the
request.
"""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

_SECRET = re.compile(r"^(/v1/(?:receipts|inbound)/[^/]+/)[^/]+")


def masked(path: str) -> str:
    """`path` with a receipt or inbound URL's secret segment replaced by `***`."""
    return _SECRET.sub(r"\1***", path)


class AccessLogger(AbstractAccessLogger):
    """One INFO line per request: client, method, masked path, status, bytes and seconds."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %s %.3fs',
            request.remote,
            request.method,
            masked(request.path),
            response.status,
            response.body_length,
            time,
        )
