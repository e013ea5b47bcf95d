"""Helpers of the lifecycle tests: place orders through the engine, run the fan-out in-process."""

from __future__ import annotations

import json
from typing import Optional

from engine.context import EngineContext
from engine.fanout import FanOut
from engine.feed import Feed
from engine.orders import PlaceRequest


def account_id(api_key: str) -> str:
    """The account id inside an API key (te_<id>_<secret>)."""
    return api_key.split("_")[1]


def place(ctx: EngineContext, account: str, side: str, qty: int, price: Optional[int] = None,
          symbol: str = "BTC-USD", **extra):  # fmt: skip
    order_type = "limit" if price is not None else "market"
    extra.setdefault("time_in_force", "GTC" if price is not None else "IOC")
    req = PlaceRequest(symbol, side, order_type, qty, price=price, **extra)
    return ctx.engine.place(account, req).order


def fan_out(ctx: EngineContext, consumer: str = "test", symbols=("BTC-USD",)) -> int:
    """Handle every new stream entry of the symbols, as a worker's fan-out job would."""
    fan = FanOut(ctx, consumer)
    handled = 0
    try:
        for symbol in symbols:
            assert fan.acquire(symbol)
            while (n := fan.poll(symbol)) > 0:
                handled += n
    finally:
        fan.release_all()
    return handled


def feed_events(ctx: EngineContext, account: str) -> list[dict]:
    return [json.loads(body) for _, body in Feed(ctx.redis).read(account, "0-0", 1000)]
