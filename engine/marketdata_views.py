"""Market data domain objects -> the API's JSON (decimal strings, RFC 3339 times)."""

from __future__ import annotations

from typing import Any, Optional

from engine.clock import format_time
from engine.marketdata import Candle, Ticker, change_percent
from engine.money import format_amount
from engine.symbols import SymbolSpec


def ticker_view(ticker: Ticker, spec: SymbolSpec) -> dict[str, Any]:
    """The ticker object (engine/marketdata_models.py Ticker)."""
    tick, lot = spec.tick, spec.lot

    def price(ticks: Optional[int]) -> Optional[str]:
        return None if ticks is None else format_amount(ticks, tick)

    def qty(lots: Optional[int]) -> Optional[str]:
        return None if lots is None else format_amount(lots, lot)

    last, window = ticker.last, ticker.window
    bid, ask = ticker.best_bid or (None, None), ticker.best_ask or (None, None)
    change = percent = None
    if last is not None and window.open is not None:
        change = format_amount(last.price - window.open, tick)
        percent = change_percent(last.price, window.open)
    return {
        "symbol": ticker.symbol,
        "sequence": ticker.sequence,
        "last_price": price(last.price) if last else None,
        "last_quantity": qty(last.quantity) if last else None,
        "last_trade_at": format_time(last.created_at) if last else None,
        "best_bid": price(bid[0]),
        "best_bid_quantity": qty(bid[1]),
        "best_ask": price(ask[0]),
        "best_ask_quantity": qty(ask[1]),
        "open_24h": price(window.open),
        "high_24h": price(window.high),
        "low_24h": price(window.low),
        "volume_24h": format_amount(window.volume, lot),
        "trades_24h": window.trades,
        "change_24h": change,
        "change_percent_24h": percent,
        "window_start": format_time(window.start * 1_000_000),
        "as_of": format_time(ticker.as_of),
    }


def candle_view(candle: Candle, spec: SymbolSpec) -> dict[str, Any]:
    tick = spec.tick
    return {
        "start": format_time(candle.start * 1_000_000),
        "open": format_amount(candle.open, tick),
        "high": format_amount(candle.high, tick),
        "low": format_amount(candle.low, tick),
        "close": format_amount(candle.close, tick),
        "volume": format_amount(candle.volume, spec.lot),
        "trades": candle.trades,
    }
