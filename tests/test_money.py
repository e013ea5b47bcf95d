"""Decimal strings <-> ticks and lots (engine/money.py): exact, strict, never an exponent."""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ValidationFailed
from engine.money import MAX_UNITS, average_price, format_amount, parse_amount

TICK = Decimal("0.01")
LOT = Decimal("0.0001")


@pytest.mark.parametrize(
    ("text", "step", "units"),
    [
        ("100.10", TICK, 10010),
        ("100.1", TICK, 10010),
        ("100.100", TICK, 10010),  # trailing zeros are allowed
        ("0100.10", TICK, 10010),  # so are leading ones
        ("0.01", TICK, 1),
        ("2", LOT, 20000),
        ("2.0000000000", LOT, 20000),
        ("10000000000", TICK, MAX_UNITS),  # exactly 10^12 ticks
        ("100000000", LOT, MAX_UNITS),
        ("1000000000000", Decimal("1"), MAX_UNITS),
        ("5", Decimal("5"), 1),
        ("250", Decimal("1E+1"), 25),  # a step written with an exponent
        ("0.05", Decimal("0.05"), 1),
        ("9999999.99999", Decimal("0.00001"), MAX_UNITS - 1),
        ("0.00000000000000000001", Decimal("1E-20"), 1),
        ("99999999999900000000", Decimal("100000000"), 999999999999),
    ],
)
def test_parse_amount_gives_whole_steps(text, step, units):
    assert parse_amount(text, step, "price") == units


@pytest.mark.parametrize(
    "text",
    [
        "1e5", "1E5", " 1", "1 ", "-1", "+1", "1_0", "", ".5", "5.", "1.2.3", "1,5",
        "١", "１", "1\n", "0x10", "NaN", "Infinity", "1" * 21, "1." + "0" * 21, "½",
    ],
)  # fmt: skip
def test_parse_amount_rejects_malformed_text(text):
    with pytest.raises(ValidationFailed) as info:
        parse_amount(text, TICK, "quantity")
    assert info.value.field == "quantity"
    assert info.value.status == 422
    assert "decimal string" in info.value.message


@pytest.mark.parametrize("value", [None, 1, 1.5, True, ["1"], {"a": "1"}, b"1"])
def test_parse_amount_rejects_non_strings(value):
    with pytest.raises(ValidationFailed) as info:
        parse_amount(value, TICK, "price")
    assert info.value.field == "price"


@pytest.mark.parametrize("text", ["0", "0.00", "000", "0.00000000000000000000"])
def test_parse_amount_rejects_zero(text):
    with pytest.raises(ValidationFailed, match="price must be positive"):
        parse_amount(text, TICK, "price")


@pytest.mark.parametrize(
    ("text", "step", "message"),
    [
        ("100.001", TICK, "price must be a multiple of 0.01"),
        ("0.00001", LOT, "price must be a multiple of 0.0001"),
        ("7", Decimal("5"), "price must be a multiple of 5"),
        ("0.07", Decimal("0.05"), "price must be a multiple of 0.05"),
        ("1", Decimal("0.00000003"), "price must be a multiple of 0.00000003"),
    ],
)
def test_parse_amount_rejects_off_step(text, step, message):
    with pytest.raises(ValidationFailed) as info:
        parse_amount(text, step, "price")
    assert info.value.message == message


@pytest.mark.parametrize(
    ("text", "step"),
    [("10000000000.01", TICK), ("100000000.0001", LOT), ("99999999999999999999", TICK)],
)
def test_parse_amount_rejects_more_than_10_12_steps(text, step):
    with pytest.raises(ValidationFailed) as info:
        parse_amount(text, step, "quantity")
    assert info.value.field == "quantity"
    assert info.value.message.startswith("quantity must be at most ")


@pytest.mark.parametrize(
    ("units", "step", "text"),
    [
        (10010, TICK, "100.10"),
        (20000, LOT, "2.0000"),
        (1, TICK, "0.01"),
        (0, LOT, "0.0000"),  # remaining_quantity of a final order
        (MAX_UNITS, TICK, "10000000000.00"),
        (MAX_UNITS, LOT, "100000000.0000"),
        (MAX_UNITS, Decimal("0.00000001"), "10000.00000000"),
        (2**53 + 1, TICK, "90071992547409.93"),
        (10**30, TICK, "10000000000000000000000000000.00"),  # no exponent, however large
        (25, Decimal("1E+1"), "250"),
        (3, Decimal("5"), "15"),
        (5, Decimal("0.010"), "0.050"),  # the step's own decimals, as written
        (1, Decimal("1E-20"), "0.00000000000000000001"),
    ],
)
def test_format_amount_is_fixed_point_with_the_steps_decimals(units, step, text):
    assert format_amount(units, step) == text


