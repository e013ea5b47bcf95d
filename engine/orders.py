"""Domain objects the engine returns: integers inside (ticks, lots, microseconds).

Rendering to the API's decimal strings and RFC 3339 times happens in engine/views.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

Side = Literal["buy", "sell"]
OrderType = Literal["limit", "market"]
TimeInForce = Literal["GTC", "IOC", "FOK", "GTD"]
Status = Literal["enqueued", "partially_filled", "filled", "killed"]
STP = Literal["cancel_newest", "cancel_oldest", "cancel_both"]
KillReason = Literal[
    "user",
    "expired",
    "max_age",
    "immediate_or_cancel",
    "fill_or_kill",
    "post_only",
    "self_trade",
    "no_liquidity",
    "match_limit",
]
OPEN_STATUSES = ("enqueued", "partially_filled")


@dataclass(frozen=True)
class PlaceRequest:
    """A validated order: the model layer has already turned decimals into ticks and lots."""

    symbol: str
    side: Side
    type: OrderType
    quantity: int  # lots
    price: Optional[int] = None  # ticks; None for market
    time_in_force: TimeInForce = "GTC"
    expires_at: Optional[int] = None  # microseconds since the epoch (GTD only)
    post_only: bool = False
    self_trade_prevention: STP = "cancel_newest"
    client_order_id: Optional[str] = None


@dataclass(frozen=True)
class Fill:
    """One side of a trade, as the owner of the order sees it."""

    trade_id: str
    order_id: str
    symbol: str
    side: Side
    price: int  # ticks
    quantity: int  # lots
    liquidity: Literal["maker", "taker"]
    sequence: int
    created_at: int  # microseconds


@dataclass(frozen=True)
class Trade:
    id: str
    symbol: str
    price: int
    quantity: int
    taker_side: Side
    sequence: int
    created_at: int


@dataclass
class Order:
    id: str
    account_id: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    price: Optional[int]
    quantity: int
    filled_quantity: int
    status: Status
    kill_reason: Optional[KillReason]
    post_only: bool
    self_trade_prevention: STP
    expires_at: Optional[int]
    client_order_id: Optional[str]
    sequence: int
    created_at: int
    updated_at: int
    # Σ price×quantity over the order's fills (Python int, exact); None when nothing filled.
    notional: Optional[int] = None
    # Only on answers to a placement: the trades it made on arrival (taker fills).
    fills: Optional[list[Fill]] = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining_quantity(self) -> int:
        """What still rests in the book: 0 once the order is final."""
        return self.quantity - self.filled_quantity if self.is_open else 0


@dataclass
class PlaceResult:
    order: Order
    replay: bool = False  # True when a client_order_id replay answered an existing order


@dataclass
class BookView:
    symbol: str
    sequence: int
    bids: list[tuple[int, int, int]] = field(default_factory=list)  # (ticks, lots, orders)
    asks: list[tuple[int, int, int]] = field(default_factory=list)


def order_id(symbol: str, seq: int) -> str:
    """Public order/trade id: unique across symbols, and it names the symbol's slot."""
    return f"{symbol}:{seq}"


def parse_order_id(oid: str) -> tuple[str, int] | None:
    """(symbol, seq) of a public id, or None if it cannot be one of ours."""
    symbol, sep, seq = oid.rpartition(":")
    # Only the canonical spelling: ASCII digits without a leading zero. str.isdigit() also
    # takes "１" (fullwidth, which int() reads as 1: an alias of order 1) and "¹" (which
    # int() refuses), and "01" would alias "1" too.
    if not sep or not symbol or not (seq.isascii() and seq.isdigit()) or len(seq) > 16:
        return None
    if seq.startswith("0"):
        return None
    return symbol, int(seq)
