"""Request and response models of the live market endpoints: ticker, candles and the stream.

Built from engine/models.py's parts, so they validate and document like every other model
(engine/api/openapi.py lists them with their operations).
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import Field

from engine.models import (
    MAX_SEQUENCE,
    SYMBOL_PATTERN,
    Limit,
    Price,
    Quantity,
    Time,
    Trade,
    _Out,
    _Query,
)

Interval = Literal["1m", "5m", "1h", "1d"]
SignedPrice = Annotated[
    str,
    Field(
        pattern=r"^-?[0-9]+(\.[0-9]+)?$",
        description="Fixed-point with exactly the tick size's decimals; negative when down.",
        examples=["-1.25"],
    ),
]
Percent = Annotated[
    str,
    Field(
        pattern=r"^-?[0-9]+\.[0-9]{2}$",
        description="Percent with two decimals, rounded half-even.",
        examples=["-0.83"],
    ),
]
Level = tuple[Price, Quantity, int]


class TickerQuery(_Query):
    """GET /ticker/{symbol} takes no query parameters."""


class CandlesQuery(_Query):
    interval: Interval = Field("1m", description="1m, 5m, 1h or 1d; default 1m.")
    limit: Limit = Field(100, description="The newest N candles: 1 to 1000, default 100.")


class StreamQuery(_Query):
    symbol: Annotated[str, Field(pattern=SYMBOL_PATTERN, description="The market to follow.")]
    depth: Limit = Field(
        50, description="Price levels per side in the snapshot: 1 to 1000, default 50."
    )


class Ticker(_Out):
    symbol: str
    sequence: Optional[int] = Field(
        ge=1, le=MAX_SEQUENCE,
        description="The last trade folded into the ticker and candles; null before any.",
    )  # fmt: skip
    last_price: Optional[Price] = Field(description="The last trade's price; null before any.")
    last_quantity: Optional[Quantity]
    last_trade_at: Optional[Time]
    best_bid: Optional[Price] = Field(description="From the book as it is now; null if empty.")
    best_bid_quantity: Optional[Quantity]
    best_ask: Optional[Price]
    best_ask_quantity: Optional[Quantity]
    open_24h: Optional[Price] = Field(
        description="The first trade's price in the 24 h window; null if nothing traded."
    )
    high_24h: Optional[Price]
    low_24h: Optional[Price]
    volume_24h: Quantity = Field(description="Σ quantity of the window's trades.")
    trades_24h: int = Field(ge=0)
    change_24h: Optional[SignedPrice] = Field(description="last_price − open_24h.")
    change_percent_24h: Optional[Percent] = Field(description="change_24h / open_24h × 100.")
    window_start: Time = Field(
        description="Start of the 24 h window: the 1,440 one-minute candles ending with the "
        "current minute (so 23 h 59 min to 24 h of trades)."
    )
    as_of: Time = Field(description="When the window was taken (the exchange's clock).")


class Candle(_Out):
    start: Time = Field(description="Start of the interval (UTC; 1d candles start at 00:00Z).")
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Quantity
    trades: int = Field(ge=1)


class CandleList(_Out):
    symbol: str
    interval: Interval
    sequence: Optional[int] = Field(
        ge=1, le=MAX_SEQUENCE,
        description="The last trade folded into the candles; null before any.",
    )  # fmt: skip
    candles: list[Candle] = Field(
        description="Oldest first; intervals without a trade have no candle."
    )


class StreamSnapshot(_Out):
    """The data of an SSE `snapshot` event: the body of GET /book."""

    symbol: str
    sequence: int = Field(ge=0)
    bids: list[Level]
    asks: list[Level]


class StreamUpdate(_Out):
    """The data of an SSE `update` event."""

    symbol: str
    prev: int = Field(ge=0, description="The changes are those after this sequence.")
    sequence: int = Field(ge=0, description="The book's sequence after them (the event's id).")
    trades: list[Trade] = Field(description="The trades after prev, oldest first.")
    bids: list[Level] = Field(
        description="Every level changed after prev, with its quantity and order count at "
        "sequence; 0 orders: the level is gone."
    )
    asks: list[Level]
