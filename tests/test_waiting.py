"""Retry-After parsing, learnt limits, and the schedule that holds whatever must wait."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from sms.learning import INITIAL, Learnt, accepted, limited
from sms.providers.base import parse_retry_after

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-5", 0.0),  # negative: no wait, never a wait into the past
        ("99999999", 3600.0),  # huge: capped
        ("inf", 3600.0),
        ("nan", None),
        ("soon", None),
        ("12abc", None),
        (formatdate(NOW + 30, usegmt=True), 30.0),  # an HTTP date
        (formatdate(NOW - 30, usegmt=True), 0.0),  # an HTTP date in the past
        ("Wed, 99 Foo 2026 25:61:00 GMT", None),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    got = parse_retry_after(value, now=NOW)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1.0)


def test_an_unknown_account_starts_slowly_and_grows_while_accepted() -> None:
    state = accepted(Learnt(), NOW)
    assert state.rate == INITIAL
    grown = accepted(state, NOW + 1.0)
    assert grown.rate == pytest.approx(INITIAL * 2)


def test_a_rate_limit_answer_makes_what_was_accepted_the_ceiling() -> None:
    state = limited(Learnt(rate=50.0, updated=NOW), NOW, accepted_per_second=20.0)
    assert state.ceiling == pytest.approx(20.0)
    assert state.rate == pytest.approx(19.0)
    # Answers within the quiet second count as the same one.
    assert limited(state, NOW + 0.5, accepted_per_second=3.0) == state


def test_without_a_measure_the_ceiling_is_a_tenth_under_the_rate() -> None:
    state = limited(Learnt(rate=30.0, updated=NOW), NOW)
    assert state.ceiling == pytest.approx(27.0)
    assert state.rate == pytest.approx(25.65)
    lower = limited(state, NOW + 2.0)
    assert lower.ceiling == pytest.approx(25.65 * 0.9)


def test_after_a_limit_the_rate_climbs_back_under_the_ceiling_then_probes() -> None:
    state = Learnt(rate=10.0, ceiling=20.0, updated=NOW, decreased=NOW)
    state = accepted(state, NOW + 1.0)
    assert state.rate == pytest.approx(19.0)  # 0.95 x ceiling within a second
    state = accepted(state, NOW + 6.0)
    assert 19.0 < state.rate < 19.2  # then slowly above it


def test_a_configured_rate_is_never_exceeded() -> None:
    state = Learnt(rate=20.0, updated=NOW)
    assert accepted(state, NOW + 5.0, cap=20.0).rate == 20.0


def test_learnt_state_round_trips_through_redis_form() -> None:
    state = Learnt(rate=12.5, ceiling=14.0, updated=NOW, decreased=NOW - 3)
    assert Learnt.from_hash(state.as_hash()) == state
    assert Learnt.from_hash({}, configured=40.0).rate == 40.0


def test_a_ceiling_not_met_for_a_minute_is_forgotten() -> None:
    state = Learnt(rate=19.0, ceiling=20.0, updated=NOW, decreased=NOW)
    later = accepted(state, NOW + 61.0)
    assert later.ceiling is None
    assert later.rate > 19.0
