"""A bad field is refused in Salvo's words at every door (sms/validation.py): the field, what
was wrong and what is allowed, never pydantic's own English, and over HTTP a 422, never a 500."""

from __future__ import annotations

import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from producer.api import build_message
from sms import validation
from sms.errors import InvalidMessage
from tests.api_client import Api
from tests.conftest import Doors
from tests.helpers import run_cli

SENDER = "+14155550101"
TIME = "'tomorrow' is not an ISO 8601 time (2026-11-24T09:00:00+00:00)"
LANE = "'x' is not one of transactional, bulk"
#: pydantic's own words, which no answer may carry.
PYDANTIC = ("Input should", "Field required", "valid string", "Extra inputs", "value is not")


@pytest.fixture
def api(doors: Doors) -> Api:
    return doors.api


def refused(status: int, body: Any) -> dict[str, str]:
    """A 422's problems as field -> reason, checked to carry none of pydantic's words."""
    assert status == 422, (status, body)
    found = {e["field"]: e["reason"] for e in body["errors"]}
    for reason in found.values():
        assert not any(words in reason for words in PYDANTIC), reason
    return found


def test_a_message_missing_its_fields_names_each(api: Api) -> None:
    found = refused(*api.post("/v1/messages", {"body": "hi"}))
    assert found == {
        "account": "required but missing",
        "to": "required but missing",
        "from": "required but missing",
    }


def test_a_message_of_the_wrong_kinds_says_what_each_field_allows(api: Api) -> None:
    bad = {
        "account": "carrierx",
        "to": 5,
        "from": ["+14155550101"],
        "body": True,
        "lane": "x",
        "send_at": "tomorrow",
        "media_urls": "https://example.com/a.png",
        "options": {"click_tracking": "maybe", "colour": "red"},
    }
    found = refused(*api.post("/v1/messages", bad))
    assert found == {
        "to": "the number 5 is not text",
        "from": "a list is not text",
        "body": "true is not text",
        "lane": LANE,
        "send_at": TIME,
        "media_urls": "'https://example.com/a.png' is not a list",
        "options.click_tracking": "'maybe' is not true or false",
        "options.colour": "not a known field",
    }
    # In a list, each under its index; a wrong-kind item is named too.
    status, body = api.post("/v1/messages", [{"account": "carrierx"}, 7])
    assert status == 422
    assert {(e.get("index"), e["field"], e["reason"]) for e in body["errors"]} >= {
        (0, "to", "required but missing"),
        (1, "message", "expected a JSON object"),
    }


def test_a_move_and_an_upload_say_it_in_the_same_words(api: Api) -> None:
    found = refused(*api.call("PATCH", "/v1/messages/any", b'{"send_at": "tomorrow"}'))
    assert found == {"send_at": TIME}
    found = refused(*api.call("PATCH", "/v1/messages/any", b'{"expires_at": [1]}'))
    assert found == {"expires_at": "a list is not an ISO 8601 time (2026-11-24T09:00:00+00:00)"}
    query = {
        "account": "carrierx",
        "from": "not a number",
        "template": "Hi",
        "lane": "x",
        "send_at": "tomorrow",
        "format": "xml",
    }
    status, body = api.call(
        "POST",
        "/v1/campaigns?" + urllib.parse.urlencode(query),
        b"phone\n+12025550100\n",
        {"Content-Type": "text/csv"},
    )
    found = refused(status, body)
    assert found["lane"] == LANE
    assert found["send_at"] == TIME
    assert found["format"] == "'xml' is not one of csv, jsonl"
    assert found["from"].startswith("invalid phone number 'not a number'")
    status, body = api.call(
        "POST", "/v1/campaigns?account=carrierx", b"phone\n", {"Content-Type": "text/csv"}
    )
    assert refused(status, body) == {
        "from": "required but missing",
        "template": "required but missing",
    }


def test_the_command_line_says_it_in_the_same_words(config_file: Path) -> None:
    send = ["send", "--account", "carrierx", "--from", SENDER, "--to", "+12025550123"]
    done = run_cli(config_file, *send, "--lane", "x")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"Invalid value for '--lane': {LANE}" in done.stderr, done.stderr
    done = run_cli(config_file, *send, "--at", "tomorrow")
    assert done.returncode == 2
    assert f"Invalid value for '--at': {TIME}" in done.stderr, done.stderr
    done = run_cli(config_file, "blast", str(config_file), "--account", "carrierx")
    assert done.returncode == 2 and "Missing option '--from'" in done.stderr
    done = run_cli(config_file, "export", "any", "--status", "gone")
    assert done.returncode == 2 and "'gone' is not one of queued, sending, sent" in done.stderr


def test_a_settings_file_says_it_in_the_same_words(tmp_path: Path) -> None:
    config = tmp_path / "salvo.toml"
    config.write_text(
        'batch_size = "many"\nbatch_sise = 5\n[providers.promo]\nkind = "justcall"\napi_key = "k"\n'
    )
    done = run_cli(config, "status")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    line = " ".join(done.stderr.split())
    assert "providers.promo.api_secret: required but missing" in line
    assert "batch_size: 'many' is not a whole number" in line
    assert "batch_sise: not a known setting" in line
    assert not any(words in line for words in PYDANTIC), line


def test_the_python_api_says_it_in_the_same_words() -> None:
    with pytest.raises(InvalidMessage) as err:
        build_message(account="carrierx", to=5, sender=SENDER, lane="x", send_at="tomorrow")
    assert {(p.field, p.problem) for p in err.value.problems} == {
        ("to", "the number 5 is not text"),
        ("lane", LANE),
        ("send_at", TIME),
    }


class _Sample(BaseModel):
    id: uuid.UUID
    count: int = 0
    name: str = "x"


def test_an_error_type_not_mapped_keeps_pydantics_words() -> None:
    with pytest.raises(ValidationError) as err:
        _Sample.model_validate({"id": "nope", "count": 2.5, "name": "x" * 100})
    found = {p.field: p.problem for p in validation.problems(err.value)}
    assert found["id"].startswith("Input should be a valid UUID")  # not mapped: pydantic's
    assert found["count"] == "the number 2.5 is not a whole number"
    assert "name" not in found


def test_a_long_value_is_shown_cut() -> None:
    assert validation.shown("x" * 100) == repr("x" * validation.SHOWN + "…")
    assert validation.one_of(None, ["a", "b"]) == "null is not one of a, b"
