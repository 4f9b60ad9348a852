"""Status callbacks with the session's worker, the sandbox and a customer's endpoint started
here on 127.0.0.1: signed, retried after the endpoint failed twice, each event at least once
with a stable id, campaign.finished at the end; a dead endpoint never holds sending back; an
event whose sender died is posted by another."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp import web

from producer.api import Producer
from producer.campaign import BlastSpec, blast
from salvo.local import api_process, write_config
from sms import callbacks, keys
from sms.errors import ConfigError, InvalidMessage
from sms.message import Message, Status
from sms.settings import Settings
from sms.store import Record, lua
from tests.api_client import Api
from tests.conftest import CALLBACK_SECRET
from tests.helpers import run_cli, wait_for

README = Path(__file__).resolve().parent.parent / "README.md"


@dataclass
class Post:
    """One POST the endpoint received."""

    event_id: str
    body: bytes
    signature: str
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Endpoint:
    """A customer's callback URL: each event id's first `fail` POSTs are answered 500, the
    rest 200; `hang` answers nothing, ever. Every POST is recorded."""

    fail: int = 2
    hang: bool = False
    posts: list[Post] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.hang:
            await asyncio.sleep(3600)
        event_id = str(json.loads(body)["id"])
        with self.lock:
            seen = sum(1 for p in self.posts if p.event_id == event_id)
            status = 500 if seen < self.fail else 200
            signature = request.headers.get(callbacks.SIGNATURE_HEADER, "")
            self.posts.append(Post(event_id, body, signature, status))
        return web.Response(status=status)

    def delivered(self) -> dict[str, dict[str, Any]]:
        """Event id -> event, for those answered 200."""
        with self.lock:
            return {p.event_id: p.event for p in self.posts if p.answered == 200}

    def all_posts(self) -> list[Post]:
        with self.lock:
            return list(self.posts)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    yield from serve(Endpoint())


@pytest.fixture
def dead_endpoint() -> Iterator[Endpoint]:
    yield from serve(Endpoint(hang=True))


def serve(endpoint: Endpoint) -> Iterator[Endpoint]:
    """Run `endpoint` on an event loop in a thread for the test."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner_box: dict[str, web.AppRunner] = {}

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/hooks", endpoint.handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        endpoint.url = f"http://127.0.0.1:{port}/hooks"
        runner_box["r"] = runner
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    ready.wait(10)
    try:
        yield endpoint
    finally:
        asyncio.run_coroutine_threadsafe(runner_box["r"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def forget_events(client: redis.Redis, url: str) -> None:
    """Remove the session's pending events to `url` (a test's endpoint, gone after it)."""
    for event_id, raw in client.hscan_iter(keys.HOOKS):
        if json.loads(raw)["url"] == url:
            client.zrem(keys.HOOKS_DUE, event_id)
            client.hdel(keys.HOOKS, event_id)
            client.hdel(keys.HOOKS_TRIES, event_id)


def statuses(record: Record) -> list[str]:
    """The statuses a record went through, each change once."""
    out: list[str] = []
    for entry in record.history:
        if not out or out[-1] != entry.status:
            out.append(entry.status)
    return out


def wait_until(check: Any, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.1)


def readme_verifier() -> Any:
    """The verification snippet of README.md's "Status callbacks", run as it is written."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Status callbacks") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "README's Status callbacks section has no python snippet"
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    return namespace["verify_salvo_signature"]


pytestmark = pytest.mark.usefixtures("worker")


def test_callbacks_are_signed_retried_after_two_failures_and_arrive_once_each_with_a_stable_id(
    producer: Producer, sandbox: object, endpoint: Endpoint, tmp_path: Path
) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("phone,name\n+12025550301,Ada\n+12025550302,Alan\n+12025550303,Grace\n")
    campaign = f"hooks-{time.time_ns()}"
    spec = BlastSpec(
        account="carrierx",
        sender="+14155550101",
        template="Hi {name}",
        campaign=campaign,
        callback_url=endpoint.url,
    )
    report = blast(producer, csv, spec)
    assert report.enqueued == 3
    single = producer.send(
        Message(
            account="textingline",
            to="+12025550304",
            sender="+14155550102",
            body="your code is 1234",
            callback_url=endpoint.url,
        )
    )
    ids = [m for m in producer.redis.zrange(keys.campaign_rows(campaign), 0, -1)] + [single]
    records = wait_for(producer, ids)
    assert all(r.status is Status.SENT for r in records)

    expected = {r.id: statuses(r) for r in records}

    def complete() -> bool:
        got = endpoint.delivered().values()
        finished = [e for e in got if e["type"] == "campaign.finished"]
        seen = {
            (e["data"]["message_id"], e["data"]["status"])
            for e in got
            if e["type"] == "message.status"
        }
        wanted = {(mid, s) for mid, ss in expected.items() for s in ss}
        return bool(finished) and wanted <= seen

    wait_until(complete, what="every status change and campaign.finished delivered")

    posts = endpoint.all_posts()
    verify = readme_verifier()
    by_id: dict[str, list[Post]] = {}
    for post in posts:
        by_id.setdefault(post.event_id, []).append(post)
        # Signed: both by the library's check and by README's snippet, as a receiver runs it.
        assert callbacks.verify(CALLBACK_SECRET, post.body, post.signature)
        assert verify(CALLBACK_SECRET, post.body, post.signature)
        assert not callbacks.verify("another secret", post.body, post.signature)
        assert not verify(CALLBACK_SECRET, post.body + b" ", post.signature)
    for event_id, tries in by_id.items():
        # The endpoint failed the first two: each event was retried, with the same id and body.
        assert [p.answered for p in tries][:3] == [500, 500, 200], event_id
        assert len({p.body for p in tries}) == 1
    delivered = endpoint.delivered()
    for mid, wanted in expected.items():
        events = sorted(
            (e["data"] for e in delivered.values() if e["type"] == "message.status"),
            key=lambda d: d["sequence"],
        )
        mine = [d for d in events if d["message_id"] == mid]
        assert [d["status"] for d in mine] == wanted
        assert [d["previous_status"] for d in mine] == [None, *wanted[:-1]]
        sent = mine[-1]
        assert sent["provider_id"] and sent["attempts"] == 1
        assert sent["campaign"] == (None if mid == single else campaign)
    (finished,) = [e for e in delivered.values() if e["type"] == "campaign.finished"]
    assert finished["id"] == f"{campaign}-finished-1"
    assert finished["data"]["campaign"] == campaign
    assert finished["data"]["counts"]["sent"] == 3
    assert finished["data"]["counts"]["total"] == 3
    # Nothing left to post: every event was delivered and removed.
    assert not [i for i in by_id if producer.redis.hexists(keys.HOOKS, i)]


def test_a_dead_callback_endpoint_does_not_hold_sending_back(
    producer: Producer, sandbox: object, dead_endpoint: Endpoint
) -> None:
    messages = [
        Message(
            account="skycore",
            to=f"+120255504{i:02d}",
            sender="+14155550103",
            body=f"dead endpoint {i}",
            callback_url=dead_endpoint.url,
        )
        for i in range(40)
    ]
    try:
        ids = producer.send_many(messages)
        records = wait_for(producer, ids)
        assert all(r.status is Status.SENT for r in records)
        # Their events were not lost: they wait in Redis for the endpoint to answer.
        pending = [
            i
            for i, raw in producer.redis.hscan_iter(keys.HOOKS)
            if json.loads(raw)["url"] == dead_endpoint.url
        ]
        assert len(pending) == sum(len(statuses(r)) for r in records)  # queued, sending, sent
    finally:
        forget_events(producer.redis, dead_endpoint.url)


def test_an_event_claimed_by_a_sender_that_died_is_taken_again_when_its_claim_ends(
    r: redis.Redis,
) -> None:
    take = r.register_script(lua("hooks_take.lua"))
    event_id = f"m{time.time_ns()}-1"
    event = {"url": "http://127.0.0.1:9/x", "type": "message.status", "at": time.time()}
    r.hset(keys.HOOKS, event_id, json.dumps(event))
    r.zadd(keys.HOOKS_DUE, {event_id: 0})
    args = [keys.HOOKS_DUE, keys.HOOKS, keys.HOOKS_TRIES]
    try:
        first = take(keys=args, args=[100, 0.3])
        assert first[1:] == [event_id, json.dumps(event), 1]
        assert take(keys=args, args=[100, 0.3])[1:] == []  # claimed: nobody else takes it
        time.sleep(0.4)  # the claimer died: its claim ends
        assert take(keys=args, args=[100, 0.3])[1:] == [event_id, json.dumps(event), 2]
    finally:
        r.delete(keys.HOOKS, keys.HOOKS_DUE, keys.HOOKS_TRIES)


def test_a_callback_url_must_be_http(producer: Producer) -> None:
    with pytest.raises(ValueError, match="not an http"):
        Message(
            account="carrierx",
            to="+12025550399",
            sender="+14155550101",
            callback_url="javascript:alert(1)",
        )
    for bad in ("http://a/\x00", "http://a b/", "http:///x", "http://é.example/"):
        with pytest.raises(ValueError, match="not an http"):
            Message(account="carrierx", to="+12025550399", sender="+14155550101", callback_url=bad)
    unchecked = Message(
        account="carrierx", to="+12025550399", sender="+14155550101", body="x"
    ).model_copy(update={"callback_url": "ftp://"})
    with pytest.raises(InvalidMessage, match=r"callback_url: 'ftp://' is not an http"):
        producer.send(unchecked)


def test_a_callback_url_needs_a_secret_to_sign_with(settings: Settings, unit_url: str) -> None:
    unsigned = Producer(settings.model_copy(update={"status_webhook_secret": None}))
    message = Message(
        account="carrierx",
        to="+12025550399",
        sender="+14155550101",
        callback_url="https://hooks.example.com/x",
    )
    try:
        with pytest.raises(InvalidMessage, match="callback_url: no status_webhook_secret"):
            unsigned.send(message)
    finally:
        unsigned.close()
    with pytest.raises(ConfigError, match="status_webhook_url needs status_webhook_secret"):
        Settings.load(None, redis_url=unit_url, status_webhook_url="https://hooks.example.com/x")


def test_signatures_verify_only_with_the_secret_the_body_and_a_recent_time() -> None:
    body = b'{"id":"x-1"}'
    now = int(time.time())
    header = callbacks.sign("s3cret", body, now)
    assert callbacks.verify("s3cret", body, header, now=now)
    assert not callbacks.verify("s3cret", body, header, now=now + callbacks.TOLERANCE + 1)
    assert not callbacks.verify("s3cret", b'{"id":"x-2"}', header, now=now)
    assert not callbacks.verify("s3cret", body, "t=oops,v1=00", now=now)
    assert readme_verifier()("s3cret", body, header)


def test_backoff_doubles_from_its_base_up_to_an_hour() -> None:
    assert [callbacks.backoff(n, 5.0) for n in (1, 2, 3, 4)] == [5.0, 10.0, 20.0, 40.0]
    assert callbacks.backoff(30, 5.0) == callbacks.MAX_BACKOFF


def test_the_cli_sends_with_a_callback_url_and_refuses_a_bad_one(
    config_file: Path, producer: Producer, sandbox: object, endpoint: Endpoint
) -> None:
    endpoint.fail = 0
    bad = run_cli(
        config_file, "send", "--account", "carrierx", "--from", "+14155550101",
        "--to", "+12025550398", "--body", "x", "--callback-url", "ftp://nope",
    )  # fmt: skip
    assert bad.returncode == 1
    assert "callback_url" in bad.stderr and "http" in bad.stderr
    assert "Traceback" not in bad.stderr
    done = run_cli(
        config_file, "send", "--account", "carrierx", "--from", "+14155550101",
        "--to", "+12025550397", "--body", "cli callback", "--callback-url", endpoint.url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    mid = done.stdout.strip().split()[-1]
    (record,) = wait_for(producer, [mid])
    wanted = set(statuses(record))

    def arrived() -> bool:
        return wanted <= {
            e["data"]["status"]
            for e in endpoint.delivered().values()
            if e["data"].get("message_id") == mid
        }

    wait_until(arrived, what="the CLI message's events")


def test_the_http_api_takes_a_callback_url_per_message_and_per_campaign(
    tmp_path: Path,
    redis_url: str,
    providers: dict[str, Any],
    producer: Producer,
    sandbox: object,
    endpoint: Endpoint,
) -> None:
    endpoint.fail = 0
    key = f"k-{time.time_ns()}"
    config = write_config(
        tmp_path / "salvo.toml",
        redis_url,
        providers,
        api_keys=[key],
        status_webhook_secret=CALLBACK_SECRET,
    )
    with api_process(config, tmp_path / "api.log") as server:
        api = Api(server.url, key)
        message = {
            "account": "carrierx",
            "from": "+14155550101",
            "to": "+12025550396",
            "body": "http callback",
        }
        status, bad = api.post("/v1/messages", {**message, "callback_url": "mailto:x@y.z"})
        assert status == 422
        assert bad["errors"][0]["field"] == "callback_url"
        status, answer = api.post("/v1/messages", {**message, "callback_url": endpoint.url})
        assert status == 202, answer
        (mid,) = answer["ids"]
        query = "account=carrierx&from=%2B14155550101&template=hi&callback_url=ftp%3A%2F%2Fx"
        status, bad = api.call(
            "POST", f"/v1/campaigns?{query}", b"phone\n+12025550395\n", {"Content-Type": "text/csv"}
        )
        assert status == 422
        assert [e["field"] for e in bad["errors"]] == ["callback_url"]
        (record,) = wait_for(producer, [mid])

        def arrived() -> bool:
            return set(statuses(record)) <= {
                e["data"]["status"]
                for e in endpoint.delivered().values()
                if e["data"].get("message_id") == mid
            }

        wait_until(arrived, what="the HTTP message's events")
        status, metrics = api.get("/metrics")
        assert status == 200
        line = r'^salvo_callbacks_total\{account="carrierx",outcome="delivered"\} (\S+)$'
        delivered = re.search(line, metrics, re.M)
        assert delivered is not None and float(delivered.group(1)) >= len(statuses(record))
        assert re.search(r"^salvo_callbacks_waiting \S+$", metrics, re.M)
