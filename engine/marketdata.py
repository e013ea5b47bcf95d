"""Market data the workers make: each symbol's trades folded into a ticker state and candles.

A periodic job (``fold_job``, run by ``rq cron`` under a lease) calls lua/marketdata_fold.lua
per symbol: it reads the trades after the symbol's high-water mark (the last trade folded,
kept in the same hash as the last price) from the trades zset, adds them to the open, high,
low, close, volume and trade count of their 1m, 5m, 1h and 1d candles, and moves the mark,
all in one atomic call. A trade is therefore folded exactly once however often the job runs
(at least once: a job that dies is simply run again; two workers cannot double a trade).

Everything is an integer: prices in ticks, volumes in lots (Redis HINCRBY, int64), times in
seconds (candle starts, aligned to UTC: a 1d candle starts at 00:00Z) and microseconds.

**The 24 h window** of the ticker is rolling and made of one-minute candles: the minute that
Redis TIME falls in and the 1,439 before it. Its volume, high, low and trade count cover the
trades of those 1,440 minutes (so between 23 h 59 min and 24 h of trading), its open is the
first trade's price in it, and change = last price − open. ``recompute`` is the same fold
in plain Python, for tests and checks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Optional

from engine import jobs, leases
from engine.keys import marketdata_keys, symbol_keys
from engine.orders import BookView, Trade
from engine.scripts import source

log = logging.getLogger(__name__)

# name -> seconds; candles kept per interval (older ones are removed by the fold).
INTERVALS = {"1m": 60, "5m": 300, "1h": 3600, "1d": 86400}
KEEP = {60: 2 * 1440, 300: 7 * 288, 3600: 90 * 24, 86400: 10 * 366}
WINDOW = (60, 1440)  # the ticker's 24 h: 1,440 one-minute candles
FOLD_BUDGET = 1000  # trades per script call (keeps the volume summed in Lua below 2^53)
FOLD_PERIOD_MS = 1000  # the job's lease: one run a second across all schedulers
FOLD_TIME_BUDGET = 0.8  # seconds one run spends before leaving the rest to the next


@dataclass(frozen=True)
class Candle:
    start: int  # seconds since the epoch, a multiple of the interval
    open: int  # ticks
    high: int
    low: int
    close: int
    volume: int  # lots
    trades: int


@dataclass(frozen=True)
class LastTrade:
    sequence: int
    price: int
    quantity: int
    taker_side: str  # "buy" | "sell"
    created_at: int  # microseconds


@dataclass(frozen=True)
class Window:
    """The trades of the ticker's 24 h window, aggregated from its one-minute candles."""

    start: int  # seconds: the first minute of the window
    open: Optional[int]  # ticks; None when nothing traded in the window
    high: Optional[int]
    low: Optional[int]
    volume: int  # lots
    trades: int


@dataclass(frozen=True)
class Ticker:
    symbol: str
    sequence: Optional[int]  # the last trade folded (None before the first)
    last: Optional[LastTrade]
    best_bid: Optional[tuple[int, int]]  # (ticks, lots) from the book, now
    best_ask: Optional[tuple[int, int]]
    window: Window
    as_of: int  # microseconds (Redis TIME)


@dataclass(frozen=True)
class FoldResult:
    folded: int
    sequence: int  # the last trade folded, 0 if none ever
    more: bool


def _fold_args(symbol: str, budget: int) -> tuple[list[str], list[str]]:
    md, sk = marketdata_keys(symbol), symbol_keys(symbol)
    keys, args = [sk.trades, md.state], [str(budget)]
    for seconds in INTERVALS.values():
        keys += [md.candles(seconds), md.candle_index(seconds)]
        args += [str(seconds), str(KEEP[seconds])]
    return keys, args


def _int(text: str) -> Optional[int]:
    return int(text) if text not in ("", None) else None


