"""With no redis_url, salvo starts an embedded server once and later commands find it again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import redis

from sms import keys
from sms.embedded import ensure_server, stop_server


def test_ensure_server_starts_once_with_aof_and_noeviction(tmp_path: Path) -> None:
    url = ensure_server(tmp_path)
    try:
        assert ensure_server(tmp_path) == url
        client = redis.Redis.from_url(url, decode_responses=True)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        client.close()
    finally:
        assert stop_server(tmp_path)
    assert not (tmp_path / "server.json").exists()


def test_cli_commands_share_the_embedded_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "salvo.toml"
    account = '[providers.t]\nkind = "textingline"\nkey_id = "i"\nkey_secret = "s"\n'
    config.write_text(f'data_dir = "{data}"\n\n{account}')
    try:
        ids = []
        for to in ("+12025550101", "+12025550102"):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "salvo.cli",
                    "--config",
                    str(config),
                    "send",
                    "--provider",
                    "t",
                    "--from",
                    "+14155550100",
                    "--to",
                    to,
                    "--body",
                    "hi",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            ids.append(done.stdout.strip())
        url = json.loads((data / "server.json").read_text())["url"]
        client = redis.Redis.from_url(url, decode_responses=True)
        assert all(client.hget(keys.message(i), "status") == "queued" for i in ids)
        client.close()
    finally:
        stop_server(data)
