"""`python -m sandbox` as a process, and the helpers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from sandbox.formats import segments
from tests.sandbox.support import ROOT, message


def test_python_m_sandbox_port_0(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"skycore": {"credentials": [{"api_key": "from-file"}]}}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--config", str(cfg)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("sandbox listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert not url.endswith(":0")

        async def probe() -> Any:
            async with aiohttp.ClientSession() as session:
                payload = message("skycore")
                headers = {"x-api-key": "from-file"}
                async with session.post(url + "/skycore/api", json=payload, headers=headers) as r:
                    return await r.json()

        assert asyncio.run(probe())["status"] == "Success"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()


def test_segments() -> None:
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2 and segments("a" * 306) == 2
    assert segments("{" * 80) == 1 and segments("{" * 81) == 2
    assert segments("ж" * 70) == 1 and segments("ж" * 71) == 2 and segments("😀" * 35) == 1
    assert segments("😀" * 36) == 2
