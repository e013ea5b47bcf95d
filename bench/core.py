"""Script-level phases: lua/place.lua (as Engine.place calls it) beside bench/baseline.lua.

Both sides run the same seeded operations on the same Redis from one Python client, one at
a time or pipelined; each timed run starts from an empty database. Placement calls are
built before the clock starts (for both sides alike), so a figure is Redis time plus the
client's protocol work, not argument building.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from bench.workload import SYMBOLS, Op, far_orders
from engine import accounts
from engine.book import Engine
from engine.config import Settings
from engine.connection import make_redis
from engine.keys import symbol_keys
from engine.orders import PlaceRequest
from engine.scripts import Scripts
from engine.symbols import SymbolRegistry

BASELINE_LUA = Path(__file__).with_name("baseline.lua")
ACCOUNT_NAMES = ("bench-a", "bench-b", "bench-c", "bench-d")

Progress = Callable[[int], None]  # advance a progress bar by n operations


@dataclass
class RunStats:
    """What one timed run did."""

    ops: int = 0  # operations executed (placements + cancels that found a resting order)
    placements: int = 0
    cancels: int = 0
    with_fill: int = 0  # placements that traded on arrival
    crossed: int = 0  # placements that met the other side (traded, or stopped by self-trade)
    seconds: float = 0.0
    redis_cpu_seconds: float = 0.0  # CPU time of Redis's main thread during the run
    client_cpu_seconds: float = 0.0  # CPU time of this (client) process during the run
    # Time Redis's main thread was ready to run but waited for a core (other load), when
    # /proc/<pid>/schedstat is readable (Redis on this machine); else 0.
    redis_runqueue_seconds: float = 0.0

    @property
    def redis_cpu_us_per_op(self) -> float:
        return 1e6 * self.redis_cpu_seconds / self.ops if self.ops else 0.0

    @property
    def client_cpu_us_per_op(self) -> float:
        return 1e6 * self.client_cpu_seconds / self.ops if self.ops else 0.0

    @property
    def per_second(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    @property
    def crossing_share(self) -> float:
        return self.crossed / self.placements if self.placements else 0.0

    @property
    def trading_share(self) -> float:
        return self.with_fill / self.placements if self.placements else 0.0


class EngineSide:
    """lua/place.lua and lua/cancel.lua with the KEYS/ARGV Engine.place/cancel use."""

    name = "engine"

    def __init__(self, url: str, settings: Settings) -> None:
        self.settings = settings
        self.redis = make_redis(settings, url, socket_timeout=600)
        self.engine = Engine(self.redis, settings)
        self.scripts = Scripts(self.redis)
        self.account_ids: list[str] = []
        self.api_keys: list[str] = []

    def setup(self) -> None:
        """Symbols and accounts through the engine's own functions; loads the scripts."""
        registry = SymbolRegistry(self.redis)
        for symbol, tick, lot in SYMBOLS:
            registry.add(symbol, tick, lot)
        self.api_keys = [accounts.create(self.redis, n)["api_key"] for n in ACCOUNT_NAMES]
        self.account_ids = [accounts.account_id(self.redis, n) for n in ACCOUNT_NAMES]
        for name in ("place", "place_batch", "cancel"):
            self.redis.script_load(getattr(self.scripts, name).script)

    def request(self, op: Op, **extra: Any) -> PlaceRequest:
        return PlaceRequest(op.symbol, op.side, "limit", op.quantity, price=op.price, **extra)

    def place_call(self, op: Op, **extra: Any) -> tuple:
        req = self.request(op, **extra)
        keys, args = self.engine.placement_args(self.account_ids[op.account], req)
        return ("EVALSHA", self.scripts.place.sha, len(keys), *keys, *args)

    def cancel_call(self, symbol: str, target: tuple) -> tuple:
        member, _side, account_id = target
        keys = symbol_keys(symbol).place_keys()
        return ("EVALSHA", self.scripts.cancel.sha, len(keys), *keys, account_id, member)

    def placed(self, op: Op, reply: list) -> tuple[Optional[tuple], bool, bool]:
        """(cancel target if the order rests, whether it traded, whether it crossed)."""
        if int(reply[0]) != 0:
            raise RuntimeError(f"place.lua answered {reply[0]}")
        status = reply[2].split("|", 8)[7]
        target = (reply[1], op.side, self.account_ids[op.account]) if status in "ep" else None
        traded = len(reply) > 3
        # A limit GTC order is killed only when it meets its own account's order first.
        return target, traded, traded or status == "k"

    def events_keys(self) -> list[str]:
        return [symbol_keys(s).events for s, _t, _l in SYMBOLS]


