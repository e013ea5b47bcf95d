"""Status updates: read each symbol's event stream with a consumer group and fan the events
out to the accounts' feeds (and, through them, to their webhooks).

One consumer per symbol at a time: a worker handles a symbol only while it holds the symbol's
lease (``te:lease:fanout:SYMBOL``), so each account sees a symbol's events in sequence order.
On taking a lease it first takes over every entry still pending in the group (XAUTOCLAIM;
they belong to a consumer that died or lost the lease) and handles them again: the feed's
append skips what is already there (lua/feed_append.lua), so at least once becomes exactly
once in the feed. Entries are acknowledged after their events are appended, together with
the counters /metrics shows (lua/fanout_ack.lua). None of this touches the books: matching
never waits for it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Optional

from redis.exceptions import ResponseError

from engine import events, leases
from engine.context import EngineContext
from engine.feed import Feed
from engine.keys import SYMBOLS, WEBHOOKS_DUE, symbol_keys
from engine.orders import order_id
from engine.scripts import source

log = logging.getLogger(__name__)

GROUP = "fanout"
BATCH = 500  # stream entries per read
SYMBOL_LEASE_MS = 3000  # a dead consumer's symbols are taken over after at most this long
RENEW_AFTER = 0.5  # seconds: a held lease is checked and extended this often
IDLE_SLEEP = 0.02  # seconds between polls when no symbol had anything new


def consumer_name() -> str:
    """This process's consumer name in the groups (a dead one's entries are claimed)."""
    return f"{socket.gethostname()}.{os.getpid()}"


def ensure_group(redis, symbol: str) -> None:
    """The symbol's consumer group, created at the start of its stream if missing."""
    try:
        redis.xgroup_create(symbol_keys(symbol).events, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


@dataclass
class BatchResult:
    entries: int = 0
    events: int = 0
    skipped: int = 0  # events whose order record was already removed by retention
    counters: dict[str, int] = field(default_factory=dict)


class FanOut:
    """Handles symbols' streams for one consumer (one worker process)."""

    def __init__(self, ctx: EngineContext, consumer: Optional[str] = None) -> None:
        self.ctx = ctx
        self.redis = ctx.redis
        self.consumer = consumer or consumer_name()
        self.feed = Feed(self.redis)
        self.ack_script = self.redis.register_script(source("fanout_ack"))
        self.held: dict[str, tuple[str, float]] = {}  # symbol -> (lease token, renewed at)

    # -- leases ----------------------------------------------------------------------------

    def acquire(self, symbol: str) -> bool:
        """Hold the symbol (taking over its pending entries on a fresh lease)."""
        name = f"fanout:{symbol}"
        now = time.monotonic()
        held = self.held.get(symbol)
        if held is not None:
            token, renewed = held
            if now - renewed < RENEW_AFTER:
                return True
            if leases.renew(self.redis, name, token, SYMBOL_LEASE_MS):
                self.held[symbol] = (token, now)
                return True
            del self.held[symbol]
            log.warning("fan-out of %s: lease lost; another consumer has it", symbol)
        token = leases.take(self.redis, name, SYMBOL_LEASE_MS)
        if token is None:
            return False
        self.held[symbol] = (token, now)
        ensure_group(self.redis, symbol)
        self.take_over(symbol)
        return True

    def release_all(self) -> None:
        for symbol, (token, _renewed) in list(self.held.items()):
            leases.release(self.redis, f"fanout:{symbol}", token)
        self.held.clear()

    # -- reading ---------------------------------------------------------------------------

    def take_over(self, symbol: str) -> int:
        """Handle every entry still pending in the group (whoever read it), oldest first."""
        stream = symbol_keys(symbol).events
        handled, start = 0, "0-0"
        while True:
            reply = self.redis.xautoclaim(stream, GROUP, self.consumer, 0, start, count=BATCH)
            start, entries = reply[0], [e for e in reply[1] if e and e[1]]
            if entries:
                handled += self.handle(symbol, entries).entries
            if start in ("0-0", b"0-0"):
                break
        self._forget_idle_consumers(stream)
        return handled

    def _forget_idle_consumers(self, stream: str) -> None:
        for info in self.redis.xinfo_consumers(stream, GROUP):
            name = info.get("name")
            if name != self.consumer and int(info.get("pending", 0)) == 0:
                self.redis.xgroup_delconsumer(stream, GROUP, name)

    def poll(self, symbol: str, count: int = BATCH) -> int:
        """Read and handle the next new entries of a symbol this consumer holds."""
        stream = symbol_keys(symbol).events
        reply = self.redis.xreadgroup(GROUP, self.consumer, {stream: ">"}, count=count)
        if not reply:
            return 0
        entries = reply[0][1]
        return self.handle(symbol, entries).entries if entries else 0

    # -- handling --------------------------------------------------------------------------

    def handle(self, symbol: str, entries: list) -> BatchResult:
        """Append the accounts' events of these entries, then acknowledge them."""
        result = BatchResult(entries=len(entries))
        spec = self.ctx.symbols.get(symbol)
        k = symbol_keys(symbol)
        changes = []
        counters: dict[str, int] = defaultdict(int)
        for entry_id, fields in entries:
            kind = fields.get("t")
            if kind == "order":
                counters["accepted"] += 1
            elif kind == "trade":
                counters["trades"] += 1
            elif kind == "kill":
                counters[f"killed:{fields.get('why', '')}"] += 1
            changes.extend(events.changes(entry_id, fields))

        # The records and fills of the orders that traded or were killed, in two round trips.
        members = sorted({c.member for c in changes if c.record is None})
        record_of: dict[str, Optional[str]] = {}
        if members:
            record_of = dict(zip(members, self.redis.hmget(k.orders, members), strict=True))
        with_fills = sorted({c.member for c in changes if c.filled > 0})
        fills_of: dict[str, list[str]] = {}
        if with_fills:
            pipe = self.redis.pipeline(transaction=False)
            for m in with_fills:
                pipe.zrangebylex(k.order_fills, f"[{m}|", f"({m}}}")
            fills_of = dict(zip(with_fills, pipe.execute(), strict=True))

        per_account: dict[str, list[tuple[int, str, str, bytes]]] = defaultdict(list)
        for change in changes:
            record = change.record or record_of.get(change.member)
            if record is None or spec is None:
                result.skipped += 1
                continue
            kind, body = events.render(
                symbol, spec, change, record, fills_of.get(change.member, ())
            )
            if kind == "order.filled":
                counters["filled"] += 1
            per_account[change.account].append(
                (change.seq, events.event_id(symbol, change), order_id(symbol, int(change.member)),
                 body)
            )  # fmt: skip
        if result.skipped:
            counters["events_skipped"] += result.skipped

        if per_account:
            accounts = list(per_account)
            replies = self.feed.append_many(
                [self.feed.append_call(a, symbol, per_account[a]) for a in accounts]
            )
            hooked = [a for a, (_appended, queued) in zip(accounts, replies, strict=True) if queued]
            result.events = sum(appended for appended, _queued in replies)
            if hooked:
                now_ms = _now_ms(self.redis)
                self.redis.zadd(WEBHOOKS_DUE, {a: now_ms for a in hooked}, lt=True)
        counters["events"] += result.events

        args: list = [GROUP, len(entries), *[_text(e[0]) for e in entries]]
        for name, delta in counters.items():
            if delta:
                args += [name, delta]
        self.ack_script(keys=[k.events, k.stats], args=args)
        result.counters = dict(counters)
        return result

    # -- the job's loop --------------------------------------------------------------------

    def run(self, until: float) -> int:
        """Fan out every symbol this consumer can hold until ``until`` (time.monotonic())."""
        handled = 0
        symbols: list[str] = []
        refreshed = float("-inf")
        try:
            while True:
                now = time.monotonic()
                if now >= until:
                    break
                if now - refreshed > 1.0:
                    symbols = sorted(_text(s) for s in self.redis.hkeys(SYMBOLS))
                    refreshed = now
                busy = False
                for symbol in symbols:
                    if not self.acquire(symbol):
                        continue
                    n = self.poll(symbol)
                    handled += n
                    busy = busy or n >= BATCH
                if not busy:
                    time.sleep(min(IDLE_SLEEP, max(0.0, until - time.monotonic())))
        finally:
            self.release_all()
        return handled


def _now_ms(redis) -> int:
    sec, usec = redis.time()
    return int(sec) * 1000 + int(usec) // 1000


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value
