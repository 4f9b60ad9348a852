"""A small HTTP client for the API under test: urllib, JSON in and out, errors as answers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import IO, Any


class Api:
    """One running `salvo api`, called with (or without) an API key."""

    def __init__(self, url: str, key: str | None = None) -> None:
        self.url = url
        self.key = key

    def call(
        self,
        method: str,
        path: str,
        body: bytes | IO[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        h = {"Content-Type": "application/json", **(headers or {})}
        if self.key is not None:
            h.setdefault("Authorization", f"Bearer {self.key}")
        req = urllib.request.Request(f"{self.url}{path}", data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                status, raw, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            status, raw, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
        return status, json.loads(raw) if ctype.startswith("application/json") else raw.decode()

    def post(self, path: str, data: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        return self.call("POST", path, json.dumps(data).encode(), headers)

    def get(self, path: str) -> tuple[int, Any]:
        return self.call("GET", path)
