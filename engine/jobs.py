"""RQ job functions: plain top-level functions with small arguments, safe to run twice.

Every periodic job (engine/cron.py enqueues them) first takes its lease (engine/leases.py):
``rq cron`` has no leader lock, so a second scheduler started by mistake would otherwise
double every run. A job that finds the lease taken returns None and does nothing.

``rq cron`` counts in whole seconds, so the jobs that must react faster (expiry, fan-out,
webhooks) hold their one-second lease and work in a loop for WINDOW seconds of it, then give
the lease back: the next run, a second later, takes it at once (had it waited for the lease
to run out, a run a few milliseconds early would find it taken and skip a whole second). A
copy from a second scheduler finds the lease held and does nothing, so two runs never
overlap. Each is idempotent, so a run cut short (a worker killed) is finished by the next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisError

from engine import expiry, keys, leases
from engine.config import Settings
from engine.context import EngineContext

log = logging.getLogger(__name__)

HOUSEKEEPING_PERIOD_MS = 1000
HEARTBEAT_PERIOD_MS = 1000
WINDOW_LEASE_MS = 1000  # the lease of the looping jobs: one run per second
WINDOW = 0.95  # seconds a looping job works inside its lease
SNAPSHOT_PERIOD_S = 30  # book snapshots and stream/feed trimming
# 2 s short of the period: a first run that started late (workers still starting) does not
# make the next one find its lease held and skip a whole period.
SNAPSHOT_LEASE_MS = SNAPSHOT_PERIOD_S * 1000 - 2000
# lua/snapshot.lua is one atomic call over the whole book (about 6 us per resting order
# measured here), so a deep book's snapshot blocks Redis: such a book is snapshotted at most
# once per SNAPSHOT_DUTY times its cost (1% of Redis time), not every period.
SNAPSHOT_US_PER_ORDER = 6
SNAPSHOT_DUTY = 100
# The health check calls the scheduler "ok" while its heartbeat is younger than this: the
# heartbeat key simply expires after it.
SCHEDULER_HEARTBEAT_TTL_MS = 10_000

_context: EngineContext | None = None


def use_context(context: EngineContext | None) -> None:
    """Use this context for the jobs of this process (worker.py; tests)."""
    global _context
    _context = context


def context() -> EngineContext:
    """The process's EngineContext, built from the environment on first use."""
    global _context
    if _context is None:
        _context = EngineContext(Settings.from_env())
    return _context


def scheduler_heartbeat() -> int | None:
    """Record that the scheduler -> queue -> worker path works: Redis TIME in microseconds."""
    redis = context().redis
    if leases.take_on_time(redis, "scheduler_heartbeat", HEARTBEAT_PERIOD_MS) is None:
        return None
    return write_scheduler_heartbeat(redis)


def housekeeping() -> dict | None:
    """Periodic upkeep of the books: final orders and trades past ORDER_RETENTION go."""
    ctx = context()
    if leases.take_on_time(ctx.redis, "housekeeping", HOUSEKEEPING_PERIOD_MS) is None:
        return None
    summary = run_housekeeping(ctx.redis)
    summary.update(run_retention(ctx))
    return summary


def expiry_sweep() -> dict | None:
    """Kill due orders (GTD expired, GTC past ORDER_MAX_AGE): a sweep every 0.1 s for ~1 s."""
    ctx = context()
    with _window(ctx, "expiry") as until:
        if until is None:
            return None
        result = expiry.run_window(ctx.engine, until=until)
        return {"expired": result.expired, "max_age": result.max_age}


def fan_out() -> dict | None:
    """Fan the symbols' events out to the accounts' feeds (and webhooks) for ~1 s."""
    ctx = context()
    with _window(ctx, "fanout") as until:
        if until is None:
            return None
        return {"entries": _fan_out(ctx).run(until=until)}


def deliver_webhooks() -> dict | None:
    """POST the accounts' due webhook deliveries for ~1 s (and settle those in flight)."""
    ctx = context()
    with _window(ctx, "webhooks") as until:
        if until is None:
            return None
        delivered, failed, given_up = _deliverer(ctx).run(until=until)
        return {"delivered": delivered, "failed": failed, "given_up": given_up}


