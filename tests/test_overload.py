"""Overload: the per-account rate limit under an open-loop flood, and the API past capacity.

1. ORDER_RATE_LIMIT=10 (bursts of 20; 20 with `-m slow`): 16 accounts each post at twice
   their limit, on a fixed schedule, for 3 s against the Procfile's gunicorn. Only 201 and 429 (with
   Retry-After) come back, the accepted requests stay fast (p99 <= 50 ms), each account gets
   about its burst plus its rate, and every 201'd order is in Redis (and nothing else is).
2. No limit, far more concurrent clients than the machine can serve (wrk, loopback, a few
   seconds): no 5xx, no request past the client's timeout; the extra load waits in
   gunicorn's queue and shows as latency (docs/operations.md has the figures).
"""

from __future__ import annotations

import os
import shutil

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
# A 1-minute load average above this (twice the cores) means other work shares the machine
# (this test alone keeps it near the core count): latency says nothing about us then.
BUSY_LOAD = 2 * (os.cpu_count() or 1)


@pytest.fixture
def web(redis_url, r, tmp_path):
    """The Procfile's web against the test Redis, started with the given limit."""
    started = []

    def start(rate_limit: int):
        process, port = start_web({"REDIS_URL": redis_url, "ORDER_RATE_LIMIT": str(rate_limit)},
                                  tmp_path / f"web-{rate_limit}.log")  # fmt: skip
        started.append(process)
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
    # (the test suite itself, other builds): a second run is allowed to confirm a slow one.
    p99s = []
    for attempt in range(2):
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
        p99s.append(p99)
        print(f"\noverload, limit {rate}/s, run {attempt + 1}: {len(answers)} requests, "
              f"{len(accepted)} accepted (p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms), "
              f"{len(answers) - len(accepted)} answered 429; load average "
              f"{os.getloadavg()[0]:.1f}")  # fmt: skip
        if p99 <= P99_LIMIT:
            break
    if min(p99s) > P99_LIMIT and os.getloadavg()[0] > BUSY_LOAD:
        pytest.skip(f"p99 {[round(x * 1000) for x in p99s]} ms, but the machine is busy with "
                    f"other work (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
                    "cores): the latency bound is not measurable now")  # fmt: skip
    assert min(p99s) <= P99_LIMIT, (
        f"p99 of the accepted requests: {[round(x * 1000) for x in p99s]} ms"
    )


@pytest.mark.timeout(90)
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench)")
def test_past_capacity_without_a_limit_the_api_queues_without_5xx_or_timeouts(web, r):
    port = web(0)
    keys = [accounts.create(r, f"load{i}")["api_key"] for i in range(4)]
    light = wrk_statuses(f"http://127.0.0.1:{port}{API}/orders", keys, connections=4, seconds=2)
    heavy = wrk_statuses(f"http://127.0.0.1:{port}{API}/orders", keys, connections=256,
                         seconds=3, timeout=5)  # fmt: skip
    for figures in (light, heavy):
        assert figures.requests > 0
        assert figures.s5xx == 0 and figures.s4xx == 0, figures
        assert figures.timeouts == 0 and figures.socket_errors == 0, figures
    # Past capacity throughput stays about the same and the wait grows (Little's law).
    assert heavy.p50_ms > light.p50_ms
    assert heavy.requests_per_second > 0.5 * light.requests_per_second
    assert heavy.max_ms < 5000
    # Every answered order is there; wrk stops without reading the answers still in flight.
    placed = r.hlen(symbol_keys(SYMBOL).orders)
    assert light.s2xx + heavy.s2xx <= placed <= light.s2xx + heavy.s2xx + 4 + 256
    print(f"\npast capacity: {light} -> {heavy}")
