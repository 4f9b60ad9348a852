"""Holds as every door shows them: what is held, why, and what to do about it.

worker/holds.py sets them: an account's cooldown (`keys.cooldown`) or one of its senders' holds
(`keys.sender_hold`), each a key whose value is the reason and whose TTL is what is left.
"""

from __future__ import annotations

from typing import Literal

#: What to do about a config error, by what it holds; the worker writes it into the reason
#: (worker/actions.py), so the hold and its messages say it alike.
FIX = {
    "sender": "fix the message's sender number, or enable it for SMS at the provider",
    "account": (
        "fix the account's credentials in settings, or its billing or API access at the provider"
    ),
}


def fix(scope: Literal["account", "sender"]) -> str:
    """What an operator does about a config error that holds `scope`."""
    return FIX[scope]