@contextmanager
def _window(ctx: EngineContext, name: str) -> Iterator[float | None]:
    """The time.monotonic() this run works until, holding lease ``name`` (None: not ours)."""
    token = leases.take_on_time(ctx.redis, name, WINDOW_LEASE_MS)
    if token is None:
        yield None
        return
    try:
        yield time.monotonic() + WINDOW
    finally:
        try:
            leases.release(ctx.redis, name, token)
        except RedisError:
            pass  # it runs out by itself


def snapshots() -> dict | None:
    """Write each changed symbol's book snapshot, then trim its stream and the old feeds."""
    ctx = context()
    if leases.take_on_time(ctx.redis, "snapshots", SNAPSHOT_LEASE_MS) is None:
        return None
    return run_snapshots(ctx)


_fanouts: dict[int, object] = {}
_deliverers: dict[int, object] = {}


def _fan_out(ctx: EngineContext):
    """This process's fan-out consumer (one consumer name per process)."""
    from engine.fanout import FanOut

    found = _fanouts.get(id(ctx))
    if found is None:
        found = _fanouts[id(ctx)] = FanOut(ctx)
    return found


def _deliverer(ctx: EngineContext):
    from engine.webhooks import Deliverer

    found = _deliverers.get(id(ctx))
    if found is None:
        found = _deliverers[id(ctx)] = Deliverer(ctx.redis)
    return found


def run_retention(ctx: EngineContext) -> dict:
    """Remove final orders and trades past ORDER_RETENTION in every symbol."""
    from engine.retention import Retention

    keeper = Retention(ctx.redis, ctx.settings.order_retention)
    orders = trades = 0
    for symbol in expiry.symbols(ctx.redis):
        n_orders, n_trades = keeper.retain_symbol(symbol)
        orders += n_orders
        trades += n_trades
    return {"orders_removed": orders, "trades_removed": trades}


def run_snapshots(ctx: EngineContext) -> dict:
    """Snapshot every symbol whose sequence moved, trim its stream, trim the feeds."""
    from engine.retention import Retention
    from engine.snapshot import write_snapshot

    redis = ctx.redis
    keeper = Retention(redis, ctx.settings.order_retention)
    written = trimmed = 0
    for symbol in expiry.symbols(redis):
        k = keys.symbol_keys(symbol)
        seq, taken = redis.hget(k.meta, "seq"), redis.hget(k.snapshot, "stream_id")
        moved = taken is None or _text(taken) != f"{_text(seq or '0')}-0"
        if moved and snapshot_due(redis, k, taken is None):
            taken = write_snapshot(redis, symbol)["stream_id"]
            written += 1
        trimmed += keeper.trim_stream(symbol, _text(taken))
    return {"snapshots": written, "entries_trimmed": trimmed, "feed_trimmed": keeper.trim_feeds()}


def snapshot_gap_us(resting_orders: int) -> int:
    """The least time between two snapshots of a book this deep (0: every period)."""
    gap = SNAPSHOT_DUTY * SNAPSHOT_US_PER_ORDER * resting_orders
    return gap if gap > SNAPSHOT_PERIOD_S * 1_000_000 else 0


def snapshot_due(redis, k: keys.SymbolKeys, first: bool) -> bool:
    """Whether a moved book may be snapshotted now (a deep one is paced, see above)."""
    if first:
        return True
    pipe = redis.pipeline(transaction=False)
    pipe.zcard(k.bids)
    pipe.zcard(k.asks)
    pipe.hget(k.snapshot, "taken_us")
    bids, asks, taken_us = pipe.execute()
    gap = snapshot_gap_us(int(bids) + int(asks))
    if not gap or taken_us is None:
        return True
    sec, usec = redis.time()
    return int(sec) * 1_000_000 + int(usec) - int(taken_us) >= gap


def write_scheduler_heartbeat(redis) -> int:
    sec, usec = redis.time()
    now_us = int(sec) * 1_000_000 + int(usec)
    redis.set(keys.SCHEDULER_HEARTBEAT, now_us, px=SCHEDULER_HEARTBEAT_TTL_MS)
    return now_us


def run_housekeeping(redis) -> dict:
    """One housekeeping pass; returns what it saw and did."""
    names = sorted(_text(n) for n in redis.hkeys(keys.SYMBOLS))
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.hget(keys.symbol_keys(name).meta, "status")
    statuses = [_text(s) if s is not None else None for s in pipe.execute()] if names else []
    summary = {
        "symbols": len(names),
        "halted": sum(1 for s in statuses if s == "halted"),
    }
    log.debug("housekeeping: %s", summary)
    return summary


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value
