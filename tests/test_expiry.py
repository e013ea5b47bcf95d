"""Expiry: the sweep kills due GTD orders (expired) and old GTC orders (max_age), once each."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from engine import expiry, jobs, keys
from engine.config import Settings
from engine.context import EngineContext
from engine.orders import PlaceRequest
from engine.symbols import SymbolRegistry
from tests.lifecycle import account_id, fan_out, feed_events, place


def redis_now_us(redis) -> int:
    sec, usec = redis.time()
    return int(sec) * 1_000_000 + int(usec)


def make_ctx(redis_url: str, **settings) -> EngineContext:
    context = EngineContext(Settings(redis_url=redis_url, order_rate_limit=0, **settings))
    SymbolRegistry(context.redis).add("BTC-USD", "0.01", "0.0001")
    return context


@pytest.fixture
def ctx(redis_url):
    context = make_ctx(redis_url)
    jobs.use_context(context)
    yield context
    jobs.use_context(None)
    context.redis.close()


def status(ctx, alice, order):
    found = ctx.engine.get_order(alice, order.id)
    return found.status, found.kill_reason


def wait_for_redis_time(ctx, us: int) -> None:
    """Sleep until Redis TIME reaches `us` (deadlines are generous: machines here are busy)."""
    while redis_now_us(ctx.redis) < us:
        time.sleep(0.005)


def kills_per_order(ctx) -> Counter:
    entries = ctx.redis.xrange(keys.symbol_keys("BTC-USD").events)
    return Counter(fields["o"] for _, fields in entries if fields["t"] == "kill")


def test_deadlines_past_present_and_near_future(ctx, alice):
    now = redis_now_us(ctx.redis)
    past = place(ctx, alice, "buy", 1, 10000, time_in_force="GTD", expires_at=now + 50_000)
    present = place(ctx, alice, "buy", 1, 10000, time_in_force="GTD", expires_at=now + 150_000)
    future = place(ctx, alice, "buy", 1, 10000, time_in_force="GTD", expires_at=now + 600_000)
    while redis_now_us(ctx.redis) < now + 150_000:  # the present one falls due right now
        time.sleep(0.005)
    result = expiry.sweep(ctx.engine)
    assert (result.expired, result.max_age) == (2, 0)
    assert status(ctx, alice, past) == ("killed", "expired")
    assert status(ctx, alice, present) == ("killed", "expired")
    assert status(ctx, alice, future) == ("enqueued", None)
    assert all(0 <= late < 1_000_000 for late in result.lateness_us)

    time.sleep(0.5)
    assert expiry.sweep(ctx.engine).expired == 1
    assert status(ctx, alice, future) == ("killed", "expired")
    assert expiry.sweep(ctx.engine).killed == 0  # nothing is killed twice
    assert max(kills_per_order(ctx).values()) == 1


def test_an_expired_order_is_announced_with_its_reason(ctx, alice):
    now = redis_now_us(ctx.redis)
    place(ctx, alice, "sell", 2, 10000, time_in_force="GTD", expires_at=now + 200_000)
    wait_for_redis_time(ctx, now + 200_000)
    expiry.sweep(ctx.engine)
    fan_out(ctx)
    events = feed_events(ctx, alice)
    assert [e["type"] for e in events] == ["order.enqueued", "order.killed"]
    assert events[1]["order"]["kill_reason"] == "expired"


def test_a_fill_before_the_sweep_wins_and_a_due_order_is_never_matched(ctx, alice, bob):
    now = redis_now_us(ctx.redis)
    filled = place(ctx, alice, "sell", 1, 10000, time_in_force="GTD", expires_at=now + 100_000)
    due = place(ctx, alice, "sell", 1, 10100, time_in_force="GTD", expires_at=now + 100_000)
    place(ctx, bob, "buy", 1, 10000)  # fills the first before its deadline
    time.sleep(0.15)
    # A taker that reaches the due order kills it (expired) instead of trading with it.
    taker = place(ctx, bob, "buy", 1, 10100)
    assert taker.filled_quantity == 0 and taker.status == "enqueued"
    assert status(ctx, alice, due) == ("killed", "expired")
    assert expiry.sweep(ctx.engine).killed == 0  # both were final before the sweep
    assert status(ctx, alice, filled) == ("filled", None)


def test_fills_racing_the_sweep_never_fill_and_expire_one_order(ctx, alice, bob):
    deadline = redis_now_us(ctx.redis) + 400_000
    reqs = [
        PlaceRequest("BTC-USD", "sell", "limit", 1, price=10000, time_in_force="GTD",
                     expires_at=deadline)
        for _ in range(600)
    ]  # fmt: skip
    makers = [result.order for result in ctx.engine.place_many(alice, reqs)]
    stop = threading.Event()

    def sweep_until_stopped():
        while not stop.is_set():
            expiry.sweep(ctx.engine, budget=20)

    sweeper = threading.Thread(target=sweep_until_stopped)
    sweeper.start()
    filled = 0
    try:  # takers arrive before, at and after the deadline while the sweep runs
        while (now := redis_now_us(ctx.redis)) < deadline + 100_000:
            if filled >= 300 and now < deadline:
                time.sleep(0.001)  # leave half of them to fall due
                continue
            filled += place(ctx, bob, "buy", 1, 10000).filled_quantity
    finally:
        stop.set()
        sweeper.join()
    outcomes = Counter(status(ctx, alice, m) for m in makers)
    assert set(outcomes) <= {("filled", None), ("killed", "expired")}
    assert sum(outcomes.values()) == 600 and outcomes[("filled", None)] == filled > 0
    assert outcomes[("killed", "expired")] >= 300
    kills = kills_per_order(ctx)
    assert max(kills.values()) == 1  # none killed twice
    for _, fields in ctx.redis.xrange(keys.symbol_keys("BTC-USD").events):
        if fields["t"] == "trade":
            assert fields["m"] not in kills  # a maker that traded was never expired
            assert int(fields["ts"]) < deadline  # and no trade at or after its deadline


def test_a_sweep_goes_on_while_more_are_due_than_one_call_kills(ctx, alice):
    deadline = redis_now_us(ctx.redis) + 60_000_000
    reqs = [
        PlaceRequest("BTC-USD", "buy", "limit", 1, price=10000 + i % 7, time_in_force="GTD",
                     expires_at=deadline)
        for i in range(2500)
    ]  # fmt: skip
    placed = ctx.engine.place_many(alice, reqs)
    assert all(p.order.status == "enqueued" for p in placed)
    # The symbol's clock never goes back: moving it to the deadline makes all 2,500 due at
    # once, however long placing them took on a busy machine.
    ctx.redis.hset(keys.symbol_keys("BTC-USD").meta, "last_us", deadline)
    result = expiry.sweep(ctx.engine, budget=1000)
    assert result.expired == 2500 and result.calls == 3
    assert ctx.redis.zcard(keys.symbol_keys("BTC-USD").gtd) == 0


def test_gtc_orders_past_max_age_are_killed_filled_part_kept(redis_url, make_account):
    ctx = make_ctx(redis_url, order_max_age=1)
    alice, bob = account_id(make_account("alice")), account_id(make_account("bob"))
    old = place(ctx, alice, "sell", 5, 10000)
    place(ctx, bob, "buy", 2, 10000)  # partly filled: still aged out (whatever its fills)
    ioc_gtd = place(ctx, alice, "sell", 1, 10500, time_in_force="GTD",
                    expires_at=redis_now_us(ctx.redis) + 60_000_000)  # fmt: skip
    assert expiry.sweep(ctx.engine).killed == 0
    time.sleep(1.05)
    result = expiry.sweep(ctx.engine)
    assert (result.expired, result.max_age) == (0, 1)
    order = ctx.engine.get_order(alice, old.id)
    assert (order.status, order.kill_reason, order.filled_quantity) == ("killed", "max_age", 2)
    assert status(ctx, alice, ioc_gtd) == ("enqueued", None)  # GTD orders do not age out
    ctx.redis.close()


def test_lateness_goes_into_the_histogram(ctx, alice):
    now = redis_now_us(ctx.redis)
    for _ in range(3):
        place(ctx, alice, "buy", 1, 10000, time_in_force="GTD", expires_at=now + 200_000)
    wait_for_redis_time(ctx, now + 300_000)  # each at least 100 ms late
    expiry.sweep(ctx.engine)
    counters = ctx.redis.hgetall(keys.METRICS)
    assert counters["lateness_count"] == "3"
    assert 300_000 <= int(counters["lateness_sum_us"]) < 3_000_000
    assert sum(int(v) for k, v in counters.items() if k.startswith("lateness_bucket:")) == 3


def test_the_sweep_job_sweeps_for_about_a_second_and_a_copy_meanwhile_does_nothing(ctx, alice):
    now = redis_now_us(ctx.redis)
    order = place(ctx, alice, "buy", 1, 10000, time_in_force="GTD", expires_at=now + 300_000)
    results = []
    started = time.monotonic()
    run = threading.Thread(target=lambda: results.append(jobs.expiry_sweep()))
    run.start()
    time.sleep(0.1)
    assert jobs.expiry_sweep() is None  # a second scheduler's copy while the first runs
    run.join()
    assert 0.9 < time.monotonic() - started < 1.3
    assert results == [{"expired": 1, "max_age": 0}]  # it fell due during the window
    assert status(ctx, alice, order) == ("killed", "expired")
    assert not ctx.redis.exists(keys.lease("expiry"))  # given back: the next run starts at once