class BaselineSide:
    """bench/baseline.lua: the least a price-time matcher can do."""

    name = "baseline"
    TRADE_CAP = "10000"

    def __init__(self, url: str, settings: Settings) -> None:
        self.redis = make_redis(settings, url, socket_timeout=600)
        self.sha = self.redis.script_load(BASELINE_LUA.read_text())
        self.keys = {
            s: [f"bl:{{{s}}}:bids", f"bl:{{{s}}}:asks", f"bl:{{{s}}}:seq", f"bl:{{{s}}}:trades"]
            for s, _t, _l in SYMBOLS
        }

    def setup(self) -> None:
        self.sha = self.redis.script_load(BASELINE_LUA.read_text())

    def place_call(self, op: Op) -> tuple:
        return (
            "EVALSHA",
            self.sha,
            4,
            *self.keys[op.symbol],
            "p",
            op.side[0],
            op.price,
            op.quantity,
            f"bl:{{{op.symbol}}}:o:",
            self.TRADE_CAP,
        )

    def cancel_call(self, symbol: str, target: tuple) -> tuple:
        member, side, _account = target
        return (
            "EVALSHA",
            self.sha,
            4,
            *self.keys[symbol],
            "c",
            side[0],
            member,
            "",
            f"bl:{{{symbol}}}:o:",
            "",
        )

    def placed(self, op: Op, reply: list) -> tuple[Optional[tuple], bool, bool]:
        member, filled, status = reply
        traded = int(filled) > 0
        return ((member, op.side, None) if status in "ep" else None), traded, traded

    def events_keys(self) -> list[str]:
        return [k[3] for k in self.keys.values()]


Side = EngineSide | BaselineSide


def fresh(side: Side) -> None:
    """An empty database with the side's symbols, accounts and scripts."""
    side.redis.flushall()
    side.redis.config_resetstat()
    side.setup()


def run_ops(
    side: Side, ops: Sequence[Op], depth: int, seed: int, progress: Optional[Progress] = None
) -> RunStats:
    """Run the operations `depth` at a time (1 = one call per round trip), timed.

    A cancel takes a random order of its symbol known to rest (from earlier answers); when
    none is known it is skipped.
    """
    calls = [None if op.cancel else side.place_call(op) for op in ops]
    rng = random.Random(seed)
    resting: dict[str, list[tuple]] = {s: [] for s, _t, _l in SYMBOLS}
    stats = RunStats()
    redis = side.redis
    cpu_before = redis_cpu_seconds(redis)
    waited_before = redis_runqueue_seconds(redis)
    client_before = time.process_time()
    started = time.perf_counter()
    for start in range(0, len(ops), depth):
        batch: list[Optional[Op]] = []
        sent: list[tuple] = []
        for j in range(start, min(start + depth, len(ops))):
            op = ops[j]
            if op.cancel:
                known = resting[op.symbol]
                if not known:
                    continue
                k = rng.randrange(len(known))
                known[k], known[-1] = known[-1], known[k]
                sent.append(side.cancel_call(op.symbol, known.pop()))
                batch.append(None)
            else:
                sent.append(calls[j])
                batch.append(op)
        if depth == 1:
            replies = [redis.execute_command(*sent[0])] if sent else []
        else:
            pipe = redis.pipeline(transaction=False)
            for call in sent:
                pipe.execute_command(*call)
            replies = pipe.execute()
        for op, reply in zip(batch, replies, strict=True):
            if op is None:
                stats.cancels += 1
                continue
            stats.placements += 1
            target, traded, crossed = side.placed(op, reply)
            if target is not None:
                resting[op.symbol].append(target)
            stats.with_fill += traded
            stats.crossed += crossed
        if progress is not None:
            progress(min(depth, len(ops) - start))
    stats.seconds = time.perf_counter() - started
    stats.client_cpu_seconds = time.process_time() - client_before
    stats.redis_cpu_seconds = redis_cpu_seconds(redis) - cpu_before
    stats.redis_runqueue_seconds = redis_runqueue_seconds(redis) - waited_before
    stats.ops = stats.placements + stats.cancels
    return stats


def run_batches(
    side: EngineSide,
    ops: Sequence[Op],
    size: int,
    depth: int,
    progress: Optional[Progress] = None,
) -> RunStats:
    """Placements only, in lua/place_batch.lua calls of `size` orders of one symbol (the way
    POST /orders/batch places them: Engine.place_many), `depth` calls pipelined, timed.

    Each call takes the next orders of one symbol in the operations' order, so each symbol's
    orders are placed in the same order as run_ops places them.
    """
    orders = [(side.account_ids[op.account], side.request(op)) for op in ops if not op.cancel]
    built, groups = side.engine.batch_calls(orders, size)
    sha = side.scripts.place_batch.sha
    calls = [("EVALSHA", sha, len(keys), *keys, *args) for keys, args in built]
    counts = [len(group) for group in groups]
    stats = RunStats()
    redis = side.redis
    cpu_before = redis_cpu_seconds(redis)
    started = time.perf_counter()
    for start in range(0, len(calls), depth):
        pipe = redis.pipeline(transaction=False)
        for call in calls[start : start + depth]:
            pipe.execute_command(*call)
        for reply in pipe.execute():
            for res in reply:
                if int(res[0]) != 0:
                    raise RuntimeError(f"place_batch.lua answered {res[0]}")
                stats.placements += 1
                stats.with_fill += len(res) > 3
        if progress is not None:
            progress(sum(counts[start : start + depth]))
    stats.seconds = time.perf_counter() - started
    stats.redis_cpu_seconds = redis_cpu_seconds(redis) - cpu_before
    stats.ops = stats.placements
    return stats


