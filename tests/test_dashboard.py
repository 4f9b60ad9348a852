"""The dashboard in a real browser: Playwright driving Debian's Chromium, headless, against a
real `salvo api`, a real worker and the sandbox.

Skipped, with the reason, when the `playwright` package or Chromium (/usr/bin/chromium, or
SALVO_CHROMIUM) is missing; Playwright's own browser downloads are never used. Screenshots of
every page, at a laptop's and a phone's width, go to tests/artifacts/ (or SALVO_ARTIFACTS).
"""

from __future__ import annotations

import csv
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from producer.api import Producer
from producer.campaign import BlastSpec, blast
from salvo.local import ApiServer, api_process, sandbox_accounts, write_config
from sms import keys
from sms.message import Message, Status
from tests.conftest import Sandbox
from tests.helpers import SENDERS, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.usefixtures("worker")

KEY = "dashboard-key-1"
ACCOUNT = "carrierx"
ROWS = 400
CHROMIUM = os.environ.get("SALVO_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("SALVO_ARTIFACTS", Path(__file__).parent / "artifacts"))
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need the Python package 'playwright' (make install adds it)",
)
if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
    pytest.skip(
        f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def dashboard(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, sandbox_url: str
) -> Iterator[ApiServer]:
    """`salvo api` on the server the session's worker serves, with one API key."""
    tmp = tmp_path_factory.mktemp("dashboard")
    config = write_config(
        tmp / "salvo.toml", redis_url, sandbox_accounts(sandbox_url, timeout=3.0), api_keys=[KEY]
    )
    with api_process(config, log=tmp / "api.log") as server:
        yield server


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=LAPTOP)
    yield ctx
    ctx.close()


def sign_in(page: Page, url: str, key: str = KEY) -> None:
    page.goto(url + "/")
    page.fill("#key", key)
    page.click("button[type=submit]")


def shoot(page: Page, name: str) -> None:
    """A screenshot of the whole page at a laptop's width, then at a phone's."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(LAPTOP)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-laptop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-phone.png"), full_page=True)
    page.set_viewport_size(LAPTOP)


def start_campaign(producer: Producer, tmp_path: Path, send_at: datetime | None = None) -> str:
    path = tmp_path / "people.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["phone", "first_name"])
        for i in range(ROWS):
            w.writerow([f"+1312556{i:04d}", f"P{i}"])
        w.writerow(["555-0101", "Alan"])  # line ROWS + 2: rejected, shown with its reason
    campaign = f"d{uuid.uuid4().hex[:8]}"
    spec = BlastSpec(
        ACCOUNT, SENDERS[ACCOUNT], "Hi {first_name}", campaign=campaign, send_at=send_at
    )
    assert blast(producer, path, spec).enqueued == ROWS
    return campaign


def until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.1)


def settled(sandbox: Sandbox, quiet: float = 2.0, timeout: float = 60.0) -> int:
    """The ledger's length once it has not grown for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    size, since = len(sandbox.ledger(ACCOUNT)), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, f"the ledger still grows after {timeout}s"
        time.sleep(0.25)
        now = len(sandbox.ledger(ACCOUNT))
        if now != size:
            size, since = now, time.monotonic()
    return size


def test_a_wrong_key_is_refused_and_nothing_is_shown(
    context: BrowserContext, dashboard: ApiServer
) -> None:
    page = context.new_page()
    page.goto(dashboard.url + "/accounts")
    assert page.url.endswith("/signin")
    shoot(page, "signin")
    sign_in(page, dashboard.url, key="not-a-key")
    assert page.url.endswith("/signin")
    assert "not one of this server's API keys" in page.inner_text("main")
    assert not [c for c in context.cookies() if c["name"] == "salvo_session"]
    page.goto(dashboard.url + "/campaigns/anything")
    assert page.url.endswith("/signin")


