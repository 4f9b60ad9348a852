"""Opt-outs end to end on real parts: the sandbox posts replies in each provider's shape to the
API, STOP and START move the suppression list, blasts skip opted-out numbers, single sends are
refused, and the list is managed over HTTP and from the command line.

This module's API and worker use their own database (4) of the session's server; the sandbox's
inbound URLs are restored after each test.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from salvo.local import ApiServer, api_process, sandbox_accounts, worker_process, write_config
from tests.api_client import Api
from tests.conftest import Sandbox
from tests.helpers import SENDERS, run_cli

SECRET = "in-" + uuid.uuid4().hex
KEY = "k-" + uuid.uuid4().hex
PROVIDERS = sorted(SENDERS)
STOPPER = "+15005550004"  # the sandbox answers every message to it with STOP


@dataclass(frozen=True)
class Loop:
    server: ApiServer
    api: Api
    config: Path


@pytest.fixture(scope="module")
def loop(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, sandbox_url: str
) -> Iterator[Loop]:
    tmp = tmp_path_factory.mktemp("audience")
    db = redis_url.rsplit("/", 1)[0] + "/4"
    accounts = sandbox_accounts(sandbox_url, timeout=3.0, receipt_secret=SECRET)
    signed = {k: v for k, v in accounts["justcall"].items() if k != "receipt_secret"}
    accounts["justcall_signed"] = {**signed, "signed_webhooks": True}
    accounts["textingline_tx"] = {**accounts["textingline"], "optout_applies_to": "bulk"}
    # Quiet now in New York (an hour ago to two hours on), not in Paris.
    local = datetime.now(UTC).astimezone(ZoneInfo("America/New_York"))
    window = f"{local - timedelta(hours=1):%H:%M}-{local + timedelta(hours=2):%H:%M}"
    accounts["textingline_quiet"] = {**accounts["textingline"], "quiet_hours": window}
    config = tmp / "salvo.toml"
    write_config(config, db, accounts, api_keys=[KEY])
    with (
        api_process(config, tmp / "api.log") as server,
        worker_process(config, db, ("--concurrency", "1", "-n", "audience@%h")),
    ):
        yield Loop(server, Api(server.url, KEY), config)


@pytest.fixture
def replies(sandbox: Sandbox, loop: Loop) -> Iterator[Callable[[str, str], None]]:
    """Point a provider's inbound messages at an account's /v1/inbound URL; all off afterwards."""

    def to(provider: str, account: str) -> None:
        secret = "" if account.endswith("_signed") else f"/{SECRET}"
        sandbox.configure(provider, inbound_url=f"{loop.server.url}/v1/inbound/{account}{secret}")

    yield to
    for provider in PROVIDERS:
        sandbox.configure(provider, inbound_url=None)


def phone() -> str:
    return f"+1202555{uuid.uuid4().int % 10000:04d}"


def reply(sandbox: Sandbox, provider: str, sender: str, text: str) -> dict[str, Any]:
    answer: dict[str, Any] = sandbox.call(
        "POST",
        f"/_sandbox/inbound/{provider}",
        {"from": sender, "to": SENDERS[provider], "text": text},
    )
    return answer


def opted_out(loop: Loop, account: str, number: str) -> bool:
    status, _ = loop.api.get(f"/v1/optouts/{number}?account={account}")
    assert status in (200, 404)
    return status == 200


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stop_opts_out_start_opts_back_in_and_help_is_recorded(
    provider: str, loop: Loop, sandbox: Sandbox, replies: Callable[[str, str], None]
) -> None:
    replies(provider, provider)
    number = phone()
    answer = reply(sandbox, provider, number, "Stop")
    assert answer["status"] == 200, answer
    assert answer["answer"]["keyword"] == "stop" and answer["answer"]["action"] == "opted_out"
    assert opted_out(loop, provider, number)
    assert not opted_out(loop, "carrierx" if provider != "carrierx" else "skycore", number)
    assert reply(sandbox, provider, number, "HELP")["answer"]["action"] == "help"
    assert opted_out(loop, provider, number)
    assert reply(sandbox, provider, number, "start")["answer"]["action"] == "opted_in"
    assert not opted_out(loop, provider, number)
    assert reply(sandbox, provider, number, "please stop texting")["answer"]["action"] == "none"
    assert not opted_out(loop, provider, number)
    status, listed = loop.api.get(f"/v1/inbound?account={provider}&limit=10")
    assert status == 200
    mine = [m for m in listed["messages"] if m["from"] == number]
    assert [m["text"] for m in mine] == ["please stop texting", "start", "HELP", "Stop"]
    assert all(is_iso(m["at"]) and is_iso(m["received"]) for m in mine)
    assert {m["to"] for m in mine} == {SENDERS[provider]}


def test_a_signed_justcall_reply_is_taken_without_a_secret(
    loop: Loop, sandbox: Sandbox, replies: Callable[[str, str], None]
) -> None:
    replies("justcall", "justcall_signed")
    number = phone()
    assert reply(sandbox, "justcall", number, "STOP")["status"] == 200
    assert opted_out(loop, "justcall_signed", number)


def test_a_forged_or_unauthenticated_reply_changes_nothing(loop: Loop, sandbox: Sandbox) -> None:
    number = phone()
    for url in (
        f"{loop.server.url}/v1/inbound/textingline/wrong-secret",
        f"{loop.server.url}/v1/inbound/textingline",
    ):
        answer = sandbox.call(
            "POST",
            "/_sandbox/inbound/textingline",
            {"from": number, "to": SENDERS["textingline"], "text": "STOP", "url": url},
        )
        assert answer["status"] == 401, answer
    forged = f"{loop.server.url}/v1/inbound/justcall_signed"
    sandbox.configure("justcall", credentials=[{"api_key": "k", "api_secret": "not-ours"}])
    try:
        answer = sandbox.call(
            "POST",
            "/_sandbox/inbound/justcall",
            {"from": number, "to": SENDERS["justcall"], "text": "STOP", "url": forged},
        )
    finally:
        sandbox.configure(
            "justcall", credentials=[{"api_key": "sandbox-key", "api_secret": "sandbox-secret"}]
        )
    assert answer["status"] == 401, answer
    for account in ("textingline", "justcall_signed"):
        assert not opted_out(loop, account, number)


def test_a_malformed_reply_is_refused_and_changes_nothing(loop: Loop) -> None:
    number = phone()
    path = f"/v1/inbound/carrierx/{SECRET}"
    status, body = loop.api.post(path, {"direction": "inbound", "from": "nope", "message": "STOP"})
    assert status == 400
    assert "from: 'nope' is not a phone number" in body["error"]
    status, body = loop.api.call("POST", path, b"{not json")
    assert status == 400 and "not JSON" in body["error"]
    bare = number[1:]
    status, body = loop.api.post(path, {"direction": "outbound", "from": bare, "message": "STOP"})
    assert (status, body) == (200, {"result": "ignored"})
    assert not opted_out(loop, "carrierx", number)
    status, body = loop.api.post("/v1/inbound/nobody/x", {})
    assert status == 401
    status, body = loop.api.post(
        path, {"direction": "inbound", "from": bare, "to": bare, "message": "STOP\x00"}
    )
    assert status == 400 and "NUL character at position 5" in body["error"]
    assert not opted_out(loop, "carrierx", number)


def test_a_reply_posted_twice_is_kept_once(loop: Loop) -> None:
    number = phone()
    event = {
        "id": "evt_dup",
        "type": "messaging.incoming.message.received",
        "data": {
            "id": f"msg_{uuid.uuid4().hex}",
            "from": number,
            "to": "+14155550102",
            "body": "END",
        },
    }
    path = f"/v1/inbound/textingline/{SECRET}"
    assert loop.api.post(path, event)[1]["result"] == "recorded"
    assert loop.api.post(path, event)[1]["result"] == "repeat"
    _, listed = loop.api.get("/v1/inbound?account=textingline&limit=50")
    assert sum(1 for m in listed["messages"] if m["from"] == number) == 1
    assert opted_out(loop, "textingline", number)


def blast(loop: Loop, account: str, numbers: list[str]) -> dict[str, Any]:
    csv = "phone,name\n" + "".join(f"{n},x\n" for n in numbers)
    query = (
        f"?account={account}&from={SENDERS[account.split('_')[0]].replace('+', '%2B')}"
        f"&template=Hello+%7Bname%7D&campaign=c{uuid.uuid4().hex[:12]}&wait=true"
    )
    status, body = loop.api.call(
        "POST", "/v1/campaigns" + query, csv.encode(), {"Content-Type": "text/csv"}
    )
    assert status == 202, body
    return body  # type: ignore[no-any-return]


def wait_inbound(sandbox: Sandbox, provider: str, posted: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (stats := sandbox.stats()[provider])["inbound_sent"] + stats["inbound_errors"] < posted:
        assert time.monotonic() < deadline, stats
        time.sleep(0.05)
    assert stats["inbound_errors"] == 0, stats


@pytest.mark.parametrize("provider", PROVIDERS)
def test_blast_reply_stop_and_the_next_blast_skips_that_number(
    provider: str, loop: Loop, sandbox: Sandbox, replies: Callable[[str, str], None]
) -> None:
    replies(provider, provider)
    loop.api.call("DELETE", f"/v1/optouts/{STOPPER}?account={provider}")
    other = phone()
    first = blast(loop, provider, [STOPPER, other])
    assert (first["enqueued"], first["suppressed"]) == (2, 0)
    wait_inbound(sandbox, provider, 1)
    assert opted_out(loop, provider, STOPPER)
    second = blast(loop, provider, [STOPPER, other])
    assert (second["enqueued"], second["suppressed"], second["rejected"]) == (1, 1, 0)
    status, camp = loop.api.get(f"/v1/campaigns/{second['campaign']}")
    assert status == 200 and camp["suppressed"] == 1 and camp["counts"]["total"] == 1


def test_a_single_send_to_an_opted_out_number_is_refused(loop: Loop) -> None:
    number = phone()
    assert loop.api.post("/v1/optouts", {"account": "carrierx", "phones": [number]})[0] == 200
    message = {"account": "carrierx", "to": number, "from": SENDERS["carrierx"], "body": "Hi"}
    status, body = loop.api.post("/v1/messages", message)
    assert status == 422
    [problem] = body["errors"]
    assert (
        problem["field"] == "to"
        and f"{number} opted out of messages from account 'carrierx'" in (problem["reason"])
    )
    done = run_cli(
        loop.config, "send", "--provider", "carrierx", "--from", SENDERS["carrierx"],
        "--to", number, "--body", "Hi",
    )  # fmt: skip
    assert done.returncode == 1
    assert f"to: {number} opted out of messages from account 'carrierx'" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_account_may_let_transactional_messages_through(loop: Loop) -> None:
    number = phone()
    loop.api.post("/v1/optouts", {"account": "textingline_tx", "phones": [number]})
    base = {"account": "textingline_tx", "to": number, "from": SENDERS["textingline"]}
    status, _ = loop.api.post(
        "/v1/messages", {**base, "body": "Your code", "lane": "transactional"}
    )
    assert status == 202
    status, body = loop.api.post("/v1/messages", {**base, "body": "Sale!", "lane": "bulk"})
    assert status == 422 and body["errors"][0]["field"] == "to"


def test_the_list_over_http(loop: Loop) -> None:
    a, b = phone(), phone()
    status, body = loop.api.post(
        "/v1/optouts", {"account": "skycore", "phones": [a, "not a number"], "note": "x"}
    )
    assert status == 422 and body["errors"][0]["index"] == 1
    assert not opted_out(loop, "skycore", a)  # nothing added when one is bad
    status, body = loop.api.post("/v1/optouts", {"account": "skycore", "phones": [a, a]})
    assert (status, body) == (200, {"added": [a], "already": [a]})
    status, body = loop.api.call(
        "POST",
        "/v1/optouts/import?account=skycore",
        f"phone\n{b}\nbad\n{a}\n".encode(),
        {"Content-Type": "text/csv"},
    )
    assert status == 200
    assert (body["added"], body["already"], body["invalid"]) == (1, 1, 1)
    assert body["invalid_lines"] == [{"line": 3, "reason": "'bad': contains letters"}]
    status, listed = loop.api.get("/v1/optouts?account=skycore&limit=10000")
    assert status == 200 and {a, b} <= {e["phone"] for e in listed["optouts"]}
    # Times as every other answer gives them: ISO 8601 with an offset.
    assert all(is_iso(e["at"]) for e in listed["optouts"])
    status, entry = loop.api.get(f"/v1/optouts/{a}?account=skycore")
    assert status == 200 and is_iso(entry["at"]) and entry in listed["optouts"]
    status, text = loop.api.get("/v1/optouts/export?account=skycore")
    assert status == 200 and text.startswith("phone,account,at,source,note") and b in text
    assert f"{a},skycore,{entry['at']},manual," in text  # the export says it the same way
    from api.openapi import DOCUMENT

    at = DOCUMENT["components"]["schemas"]["OptOut"]["properties"]["at"]
    assert (at["type"], at["format"]) == ("string", "date-time")
    status, body = loop.api.call("DELETE", f"/v1/optouts/{a}?account=skycore")
    assert (status, body) == (200, {"phone": a, "removed": True})
    assert not opted_out(loop, "skycore", a)
    status, body = loop.api.get(f"/v1/optouts/{a}")
    assert status == 422 and body["errors"][0]["field"] == "account"
    status, body = loop.api.get("/v1/optouts/12?account=skycore")
    assert status == 422 and body["errors"][0]["field"] == "phone"


def is_iso(text: object) -> bool:
    """Whether `text` is an ISO 8601 time with an offset, as every answer gives times."""
    return isinstance(text, str) and datetime.fromisoformat(text).utcoffset() is not None


def test_the_list_from_the_command_line(loop: Loop, tmp_path: Path) -> None:
    a, b = phone(), phone()
    done = run_cli(loop.config, "optout", "add", a, "--account", "justcall", "--note", "asked")
    assert done.returncode == 0 and f"{a}: opted out" in done.stdout
    done = run_cli(loop.config, "optout", "check", a, "--account", "justcall")
    assert done.returncode == 0 and "(manual: asked)" in done.stdout
    source = tmp_path / "list.csv"
    source.write_text(f"{b}\nnonsense\n")
    done = run_cli(loop.config, "optout", "import", str(source), "--account", "justcall")
    assert done.returncode == 0, done.stderr
    assert "1 added, 0 already opted out, 1 not numbers" in done.stdout
    assert "line 2: 'nonsense': contains letters" in done.stdout
    done = run_cli(loop.config, "optout", "list", "--account", "justcall", "--json")
    entries = {e["phone"]: e for e in map(json.loads, done.stdout.splitlines())}
    assert {a, b} <= set(entries)
    # The same entry, time and all, as the HTTP API gives it.
    status, entry = loop.api.get(f"/v1/optouts/{a}?account=justcall")
    assert status == 200 and entries[a] == entry and is_iso(entry["at"])
    done = run_cli(loop.config, "optout", "list", "--account", "justcall")
    assert f"{a}  {entry['at']}  manual  asked" in done.stdout.splitlines()
    out = tmp_path / "export.csv"
    done = run_cli(loop.config, "optout", "export", "--account", "justcall", "-o", str(out))
    assert done.returncode == 0 and a in out.read_text() and b in out.read_text()
    done = run_cli(loop.config, "optout", "remove", a, b, "--account", "justcall")
    assert done.stdout.count("removed") == 2
    done = run_cli(loop.config, "optout", "check", a, "--account", "justcall")
    assert done.returncode == 1 and "not opted out" in done.stdout
    done = run_cli(loop.config, "optout", "add", "nonsense", "--account", "justcall")
    assert done.returncode == 1 and "'nonsense' is not a phone number" in done.stderr
    done = run_cli(loop.config, "optout", "add", a)
    assert done.returncode == 2 and "--account is required" in done.stderr
    done = run_cli(loop.config, "optout", "add", a, "--account", "nobody")
    assert done.returncode == 1 and "unknown provider account 'nobody'" in done.stderr


def test_salvo_inbound_lists_the_replies(loop: Loop, sandbox: Sandbox) -> None:
    number = phone()
    path = f"/v1/inbound/skycore/{SECRET}"
    form = f"ORIGIN=SMS_MO&CODE=N211&FROM={number[1:]}&TO=14155550103&TEXT=info"
    status, body = loop.api.call(
        "POST", path, form.encode(), {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 200 and body["keyword"] == "help", body
    done = run_cli(loop.config, "inbound", "--account", "skycore", "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert any(r["from"] == number and r["keyword"] == "help" for r in rows)
    done = run_cli(loop.config, "inbound", "--account", "skycore")
    assert f"{number} -> +14155550103  help  info" in done.stdout


def test_a_dry_run_over_http_reports_and_enqueues_nothing(loop: Loop) -> None:
    number = phone()
    loop.api.post("/v1/optouts", {"account": "carrierx", "phones": [number]})
    csv = f"phone,name\n{number},A\n{phone()},B\nnope,C\n{phone()},D\u2019s\n"
    campaign = f"c{uuid.uuid4().hex[:12]}"
    query = (
        f"?account=carrierx&from=%2B14155550101&template=Hi+%7Bname%7D&campaign={campaign}"
        "&dry_run=true"
    )
    status, body = loop.api.call(
        "POST", "/v1/campaigns" + query, csv.encode(), {"Content-Type": "text/csv"}
    )
    assert status == 200, body
    assert body["dry_run"] is True
    assert (body["rows"], body["valid"], body["rejected"], body["suppressed"]) == (4, 3, 1, 1)
    assert (body["to_send"], body["gsm7"], body["ucs2"], body["segments_saved"]) == (2, 1, 1, 0)
    assert body["ucs2_characters"] == [{"character": "\u2019", "count": 1}]
    assert body["rejects"] == [{"line": 4, "reason": "phone: contains letters ('nope')"}]
    assert loop.api.get(f"/v1/campaigns/{campaign}")[0] == 404
    status, body = loop.api.call(
        "POST", "/v1/campaigns" + query.replace("true", "maybe"), csv.encode(), {}
    )
    assert status == 422 and body["errors"][-1]["field"] == "dry_run"


def test_a_dry_run_from_the_command_line(loop: Loop, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(f"phone,name\n{phone()},A\n{phone()},B\u2026\n")
    done = run_cli(
        loop.config, "blast", str(path), "--provider", "skycore", "--from", SENDERS["skycore"],
        "--template", "Hi {name}", "--dry-run", "--smart-encoding",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "(dry run, nothing enqueued): 2 rows, 2 valid, 0 rejected" in done.stdout
    assert "encoding: 2 GSM-7, 0 UCS-2, 0 MMS; forcing UCS-2 most often: '\u2026' x1" in done.stdout
    assert "segments: 2 (smart encoding on: saves 0)" in done.stdout
    assert "cost: unknown" in done.stdout


def wait_record(loop: Loop, mid: str, wanted: set[str], timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, record = loop.api.get(f"/v1/messages/{mid}")
        assert status == 200, record
        if record["status"] in wanted:
            return record  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, record
        time.sleep(0.1)


def test_an_opt_out_while_a_campaign_waits_stops_that_numbers_message(
    loop: Loop, sandbox: Sandbox
) -> None:
    leaving, staying = phone(), phone()
    at = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    messages = [
        {
            "account": "carrierx",
            "to": n,
            "from": SENDERS["carrierx"],
            "body": "Sale",
            "lane": "bulk",
            "send_at": at,
        }
        for n in (leaving, staying)
    ]
    status, body = loop.api.post("/v1/messages", messages)
    assert status == 202, body
    gone, kept = body["ids"]
    assert loop.api.post("/v1/optouts", {"account": "carrierx", "phones": [leaving]})[0] == 200
    record = wait_record(loop, gone, {"suppressed", "sent", "delivered"})
    assert record["status"] == "suppressed" and record["reason"] == "recipient opted out"
    assert wait_record(loop, kept, {"sent", "delivered"})["status"] in ("sent", "delivered")
    assert all(e["to"].lstrip("+") != leaving.lstrip("+") for e in sandbox.ledger("carrierx"))


def test_quiet_hours_hold_one_countrys_message_and_not_anothers(
    loop: Loop, sandbox: Sandbox
) -> None:
    base = {
        "account": "textingline_quiet",
        "from": SENDERS["textingline"],
        "body": "Sale",
        "lane": "bulk",
    }
    status, body = loop.api.post(
        "/v1/messages", [{**base, "to": "+12125550188"}, {**base, "to": "+33612345678"}]
    )
    assert status == 202, body
    held, paris = body["ids"]
    assert wait_record(loop, paris, {"sent", "delivered"})["status"] in ("sent", "delivered")
    deadline = time.monotonic() + 20
    while "quiet hours" not in (record := loop.api.get(f"/v1/messages/{held}")[1])["reason"]:
        assert time.monotonic() < deadline, record
        time.sleep(0.1)
    assert record["status"] == "queued"
    done = run_cli(loop.config, "status", held)
    assert f"message {held}: queued (waiting for quiet hours (recipient's time) until" in (
        done.stdout
    )


def test_a_providers_opted_out_answer_adds_the_number(loop: Loop, sandbox: Sandbox) -> None:
    loop.api.call("DELETE", "/v1/optouts/+15005550001?account=textingline")
    message = {
        "account": "textingline",
        "to": "+15005550001",
        "from": SENDERS["textingline"],
        "body": "Hi",
        "lane": "bulk",
    }
    status, body = loop.api.post("/v1/messages", message)
    assert status == 202, body
    assert wait_record(loop, body["ids"][0], {"failed"})["status"] == "failed"
    entry = loop.api.get("/v1/optouts/+15005550001?account=textingline")
    assert entry[0] == 200 and entry[1]["source"] == "provider"


def test_skycore_replies_posted_as_xml_opt_out_and_malformed_xml_is_a_400(
    loop: Loop, sandbox: Sandbox, replies: Callable[[str, str], None]
) -> None:
    replies("skycore", "skycore")
    sandbox.configure("skycore", skycore_inbound_xml=True)
    try:
        number = phone()
        answer = reply(sandbox, "skycore", number, "STOP")
        assert answer["status"] == 200, answer
        assert answer["answer"]["action"] == "opted_out"
        assert opted_out(loop, "skycore", number)
        other = phone()
        path = f"/v1/inbound/skycore/{SECRET}"
        broken = f"<POSTBACK><ORIGIN>SMS_MO</ORIGIN><FROM>{other[1:]}</FROM><TEXT>STOP</POSTBACK>"
        status, body = loop.api.call("POST", path, broken.encode(), {"Content-Type": "text/xml"})
        assert status == 400, body
        assert body["error"].startswith(
            "not a skycore inbound message: body is not well-formed XML"
        )
        bomb = '<!DOCTYPE p [<!ENTITY a "STOP">]><p><ORIGIN>SMS_MO</ORIGIN><TEXT>&a;</TEXT></p>'
        status, body = loop.api.call("POST", path, bomb.encode(), {"Content-Type": "text/xml"})
        assert status == 400 and "XML refused" in body["error"], body
        assert not opted_out(loop, "skycore", other)
    finally:
        sandbox.configure("skycore", skycore_inbound_xml=False)


def test_the_figures_read_as_people_write_rates_and_times() -> None:
    from producer.preflight import Report
    from salvo.audience import figures_lines

    def time_line(rate: float, seconds: float) -> str:
        report = Report("c", rate=rate, rate_source="learnt", seconds=seconds)
        return figures_lines(report)[-1]

    assert time_line(36.1827, 0.4) == "time: less than a second at 36.2/s (learnt)"
    assert time_line(4.04043, 90) == "time: about 1 min at 4.04/s (learnt)"
    assert time_line(0.5, 7200) == "time: about 2 h at 0.5/s (learnt)"
    assert time_line(2000.0, 12) == "time: about 12 s at 2,000/s (learnt)"