def fill(
    side: Side,
    n: int,
    seed: int,
    depth: int = 256,
    progress: Optional[Progress] = None,
    **extra: Any,
) -> float:
    """Rest n orders far from the mid (none crosses), pipelined; returns seconds taken."""
    started = time.perf_counter()
    symbols = tuple(s for s, _t, _l in SYMBOLS)
    ops = far_orders(n, seed, symbols, len(ACCOUNT_NAMES))
    done = 0
    while done < n:
        pipe = side.redis.pipeline(transaction=False)
        count = 0
        for op in _take(ops, depth):
            pipe.execute_command(*(side.place_call(op, **extra) if extra else side.place_call(op)))
            count += 1
        for reply in pipe.execute():
            if len(reply) < 3:
                raise RuntimeError(f"a placement was refused: {reply!r}")
            status = reply[2] if isinstance(side, BaselineSide) else reply[2].split("|", 8)[7]
            if status != "e":
                raise RuntimeError(f"a far order did not rest: {reply!r}")
        done += count
        if progress is not None:
            progress(count)
    return time.perf_counter() - started


def _take(it: Iterable[Op], n: int) -> list[Op]:
    out = []
    for op in it:
        out.append(op)
        if len(out) == n:
            break
    return out


def redis_cpu_seconds(redis) -> float:
    """CPU time Redis's main thread has used (INFO cpu): less moved by other load than a rate."""
    cpu = redis.info("cpu")
    return float(cpu["used_cpu_user_main_thread"]) + float(cpu["used_cpu_sys_main_thread"])


def redis_runqueue_seconds(redis) -> float:
    """Time Redis's main thread has waited for a core (/proc/<pid>/schedstat); 0 if unknown.

    Only meaningful when Redis runs on this machine (the benchmark's own redis-server).
    """
    pid = redis.info("server").get("process_id")
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def evalsha_usec_per_call(redis) -> float:
    """Redis time per EVALSHA since the last CONFIG RESETSTAT (INFO commandstats)."""
    stats = redis.info("commandstats").get("cmdstat_evalsha")
    return float(stats["usec_per_call"]) if stats else 0.0


def used_memory(redis) -> int:
    return int(redis.info("memory")["used_memory"])


@dataclass
class MemoryFigures:
    orders: int
    bytes_per_order: float  # everything but the event stream(s)
    stream_bytes_per_order: float
    fill_per_second: float


def memory_per_order(
    side: Side, n: int, seed: int, progress: Optional[Progress] = None
) -> MemoryFigures:
    """Δused_memory / n for n resting GTC orders; the streams are measured on their own.

    The database is left holding the n resting orders (the deep-book run goes on from it).
    """
    fresh(side)
    before = used_memory(side.redis)
    seconds = fill(side, n, seed, progress=progress)
    with_streams = used_memory(side.redis)
    for key in side.events_keys():
        side.redis.xtrim(key, maxlen=0, approximate=False)
    after = used_memory(side.redis)
    return MemoryFigures(n, (after - before) / n, (with_streams - after) / n, n / seconds)


@dataclass
class ExpiryFigures:
    orders: int
    kills_per_second: float
    calls: int
    lateness_ms: dict[str, float]


def expiry(
    side: EngineSide, n: int, seed: int, budget: int, progress: Optional[Progress] = None
) -> ExpiryFigures:
    """n resting GTD orders all due at one instant, killed by Engine.expire in batches."""
    fresh(side)
    redis = side.redis
    sec, usec = redis.time()
    # Far enough ahead that placing them all (over 8,000/s) ends before it.
    deadline = (sec + 3 + n // 8_000) * 1_000_000 + usec
    fill(side, n, seed, time_in_force="GTD", expires_at=deadline)
    while True:
        sec, usec = redis.time()
        now = sec * 1_000_000 + usec
        if now >= deadline:
            break
        time.sleep(min(0.2, (deadline - now) / 1e6))
    lateness: list[int] = []
    killed = calls = 0
    started = time.perf_counter()
    symbols = [s for s, _t, _l in SYMBOLS]
    more = set(symbols)
    while more:
        for symbol in sorted(more):
            expired, aged, left, late = side.engine.expire(symbol, budget)
            calls += 1
            killed += expired + aged
            lateness.extend(late)
            if progress is not None:
                progress(expired + aged)
            if not left:
                more.discard(symbol)
    seconds = time.perf_counter() - started
    if killed != n:
        raise RuntimeError(f"expiry killed {killed} of {n} due orders")
    lateness.sort()
    pct = {
        name: lateness[min(len(lateness) - 1, int(q * len(lateness)))] / 1000
        for name, q in (("p50", 0.50), ("p99", 0.99), ("max", 1.0))
    }
    return ExpiryFigures(n, killed / seconds, calls, pct)
