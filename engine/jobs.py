"""RQ job functions: plain top-level functions with small arguments, safe to run twice.

Every periodic job (engine/cron.py enqueues them) first takes its lease (engine/leases.py):
``rq cron`` has no leader lock, so a second scheduler started by mistake would otherwise
double every run. A job that finds the lease taken returns None and does nothing.
"""

from __future__ import annotations

import logging

from engine import keys, leases
from engine.config import Settings
from engine.context import EngineContext

log = logging.getLogger(__name__)

HOUSEKEEPING_PERIOD_MS = 1000
HEARTBEAT_PERIOD_MS = 1000
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
    if leases.take(redis, "scheduler_heartbeat", HEARTBEAT_PERIOD_MS) is None:
        return None
    return write_scheduler_heartbeat(redis)


def housekeeping() -> dict | None:
    """Periodic upkeep of the books (the lifecycle issue adds expiry and retention sweeps)."""
    redis = context().redis
    if leases.take(redis, "housekeeping", HOUSEKEEPING_PERIOD_MS) is None:
        return None
    return run_housekeeping(redis)


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
