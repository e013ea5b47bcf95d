"""Decimal strings <-> integer ticks and lots: the only place that converts money.

Everything here is integer arithmetic on exact scaled values (never float, never a Decimal
context that could round), so it stays exact far beyond 10^12 steps.
"""

from __future__ import annotations

import re
from decimal import Decimal, DecimalTuple
from functools import lru_cache

from engine.errors import ValidationFailed

MAX_UNITS = 10**12  # most ticks in a price, most lots in a quantity
AMOUNT_RULE = (
    'a decimal string such as "1.25" (digits with at most one point; '
    "no sign, exponent, spaces or separators)"
)

AMOUNT_PATTERN = r"^[0-9]{1,20}(\.[0-9]{1,20})?$"  # the contract's words, and the JSON schema's
# [0-9] is ASCII only ("١" is not a digit); fullmatch, as "$" would accept a final newline.
_AMOUNT = re.compile(AMOUNT_PATTERN[1:-1])


Step = Decimal | str  # a tick or lot size: a Decimal, or a symbol's normalised step text


def _step(step: Step) -> tuple[int, int]:
    """(decimals, step × 10^decimals): the step as a whole number of its smallest digit."""
    if type(step) is str:
        return _text_step_parts(step)
    # Keyed by the digits, not the value: Decimal("0.01") == Decimal("0.010") but they differ
    # in decimals.
    return _step_parts(step.as_tuple())


@lru_cache(maxsize=256)
def _text_step_parts(step: str) -> tuple[int, int]:
    # "0.01" and "0.010" are different keys here, as they differ in decimals.
    return _step_parts(Decimal(step).as_tuple())


@lru_cache(maxsize=256)
def _step_parts(parts: DecimalTuple) -> tuple[int, int]:
    sign, digits, exponent = parts
    if sign or not isinstance(exponent, int) or not any(digits):
        raise ValueError(f"a step must be a positive decimal, got {parts!r}")
    coefficient = int("".join(map(str, digits)))
    if exponent >= 0:
        return 0, coefficient * 10**exponent
    return -exponent, coefficient


def _step_text(step: Step) -> str:
    return format(Decimal(step), "f")


def parse_amount(text: object, step: Step, field: str) -> int:
    """Whole steps (ticks or lots) in a decimal string; ValidationFailed on `field` otherwise."""
    if not isinstance(text, str) or _AMOUNT.fullmatch(text) is None:
        raise ValidationFailed(f"{field} must be {AMOUNT_RULE}", field)
    whole, _, frac = text.partition(".")
    value = int(whole + frac)  # the amount × 10^len(frac)
    if value == 0:
        raise ValidationFailed(f"{field} must be positive", field)
    decimals, scaled = _step(step)
    # amount / step = (value / 10^len(frac)) / (scaled / 10^decimals)
    numerator = value * 10**decimals
    denominator = scaled * 10 ** len(frac)
    units, rest = divmod(numerator, denominator)
    if rest:
        raise ValidationFailed(f"{field} must be a multiple of {_step_text(step)}", field)
    if units > MAX_UNITS:
        raise ValidationFailed(
            f"{field} must be at most {format_amount(MAX_UNITS, step)} "
            f"(10^12 × {_step_text(step)})",
            field,
        )
    return units


def _fixed(scaled: int, decimals: int) -> str:
    """An integer that counts 10^-decimals, as fixed-point text with exactly `decimals` digits."""
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled))
    if not decimals:
        return sign + digits
    digits = digits.rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


def format_amount(units: int, step: Step) -> str:
    """Ticks or lots as fixed-point text with exactly the step's decimals ("100.10", "2.0000")."""
    decimals, scaled = _step(step)
    return _fixed(units * scaled, decimals)


def average_price(notional: int, quantity: int, tick: Step) -> str:
    """Σ(ticks × lots) / Σ lots as a price, rounded half-even to the tick's decimals."""
    if quantity <= 0:
        raise ValueError("average_price needs a positive quantity")
    decimals, scaled = _step(tick)
    # price × 10^decimals = notional × scaled / quantity, rounded half-even to an integer
    rounded, rest = divmod(notional * scaled, quantity)
    twice = 2 * rest
    if twice > quantity or (twice == quantity and rounded % 2):
        rounded += 1
    return _fixed(rounded, decimals)
