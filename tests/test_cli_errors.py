"""Every `salvo` error is one line naming what to fix, exit status 1, and no traceback
(unless `--debug`)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_cli

SEND = ["send", "--account", "carrierx", "--from", "+14155550101", "--to", "+12025550123"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config_with(tmp_path: Path, redis_url: str) -> Path:
    path = tmp_path / "salvo.toml"
    path.write_text(
        f'redis_url = "{redis_url}"\n[providers.carrierx]\nkind = "carrierx"\ntoken = "t"\n'
    )
    return path


def one_line_error(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.mark.parametrize(
    "args",
    [
        [*SEND, "--body", "hi"],
        ["status"],
        ["status", "abc"],
        ["reconcile"],
    ],
)
def test_redis_unreachable_names_the_url_and_the_setting(tmp_path: Path, args: list[str]) -> None:
    port = closed_port()
    config = config_with(tmp_path, f"redis://user:pw@127.0.0.1:{port}/0")
    done = run_cli(config, *args)
    one_line_error(
        done,
        f"cannot reach Redis at redis://***@127.0.0.1:{port}/0",
        str(config),
        "check that the server runs and listens there",
    )
    assert ":pw@" not in done.stderr


def test_blast_with_redis_unreachable_is_one_line_naming_it(tmp_path: Path) -> None:
    config = config_with(tmp_path, f"redis://127.0.0.1:{closed_port()}/0")
    rows = tmp_path / "c.csv"
    rows.write_text("phone\n+12025550123\n")
    done = run_cli(
        config,
        "blast",
        str(rows),
        "--account",
        "carrierx",
        "--from",
        "+14155550101",
        "--template",
        "hi",
    )
    # Before the first row (the suppression list is read first) or at it: either way one line
    # naming the server and where it was set. tests/test_campaign_files.py stops one mid-way.
    one_line_error(done, "Redis", "127.0.0.1", str(config))


def test_an_http_redis_url_is_a_setting_to_fix(tmp_path: Path) -> None:
    done = run_cli(config_with(tmp_path, "http://localhost:6379"), "status")
    one_line_error(done, "redis_url: must start with redis://", "not 'http://'")


def test_a_config_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    config = tmp_path / "latin.toml"
    config.write_bytes(b'redis_url = "redis://h\xe9/0"\n')
    one_line_error(run_cli(config, "status"), f"{config}: not UTF-8 (byte 23 is 0xe9)")


def test_a_config_that_is_a_directory_is_named(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "status")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "is a directory" in done.stderr


def test_a_body_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    config = config_with(tmp_path, f"redis://127.0.0.1:{closed_port()}/0")
    # A byte that is not UTF-8 reaches Python as a lone surrogate (surrogateescape).
    done = run_cli(config, *SEND, "--body", "caf\udce9")
    one_line_error(done, "body: byte 0xe9 at position 4 is not UTF-8")


def test_a_nul_in_a_body_is_refused(tmp_path: Path) -> None:
    config = config_with(tmp_path, f"redis://127.0.0.1:{closed_port()}/0")
    one_line_error(run_cli(config, *SEND, "--body", "a\x01b"), "body: control character U+0001")


def test_times_that_do_not_go_together_are_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    # Refused before Redis is asked: the same rule as `salvo move` and the HTTP API.
    config = config_with(tmp_path, f"redis://127.0.0.1:{closed_port()}/0")
    times = ["--at", "2030-01-02T00:00:00+00:00", "--expires", "2030-01-01T00:00:00+00:00"]
    one_line_error(run_cli(config, *SEND, "--body", "hi", *times), "expires_at: must be after")
    rows = tmp_path / "c.csv"
    rows.write_text("phone\n+12025550123\n")
    blast = ["blast", str(rows), "--account", "carrierx", "--from", "+14155550101"]
    done = run_cli(config, *blast, "--template", "hi", *times)
    one_line_error(done, "expires_at: must be after send_at")


def test_a_single_message_refused_is_not_named_message_0(config_file: Path) -> None:
    done = run_cli(config_file, *SEND[:1], "--account", "nope", *SEND[3:], "--body", "hi")
    one_line_error(done, "error: account: unknown provider account 'nope' (known: ")
    assert "message 0" not in done.stderr


@pytest.mark.parametrize(
    ("args", "option"),
    [
        ([*SEND, "--body", "hi", "--at", "tomorrow"], "'--at'"),
        ([*SEND, "--body", "hi", "--expires", "soon"], "'--expires'"),
        (["move", "0123abcd", "--expires", "soon"], "'--expires'"),
        (["export", "some-campaign", "--status", "gone"], "'--status'"),
    ],
)
def test_a_bad_option_value_names_the_option(tmp_path: Path, args: list[str], option: str) -> None:
    done = run_cli(config_with(tmp_path, f"redis://127.0.0.1:{closed_port()}/0"), *args)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"Invalid value for {option}" in done.stderr, done.stderr


def test_send_and_blast_help_mark_the_account_required(tmp_path: Path) -> None:
    for command in ("send", "blast"):
        shown = run_cli(tmp_path / "none.toml", command, "--help").stdout
        line = next(x for x in shown.splitlines() if x.strip().startswith("--account"))
        assert "[required]" in line
        assert "--provider" not in shown  # the old name still works, but is not offered


def test_send_and_blast_help_say_each_lane_and_its_default(tmp_path: Path) -> None:
    for command, default in (("send", "transactional"), ("blast", "bulk")):
        shown = " ".join(run_cli(tmp_path / "none.toml", command, "--help").stdout.split())
        assert "--lane [transactional|bulk]" in shown
        assert f"[default: {default}]" in shown
        assert "waits behind" in shown


def test_audience_commands_name_the_known_accounts_and_hide_the_old_option_name(
    tmp_path: Path,
) -> None:
    config = config_with(tmp_path, f"redis://127.0.0.1:{closed_port()}/0")
    for args in (["inbound"], ["optout", "list"], ["optout", "check", "+12025550123"]):
        shown = run_cli(config, *args, "--help").stdout
        assert "--account" in shown and "--provider" not in shown, shown
        for name in ("--account", "--provider"):  # the old name still works
            done = run_cli(config, *args, name, "nope")
            one_line_error(done, "unknown provider account 'nope' (known: carrierx)")
