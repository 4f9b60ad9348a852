"""Quiet hours in the recipient's time zone: when a message may be sent, as a pure function.

A window such as "21:00-08:00" is local time at the recipient; it may cross midnight, and its end
is the first minute that is no longer quiet. The recipient's zones come from the number
(phonenumbers' timezone data). A number can map to several zones (a US toll-free number, a
Russian or Australian mobile): then the window that is quiet in any of them wins, so the message
waits until it is outside the window in every one. A number whose zone is unknown
("Etc/Unknown") is not held. Where the zones' windows together cover the whole day, the message
waits for the window to end in the first zone phonenumbers lists.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone

__all__ = ["Window", "next_send_time", "parse_window", "zones_for"]

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
#: Enough passes for any chain of overlapping windows across a number's zones.
_MAX_PASSES = 64


@dataclass(frozen=True, slots=True)
class Window:
    """A daily quiet window in local time: [start, end), crossing midnight when end <= start."""

    start: time
    end: time

    def covers(self, local: time) -> bool:
        """Whether a local time of day falls inside the window."""
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def parse_window(text: str) -> Window:
    """A window from "HH:MM-HH:MM"; ValueError saying what is wrong otherwise."""
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f"quiet hours {text!r}: expected HH:MM-HH:MM, like 21:00-08:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    for hour, minute in ((h1, m1), (h2, m2)):
        if hour > 23 or minute > 59:
            raise ValueError(f"quiet hours {text!r}: {hour:02d}:{minute:02d} is not a time of day")
    start, end = time(h1, m1), time(h2, m2)
    if start == end:
        raise ValueError(f"quiet hours {text!r}: start and end are the same time")
    return Window(start, end)


#: Digits (with the '+') a number's zones are looked up by: one more than the longest prefix in
#: phonenumbers' time-zone data (9 digits), so numbers that differ only past it share a lookup.
#: Parsing is most of a lookup's cost, and a 500k-row file has many numbers per prefix.
_PREFIX = 11
_ZONES: dict[str, tuple[str, ...]] = {}
_ZONES_KEPT = 1 << 16


def zones_for(number: str) -> tuple[str, ...]:
    """The IANA zones phonenumbers gives an E.164 number; () when it knows none."""
    prefix = number[:_PREFIX]
    found = _ZONES.get(prefix)
    if found is not None:
        return found
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = pn_timezone.time_zones_for_number(parsed)
    found = tuple(z for z in zones if z != pn_timezone.UNKNOWN_TIMEZONE)
    if len(_ZONES) >= _ZONES_KEPT:
        _ZONES.clear()
    _ZONES[prefix] = found
    return found


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _quiet_until(window: Window, zone: ZoneInfo, at: datetime) -> datetime | None:
    """When the window ends in `zone`, if `at` falls inside it there; else None."""
    local = at.astimezone(zone)
    if not window.covers(local.time().replace(tzinfo=None)):
        return None
    day = local.date()
    if window.start >= window.end and local.time().replace(tzinfo=None) >= window.start:
        day += timedelta(days=1)  # in the evening part: the window ends tomorrow morning
    end = datetime.combine(day, window.end, tzinfo=zone)
    # A window end in a daylight-saving gap: the round trip through UTC puts it after the gap.
    return max(end.astimezone(UTC), at + timedelta(seconds=1))


def next_send_time(
    number: str,
    window: Window | str | None,
    lane: str,
    lanes: Collection[str],
    now: datetime,
) -> datetime:
    """The first moment at or after `now` (timezone-aware) that a message of `lane` to `number`
    may be sent: `now` itself when no window applies or it is open in every zone."""
    if window is None or lane not in lanes:
        return now
    if isinstance(window, str):
        window = parse_window(window)
    zones = [z for z in (_zone(name) for name in zones_for(number)) if z is not None]
    if not zones:
        return now
    at = now
    for _ in range(_MAX_PASSES):
        ends = [end for end in (_quiet_until(window, z, at) for z in zones) if end is not None]
        if not ends:
            return at
        at = max(ends)
        if at - now > timedelta(days=2):
            break
    # The zones' windows cover the whole day between them: follow the first zone alone.
    return _quiet_until(window, zones[0], now) or now
