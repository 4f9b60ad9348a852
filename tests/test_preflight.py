"""Preflight: a file whose answer is worked out by hand, read with nothing enqueued; quiet hours
and the rate give the time to complete."""

from __future__ import annotations

import csv
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from producer.api import Producer
from producer.campaign import BlastSpec, blast
from producer.preflight import completion, cost, estimate, figures, preflight
from sms import keys
from sms.errors import InvalidInput, TemplateError
from sms.settings import Settings

SENDER = "+14155550102"
OPTED_OUT = "+16175550105"
CURLY = "\u2019"
EMOJI = "\U0001f600"


def with_account(settings: Settings, **changes: Any) -> Settings:
    account = settings.providers["textingline"].model_copy(update=changes)
    return settings.model_copy(update={"providers": {**settings.providers, "textingline": account}})


@pytest.fixture
def priced(settings: Settings) -> Iterator[Producer]:
    producer = Producer(with_account(settings, price_per_segment=0.01, rate=10.0))
    producer.optouts.add("textingline", OPTED_OUT)
    yield producer
    producer.optouts.remove("textingline", OPTED_OUT)
    producer.close()


def write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["phone", "msg"])
        w.writerows(rows)
    return path


def spec(campaign: str, **extra: Any) -> BlastSpec:
    return BlastSpec("textingline", SENDER, "{msg}", campaign=campaign, **extra)


ROWS = [
    ["+16175550101", "Hello"],  # GSM-7, 1 segment
    ["+16175550102", f"It{CURLY}s on"],  # UCS-2, 1 segment; smart: GSM-7, 1
    ["+16175550103", "x" * 150 + CURLY],  # UCS-2 151 units: 3 segments; smart: GSM-7, 1
    ["+16175550104", "y" * 161],  # GSM-7, 161 septets: 2 segments
    ["not a number", "Bad"],  # rejected (line 6)
    ["+16175550101", "Hello"],  # the same key again: a duplicate
    [OPTED_OUT, "Hi"],  # suppressed
    ["+16175550106", f"{EMOJI} party"],  # UCS-2, 8 units: 1 segment
    ["+16175550107", "Taken"],  # its key already taken in Redis: a duplicate
]


def test_a_hand_worked_file(priced: Producer, tmp_path: Path) -> None:
    campaign = f"pf{uuid.uuid4().hex[:10]}"
    priced.redis.set(keys.idempotency(f"{campaign}:+16175550107"), "someone-else")
    path = write(tmp_path / "people.csv", ROWS)
    report = preflight(priced, path, spec(campaign, smart_encoding=False))
    assert (report.rows, report.valid, report.rejected) == (9, 8, 1)
    assert (report.duplicates, report.suppressed, report.to_send) == (2, 1, 5)
    assert (report.gsm7, report.ucs2, report.mms) == (2, 3, 0)
    assert report.ucs2_characters == [(CURLY, 2), (EMOJI, 1)]
    assert (report.segments, report.segments_saved) == (8, 2)
    assert report.cost == pytest.approx(0.08)
    assert (report.rate, report.rate_source, report.seconds) == (10.0, "configured", 0.5)
    assert report.rejects_path is not None
    assert [r[:2] for r in csv.reader(report.rejects_path.open())][1:] == [
        ["6", "phone: contains letters ('not a number')"]
    ]
    assert not priced.redis.exists(keys.campaign(campaign))  # nothing recorded
    assert not priced.redis.exists(keys.idempotency(f"{campaign}:+16175550101"))


def test_a_key_repeated_by_another_message_is_rejected_as_the_blast_rejects_it(
    priced: Producer, tmp_path: Path
) -> None:
    campaign = f"pf{uuid.uuid4().hex[:10]}"
    # Held by a message whose fingerprint is known and differs.
    priced.redis.set(keys.idempotency(f"{campaign}:+16175550109"), "someone-else 0123abcd")
    rows = [
        ["+16175550108", "Hello"],
        ["+16175550108", "Hello again"],  # the same number, another message: a conflict
        ["+16175550108", "Hello"],  # the same message again: a duplicate
        ["+16175550109", "Hi"],  # a conflict with the message holding the key
    ]
    path = write(tmp_path / "people.csv", rows)
    report = preflight(priced, path, spec(campaign))
    assert (report.rows, report.valid, report.rejected) == (4, 2, 2)
    assert (report.duplicates, report.to_send, report.reasons) == (1, 1, {"conflict": 2})
    done = blast(priced, path, spec(campaign))
    assert (done.rows, done.enqueued, done.duplicates, done.rejected) == (4, 1, 1, 2)
    assert done.reasons == {"conflict": 2}