class MarketData:
    """Folds trades into candles and reads them back, over one Redis client."""

    def __init__(self, redis) -> None:
        self.redis = redis
        self._fold = redis.register_script(source("marketdata_fold"))
        self._read = redis.register_script(source("marketdata_read"))

    # -- the workers' side ---------------------------------------------------------------

    def fold(self, symbol: str, budget: int = FOLD_BUDGET) -> FoldResult:
        """Fold up to `budget` (≤ 1000) trades after the symbol's high-water mark, atomically."""
        if not 1 <= budget <= FOLD_BUDGET:
            raise ValueError(f"budget must be 1 to {FOLD_BUDGET}")
        keys, args = _fold_args(symbol, budget)
        folded, seq, more = self._fold(keys=keys, args=args)
        return FoldResult(int(folded), int(seq), bool(int(more)))

    def fold_symbols(self, symbols: Iterable[str], time_budget: float = FOLD_TIME_BUDGET) -> dict:
        """Fold every symbol until caught up or out of time; returns what was folded."""
        deadline = time.monotonic() + time_budget
        summary = {"symbols": 0, "trades": 0, "behind": []}
        for symbol in symbols:
            summary["symbols"] += 1
            while True:
                result = self.fold(symbol)
                summary["trades"] += result.folded
                if not result.more:
                    break
                if time.monotonic() > deadline:
                    summary["behind"].append(symbol)
                    break
        return summary

    # -- reads -----------------------------------------------------------------------------

    def _read_candles(self, symbol: str, seconds: int, limit: int, mode: str):
        md = marketdata_keys(symbol)
        res = self._read(
            keys=[md.state, md.candles(seconds), md.candle_index(seconds)],
            args=[str(seconds), str(limit), mode],
        )
        now_us, window_start = int(res[0]), _int(res[1])
        seq, last, last_qty, last_side, last_us = res[2:7]
        last_trade = None
        if last:
            last_trade = LastTrade(
                sequence=int(seq), price=int(last), quantity=int(last_qty),
                taker_side="buy" if last_side == "b" else "sell", created_at=int(last_us),
            )  # fmt: skip
        candles = []
        for i in range(7, len(res), 3):
            start, record, volume = res[i], res[i + 1], res[i + 2]
            if not record:
                continue  # removed between the index and the hash: cannot happen in one call
            o, h, low, c, n = (int(x) for x in record.split("|"))
            candles.append(Candle(int(start), o, h, low, c, int(volume), n))
        candles.reverse()  # oldest first
        return now_us, window_start, _int(seq), last_trade, candles

    def candles(self, symbol: str, seconds: int, limit: int) -> tuple[Optional[int], list[Candle]]:
        """(last trade folded, the newest `limit` candles oldest first); empty intervals skipped."""
        _now, _start, seq, _last, candles = self._read_candles(symbol, seconds, limit, "last")
        return seq, candles

    def ticker(self, symbol: str, book: BookView) -> Ticker:
        """Last trade and 24 h window from the folded candles; best prices from `book`."""
        seconds, count = WINDOW
        now_us, start, seq, last, candles = self._read_candles(symbol, seconds, count, "window")
        return Ticker(
            symbol=symbol,
            sequence=seq,
            last=last,
            best_bid=book.bids[0][:2] if book.bids else None,
            best_ask=book.asks[0][:2] if book.asks else None,
            window=aggregate(start, candles),
            as_of=now_us,
        )


def aggregate(start: int, candles: list[Candle]) -> Window:
    """One window from candles oldest first (the ticker's 24 h from its one-minute candles)."""
    if not candles:
        return Window(start=start, open=None, high=None, low=None, volume=0, trades=0)
    return Window(
        start=start,
        open=candles[0].open,
        high=max(c.high for c in candles),
        low=min(c.low for c in candles),
        volume=sum(c.volume for c in candles),
        trades=sum(c.trades for c in candles),
    )


def recompute(trades: Iterable[Trade], seconds: int) -> list[Candle]:
    """The candles of one interval straight from trades (any order), oldest first: the
    reference the fold is checked against."""
    buckets: dict[int, list[Trade]] = {}
    for trade in sorted(trades, key=lambda t: t.sequence):
        start = trade.created_at // 1_000_000 // seconds * seconds
        buckets.setdefault(start, []).append(trade)
    return [
        Candle(
            start=start,
            open=group[0].price,
            high=max(t.price for t in group),
            low=min(t.price for t in group),
            close=group[-1].price,
            volume=sum(t.quantity for t in group),
            trades=len(group),
        )
        for start, group in sorted(buckets.items())
    ]


def change_percent(last: int, open_: int) -> str:
    """(last − open) / open × 100, rounded half-even to two decimals, exactly ("-1.25")."""
    numerator, denominator = (last - open_) * 10_000, open_
    sign = "-" if numerator < 0 else ""
    q, r = divmod(abs(numerator), denominator)
    if 2 * r > denominator or (2 * r == denominator and q % 2):
        q += 1
    if q == 0:
        sign = ""
    return f"{sign}{q // 100}.{q % 100:02d}"


def fold_job() -> dict | None:
    """The periodic job: fold every symbol's new trades (a second scheduler's copy does nothing)."""
    ctx = jobs.context()
    if leases.take(ctx.redis, "marketdata", FOLD_PERIOD_MS) is None:
        return None
    names = [spec.symbol for spec in ctx.symbols.list()]
    summary = MarketData(ctx.redis).fold_symbols(names)
    if summary["behind"]:
        log.warning("market data: %s still behind after one run", ", ".join(summary["behind"]))
    return summary
