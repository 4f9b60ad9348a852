"""Backoff is a pure function: exact delays for a given random draw."""

from __future__ import annotations

import pytest

from sms.backoff import compute_backoff


@pytest.mark.parametrize(
    ("attempts", "draw", "expected"),
    [
        (0, 0.5, 0.0),
        (1, 0.5, 0.5),
        (2, 1.0, 2.0),
        (3, 0.25, 1.0),
        (10, 1.0, 300.0),
        (200, 0.5, 150.0),
    ],
)
def test_full_jitter_under_a_cap(attempts: int, draw: float, expected: float) -> None:
    assert compute_backoff(attempts, base=1.0, cap=300.0, rand=lambda: draw) == expected
