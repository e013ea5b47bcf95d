"""Expiry: kill resting orders that fell due (GTD past ``expires_at``, GTC past
ORDER_MAX_AGE), in bounded batches of lua/expire.lua, with no per-order job.

The scheduler enqueues the sweep job every second; the job holds the ``expiry`` lease for
that second and sweeps every symbol every SWEEP_INTERVAL inside it, so an order is killed
about 0.1-0.2 s after its deadline. Each kill is atomic and re-checks the order, so a sweep
run twice (or racing a fill or a cancel) kills nothing twice. Lateness (kill time minus
deadline) goes into the histogram /metrics shows (counters in the ``te:metrics`` hash).
"""

from __future__ import annotations

import bisect
import logging
import time
from dataclasses import dataclass, field

from engine.book import Engine
from engine.keys import METRICS, SYMBOLS

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 0.1  # seconds between two sweeps inside one job
BUDGET = 1000  # orders one script call may kill (one call blocks Redis ~tens of ms at most)
# Upper bounds (seconds) of the lateness histogram's buckets.
LATENESS_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


@dataclass
class SweepResult:
    expired: int = 0
    max_age: int = 0
    calls: int = 0
    lateness_us: list[int] = field(default_factory=list)

    @property
    def killed(self) -> int:
        return self.expired + self.max_age

    def add(self, other: SweepResult) -> None:
        self.expired += other.expired
        self.max_age += other.max_age
        self.calls += other.calls
        self.lateness_us += other.lateness_us


def symbols(redis) -> list[str]:
    return sorted(s.decode() if isinstance(s, bytes) else s for s in redis.hkeys(SYMBOLS))


def sweep_symbol(engine: Engine, symbol: str, budget: int = BUDGET) -> SweepResult:
    """Kill every due order of one symbol, one bounded script call after another."""
    result = SweepResult()
    while True:
        expired, aged, more, lateness = engine.expire(symbol, budget)
        result.expired += expired
        result.max_age += aged
        result.calls += 1
        result.lateness_us += lateness
        if not more:
            return result


def sweep(engine: Engine, names: list[str] | None = None, budget: int = BUDGET) -> SweepResult:
    """One sweep of every symbol; records the kills' lateness in the histogram."""
    total = SweepResult()
    for symbol in symbols(engine.redis) if names is None else names:
        total.add(sweep_symbol(engine, symbol, budget))
    if total.lateness_us:
        record_lateness(engine.redis, total.lateness_us)
    return total


def record_lateness(redis, lateness_us: list[int]) -> None:
    """Add kills' lateness to the histogram (bucket counters, sum and count in Redis)."""
    counts = [0] * (len(LATENESS_BUCKETS) + 1)
    total = 0
    for us in lateness_us:
        us = max(0, us)
        total += us
        counts[bisect.bisect_left(LATENESS_BUCKETS, us / 1e6)] += 1
    pipe = redis.pipeline(transaction=False)
    for i, n in enumerate(counts):
        if n:
            bound = "+Inf" if i == len(LATENESS_BUCKETS) else repr(LATENESS_BUCKETS[i])
            pipe.hincrby(METRICS, f"lateness_bucket:{bound}", n)
    pipe.hincrby(METRICS, "lateness_count", len(lateness_us))
    pipe.hincrby(METRICS, "lateness_sum_us", total)
    pipe.execute()


def run_window(engine: Engine, until: float, interval: float = SWEEP_INTERVAL) -> SweepResult:
    """Sweep every ``interval`` seconds until ``until`` (time.monotonic())."""
    total = SweepResult()
    while True:
        started = time.monotonic()
        if started >= until:
            return total
        total.add(sweep(engine))
        pause = interval - (time.monotonic() - started)
        if pause > 0:
            time.sleep(min(pause, max(0.0, until - time.monotonic())))
