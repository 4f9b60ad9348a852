"""`salvo demo`, small: its own server, sandbox and worker, and a report that adds up."""

from __future__ import annotations

import io

from rich.console import Console

from salvo.demo import PACES, run_demo


def test_the_demo_sends_every_valid_row_once_and_rate_limits_cost_no_attempts() -> None:
    out = io.StringIO()
    figures = run_demo(400, console=Console(file=out, width=120))
    assert figures["rows"] == 400
    assert figures["accepted"] + sum(figures["failed"].values()) == figures["rows"]
    assert figures["unknown"] == 0
    assert figures["duplicates"] == 0
    assert figures["ledger"] == figures["accepted"]
    assert figures["attempts_spent_on_rate_limits"] == 0
    accounts = figures["accounts"]
    assert sum(a["accepted"] for a in accounts.values()) == figures["accepted"]
    # TextingLine is configured above the sandbox's limit: it meets rate-limit answers, every
    # one of which the worker counted, and learns the limit.
    textingline = accounts["textingline"]
    assert textingline["rate_limited"] > 0
    assert textingline["rate_limited"] == textingline["sandbox_rate_limited"]
    assert textingline["ceiling"] is not None
    assert figures["rate_limited"] == sum(a["rate_limited"] for a in accounts.values())
    for name, account in accounts.items():
        limit = PACES[name].sandbox
        assert limit is None or account["busiest_second"] <= limit
    report = out.getvalue()
    assert "Salvo demo report" in report
    assert "0: rate-limit answers cost no attempts" in report
