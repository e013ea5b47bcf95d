"""One reader per symbol and web process, fanning the symbol's updates out to its streams.

A ``Feed`` reads the symbol's event stream while streams are open (XREAD BLOCK on its own
client, whose socket timeout exceeds the block time), turns what arrived into one update
(engine/market_stream.py's BookChanges: one atomic script call) and encodes it once.

Delivering an update to a stream costs a socket send, the largest cost of a stream, so:

- **rate**: a feed sends at most ``RATE`` updates a second after a burst of ``BURST``. A quiet
  book's change goes out at once; a busy book's changes are gathered into one update.
- **direct writes** (gunicorn's gevent worker): a stream that is up to date hands its socket
  to the feed, which writes the shared, already framed bytes to it with one non-blocking send
  (no greenlet switch, no queue, no WSGI layers per stream). Whenever anything is unusual (the
  stream is not at the update's `prev`, a send was partial, a re-sync, a heartbeat is due)
  the feed hands the stream back to its own greenlet, which does it the ordinary way.
  Elsewhere (threads, the test client) every update goes through the stream's queue.

Under gevent every greenlet runs in one OS thread and a non-blocking send never switches, so
a broadcast runs to its end before any stream can close its socket.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from redis.exceptions import RedisError

from engine.connection import make_redis
from engine.keys import symbol_keys
from engine.symbols import SymbolSpec

if TYPE_CHECKING:
    from engine.market_stream import Changes, StreamHub

log = logging.getLogger(__name__)

BLOCK_MS = 5000  # one XREAD BLOCK; the reader's socket timeout is this plus READER_MARGIN
READER_MARGIN = 5.0
RATE = 8.0  # updates a second a feed sends at most, sustained (what arrives meanwhile waits)
BURST = 3  # updates a feed may send back to back after a quiet spell
IDLE_STOP = 30.0  # seconds a feed without streams lives on before its reader stops
QUEUE_SIZE = 1000  # updates a slow stream may have waiting before it catches up on its own

RESYNC = object()  # the feed could not say what changed: every stream takes a snapshot


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; wait() takes one, saying how long
    to wait for it first."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.at = float(burst), time.monotonic()

    def wait(self) -> float:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


@dataclass
class Batch:
    """One update the feed read: the same bytes go to every stream that is at `prev`."""

    changes: Changes
    payload: bytes  # the SSE event
    framed: bytes = b""  # the same as one HTTP/1.1 chunk (for direct writes)

    def __post_init__(self) -> None:
        self.framed = b"%X\r\n%s\r\n" % (len(self.payload), self.payload)


@dataclass(eq=False)
class Subscriber:
    """One open stream, as its feed sees it."""

    queue: queue.Queue = field(default_factory=lambda: queue.Queue(QUEUE_SIZE))
    overflowed: bool = False
    wake: threading.Event = field(default_factory=threading.Event)
    # Direct writes: the raw non-blocking socket, whether the response is chunked; while
    # `attached`, the feed writes to it and moves `cursor`.
    raw: Any = None
    chunked: bool = True
    attached: bool = False
    cursor: int = 0
    last_write: float = 0.0
    pending: bytes = b""  # the rest of a partial send: the stream's greenlet sends it
    broken: bool = False  # a send failed: the client is gone

    def hand_back(self) -> None:
        self.attached = False
        self.wake.set()


class Feed:
    """Reads one symbol's event stream while streams are open and fans updates out to them."""

    def __init__(self, hub: StreamHub, spec: SymbolSpec) -> None:
        self.hub = hub
        self.spec = spec
        self._lock = threading.Lock()
        self._subscribers: set[Subscriber] = set()
        self._running = False
        self._idle_since = time.monotonic()
        self.position: Optional[int] = None  # the sequence the last update read reached

    def subscribe(self) -> Subscriber:
        """A new stream; it reads its snapshot after this, so the feed's position is never
        past the snapshot (nothing between the two is lost)."""
        sub = Subscriber()
        with self._lock:
            idle = not self._subscribers
            self._subscribers.add(sub)
            if idle:
                self.position = self._current()  # an idle feed does not follow the stream
            if not self._running:
                self._running = True
                threading.Thread(
                    target=self._run, name=f"feed-{self.spec.symbol}", daemon=True
                ).start()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        sub.attached = False
        with self._lock:
            self._subscribers.discard(sub)
            if not self._subscribers:
                self._idle_since = time.monotonic()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def broadcast(self, item: Any) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        now = time.monotonic()
        for sub in subscribers:
            if sub.attached:
                if isinstance(item, Batch):
                    if item.changes.sequence <= sub.cursor:
                        continue
                    if item.changes.prev == sub.cursor:
                        self._write(sub, item, now)
                        continue
                sub.hand_back()  # anything else: the stream's own greenlet sees to it
            try:
                sub.queue.put_nowait(item)
            except queue.Full:
                sub.overflowed = True  # it catches up from its own position when it reads
            sub.wake.set()

    @staticmethod
    def _write(sub: Subscriber, batch: Batch, now: float) -> None:
        frame = batch.framed if sub.chunked else batch.payload
        try:
            sent = sub.raw.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError:
            sub.broken = True
            sub.hand_back()
            return
        sub.cursor = batch.changes.sequence
        sub.last_write = now
        if sent < len(frame):
            sub.pending = frame[sent:]
            sub.hand_back()

    def _current(self) -> int:
        return int(self.hub.redis.hget(symbol_keys(self.spec.symbol).meta, "seq") or 0)

    def _should_stop(self) -> bool:
        with self._lock:
            idle = time.monotonic() - self._idle_since >= IDLE_STOP
            if not self.hub.closed and (self._subscribers or not idle):
                return False
            self._running = False
            self.position = None  # a later start reads the sequence afresh
            return True

    def _run(self) -> None:
        from engine.market_stream import encode_update

        k = symbol_keys(self.spec.symbol)
        reader = make_redis(self.hub.settings, socket_timeout=BLOCK_MS / 1000 + READER_MARGIN)
        bucket = TokenBucket(RATE, BURST)
        try:
            while not self._should_stop():
                if not self._subscribers:
                    time.sleep(0.2)  # idle until IDLE_STOP: nobody to read for
                    continue
                try:
                    if self.position is None:
                        # Start over from now; the streams' snapshots come after this point.
                        self.position = self._current()
                        self.broadcast(RESYNC)
                    reply = reader.xread({k.events: f"{self.position}-0"}, count=1, block=BLOCK_MS)
                    if not reply:
                        if self._current() < self.position:
                            self.position = None  # the sequence went back (Redis lost data)
                        continue
                    # What arrives while the bucket refills goes into this same update.
                    time.sleep(bucket.wait())
                    changes = self.hub.changes.read(self.spec.symbol, self.position)
                except RedisError as exc:
                    log.warning("stream feed %s: %s", self.spec.symbol, exc)
                    self.position = None
                    time.sleep(1.0)
                    continue
                if changes is None:
                    self.position = None  # too far behind, or trimmed: start over from now
                    continue
                self.position = changes.sequence
                self.broadcast(Batch(changes, encode_update(self.spec, changes)))
        except Exception:
            log.exception("stream feed %s stopped", self.spec.symbol)
            with self._lock:
                self._running = False
            self.broadcast(RESYNC)
        finally:
            reader.close()
