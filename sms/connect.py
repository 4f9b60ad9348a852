"""Redis clients and the Celery broker URL from one `redis_url`, standalone or behind Sentinel.

`redis://`, `rediss://` and `unix://` URLs go to redis-py as they are. A Sentinel URL names the
sentinels, the monitored master and the database:

    sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER[/DB]

Every client then asks the sentinels where the master is, and again after a failover; the
password is the master's. Celery's broker gets the same sentinels in kombu's own form
(`sentinel://HOST:PORT/DB;...` with the `master_name` transport option).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import redis
import redis.asyncio as aredis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel

from sms.errors import ConfigError

SCHEME = "sentinel"


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """Where the sentinels are, which master they watch, and which database to use."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    password: str | None = None


def sentinel_target(url: str) -> SentinelTarget | None:
    """The Sentinel target a URL names, or None for a plain Redis URL (ConfigError if bad)."""
    if not url.startswith(f"{SCHEME}://"):
        return None
    rest = url[len(SCHEME) + 3 :]
    auth, _, rest = rest.rpartition("@")
    hosts, _, path = rest.partition("/")
    where = f"redis_url {url.split('@')[-1]!r}"
    sentinels = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"{where}: each sentinel must be HOST:PORT, not {item!r}")
        sentinels.append((host.strip("[]"), int(port)))
    parts = [p for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise ConfigError(f"{where}: expected sentinel://HOST:PORT[,HOST:PORT]/MASTER[/DB]")
    if len(parts) == 2 and not parts[1].isdigit():
        raise ConfigError(f"{where}: the database must be a number, not {parts[1]!r}")
    password = unquote(auth.partition(":")[2]) if auth else None
    return SentinelTarget(
        tuple(sentinels), unquote(parts[0]), int(parts[1]) if len(parts) == 2 else 0, password
    )


def sync_client(url: str, **options: Any) -> redis.Redis:
    """A blocking client of the server `url` names (its master, behind Sentinel)."""
    target = sentinel_target(url)
    if target is None:
        return redis.Redis.from_url(url, **options)
    # redis-py's sentinel module has no type hints.
    sentinel = Sentinel(list(target.sentinels), socket_timeout=options.get("socket_timeout"))  # type: ignore[no-untyped-call]
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        target.master, db=target.db, password=target.password, **options
    )
    return client


def async_client(url: str, **options: Any) -> aredis.Redis:
    """An asyncio client of the server `url` names (its master, behind Sentinel)."""
    target = sentinel_target(url)
    if target is None:
        return aredis.Redis.from_url(url, **options)
    sentinel = AsyncSentinel(list(target.sentinels), socket_timeout=options.get("socket_timeout"))  # type: ignore[no-untyped-call]
    client: aredis.Redis = sentinel.master_for(
        target.master, db=target.db, password=target.password, **options
    )
    return client


def celery_broker(url: str) -> tuple[str, dict[str, Any]]:
    """Celery's broker URL for `url`, and the transport options it needs beside Salvo's."""
    target = sentinel_target(url)
    if target is None:
        return url, {}
    auth = f":{target.password}@" if target.password else ""
    broker = ";".join(f"sentinel://{auth}{h}:{p}/{target.db}" for h, p in target.sentinels)
    return broker, {"master_name": target.master}
