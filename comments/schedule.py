"""Moderation on a schedule: weekly windows in a site's time zone, and threads that close with age.

Pure rules, no I/O. config.py parses a site's schedule once, at start-up; the posting path and
/api/config ask `in_force(now)` for the mode in force and the moment it next changes.

A window is wall-clock time in the site's zone, opening on the days named: `pre Mon-Fri 23:00-07:00`
opens Monday to Friday at 23:00 and ends the next morning at 7:00. On a daylight-saving night a
window keeps its wall-clock ends, so it is an hour shorter in spring and an hour longer in autumn.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from comments.models import Moderation

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Where windows overlap, the strictest mode wins.
STRICTNESS = {Moderation.POST: 0, Moderation.TRUSTED: 1, Moderation.PRE: 2}
# How far ahead "until" is looked for: a weekly schedule repeats within a week.
HORIZON_DAYS = 8
SYNTAX = (
    "expected rules like 'pre Mon-Fri 23:00-07:00', 'pre Sat-Sun', 'close after 30d', "
    "'tz=Europe/Berlin'"
)


@dataclasses.dataclass(frozen=True)
class Window:
    """One weekly window: `mode` from `start` on each of `days`, for `minutes` of wall time."""

    mode: Moderation
    days: frozenset[int]  # weekdays it opens on, Monday = 0
    start: time
    minutes: int  # 1 to 1440; past midnight it ends on the next day


@dataclasses.dataclass(frozen=True)
class InForce:
    """The moderation mode in force at a moment, and when it changes next (None: not this week)."""

    mode: Moderation
    until: datetime | None = None


@dataclasses.dataclass(frozen=True)
class Schedule:
    windows: tuple[Window, ...] = ()
    zone: str = "UTC"
    close_after: int = 0  # seconds after a thread began that it takes no new comments; 0 = never

    def in_force(self, base: Moderation, now: datetime) -> InForce:
        """The mode at `now` (a window's, else `base`) and the next moment it differs."""
        intervals = list(self._intervals(now))
        mode = _mode_at(intervals, base, now)
        moments = sorted({edge for start, end, _ in intervals for edge in (start, end)})
        for moment in (edge for edge in moments if edge > now):
            if _mode_at(intervals, base, moment) is not mode:
                return InForce(mode, moment)
        return InForce(mode, None)

    def closes(self, began: datetime | None) -> datetime | None:
        """When a thread that began at `began` stops taking comments, if it does."""
        if not self.close_after or began is None:
            return None
        return began + timedelta(seconds=self.close_after)

    def _intervals(self, now: datetime):
        """Each window's openings from two days back to a week ahead, as UTC intervals."""
        zone = ZoneInfo(self.zone)
        today = now.astimezone(zone).date()
        for offset in range(-2, HORIZON_DAYS + 1):
            day = today + timedelta(days=offset)
            for window in self.windows:
                if day.weekday() in window.days:
                    yield (*_interval(day, window, zone), window.mode)


def _interval(day: date, window: Window, zone: ZoneInfo) -> tuple[datetime, datetime]:
    # Wall times, made aware only at the end: adding minutes to an aware time would add real
    # minutes and move the end across a daylight-saving change.
    start = datetime.combine(day, window.start)
    end = start + timedelta(minutes=window.minutes)
    return start.replace(tzinfo=zone).astimezone(UTC), end.replace(tzinfo=zone).astimezone(UTC)


def _mode_at(intervals, base: Moderation, moment: datetime) -> Moderation:
    modes = [mode for start, end, mode in intervals if start <= moment < end]
    return max(modes, key=STRICTNESS.__getitem__) if modes else base


# Parsing: `pre Mon-Fri 23:00-07:00, pre Sat-Sun, close after 30d, tz=Europe/Berlin`


def parse_schedule(rules: str | list) -> Schedule:
    """One site's schedule from its rules (a comma-separated string, or a TOML list of them)."""
    items = rules if isinstance(rules, list) else str(rules).split(",")
    windows: list[Window] = []
    zone, close_after = "UTC", 0
    for raw in items:
        item = " ".join(str(raw).split())
        if not item:
            continue
        lowered = item.lower()
        if lowered.startswith("tz"):
            zone = _parse_zone(item[2:].lstrip(" =").strip())
        elif lowered.startswith(("close after ", "closed after ")):
            close_after = _parse_age(item, lowered.partition(" after ")[2])
        else:
            windows.append(_parse_window(item))
    if not windows and not close_after:
        raise ValueError(f"no windows and no 'close after': {SYNTAX}")
    return Schedule(tuple(windows), zone, close_after)


def _parse_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name like Europe/Berlin)") from None
    return name


def _parse_age(item: str, text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*([hd])", text.strip())
    if not match or int(match[1]) == 0:
        raise ValueError(f"{item!r}: expected a number of days or hours, like 'close after 30d'")
    return int(match[1]) * (86400 if match[2] == "d" else 3600)


def _parse_window(item: str) -> Window:
    parts = item.split(" ")
    if len(parts) not in (2, 3):
        raise ValueError(f"{item!r}: {SYNTAX}")
    try:
        mode = Moderation(parts[0].lower())
    except ValueError:
        names = ", ".join(choice.value for choice in Moderation)
        raise ValueError(f"{item!r}: the mode must be one of {names}") from None
    days = _parse_days(item, parts[1].lower())
    if len(parts) == 2:
        return Window(mode, days, time(0, 0), 24 * 60)
    match = re.fullmatch(r"(\d\d?):(\d\d)-(\d\d?):(\d\d)", parts[2])
    if not match:
        raise ValueError(f"{item!r}: expected hours like 23:00-07:00")
    start, end = int(match[1]) * 60 + int(match[2]), int(match[3]) * 60 + int(match[4])
    if start >= 24 * 60 or end > 24 * 60 or int(match[2]) > 59 or int(match[4]) > 59:
        raise ValueError(f"{item!r}: hours run from 00:00 to 24:00")
    if start == end:
        raise ValueError(f"{item!r}: the window starts when it ends")
    minutes = end - start if end > start else end + 24 * 60 - start
    return Window(mode, days, time(start // 60, start % 60), minutes)


def _parse_days(item: str, text: str) -> frozenset[int]:
    if text in ("daily", "every-day", "mon-sun"):
        return frozenset(range(7))
    first, _, last = text.partition("-")
    if first[:3] not in DAYS or (last and last[:3] not in DAYS):
        raise ValueError(f"{item!r}: expected days like Mon, Mon-Fri, Sat-Sun or daily")
    start, end = DAYS.index(first[:3]), DAYS.index((last or first)[:3])
    # A range may wrap past Sunday: Fri-Mon is Friday, Saturday, Sunday and Monday.
    return frozenset((start + step) % 7 for step in range((end - start) % 7 + 1))


def parse_site_schedules(value: str | dict) -> tuple[tuple[str, Schedule], ...]:
    """`site=rules; other.site=rules`, or a TOML table of site = "rules" (or a list of rules)."""
    pairs = (
        value.items()
        if isinstance(value, dict)
        else (item.partition("=")[::2] for item in str(value).split(";") if item.strip())
    )
    parsed = []
    for site, rules in pairs:
        name = str(site).strip().lower()
        if not name or not rules:
            raise ValueError("expected site=rules, e.g. blog.example.org=pre Sat-Sun")
        try:
            parsed.append((name, parse_schedule(rules)))
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
    return tuple(parsed)
