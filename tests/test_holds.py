"""Holds at every door: a sender the provider does not know, and credentials it refuses, as the
session's real worker meets them through the sandbox over HTTP; then what `salvo status` (table
and JSON), `salvo status ID`, the Python API and the HTTP API (`GET /v1/messages/{id}`, a
campaign and its listing) say of the hold and of the messages it holds back: the same words,
the same ISO 8601 time, and what to do about it. The dashboard's pages: test_dashboard.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from producer.api import Producer
from producer.campaign import BlastSpec, blast
from salvo.local import api_process
from sms import keys
from sms.holds import FIX
from sms.message import Message, Status
from tests.api_client import Api
from tests.conftest import Sandbox
from tests.helpers import SENDERS, run_cli, wait_for

pytestmark = pytest.mark.usefixtures("worker")

KEY = "holds-test-key"
BAD_SENDER = "+14155550999"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, config_file: Path) -> Iterator[Api]:
    """`salvo api` on the session's database, the one its worker sends from."""
    tmp = tmp_path_factory.mktemp("holds")
    config = tmp / "salvo.toml"
    config.write_text(config_file.read_text().replace("\n", f"\napi_keys = [{KEY!r}]\n", 1))
    with api_process(config, tmp / "api.log") as server:
        yield Api(server.url, KEY)


def until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def message(account: str, n: int, sender: str) -> Message:
    return Message(account=account, to=f"+1202555{n:04d}", sender=sender, body=f"hold {n}")


def status_json(config: Path) -> dict[str, object]:
    done = run_cli(config, "status", "--json")
    assert done.returncode == 0, done.stderr
    data: dict[str, object] = json.loads(done.stdout)
    return data


def words(text: str) -> str:
    """Text with its line breaks and runs of spaces as single spaces (the table wraps lines)."""
    return " ".join(text.split())


def said_alike(config: Path, api: Api, producer: Producer, ids: list[str], text: str) -> None:
    """Every door says each waiting message waits for the hold `text` says."""
    for mid in ids:
        assert producer.status(mid).as_dict()["waiting_for"] == text
        code, record = api.get(f"/v1/messages/{mid}")
        assert code == 200, record
        assert record["waiting_for"] == text
        shown = run_cli(config, "status", mid)
        assert shown.returncode == 0, shown.stderr
        assert f"waiting for {text}" in words(shown.stdout)


