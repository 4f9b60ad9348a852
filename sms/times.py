"""Times as every output shows them: ISO 8601 with an offset (UTC), to the millisecond.

Redis holds epoch seconds; the CLI's `--json`, the HTTP API and the Python API's views show
them through `iso`, so the same field has the same type and form from every door.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(epoch: float) -> str:
    """Epoch seconds as ISO 8601 in UTC with its offset: 2026-12-03T10:20:27.123+00:00."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