def test_forms_posted_without_the_csrf_token_are_refused(
    context: BrowserContext, dashboard: ApiServer, producer: Producer, tmp_path: Path
) -> None:
    page = context.new_page()
    sign_in(page, dashboard.url)
    (cookie,) = [c for c in context.cookies() if c["name"] == "salvo_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    later = datetime.now(UTC) + timedelta(hours=1)  # nothing is sent while it waits
    campaign = start_campaign(producer, tmp_path, send_at=later)
    url = f"{dashboard.url}/campaigns/{campaign}/pause"
    for form in ({}, {"csrf": "forged"}):
        answer = context.request.post(url, form=form, max_redirects=0)
        assert answer.status == 403, answer.text()
    assert producer.campaign(campaign).state == "scheduled"
    refused = context.request.post(dashboard.url + "/signin", form={"key": KEY}, max_redirects=0)
    assert refused.status == 403
    producer.cancel(campaign)
    until(
        lambda: producer.campaign(campaign).counts.get("cancelled", 0) == ROWS,
        "the scheduled campaign cancelled",
        timeout=20,
    )


def test_an_operator_watches_pauses_resumes_and_cancels_a_running_campaign(
    context: BrowserContext,
    dashboard: ApiServer,
    producer: Producer,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    expect = sync_api.expect
    sandbox.configure(ACCOUNT, latency_ms=100, rate_limit={"limit": 25, "window": 1})
    page = context.new_page()
    sign_in(page, dashboard.url)
    assert page.url == dashboard.url + "/"
    campaign = start_campaign(producer, tmp_path)

    # The list shows it and its progress moves without a reload.
    page.goto(dashboard.url + "/")
    done = page.locator(f'[data-campaign="{campaign}"] .done')
    first = done.inner_text()
    expect(done).not_to_have_text(first, timeout=15_000)
    shoot(page, "campaigns")

    page.click(f'a[href="/campaigns/{campaign}"]')
    expect(page.locator("#state")).to_have_text("running")
    started = time.monotonic()
    page.click("button.pause")
    expect(page.locator("#state")).to_have_text("paused")
    assert time.monotonic() - started < 1.0
    stopped = settled(sandbox)
    assert stopped < ROWS
    time.sleep(1.5)
    assert len(sandbox.ledger(ACCOUNT)) == stopped
    shoot(page, "campaign-paused")

    page.click("button.resume")
    expect(page.locator("#state")).to_have_text("running")
    until(lambda: len(sandbox.ledger(ACCOUNT)) > stopped, "sends again after resuming")

    page.click("button.cancel")
    expect(page.locator("#state")).to_have_text("cancelled")

    def waiting() -> int:
        counts: dict[str, int] = producer.campaign(campaign).counts
        return counts.get("queued", 0) + counts.get("sending", 0)

    until(lambda: waiting() == 0, "every message ended after the cancel")
    ended = settled(sandbox)
    assert ended < ROWS
    assert producer.campaign(campaign).counts.get("cancelled", 0) == ROWS - ended
    assert f"{ROWS + 2}" in page.inner_text("table.rejects")
    page.click("#count-reasons")
    reasons = page.inner_text("table.reasons")
    assert "cancelled" in reasons and "sent" in reasons
    shoot(page, "campaign-cancelled")
    export = context.request.get(f"{dashboard.url}/campaigns/{campaign}/results.csv")
    assert export.ok and export.headers["content-type"].startswith("text/csv")
    lines = export.text().splitlines()
    exported = list(csv.DictReader(lines))
    assert list(exported[0])[:5] == ["line", "to", "phone", "first_name", "status"]
    assert [int(e["line"]) for e in exported] == list(range(2, ROWS + 2))
    assert sum(e["status"] == "sent" for e in exported) == ended
    assert exported[0]["first_name"] == "P0" and exported[0]["provider"] == ACCOUNT


def test_an_unknown_message_is_resolved_from_the_unknown_page(
    context: BrowserContext, dashboard: ApiServer, producer: Producer, sandbox: Sandbox
) -> None:
    sandbox.configure(ACCOUNT, timeout_after=1.0, hang_seconds=5)  # accepted, then no answer
    mid = producer.send(
        Message(account=ACCOUNT, to="+13125569999", sender=SENDERS[ACCOUNT], body="Your code")
    )
    (record,) = wait_for(producer, [mid], timeout=30)
    assert record.status is Status.UNKNOWN
    page = context.new_page()
    sign_in(page, dashboard.url)
    page.goto(dashboard.url + "/unknown")
    page.check(f'input[name="id"][value="{mid}"]')
    shoot(page, "unknown")
    page.fill("#note", "the provider's log shows it")
    page.click('button[value="sent"]')
    assert "sent: 1 of 1 resolved" in page.inner_text(".note")
    record = producer.status(mid)
    assert record.status is Status.SENT
    assert "operator: the provider's log shows it" in record.reason


def test_reminders_held_back_are_shown_waiting_then_timed(
    context: BrowserContext, dashboard: ApiServer, producer: Producer, sandbox: Sandbox
) -> None:
    expect = sync_api.expect
    account = "textingline"
    producer.redis.set(keys.cooldown(account), "test: the provider asked for a pause", px=4000)
    ids = producer.send_many(
        Message(
            account=account,
            to=f"+1312557{i:04d}",
            sender=SENDERS[account],
            body="Your appointment is tomorrow",
            lane="transactional",
        )
        for i in range(5)
    )
    page = context.new_page()
    sign_in(page, dashboard.url)
    page.goto(dashboard.url + "/accounts")
    held = page.inner_text(f'[data-account="{account}"] .hold')
    assert held.startswith("the whole account held until 2")  # as `salvo status` says it
    assert held.endswith(", tried again then: test: the provider asked for a pause")
    shoot(page, "accounts")
    page.goto(dashboard.url + "/reminders")
    assert page.inner_text('[data-lane="transactional"] .waiting') == "5"
    wait_for(producer, ids, timeout=30)
    expect(page.locator("#wait-p99")).to_be_visible(timeout=10_000)  # refreshed by itself
    p50 = float(page.inner_text("#wait-p50").removesuffix(" s"))
    assert 2.0 <= p50 <= 15.0
    shoot(page, "reminders")


def test_a_campaign_of_a_held_sender_says_what_it_waits_for(
    context: BrowserContext, dashboard: ApiServer, producer: Producer, tmp_path: Path
) -> None:
    account, sender = "justcall", "+14155550997"
    reason = "test: sender held, config error: not SMS-enabled"
    producer.redis.set(keys.sender_hold(account, sender), reason, px=60_000)
    path = tmp_path / "held.csv"
    path.write_text("phone,first_name\n+13125569901,Ada\n")
    campaign = blast(producer, path, BlastSpec(account, sender, "Hi {first_name}")).campaign
    try:
        held = producer.campaign(campaign).as_dict()["held"]  # as every other door says it
        assert held.startswith(f"sender {sender} held until 2") and held.endswith(reason)
        page = context.new_page()
        sign_in(page, dashboard.url)
        page.goto(f"{dashboard.url}/campaigns/{campaign}")
        assert page.inner_text("#held") == f"Waiting for {held}"
    finally:
        producer.cancel(campaign)
        producer.redis.delete(keys.sender_hold(account, sender))
