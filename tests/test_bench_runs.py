"""bench.runs' run (d) on real parts: a real server, a real `bench.dry_worker` process."""

from __future__ import annotations

from pathlib import Path

from bench.runs import run_salvo
from salvo.local import SandboxControl


def test_run_d_records_every_message_sent_and_calls_no_provider(
    redis_url: str, sandbox_url: str, tmp_path: Path
) -> None:
    db = redis_url.rsplit("/", 1)[0] + "/6"  # a database of its own: no other worker looks there
    sandbox = SandboxControl(sandbox_url)
    # run_salvo raises BenchError unless all 200 end `sent`.
    result = run_salvo(sandbox, db, 200, tmp_path, rate=1000.0, dry=True)
    assert result.name == "dry"
    assert result.messages == 200
    assert result.ledger is None
    assert sandbox.ledger() == []  # nothing reached a provider
    assert "salvo worker" in result.usage.cores or "salvo worker pool" in result.usage.cores
