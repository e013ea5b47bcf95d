"""Live market data as Server-Sent Events: a book snapshot, then updates as they happen.

The events of ``GET /api/v1/stream?symbol=S`` (each ``data`` is one JSON object):

- ``snapshot`` (id = its sequence): the book as ``GET /book`` gives it, ``depth`` levels a side.
- ``update`` (id = its sequence): ``{"symbol", "prev", "sequence", "trades", "bids", "asks"}``:
  the trades with a sequence after ``prev`` (oldest first, as ``GET /trades`` shows them) and
  every price level that changed after ``prev``, as ``[price, quantity, orders]`` at
  ``sequence`` (quantity zero and 0 orders: the level is gone). Levels carry values, not
  differences: a book at any sequence from ``prev`` to ``sequence`` becomes the book at
  ``sequence`` by setting them. A client whose book is older than ``prev`` missed something
  and re-syncs (reconnects without Last-Event-ID, or reads ``GET /book``).
- comment lines (``: heartbeat``) every ``HEARTBEAT`` seconds, so that idle streams stay open
  through proxies and a dead client is noticed.

Every id is the symbol's sequence after the event, so ``Last-Event-ID`` is always a point the
client's book was complete at: a reconnect with it gets one update from there when the event
stream still holds every entry after it, else a new snapshot.

One feed per symbol and web process (engine/stream_feed.py) reads the symbol's event stream
and hands the same encoded update to every open stream of the symbol: N streams cost one
Redis reader and one encoding, not N.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional

import orjson

from engine.clock import format_time
from engine.keys import symbol_keys
from engine.money import format_amount
from engine.orders import BookView
from engine.scripts import source
from engine.stream_feed import RESYNC, Feed, Subscriber
from engine.symbols import SymbolSpec
from engine.views import book_view

HEARTBEAT = 15.0  # seconds between comment lines on an idle stream
WAKE = 1.0  # seconds a stream waits at most before it looks at the shutdown flag again
MAX_BATCH = 10_000  # entries one update may cover (feed or resume); more: a snapshot
RETRY_MS = 1000  # the reconnection delay the stream asks EventSource for

_STOPPING = threading.Event()  # the server is shutting down: streams end (the client reconnects)


@dataclass(frozen=True)
class Changes:
    """What lua/book_changes.lua answered: trades after `prev` and levels touched since."""

    prev: int
    sequence: int
    trades: list[tuple[int, int, int, str, int]]  # (seq, ticks, lots, taker b/s, time_us)
    bids: list[tuple[int, int, int]]  # (ticks, lots, orders) now; 0 lots: gone
    asks: list[tuple[int, int, int]]


class BookChanges:
    """lua/book_changes.lua on one client."""

    def __init__(self, redis) -> None:
        self._script = redis.register_script(source("book_changes"))

    def read(self, symbol: str, after: int, max_entries: int = MAX_BATCH) -> Optional[Changes]:
        """What changed after sequence `after`, or None when a snapshot is needed instead."""
        k = symbol_keys(symbol)
        res = self._script(
            keys=[k.meta, k.level_sizes, k.events, k.orders],
            args=[str(after), str(after), str(max_entries)],
        )
        if int(res[0]) < 0:
            return None
        trades = []
        for item in res[1].split(";") if res[1] else ():
            seq, price, qty, side, ts = item.split(",")
            trades.append((int(seq), int(price), int(qty), side, int(ts)))
        bids, asks = [], []
        for item in res[2].split(";") if res[2] else ():
            side, price, lots, orders = item.split(",")
            (bids if side == "b" else asks).append((int(price), int(lots), int(orders)))
        bids.sort(key=lambda lv: -lv[0])
        asks.sort(key=lambda lv: lv[0])
        return Changes(after, int(res[0]), trades, bids, asks)


# -- encoding ------------------------------------------------------------------------------


def sse(event: str, event_id: Optional[int], data: Any) -> bytes:
    """One Server-Sent Event: `event`, `id`, one `data` line of compact JSON."""
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head.encode() + b"data: " + orjson.dumps(data) + b"\n\n"


def heartbeat() -> bytes:
    return f": heartbeat {format_time(time.time_ns() // 1000)}\n\n".encode()


def update_data(spec: SymbolSpec, changes: Changes, trades_after: Optional[int] = None) -> dict:
    """The JSON of an update (only the trades after `trades_after` if given)."""
    tick, lot, symbol = spec.tick, spec.lot, spec.symbol
    after = changes.prev if trades_after is None else trades_after
    return {
        "symbol": symbol,
        "prev": changes.prev,
        "sequence": changes.sequence,
        "trades": [
            {
                "id": f"{symbol}:{seq}",
                "symbol": symbol,
                "price": format_amount(price, tick),
                "quantity": format_amount(qty, lot),
                "taker_side": "buy" if side == "b" else "sell",
                "sequence": seq,
                "created_at": format_time(ts),
            }
            for seq, price, qty, side, ts in changes.trades
            if seq > after
        ],
        "bids": [[format_amount(p, tick), format_amount(q, lot), n] for p, q, n in changes.bids],
        "asks": [[format_amount(p, tick), format_amount(q, lot), n] for p, q, n in changes.asks],
    }


def snapshot_event(spec: SymbolSpec, book: BookView) -> bytes:
    return sse("snapshot", book.sequence, book_view(spec, book))


def encode_update(spec: SymbolSpec, changes: Changes, trades_after: Optional[int] = None) -> bytes:
    return sse("update", changes.sequence, update_data(spec, changes, trades_after))


class StreamHub:
    """The feeds of one web process, and the streams' generator."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.redis = ctx.redis
        self.changes = BookChanges(ctx.redis)
        self._feeds: dict[str, Feed] = {}
        self._lock = threading.Lock()
        self.closed = False

    def close(self) -> None:
        """Stop every feed (within one XREAD block); open streams end at their next wake."""
        self.closed = True

    def feed(self, spec: SymbolSpec) -> Feed:
        with self._lock:
            feed = self._feeds.get(spec.symbol)
            if feed is None:
                feed = self._feeds[spec.symbol] = Feed(self, spec)
            return feed

    def open_streams(self) -> int:
        return sum(f.subscribers for f in list(self._feeds.values()))

    def stream(
        self,
        spec: SymbolSpec,
        depth: int,
        last_event_id: Optional[int],
        sock: Any = None,
        chunked: bool = True,
    ) -> Stream:
        """One stream's bytes, until the client goes away or the server stops.

        The first event (snapshot, or the update since Last-Event-ID) is read here, before
        the response starts, so a Redis that cannot be reached is still a plain 503. `sock`:
        the client's gevent socket (gunicorn's gevent worker), for the feed's direct writes
        of HTTP/1.1 chunks (`chunked`) or of plain bytes (HTTP/1.0).
        """
        feed = self.feed(spec)
        sub = feed.subscribe()  # first: nothing the feed reads from now on is missed
        try:
            first, cursor = None, None
            if last_event_id is not None:
                changes = self.changes.read(spec.symbol, last_event_id)
                if changes is not None:
                    first, cursor = encode_update(spec, changes), changes.sequence
            if first is None:
                book = self.ctx.engine.book(spec.symbol, depth)
                first, cursor = snapshot_event(spec, book), book.sequence
        except BaseException:
            feed.unsubscribe(sub)
            raise
        raw = getattr(sock, "_sock", None) if _is_gevent_socket(sock) else None
        if raw is not None:
            sub.raw, sub.chunked = raw, chunked
        head = f"retry: {RETRY_MS}\n\n".encode() + first
        chunks = self._follow(spec, depth, sub, cursor, head, sock if raw is not None else None)
        return Stream(chunks, lambda: feed.unsubscribe(sub))

    def _follow(
        self,
        spec: SymbolSpec,
        depth: int,
        sub: Subscriber,
        cursor: int,
        head: bytes,
        sock: Any,
    ) -> Iterator[bytes]:
        yield head
        last_write = time.monotonic()
        while not (_STOPPING.is_set() or self.closed or sub.broken):
            if sub.pending:  # the rest of a partial direct write, before anything else
                sock.sendall(sub.pending)
                sub.pending = b""
            if sub.overflowed:
                sub.overflowed = False
                _drain(sub.queue)
                out, cursor = self._catch_up(spec, depth, cursor)
                yield out
                last_write = time.monotonic()
                continue
            try:
                item = sub.queue.get_nowait()
            except queue.Empty:
                item = None
            if item is None:
                if time.monotonic() - max(last_write, sub.last_write) >= HEARTBEAT:
                    yield heartbeat()
                    last_write = time.monotonic()
                    continue
                if sock is not None:
                    # Up to date: the feed writes to this stream itself until it hands it back.
                    sub.cursor, sub.attached = cursor, True
                    sub.wake.clear()
                    sub.wake.wait(WAKE)
                    sub.attached = False
                    cursor = sub.cursor
                    continue
                try:
                    item = sub.queue.get(timeout=WAKE)
                except queue.Empty:
                    continue
            out, cursor = self._next(spec, depth, item, cursor)
            if out:
                yield out
                last_write = time.monotonic()

    def _next(self, spec: SymbolSpec, depth: int, item: Any, cursor: int) -> tuple[bytes, int]:
        """What one item from the feed means for a stream at `cursor` (b"": nothing)."""
        if item is RESYNC:
            book = self.ctx.engine.book(spec.symbol, depth)
            return snapshot_event(spec, book), book.sequence
        changes = item.changes
        if changes.sequence <= cursor:
            return b"", cursor  # already in this stream's snapshot or catch-up
        if changes.prev == cursor:
            return item.payload, changes.sequence  # the common case: the shared bytes
        if changes.prev < cursor:
            # Joined inside this batch: its levels hold for this book too, but only the
            # trades after the stream's own sequence are new to it.
            return encode_update(spec, changes, cursor), changes.sequence
        return self._catch_up(spec, depth, cursor)

    def _catch_up(self, spec: SymbolSpec, depth: int, cursor: int) -> tuple[bytes, int]:
        """An update from this stream's own position (or a snapshot if that is too far)."""
        changes = self.changes.read(spec.symbol, cursor)
        if changes is None:
            book = self.ctx.engine.book(spec.symbol, depth)
            return snapshot_event(spec, book), book.sequence
        return encode_update(spec, changes), changes.sequence


def _is_gevent_socket(sock: Any) -> bool:
    return sock is not None and type(sock).__module__.startswith("gevent")


class Stream:
    """The response body of one stream: iterates its bytes; close() (the server calls it when
    the client goes away, even before the first byte) leaves the feed."""

    def __init__(self, chunks: Iterator[bytes], on_close) -> None:
        self._chunks = chunks
        self._on_close = on_close
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._chunks.close()
            self._on_close()


def _drain(q: queue.Queue) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass


def stopping() -> bool:
    """Whether this process was asked to stop (after install_shutdown_hook)."""
    return _STOPPING.is_set()


def install_shutdown_hook() -> None:
    """End open streams when the process is asked to stop (SIGTERM), so the server's graceful
    shutdown does not wait for them; browsers reconnect on their own, with Last-Event-ID.

    The previous handler (gunicorn's worker) still runs. Only possible in the process's main
    thread, where gevent's greenlets all run; from another thread (gthread) it does nothing.
    """
    if getattr(install_shutdown_hook, "done", False):
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        _STOPPING.set()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:
        return
    install_shutdown_hook.done = True  # type: ignore[attr-defined]