def test_smart_encoding_is_counted_when_on(priced: Producer, tmp_path: Path) -> None:
    path = write(tmp_path / "people.csv", ROWS)
    report = preflight(priced, path, spec(f"pf{uuid.uuid4().hex[:10]}", smart_encoding=True))
    # This campaign has not taken +16175550107's key: six to send, "Taken" one GSM-7 segment.
    assert (report.duplicates, report.to_send) == (1, 6)
    assert (report.gsm7, report.ucs2) == (5, 1)
    assert (report.segments, report.segments_saved) == (7, 2)
    assert report.cost == pytest.approx(0.07)


def test_quiet_hours_that_cover_now_in_one_country_hold_only_its_numbers(
    settings: Settings, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    local = now.astimezone(ZoneInfo("America/New_York"))
    end = local + timedelta(hours=1)
    window = f"{(local - timedelta(hours=1)):%H:%M}-{end:%H:%M}"
    producer = Producer(with_account(settings, rate=10.0, quiet_hours=window))
    try:
        rows = [["+12125550140", "a"], ["+12125550141", "b"], ["+33612345678", "c"]]
        path = write(tmp_path / "quiet.csv", rows)
        report = preflight(producer, path, spec(f"pf{uuid.uuid4().hex[:10]}"))
    finally:
        producer.close()
    assert report.held_for_quiet_hours == 2
    opens = end.replace(second=0, microsecond=0).timestamp() - now.timestamp()
    assert report.seconds == pytest.approx(opens + 0.2, abs=2.0)


def test_no_price_no_cost_and_no_rate_no_time() -> None:
    assert cost(10, 0, None, None) is None
    assert cost(10, 2, 0.01, None) is None
    assert cost(0, 2, None, 0.5) == 1.0
    assert completion(Counter([100.0, 100.0, 50.0]), 2.0, 0.0) == 101.0


def test_the_figures_before_a_blast_are_the_preflights_for_a_small_file(
    priced: Producer, tmp_path: Path
) -> None:
    campaign = f"pf{uuid.uuid4().hex[:10]}"
    priced.redis.set(keys.idempotency(f"{campaign}:+16175550107"), "someone-else")
    path = write(tmp_path / "people.csv", ROWS)
    found = estimate(priced, path, spec(campaign, smart_encoding=False))
    assert (found.exact, found.sampled) == (True, 9)
    assert not (tmp_path / "people.rejects.csv").exists()  # the sample's rejects go elsewhere
    assert not priced.redis.exists(keys.campaign(campaign))
    whole = preflight(priced, path, spec(campaign, smart_encoding=False))
    assert figures(found.report) == figures(whole)
    assert (found.report.rows, found.report.to_send, found.report.duplicates) == (9, 5, 2)


def test_a_file_the_figures_cannot_be_read_from_is_named_as_given(
    priced: Producer, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text("mobile,msg\n+16175550101,Hi\n")
    with pytest.raises(InvalidInput) as caught:
        estimate(priced, path, spec(f"pf{uuid.uuid4().hex[:10]}"))
    assert str(caught.value).startswith(f"{path}: line 1: no 'phone' column")
    path.write_text("phone,name\n+16175550101,Ann\n")  # the template names {msg}
    with pytest.raises((InvalidInput, TemplateError)) as caught_too:
        estimate(priced, path, spec(f"pf{uuid.uuid4().hex[:10]}"))
    assert str(path) in str(caught_too.value) and "salvo-estimate" not in str(caught_too.value)


def test_the_figures_before_a_blast_of_a_large_file_are_scaled_from_its_first_rows(
    priced: Producer, tmp_path: Path
) -> None:
    # 1,000 rows of 20 bytes each, every fourth one UCS-2 ("日" is 3 bytes, as "abc" is):
    # the first 100 are a tenth of the file, so every count is ten times the sample's.
    rows = [[f"+1617556{i:04d}", "Hi 日" if i % 4 == 3 else "Hi abc"] for i in range(1000)]
    path = write(tmp_path / "large.csv", rows)
    found = estimate(priced, path, spec(f"pf{uuid.uuid4().hex[:10]}"), sample=100)
    report = found.report
    assert (found.exact, found.sampled) == (False, 100)
    assert (report.rows, report.valid, report.to_send) == (1000, 1000, 1000)
    assert (report.gsm7, report.ucs2, report.segments) == (750, 250, 1000)
    assert report.cost == pytest.approx(10.0)
    # 1,000 messages at the configured 10/s: 100 s, as the whole file's preflight says.
    whole = preflight(priced, path, spec(f"pf{uuid.uuid4().hex[:10]}"))
    assert report.seconds == whole.seconds == 100.0
    assert figures(report) == figures(whole)
