"""Quiet hours: windows read and refused, and the next time a message may go, per zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sms.errors import ConfigError
from sms.quiet import next_send_time, parse_window, zones_for
from sms.settings import Settings

NEW_YORK = "+12125550123"  # America/New_York only
PARIS = "+33612345678"  # Europe/Paris only
TOLL_FREE = "+18005550199"  # every zone of the North American plan, Guam to Newfoundland
BULK = ("bulk",)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("21:00", "expected HH:MM-HH:MM"),
        ("9pm-8am", "expected HH:MM-HH:MM"),
        ("25:00-08:00", "25:00 is not a time of day"),
        ("21:00-08:61", "08:61 is not a time of day"),
        ("08:00-08:00", "start and end are the same time"),
    ],
)
def test_a_bad_window_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_window(text)


def test_a_bad_window_in_the_settings_names_where_it_is() -> None:
    with pytest.raises(ConfigError, match="quiet_hours") as err:
        Settings.load(None, quiet_hours="21:00-8")
    assert "expected HH:MM-HH:MM" in str(err.value)


def test_a_window_crossing_midnight_covers_evening_and_morning() -> None:
    window = parse_window("21:00-08:00")
    now = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)  # 22:00 in New York, 04:00 in Paris
    assert next_send_time(NEW_YORK, window, "bulk", BULK, now) == datetime(
        2026, 12, 3, 13, 0, tzinfo=UTC
    )
    assert next_send_time(PARIS, window, "bulk", BULK, now) == datetime(
        2026, 12, 3, 7, 0, tzinfo=UTC
    )


def test_outside_the_window_a_message_goes_now() -> None:
    now = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # 10:00 in New York
    assert next_send_time(NEW_YORK, "21:00-08:00", "bulk", BULK, now) == now


def test_a_window_only_covers_its_lanes() -> None:
    now = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
    assert next_send_time(NEW_YORK, "21:00-08:00", "transactional", BULK, now) == now
    later = next_send_time(NEW_YORK, "21:00-08:00", "transactional", ("transactional",), now)
    assert later > now


def test_a_window_relative_to_now_holds_one_country_and_not_another() -> None:
    now = datetime.now(UTC)
    in_new_york = now.astimezone(zones_tz(NEW_YORK))
    start = (in_new_york - timedelta(hours=1)).strftime("%H:%M")
    end = (in_new_york + timedelta(hours=1)).strftime("%H:%M")
    window = f"{start}-{end}"  # quiet now in New York, and (six hours on) not in Paris
    held = next_send_time(NEW_YORK, window, "bulk", BULK, now)
    assert timedelta(minutes=59) < held - now <= timedelta(hours=1)
    assert next_send_time(PARIS, window, "bulk", BULK, now) == now


def test_a_number_of_several_zones_waits_until_every_zone_is_open() -> None:
    # 13:00 UTC: 08:00 in New York (open) but 03:00 in Honolulu and 23:00 in Guam (quiet).
    now = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
    at = next_send_time(TOLL_FREE, "21:00-08:00", "bulk", BULK, now)
    assert at > now
    for zone in zones_for(TOLL_FREE):
        local = at.astimezone(zone_info(zone)).time()
        assert not (local.hour >= 21 or local.hour < 8), (zone, local)


def test_a_number_of_unknown_zone_is_not_held() -> None:
    assert zones_for("+8812345678") == ()
    now = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
    assert next_send_time("+8812345678", "21:00-08:00", "bulk", BULK, now) == now


def zone_info(name: str):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def zones_tz(number: str):  # type: ignore[no-untyped-def]
    return zone_info(zones_for(number)[0])
