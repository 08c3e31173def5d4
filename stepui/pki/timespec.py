"""Durations ("24h", "1h30m", "90d", "1y") and RFC 3339 times, as people type them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from stepui.errors import BadInput

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_DURATION = re.compile(r"(\d+)([smhdwy])", re.ASCII)
_LONGEST = timedelta(days=1000 * 365)  # beyond any real lifetime, far inside datetime's range


def parse_duration(text: str) -> timedelta:
    """``24h``, ``1h30m``, ``90d``, ``1y`` (365 days); a bare number is seconds."""
    value = text.strip().lower()
    if not value or not value.isascii() or (_DURATION.sub("", value) and not value.isdigit()):
        raise BadInput(f"duration {text!r} is not like 24h, 90d, 1h30m or 1y")
    if value.isdigit():
        seconds = int(value)
    else:
        seconds = sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(value))
    if seconds <= 0:
        raise BadInput(f"duration {text!r} must be positive")
    if seconds > _LONGEST.total_seconds():
        raise BadInput(f"duration {text!r} is longer than 1000y")
    return timedelta(seconds=seconds)


def parse_time(text: str) -> datetime:
    """An RFC 3339 time; a naive time is refused rather than guessed."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadInput(f"time {text!r} is not RFC 3339 such as 2027-01-31T12:00:00Z") from exc
    if moment.tzinfo is None:
        raise BadInput(f"time {text!r} has no UTC offset; add Z or +00:00")
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise BadInput(f"time {text!r} is out of range") from exc


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling, so config round-trips read well."""
    seconds = int(delta.total_seconds())
    for unit in ("y", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
