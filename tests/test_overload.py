"""Overload: the per-account rate limit under an open-loop flood, and the API past capacity.

1. ORDER_RATE_LIMIT=10 (bursts of 20; 20 with `-m slow`): 16 accounts each post at twice
   their limit, on a fixed schedule, for 3 s against the Procfile's gunicorn. Only 201 and
   429 (with Retry-After) come back, the accepted requests stay fast (p99 <= 50 ms; skipped,
   with the figures, when other work keeps the machine busy), each account gets about its
   burst plus its rate, and every 201'd order is in Redis (and nothing else is).
2. No limit, far more concurrent clients than the machine can serve (wrk, loopback, a few
   seconds): no 5xx and no socket error; the extra load waits (gevent's connections, the
   Redis pool) and shows as latency. docs/operations.md has the figures at more levels and
   longer (python -m bench.overload).
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from bench.overload import wrk_statuses
from engine import accounts
from engine.keys import symbol_keys
from engine.symbols import SymbolRegistry
from tests.open_loop import Stream, percentile, run
from tests.stack import start_web

API = "/api/v1"
SYMBOL = "BTC-USD"
ACCOUNTS = 16
SECONDS = 3.0
P99_LIMIT = 0.050  # seconds, accepted requests
# CPU (in cores) that processes other than this test's (pytest, the web, Redis) may use
# during a run before its latency says more about the neighbours than about the service.
FOREIGN_CPU = 0.5
TICKS = os.sysconf("SC_CLK_TCK")


def _busy_ticks() -> int:
    """CPU ticks the whole machine spent busy (steal included: a VM's host took them)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, open("/proc/stat").readline().split()[1:9])  # fmt: skip
    return user + nice + system + irq + softirq + steal


def _tree(pid: int) -> set[int]:
    """pid and all its descendants."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            parents.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        todo += parents.get(p, [])
    return out


def _own_ticks(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


class ForeignCpu:
    """How many cores other processes used while the block ran."""

    def __init__(self, pids: set[int]) -> None:
        self.pids = pids

    def __enter__(self) -> "ForeignCpu":
        self.started, self.busy, self.own = time.monotonic(), _busy_ticks(), _own_ticks(self.pids)
        return self

    def __exit__(self, *exc) -> None:
        seconds = time.monotonic() - self.started
        foreign = (_busy_ticks() - self.busy) - (_own_ticks(self.pids) - self.own)
        self.cores = max(0.0, foreign / TICKS / seconds)


@pytest.fixture
def web(redis_url, redis_server, r, tmp_path):
    """The Procfile's web against the test Redis, started with the given limit."""
    started = []

    def start(rate_limit: int):
        process, port = start_web({"REDIS_URL": redis_url, "ORDER_RATE_LIMIT": str(rate_limit)},
                                  tmp_path / f"web-{rate_limit}.log")  # fmt: skip
        started.append(process)
        start.pids = _tree(process.pid) | {os.getpid(), redis_server.process.pid}
        return port

    SymbolRegistry(r).add(SYMBOL, "0.01", "0.0001")
    yield start
    for process in started:
        process.stop()


def order_maker(key: str, account: int):
    def make(n: int):
        buy = (n + account) % 2 == 0  # resting, never crossing: buys 90-99, sells 101-110
        price = 90 + (n * 7 + account) % 10 if buy else 101 + (n * 3 + account) % 10
        body = {"symbol": SYMBOL, "side": "buy" if buy else "sell", "price": f"{price}.00",
                "quantity": "0.0001"}  # fmt: skip
        headers = {"X-API-Key": key, "Content-Type": "application/json"}
        return "POST", f"{API}/orders", headers, body

    return make


def flood(port: int, r, rate: int, name: str) -> list:
    """16 new accounts, each posting at twice `rate` for SECONDS on a fixed schedule."""
    keys = [accounts.create(r, f"{name}{i}")["api_key"] for i in range(ACCOUNTS)]
    streams = [Stream(rate=2 * rate, make=order_maker(k, i), phase=i / (2 * rate * ACCOUNTS))
               for i, k in enumerate(keys)]  # fmt: skip
    return run(port, streams, SECONDS)


def check_flood(answers: list, rate: int) -> tuple[list, float, float]:
    """The contract's part, true on every run: only 201 and 429 (with Retry-After), each
    account its burst plus its rate. Returns the accepted answers and their p50 and p99."""
    assert len(answers) == ACCOUNTS * int(2 * rate * SECONDS)
    statuses = {a.status for a in answers}
    assert statuses <= {201, 429}, statuses
    for a in answers:
        if a.status == 429:
            assert a.body["error"]["code"] == "rate_limited"
            assert int(a.headers["retry-after"]) >= 1
    accepted = [a for a in answers if a.status == 201]
    # Each account: its burst, then a token every 1/rate s while its requests were being
    # answered (a slow machine stretches that window, and the tokens with it).
    for i in range(ACCOUNTS):
        mine = [a for a in answers if a.stream == i]
        window = max(a.due + a.latency for a in mine) - min(a.due for a in mine)
        got = sum(1 for a in mine if a.status == 201)
        low, high = 0.8 * (2 * rate + rate * SECONDS), 2 * rate + rate * window + 1
        assert low <= got <= high, (i, got, low, high)
    latencies = [a.latency for a in accepted]
    return accepted, percentile(latencies, 50), percentile(latencies, 99)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "rate", [10, pytest.param(20, marks=pytest.mark.slow)], ids=lambda rate: f"limit{rate}"
)
def test_accounts_flooding_at_twice_their_limit_get_429_and_the_accepted_stay_fast(web, r, rate):
    port = web(rate)
    flood(port, r, rate, "warmup")  # every gunicorn thread and Redis script warm
    orders_before = r.hlen(symbol_keys(SYMBOL).orders)
    # The latency bound is about this service, not about whatever else shares the machine
    # (other builds, other test runs): up to three runs, and the bound is checked on a run
    # during which other processes left the cores to us.
    p99s, quiet = [], []
    for attempt in range(3):
        with ForeignCpu(web.pids) as foreign:
            answers = flood(port, r, rate, f"flood{attempt}-")
        accepted, p50, p99 = check_flood(answers, rate)
        # Nothing lost, nothing extra: the 201s are exactly the new orders in Redis.
        orders = symbol_keys(SYMBOL).orders
        pipe = r.pipeline(transaction=False)
        for a in accepted:
            pipe.hexists(orders, "%016d" % a.body["sequence"])
        assert all(pipe.execute())
        assert r.hlen(orders) == orders_before + len(accepted)
        orders_before += len(accepted)
        p99s.append((round(p99 * 1000, 1), round(foreign.cores, 2)))
        print(f"\noverload, limit {rate}/s, run {attempt + 1}: {len(answers)} requests, "
              f"{len(accepted)} accepted (p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms), "
              f"{len(answers) - len(accepted)} answered 429; other processes used "
              f"{foreign.cores:.2f} cores meanwhile")  # fmt: skip
        if p99 <= P99_LIMIT:
            return  # within the bound, whatever else ran meanwhile
        if foreign.cores <= FOREIGN_CPU:
            quiet.append(p99)
    if not quiet:
        pytest.skip(f"(p99 ms, cores used by other processes) per run: {p99s}: the machine was "
                    "never ours for a run, the latency bound is not measurable now")  # fmt: skip
    assert min(quiet) <= P99_LIMIT, f"(p99 ms, cores used by other processes) per run: {p99s}"


@pytest.mark.timeout(90)
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench)")
def test_past_capacity_without_a_limit_the_api_queues_without_5xx(web, r):
    port = web(0)
    keys = [accounts.create(r, f"load{i}")["api_key"] for i in range(4)]
    light = wrk_statuses(f"http://127.0.0.1:{port}{API}/orders", keys, connections=4, seconds=2)
    heavy = wrk_statuses(f"http://127.0.0.1:{port}{API}/orders", keys, connections=256,
                         seconds=3, timeout=5)  # fmt: skip
    for figures in (light, heavy):
        assert figures.requests > 0
        assert figures.s5xx == 0 and figures.s4xx == 0, figures
        assert figures.socket_errors == 0, figures
    # Past capacity throughput stays about the same and the wait grows (Little's law).
    assert heavy.p50_ms > light.p50_ms
    assert heavy.requests_per_second > 0.3 * light.requests_per_second
    # Every answered order is there; wrk stops without reading the answers still in flight.
    placed = r.hlen(symbol_keys(SYMBOL).orders)
    assert light.s2xx + heavy.s2xx <= placed <= light.s2xx + heavy.s2xx + 4 + 256
    print(f"\npast capacity: {light} -> {heavy}")
