"""Settings: a TOML file, SALVO_* overrides, and clear errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from sms.errors import ConfigError
from sms.settings import JustCallAccount, Settings, SkycoreAccount

GOOD = """
redis_url = "redis://127.0.0.1:6399/0"

[providers.reminders]
kind = "justcall"
api_key = "k"
api_secret = "s"
rate = 1.5
burst = 30

[providers.promo]
kind = "skycore"
api_key = "x"
endpoint_url = "https://example.test/api"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "salvo.toml"
    path.write_text(text)
    return path


def test_a_file_with_two_accounts_loads(tmp_path: Path) -> None:
    settings = Settings.load(write(tmp_path, GOOD))
    reminders = settings.account("reminders")
    assert isinstance(reminders, JustCallAccount)
    assert reminders.base_url == "https://api.justcall.io"
    assert reminders.rate == 1.5
    assert isinstance(settings.account("promo"), SkycoreAccount)


def test_secrets_are_never_shown(tmp_path: Path) -> None:
    settings = Settings.load(write(tmp_path, GOOD))
    assert "'s'" not in repr(settings.account("reminders"))
    assert "**" in repr(settings.account("reminders"))


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALVO_PROVIDERS__REMINDERS__API_KEY", "from-env")
    monkeypatch.setenv("SALVO_REDIS_URL", "redis://127.0.0.1:7000/1")
    settings = Settings.load(write(tmp_path, GOOD))
    account = settings.account("reminders")
    assert isinstance(account, JustCallAccount)
    assert account.api_key.get_secret_value() == "from-env"
    assert account.api_secret.get_secret_value() == "s"
    assert settings.redis_url == "redis://127.0.0.1:7000/1"


def test_salvo_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALVO_CONFIG", str(write(tmp_path, GOOD)))
    assert set(Settings.load().providers) == {"reminders", "promo"}


def test_missing_credentials_name_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, '[providers.a]\nkind = "textingline"\nkey_id = "id"\n')
    with pytest.raises(ConfigError) as err:
        Settings.load(path)
    assert str(path) in str(err.value)
    assert "providers.a.key_secret: required but missing" in str(err.value)


def test_skycore_needs_its_endpoint_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"endpoint_url: required but missing"):
        Settings.load(write(tmp_path, '[providers.s]\nkind = "skycore"\napi_key = "k"\n'))


def test_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"providers\.x"):
        Settings.load(write(tmp_path, '[providers.x]\nkind = "twilio"\n'))


def test_a_misspelt_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"redis_ur: not a known setting"):
        Settings.load(write(tmp_path, 'redis_ur = "x"\n'))


def test_a_misspelt_account_setting_is_named_where_it_is_written(tmp_path: Path) -> None:
    text = '[providers.sms]\nkind = "carrierx"\ntoken = "t"\nrate_per_second = 5\n'
    with pytest.raises(ConfigError) as caught:
        Settings.load(write(tmp_path, text))
    # Not `providers.sms.carrierx.rate_per_second`: the kind is pydantic's tag, not a table.
    assert str(caught.value).endswith(
        "invalid settings: providers.sms.rate_per_second: not a known setting"
    )


def test_broken_toml_says_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"salvo\.toml: not valid TOML.*line 1"):
        Settings.load(write(tmp_path, "redis_url = \n"))


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        Settings.load(tmp_path / "nope.toml")


def test_an_unknown_account_lists_the_known_ones(tmp_path: Path) -> None:
    settings = Settings.load(write(tmp_path, GOOD))
    with pytest.raises(
        ConfigError, match=r"unknown provider account 'blast' \(known: promo, reminders\)"
    ):
        settings.account("blast")


def test_a_negative_rate_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("rate = 1.5", "rate = -1")
    with pytest.raises(
        ConfigError,
        match=r"providers\.reminders\.rate: the number -1 is out of range, must be greater than 0$",
    ):
        Settings.load(write(tmp_path, text))
