"""Bad input gets a clear error that says what and where, and nothing is enqueued."""

from __future__ import annotations

from pathlib import Path

import pytest

from producer.api import Producer, build_message
from producer.campaign import BlastSpec, blast
from sms.errors import InvalidInput, InvalidMessage, TemplateError
from sms.message import Message
from tests.helpers import run_cli


def depth(producer: Producer) -> int:
    return int(producer.redis.llen("bulk")) + int(producer.redis.llen("transactional"))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--to", "+1 202 555"], "to: invalid phone number '+1 202 555'"),
        (["--to", "hello"], "to: invalid phone number 'hello'"),
        (["--body", "x" * 641], "body: 641 characters"),
        (["--provider", "nope"], "account: unknown provider account 'nope'"),
    ],
)
def test_salvo_send_refuses_bad_input(config_file: Path, args: list[str], expected: str) -> None:
    base = {
        "--provider": "textingline",
        "--from": "+14155550102",
        "--to": "+12025550123",
        "--body": "hi",
    }
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    done = run_cli(config_file, "send", *[x for kv in base.items() for x in kv])
    assert done.returncode == 1
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


def test_a_config_without_credentials_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "salvo.toml"
    config.write_text('[providers.promo]\nkind = "justcall"\napi_key = "k"\n')
    done = run_cli(
        config,
        "send",
        "--provider",
        "promo",
        "--from",
        "+14155550100",
        "--to",
        "+12025550123",
        "--body",
        "hi",
    )
    assert done.returncode == 1
    assert "providers.promo.api_secret: required but missing" in done.stderr


def test_send_many_refuses_the_whole_chunk_naming_the_bad_message(producer: Producer) -> None:
    before = depth(producer)
    good = Message(account="justcall", to="+12025550123", sender="+14155550100", body="ok")
    bad = Message(account="justcall", to="+12025550124", sender="+14155550100", body="y" * 1601)
    with pytest.raises(InvalidMessage) as err:
        producer.send_many([good, bad])
    assert str(err.value).startswith("message 1: body")
    assert "1,600" in str(err.value)
    assert depth(producer) == before


def test_build_message_names_each_bad_field() -> None:
    with pytest.raises(InvalidMessage) as err:
        build_message(account="a", to="123", sender="nope", body="x", media_urls=["ftp://x"])
    fields = {p.field for p in err.value.problems}
    assert {"to", "from", "media_urls"} <= fields


def test_a_template_naming_a_missing_column_stops_before_any_row(
    tmp_path: Path, producer: Producer
) -> None:
    path = tmp_path / "c.csv"
    path.write_text("phone,name\n+12025550123,A\n")
    spec = BlastSpec(account="justcall", sender="+14155550100", template="Hi {first_name}")
    with pytest.raises(TemplateError, match=r"\{first_name\}.*columns: phone, name"):
        blast(producer, path, spec)


def test_a_csv_without_a_phone_column_is_refused(tmp_path: Path, producer: Producer) -> None:
    path = tmp_path / "c.csv"
    path.write_text("number,name\n+12025550123,A\n")
    spec = BlastSpec(account="justcall", sender="+14155550100", template="Hi")
    with pytest.raises(InvalidInput, match=r"line 1: no 'phone' column"):
        blast(producer, path, spec)


def test_an_unsafe_template_is_refused_by_the_cli(tmp_path: Path, config_file: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("phone,name\n+12025550123,A\n")
    done = run_cli(
        config_file,
        "blast",
        str(path),
        "--provider",
        "justcall",
        "--from",
        "+14155550100",
        "--template",
        "Hi {name.__class__}",
    )
    assert done.returncode == 1
    assert "only plain {name} fields are allowed" in done.stderr
