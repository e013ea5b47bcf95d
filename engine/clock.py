"""Microseconds since the epoch <-> RFC 3339 text: the API's only time formats."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone

from engine.errors import ValidationFailed

# Times cross Lua as doubles, exact only up to 2^53 µs (the year 2255): later is out of range.
MAX_US = 2**53 - 1

_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
# RFC 3339 date-time: seconds required, "T"/"Z" in either case (RFC 3339 §5.6), a numeric
# offset or Z; at most six fractional digits (the engine keeps microseconds).
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def now_us() -> int:
    """This machine's wall clock in microseconds (the engine itself uses Redis TIME)."""
    return time.time_ns() // 1000


# (second, its "YYYY-MM-DDTHH:MM:SS" text) of the last time formatted: an answer's times
# share their second, and so do most answers of the same moment.
_last_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def format_time(us: int) -> str:
    """RFC 3339 UTC with exactly six fractional digits and Z: 2026-11-24T21:45:15.123456Z."""
    global _last_second
    second, fraction = divmod(us, 1_000_000)
    seen, text = _last_second
    if second != seen:
        text = (_EPOCH + timedelta(seconds=second)).isoformat(timespec="seconds")
        _last_second = (second, text)
    return f"{text}.{fraction:06d}Z"


def parse_time(text: object, field: str = "expires_at") -> int:
    """Microseconds since the epoch of an RFC 3339 date-time; ValidationFailed otherwise."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValidationFailed(
            f"{field} must be an RFC 3339 date-time with seconds and a Z or an offset, "
            'at most six fractional digits, such as "2030-01-31T12:00:00Z"',
            field,
        )
    year, month, day, hour, minute, second, frac, sign, off_h, off_m = match.groups()
    try:
        offset = timedelta()
        if sign:
            if int(off_h) > 23 or int(off_m) > 59:
                raise ValueError("offset out of range")
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            if sign == "-":
                offset = -offset
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second),
            int((frac or "").ljust(6, "0")), tzinfo=timezone(offset),
        )  # fmt: skip
        us = (moment - _EPOCH_UTC) // _ONE_US
    except (ValueError, OverflowError):
        raise ValidationFailed(f"{field} is not a valid date and time", field) from None
    if us > MAX_US:
        raise ValidationFailed(f"{field} must be before {format_time(MAX_US + 1)}", field)
    return us
