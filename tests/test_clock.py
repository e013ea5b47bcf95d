"""RFC 3339 in and out (engine/clock.py): six fractional digits and Z out, strict in."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.clock import MAX_US, format_time, now_us, parse_time
from engine.errors import ValidationFailed

T = 1795556715123456  # 2026-11-24T21:45:15.123456Z


@pytest.mark.parametrize(
    ("us", "text"),
    [
        (T, "2026-11-24T21:45:15.123456Z"),
        (0, "1970-01-01T00:00:00.000000Z"),
        (1, "1970-01-01T00:00:00.000001Z"),
        (1795556715000000, "2026-11-24T21:45:15.000000Z"),  # zeros are kept
        (MAX_US, "2255-06-05T23:47:34.740991Z"),
    ],
)
def test_format_time_has_six_fractional_digits_and_z(us, text):
    assert format_time(us) == text


@pytest.mark.parametrize(
    ("text", "us"),
    [
        ("2026-11-24T21:45:15.123456Z", T),
        ("2026-11-24T21:45:15Z", T - 123456),
        ("2026-11-24T21:45:15.1Z", T - 23456),
        ("2026-11-24t21:45:15.123456z", T),  # RFC 3339 §5.6 allows lower case
        ("2026-11-24T22:45:15.123456+01:00", T),
        ("2026-11-24T16:15:15.123456-05:30", T),
        ("2026-11-24T21:45:15.123456+00:00", T),
        ("2026-11-24T21:45:15.123456-00:00", T),
        ("2026-11-25T00:00:00+02:14", T - 123456 + 45_000_000),
    ],
)
def test_parse_time_accepts_rfc3339_with_z_or_offset(text, us):
    assert parse_time(text) == us


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24T21:45:15.1234567Z",  # seven fractional digits
        "2026-11-24T21:45Z",  # no seconds
        "2026-11-24T21:45:15",  # no offset
        "2026-11-24",
        "2026-11-24 21:45:15Z",
        "2026-11-24T21:45:15.Z",
        "2026-11-24T21:45:15+0100",
        "2026-11-24T21:45:15+01",
        "20261124T214515Z",
        " 2026-11-24T21:45:15Z",
        "2026-11-24T21:45:15Z\n",
        "٢٠٢٦-11-24T21:45:15Z",
        "1795556715",
        "",
        "tomorrow",
    ],
)
def test_parse_time_rejects_other_formats(text):
    with pytest.raises(ValidationFailed) as info:
        parse_time(text)
    assert info.value.field == "expires_at"
    assert "RFC 3339" in info.value.message


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-24T24:00:00Z",
        "2026-11-24T21:60:00Z",
        "2026-11-24T21:45:60Z",  # a leap second cannot be stored
        "2026-11-24T21:45:15+24:00",
        "2026-11-24T21:45:15+01:60",
        "0000-01-01T00:00:00Z",
    ],
)
def test_parse_time_rejects_impossible_dates(text):
    with pytest.raises(ValidationFailed, match="expires_at is not a valid date and time"):
        parse_time(text)


def test_parse_time_rejects_times_past_what_lua_holds_exactly():
    assert parse_time("2255-06-05T23:47:34.740991Z") == MAX_US
    with pytest.raises(ValidationFailed, match=re.escape("before 2255-06-05T23:47:34.740992Z")):
        parse_time("2255-06-05T23:47:34.740992Z")
    with pytest.raises(ValidationFailed, match="must be before"):
        parse_time("9999-12-31T23:59:59Z")


@pytest.mark.parametrize("value", [None, 1795556715, 1.5, True, ["2026-11-24T21:45:15Z"]])
def test_parse_time_rejects_non_strings(value):
    with pytest.raises(ValidationFailed):
        parse_time(value)


def test_parse_time_names_the_field_it_is_given():
    with pytest.raises(ValidationFailed) as info:
        parse_time("soon", "after")
    assert info.value.field == "after"


@given(st.integers(min_value=0, max_value=MAX_US))
def test_format_then_parse_round_trips(us):
    assert parse_time(format_time(us)) == us


def test_now_us_is_the_wall_clock():
    reference = int(datetime.now(UTC).timestamp() * 1_000_000)
    assert abs(now_us() - reference) < 5_000_000


@given(st.lists(st.integers(min_value=-(10**15), max_value=MAX_US), min_size=1, max_size=5))
def test_format_time_is_the_datetime_text_in_any_order_of_calls(times):
    # format_time keeps the text of the last second it formatted: any sequence of calls
    # (same second, other seconds, before the epoch) gives what datetime gives.
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for us in times + times[::-1]:
        expected = (epoch + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert format_time(us) == expected
