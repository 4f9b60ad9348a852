"""How Salvo writes a count and what it counts, at every door: `1 worker`, `2,001 messages`."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """`n` with thousands separators and its noun, plural (an "s") when `n` is not 1."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
