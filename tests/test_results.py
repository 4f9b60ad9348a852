"""A campaign's messages in row order through the rows index: pages walk a campaign of
thousands without a gap or a repeat, and a status filter keeps only its messages."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producer import results
from producer.api import Producer
from producer.campaign import BlastSpec, blast
from salvo.local import write_config
from sms.message import Status
from sms.settings import Settings
from sms.store import Move
from tests.conftest import Sandbox
from tests.helpers import run_cli, wait_for

SENDER = "+14155550101"


def campaign_of(producer: Producer, tmp_path: Path, rows: int) -> str:
    path = tmp_path / "people.csv"
    with path.open("w") as fh:
        fh.write("phone,name\n")
        for i in range(rows):
            fh.write(f"+1202{5550000 + i},person {i}\n")
        fh.write("not a phone,nobody\n")  # a rejected row leaves a gap in the lines, not a hole
    spec = BlastSpec(
        account="carrierx",
        sender=SENDER,
        template="Hi {name}",
        campaign=f"r{uuid.uuid4().hex[:12]}",
    )
    report = blast(producer, path, spec)
    assert (report.enqueued, report.rejected) == (rows, 1)
    return report.campaign


@pytest.fixture
def idle(settings: Settings, unit_url: str) -> Iterator[Producer]:
    """A producer on a database no worker looks at: these campaigns are read, never sent (so
    thousands of messages do not go on sending into later tests)."""
    p = Producer(settings, redis_url=unit_url)
    yield p
    p.close()


def test_pages_walk_a_campaign_of_thousands_without_a_gap_or_a_repeat(
    idle: Producer, tmp_path: Path
) -> None:
    producer = idle
    campaign = campaign_of(producer, tmp_path, 3_000)
    lines, ids, after = [], set(), 0
    while True:
        found = results.page(producer.redis, campaign, after=after, limit=333)
        lines += [row.line for row in found.rows]
        ids |= {row.record.id for row in found.rows}
        assert all(row.record.message.campaign == campaign for row in found.rows)
        if found.next is None:
            break
        after = found.next
    assert lines == list(range(2, 3_002))
    assert len(ids) == 3_000
    assert [r.line for r in results.walk(producer.redis, campaign)] == lines


def test_a_status_filter_keeps_only_that_status(idle: Producer, tmp_path: Path) -> None:
    producer = idle
    campaign = campaign_of(producer, tmp_path, 1_200)
    rows = list(results.walk(producer.redis, campaign))
    chosen = rows[::97]
    for row in chosen:
        m = row.record.message
        move = Move(
            row.record.id,
            m.account,
            campaign,
            Status.QUEUED,
            Status.CANCELLED,
            "test",
            lane=m.lane.value,
        )
        assert producer.store.move(move)
    cancelled = list(results.walk(producer.redis, campaign, Status.CANCELLED))
    assert [r.line for r in cancelled] == [r.line for r in chosen]
    first = results.page(producer.redis, campaign, limit=5, status=Status.CANCELLED)
    assert [r.line for r in first.rows] == [r.line for r in chosen[:5]]
    assert first.next == chosen[4].line


#: Names a row gives, and the segments its body "Hi {name}" is sent as (worked out by hand:
#: 160 GSM-7 characters in one part, 153 a part beyond; 70 UCS-2 in one part).
NAMES = [("person", 1), ("p" * 157, 1), ("p" * 158, 2), ("日本", 1), ("日" * 68, 2)]


@pytest.mark.usefixtures("worker")
def test_an_export_of_a_finished_campaign_matches_the_sandbox_ledger_row_by_row(
    producer: Producer, sandbox: Sandbox, tmp_path: Path, config_file: Path
) -> None:
    path = tmp_path / "people.csv"
    with path.open("w", newline="") as fh:
        rows = csv.writer(fh)
        rows.writerow(["Phone", "name", "status"])  # a column named like one of the export's
        for i in range(40):
            rows.writerow([f"+1 202 {5550000 + i}", NAMES[i % 5][0], f"vip{i}"])
        rows.writerow(["not a phone", "nobody", ""])
    spec = BlastSpec(
        account="carrierx", sender=SENDER, template="Hi {name}", campaign=f"x{uuid.uuid4().hex}"
    )
    report = blast(producer, path, spec)
    assert (report.enqueued, report.rejected) == (40, 1)
    campaign = report.campaign
    wait_for(producer, [r.record.id for r in results.walk(producer.redis, campaign)])
    out = tmp_path / "export.csv"
    done = run_cli(config_file, "export", campaign, "-o", str(out))
    assert done.returncode == 0, done.stderr
    with out.open(newline="") as fh:
        exported = list(csv.DictReader(fh))
    assert list(exported[0]) == [
        "line",
        "to",
        "Phone",
        "name",
        "input.status",
        *results.AFTER,
    ]
    assert [int(e["line"]) for e in exported] == list(range(2, 42))
    ledger = {entry["id"]: entry for entry in sandbox.ledger()}
    for i, e in enumerate(exported):
        name, parts = NAMES[i % 5]
        assert e["status"] in ("sent", "delivered")
        assert e["to"] == f"+1202{5550000 + i}"
        assert (e["Phone"], e["name"], e["input.status"]) == (
            f"+1 202 {5550000 + i}",
            name,
            f"vip{i}",
        )
        entry = ledger[e["provider_id"]]
        assert entry["body"] == f"Hi {name}"
        assert entry["to"].lstrip("+") == e["to"].lstrip("+")
        assert (e["provider"], e["account"]) == (entry["provider"], "carrierx")
        assert e["attempts"] == "1"
        assert e["segments"] == str(parts)
        changes = [part.split(" ")[1] for part in e["history"].split("; ")]
        assert changes[:3] == ["queued", "sending", "sent"]
    listed = run_cli(config_file, "export", campaign, "--format", "jsonl")
    first = json.loads(listed.stdout.splitlines()[0])
    assert first["row"] == {"Phone": "+1 202 5550000", "name": "person", "status": "vip0"}
    assert (first["segments"], first["provider"]) == (1, "carrierx")
    jsonl = run_cli(config_file, "export", campaign, "--format", "jsonl", "--status", "sent")
    assert jsonl.returncode == 0, jsonl.stderr
    bad = run_cli(config_file, "export", campaign, "--status", "nope")
    assert bad.returncode != 0 and "'nope' is not one of queued, sending" in bad.stderr
    people = tmp_path / "watched.csv"
    people.write_text("phone,name\n+12025559901,W\n+12025559902,X\n")
    blasted = run_cli(
        config_file,
        "blast",
        str(people),
        "--account",
        "carrierx",
        "--from",
        SENDER,
        "--template",
        "Hi {name}",
        "--watch",
        timeout=60,
    )
    assert blasted.returncode == 0, blasted.stderr
    assert "waiting 0" in blasted.stderr
    assert "2 enqueued" in blasted.stdout.splitlines()[-1]
    watched = run_cli(config_file, "status", campaign, "--watch", timeout=30)
    assert watched.returncode == 0, watched.stderr
    assert "sent 40, failed 0, waiting 0, rate -, left 0:00" in " ".join(watched.stderr.split())
    assert watched.stdout.startswith(f"campaign {campaign} (finished): ")  # the watch ended


def test_an_export_piped_into_a_reader_that_stops_early_ends_quietly(
    idle: Producer, tmp_path: Path, unit_url: str, providers: dict[str, dict[str, object]]
) -> None:
    """`salvo export ID | head`: no error line when the reader goes away, and the status a
    shell tool stopped by SIGPIPE has."""
    campaign = campaign_of(idle, tmp_path, 1_500)  # far more than a pipe's buffer holds
    config = write_config(tmp_path / "salvo.toml", unit_url, providers)
    proc = subprocess.Popen(
        [sys.executable, "-m", "salvo.cli", "--config", str(config), "export", campaign],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith("line,to,")
    proc.stdout.close()
    error = proc.stderr.read()
    assert (proc.wait(timeout=60), error) == (141, "")


@pytest.mark.usefixtures("worker")
def test_a_watch_ends_showing_the_state_the_campaign_ended_in(
    producer: Producer, tmp_path: Path, config_file: Path
) -> None:
    path = tmp_path / "later.csv"
    path.write_text("phone,name\n+12025559911,A\n+12025559912,B\n")
    spec = BlastSpec(
        account="carrierx",
        sender=SENDER,
        template="Hi {name}",
        send_at=datetime.now(UTC) + timedelta(seconds=3),
    )
    campaign = blast(producer, path, spec).campaign
    assert producer.campaign(campaign).state.value == "scheduled"
    started = time.monotonic()
    watched = run_cli(config_file, "status", campaign, "--watch", timeout=60)
    assert watched.returncode == 0, watched.stderr
    assert time.monotonic() - started > 1  # it watched the campaign go, not a finished one
    assert watched.stdout.startswith(f"campaign {campaign} (finished): "), watched.stdout


def test_campaigns_list_newest_first_without_a_gap_or_a_repeat(
    idle: Producer, tmp_path: Path
) -> None:
    producer = idle
    made = [campaign_of(producer, tmp_path, 3) for _ in range(3)]
    seen, before = [], "+inf"
    while True:
        found = results.campaigns_page(producer.redis, before=before, limit=2)
        seen += [c.id for c in found.campaigns]
        if found.next is None:
            break
        before = found.next
    assert len(seen) == len(set(seen))
    assert seen[:3] == made[::-1]
    assert len(seen) == producer.redis.zcard("salvo:campaigns")


def test_a_jsonl_campaign_exports_the_keys_its_rows_had(idle: Producer, tmp_path: Path) -> None:
    path = tmp_path / "people.jsonl"
    path.write_text(
        '{"phone": "+12025550101", "name": "Ann"}\n'
        '{"phone": "+12025550102", "name": "Bo", "plan": 3}\n'
    )
    spec = BlastSpec(
        account="carrierx", sender=SENDER, template="Hi {name}", campaign=f"j{uuid.uuid4().hex}"
    )
    assert blast(idle, path, spec).enqueued == 2
    out = io.StringIO()
    assert results.export(idle.redis, spec.campaign or "", out) == 2
    exported = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(exported[0])[:5] == ["line", "to", "phone", "name", "plan"]
    assert [(e["name"], e["plan"], e["status"]) for e in exported] == [
        ("Ann", "", "queued"),
        ("Bo", "3", "queued"),
    ]