def test_steps_equal_in_value_keep_their_own_decimals():
    assert format_amount(5, Decimal("0.01")) == "0.05"
    assert format_amount(5, Decimal("0.010")) == "0.050"
    assert format_amount(5, Decimal("0.01")) == "0.05"


STEPS = st.sampled_from(
    [Decimal(s) for s in ("0.01", "0.0001", "1", "0.05", "0.5", "25", "0.00000001", "1E+2")]
)


@given(units=st.integers(min_value=1, max_value=MAX_UNITS), step=STEPS)
def test_format_then_parse_round_trips(units, step):
    text = format_amount(units, step)
    assert "e" not in text.lower()
    assert parse_amount(text, step, "price") == units
    with localcontext() as ctx:
        ctx.prec = 60
        assert Decimal(text) == units * step


@pytest.mark.parametrize(
    ("notional", "quantity", "tick", "price"),
    [
        (10100 * 5000, 5000, TICK, "101.00"),  # one fill
        (10125 * 3 + 10100 * 1, 4, TICK, "101.19"),  # 101.1875 rounds up
        (101 * 1 + 102 * 1, 2, TICK, "1.02"),  # 1.015 ties to even (2)
        (101 * 1 + 104 * 1, 2, TICK, "1.02"),  # 1.025 ties to even (2)
        (103 * 1 + 104 * 1, 2, TICK, "1.04"),  # 1.035 ties to even (4)
        (1 * 2 + 2 * 1, 3, TICK, "0.01"),  # 0.01333…
        (1 * 1 + 2 * 2, 3, TICK, "0.02"),  # 0.01666…
        (3, 2, Decimal("0.05"), "0.08"),  # 0.075: rounded to the tick's decimals, not ticks
        (5, 2, Decimal("1"), "2"),  # 2.5 ties to even
        (7, 2, Decimal("1"), "4"),  # 3.5 ties to even
        (MAX_UNITS * MAX_UNITS, MAX_UNITS, TICK, "10000000000.00"),
        ((2**53 + 1) * 3, 3, TICK, "90071992547409.93"),
    ],
)
def test_average_price_rounds_half_even_to_the_ticks_decimals(notional, quantity, tick, price):
    assert average_price(notional, quantity, tick) == price


@given(
    fills=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=MAX_UNITS),
            st.integers(min_value=1, max_value=MAX_UNITS),
        ),
        min_size=1,
        max_size=5,
    ),
    tick=STEPS,
)
def test_average_price_matches_exact_rational_arithmetic(fills, tick):
    notional = sum(p * q for p, q in fills)
    quantity = sum(q for _, q in fills)
    exact = Fraction(notional, quantity) * Fraction(tick)
    decimals = max(0, -tick.as_tuple().exponent)
    with localcontext() as ctx:
        ctx.prec = 100
        expected = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
            Decimal(1).scaleb(-decimals), rounding="ROUND_HALF_EVEN"
        )
    assert average_price(notional, quantity, tick) == format(expected, "f")


@given(
    units=st.integers(min_value=-(10**15), max_value=10**15),
    text=st.sampled_from(["0.01", "0.0001", "1", "0.05", "0.010", "25", "0.00000001", "100"]),
)
def test_a_step_given_as_its_text_works_as_its_decimal(units, text):
    # Symbols keep their steps as text; money takes the text as the Decimal it spells.
    step = Decimal(text)
    assert format_amount(units, text) == format_amount(units, step)
    if units > 0:
        assert average_price(units * 7, 3, text) == average_price(units * 7, 3, step)
        amount = format_amount(units, step)
        assert _outcome(parse_amount, amount, text) == _outcome(parse_amount, amount, step)
        assert _outcome(parse_amount, amount + "1", text) == _outcome(
            parse_amount, amount + "1", step
        )


def _outcome(function, *args):
    try:
        return function(*args, "price")
    except ValidationFailed as exc:
        return exc.message, exc.field