def test_a_held_sender_is_said_alike_at_every_door_until_the_sender_is_mended(
    config_file: Path, api: Api, producer: Producer, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.configure("justcall", senders=[SENDERS["justcall"].lstrip("+")])
    tried = producer.send(message("justcall", 9001, BAD_SENDER))
    until(lambda: "sender held" in producer.status(tried).reason, "the bad sender held")
    # A second message of the held sender is held back before it is ever tried.
    never = producer.send(message("justcall", 9002, BAD_SENDER))
    good = producer.send(message("justcall", 9003, SENDERS["justcall"]))
    assert wait_for(producer, [good])[0].status is Status.SENT

    data = status_json(config_file)
    (hold,) = data["accounts"]["justcall"]["holds"]  # type: ignore[index]
    assert hold["sender"] == BAD_SENDER
    assert hold["reason"] == (
        "sender held, config error: HTTP 404: from number not found or not SMS-enabled "
        f"({FIX['sender']})"
    )
    ends = datetime.fromisoformat(hold["until"])
    assert hold["until"] == ends.isoformat(timespec="milliseconds")  # sms.times.iso
    assert 0 < ends.timestamp() - time.time() <= 301
    assert 0 < hold["seconds"] <= 301
    text = f"sender {BAD_SENDER} held until {hold['until']}, tried again then: {hold['reason']}"

    table = run_cli(config_file, "status")
    assert table.returncode == 0, table.stderr
    assert f"justcall: {text}" in words(table.stdout)
    said_alike(config_file, api, producer, [tried, never], text)
    assert "sender held" not in producer.status(never).reason  # never tried: only waits
    # A campaign blasted from the held sender: its listing says the same of each message.
    path = tmp_path / "held.csv"
    path.write_text("phone,name\n+12025559021,A\n+12025559022,B\n")
    spec = BlastSpec(account="justcall", sender=BAD_SENDER, template="Hi {name}")
    campaign = blast(producer, path, spec).campaign
    code, listing = api.get(f"/v1/campaigns/{campaign}/messages")
    assert code == 200, listing
    assert [m["waiting_for"] for m in listing["messages"]] == [text, text]
    # ... and the campaign itself, whose messages all wait for it.
    assert producer.campaign(campaign).as_dict()["held"] == text
    code, record = api.get(f"/v1/campaigns/{campaign}")
    assert code == 200, record
    assert (record["sender"], record["held"]) == (BAD_SENDER, text)
    shown = run_cli(config_file, "status", campaign)
    assert shown.returncode == 0, shown.stderr
    assert f"waiting for {text}" in words(shown.stdout)
    waiting = [tried, never] + [m["id"] for m in listing["messages"]]

    # The sender is mended at the provider; once the hold ends, both go.
    sandbox.configure("justcall", senders=None)
    producer.redis.delete(keys.sender_hold("justcall", BAD_SENDER))  # as when its TTL runs out
    for mid in waiting:
        producer.reschedule(mid, {"send_at": None})  # due now, not in 5 minutes
    records = wait_for(producer, waiting, timeout=30)
    assert {rec.status for rec in records} == {Status.SENT}
    assert all(rec.as_dict()["waiting_for"] is None for rec in records)
    assert producer.campaign(campaign).as_dict()["held"] is None
    assert status_json(config_file)["accounts"]["justcall"]["holds"] == []  # type: ignore[index]


def test_refused_credentials_hold_the_whole_account_and_say_so(
    config_file: Path, api: Api, producer: Producer, sandbox: Sandbox
) -> None:
    before = sandbox.call("GET", "/_sandbox/config")["textingline"]["credentials"]
    sandbox.configure("textingline", credentials=[{"key_id": "other", "key_secret": "other"}])
    held = []
    try:
        held.append(producer.send(message("textingline", 9011, SENDERS["textingline"])))
        until(lambda: "account held" in producer.status(held[0]).reason, "the account held")
        cooldown = status_json(config_file)["accounts"]["textingline"]["cooldown"]  # type: ignore[index]
        assert cooldown["sender"] is None
        assert cooldown["reason"].startswith("account held, config error: 33001 ")
        assert cooldown["reason"].endswith(f"({FIX['account']})")
        assert "credentials in settings and restart the workers" in cooldown["reason"]
        text = (
            f"the whole account held until {cooldown['until']}, tried again then: "
            f"{cooldown['reason']}"
        )
        # Any sender of the account waits for it, tried or not.
        held.append(producer.send(message("textingline", 9012, "+14155550998")))
        said_alike(config_file, api, producer, held, text)
    finally:
        sandbox.configure("textingline", credentials=before)
        for mid in held:
            producer.cancel_message(mid)
        producer.redis.delete(keys.cooldown("textingline"))


def test_a_watch_says_the_hold_its_campaign_waits_for_then_sees_it_end(
    config_file: Path, producer: Producer, sandbox: Sandbox, tmp_path: Path
) -> None:
    sender = "+14155550996"
    reason = "test: sender held, config error: not SMS-enabled yet"
    producer.redis.set(keys.sender_hold("carrierx", sender), reason, px=3000)
    path = tmp_path / "held.csv"
    path.write_text("phone,name\n+12025559031,A\n+12025559032,B\n")
    campaign = blast(producer, path, BlastSpec("carrierx", sender, "Hi {name}")).campaign
    held = producer.campaign(campaign).as_dict()["held"]
    assert held.startswith(f"sender {sender} held until 2") and held.endswith(reason)
    watched = run_cli(config_file, "status", campaign, "--watch", timeout=60)
    assert watched.returncode == 0, watched.stderr
    assert f"waiting for {held}" in words(watched.stderr)  # said once, above the bar
    assert watched.stdout.startswith(f"campaign {campaign} (finished): "), watched.stdout
    assert "sent 2, total 2" in watched.stdout  # the hold ended, and both went
