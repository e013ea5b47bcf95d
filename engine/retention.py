"""Retention: what housekeeping removes so that Redis does not grow without bound.

- Final orders older than ORDER_RETENTION leave the account indexes and their records go,
  with their ``coid`` entry, their fills (``ofills`` and ``fills`` members), and public trades
  older than that too (lua/retain.lua: one atomic call per batch on the symbol's slot).
- The symbol's stream is trimmed (XTRIM MINID) only below both its latest book snapshot
  (engine/snapshot.py; replay needs what follows it) and the fan-out group's oldest entry not
  yet handled (pending or not yet delivered): Redis 7.0 trims whatever the groups have read.
- Each account's feed (GET /events) keeps ORDER_RETENTION of events.

Nothing is removed that the fan-out has yet to read: the order cutoff is also kept before
the time of the oldest stream entry the fan-out has not handled, so the events of an order
can always be rendered from its record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from redis.exceptions import ResponseError

from engine import fanout
from engine.feed import Feed
from engine.keys import ACCOUNTS, symbol_keys
from engine.scripts import source

log = logging.getLogger(__name__)

BUDGET = 1000  # orders (and trades) one script call removes at most
MAX_CALLS = 50  # calls per symbol per housekeeping run (the rest waits for the next run)


@dataclass
class GroupPosition:
    """Where the fan-out group is in a symbol's stream."""

    exists: bool
    first_unhandled: Optional[str]  # the oldest entry id not yet handled, or None if none
    first_unhandled_us: Optional[int]  # that entry's time


def _seq(entry_id) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(text.partition("-")[0])


def group_position(redis, symbol: str) -> GroupPosition:
    """The fan-out group's oldest unhandled entry: pending (read, not acked) or undelivered."""
    stream = symbol_keys(symbol).events
    try:
        groups = redis.xinfo_groups(stream)
    except ResponseError:  # no stream yet
        return GroupPosition(False, None, None)
    group = next((g for g in groups if _text(g.get("name")) == fanout.GROUP), None)
    if group is None:
        first = redis.xrange(stream, "-", "+", count=1)
        if not first:
            return GroupPosition(False, None, None)
        return GroupPosition(False, _text(first[0][0]), int(first[0][1]["ts"]))
    candidates = []
    pending = redis.xpending(stream, fanout.GROUP)
    if pending and int(pending.get("pending", 0)) > 0 and pending.get("min"):
        candidates.append(_text(pending["min"]))
    last = _text(group.get("last-delivered-id") or "0-0")
    after = redis.xrange(stream, f"({last}", "+", count=1)
    if after:
        candidates.append(_text(after[0][0]))
    if not candidates:
        return GroupPosition(True, None, None)
    first_id = min(candidates, key=_seq)
    entry = redis.xrange(stream, first_id, first_id)
    ts = int(entry[0][1]["ts"]) if entry else None
    return GroupPosition(True, first_id, ts)


class Retention:
    """Retention and stream trimming over one client."""

    def __init__(self, redis, retention_s: int) -> None:
        self.redis = redis
        self.retention_us = retention_s * 1_000_000
        self.script = redis.register_script(source("retain"))
        self.feed = Feed(redis)

    def now_us(self) -> int:
        sec, usec = self.redis.time()
        return int(sec) * 1_000_000 + int(usec)

    def cutoff_us(self, symbol: str, now_us: Optional[int] = None) -> int:
        """Orders final at or before this time (and older trades) may go."""
        cutoff = (self.now_us() if now_us is None else now_us) - self.retention_us
        position = group_position(self.redis, symbol)
        if position.first_unhandled_us is not None:
            cutoff = min(cutoff, position.first_unhandled_us - 1)
        return cutoff

    def retain_symbol(self, symbol: str, budget: int = BUDGET,
                      max_calls: int = MAX_CALLS) -> tuple[int, int]:  # fmt: skip
        """Remove what is past retention in one symbol: (orders, trades) removed."""
        k = symbol_keys(symbol)
        cutoff = self.cutoff_us(symbol)
        orders = trades = 0
        for _ in range(max_calls):
            n_orders, n_trades, more = self.script(
                keys=[k.orders, k.final, k.client_ids, k.done, k.trades, k.fills, k.order_fills],
                args=[cutoff, budget],
            )
            orders += int(n_orders)
            trades += int(n_trades)
            if not int(more):
                break
        return orders, trades

    def trim_stream(self, symbol: str, snapshot_stream_id: Optional[str]) -> int:
        """XTRIM MINID below both the snapshot and the group's oldest unhandled entry."""
        if snapshot_stream_id is None:
            return 0
        position = group_position(self.redis, symbol)
        if not position.exists:
            return 0  # the fan-out has not started on this symbol: it needs every entry
        bound = _seq(snapshot_stream_id)
        if position.first_unhandled is not None:
            bound = min(bound, _seq(position.first_unhandled))
        if bound <= 1:
            return 0
        return int(
            self.redis.xtrim(symbol_keys(symbol).events, minid=f"{bound}-0", approximate=False)
        )

    def trim_feeds(self) -> int:
        """Drop the accounts' feed entries older than ORDER_RETENTION."""
        older_than_ms = (self.now_us() - self.retention_us) // 1000
        if older_than_ms <= 0:
            return 0
        removed = 0
        cursor = 0
        while True:
            cursor, batch = self.redis.hscan(ACCOUNTS, cursor, count=500)
            removed += self.feed.trim([_text(v) for v in batch.values()], older_than_ms)
            if int(cursor) == 0:
                return removed


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
