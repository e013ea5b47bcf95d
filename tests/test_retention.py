"""Retention: final orders past ORDER_RETENTION go with everything that points at them; the
stream is trimmed only below both the snapshot and what the fan-out has yet to handle."""

from __future__ import annotations

import time

import pytest

from engine import jobs, keys
from engine.check import check_symbol
from engine.config import Settings
from engine.context import EngineContext
from engine.fanout import GROUP, FanOut
from engine.feed import Feed
from engine.replay import replay_symbol
from engine.retention import Retention, group_position
from engine.snapshot import write_snapshot
from engine.symbols import SymbolRegistry
from tests.lifecycle import fan_out, place

K = keys.symbol_keys("BTC-USD")


@pytest.fixture
def ctx(redis_url):
    context = EngineContext(Settings(redis_url=redis_url, order_rate_limit=0, order_retention=1))
    SymbolRegistry(context.redis).add("BTC-USD", "0.01", "0.0001")
    jobs.use_context(context)
    yield context
    jobs.use_context(None)
    context.redis.close()


def counts(r) -> dict:
    return {
        "orders": r.hlen(K.orders),
        "final": r.zcard(K.final),
        "open": r.zcard(K.open),
        "coid": r.hlen(K.client_ids),
        "done": r.llen(K.done),
        "trades": r.zcard(K.trades),
        "fills": r.zcard(K.fills),
        "ofills": r.zcard(K.order_fills),
    }


def test_final_orders_past_retention_go_with_their_indexes_fills_and_trades(ctx, alice, bob):
    r = ctx.redis
    place(ctx, alice, "sell", 5, 10000, client_order_id="s1")
    place(ctx, bob, "buy", 5, 10000, client_order_id="b1")  # both filled: final
    place(ctx, alice, "sell", 3, 10100, client_order_id="s2")
    place(ctx, bob, "buy", 1, 10100)  # s2 partly filled: open, keeps its fill
    place(ctx, bob, "buy", 1, 9000, time_in_force="IOC")  # killed at once: final
    fan_out(ctx)
    assert jobs.run_retention(ctx) == {"orders_removed": 0, "trades_removed": 0}  # too recent
    time.sleep(1.1)
    assert jobs.run_retention(ctx) == {"orders_removed": 4, "trades_removed": 2}
    assert counts(r) == {
        "orders": 1, "final": 0, "open": 1, "coid": 1, "done": 0, "trades": 0, "fills": 1,
        "ofills": 1,
    }  # fmt: skip
    assert ctx.engine.find_by_client_id(alice, "BTC-USD", "s1") is None
    assert ctx.engine.find_by_client_id(alice, "BTC-USD", "s2").filled_quantity == 1
    assert check_symbol(r, "BTC-USD") == []
    # The client_order_id is free again once its order is gone.
    assert place(ctx, alice, "sell", 1, 10500, client_order_id="s1").status == "enqueued"


def test_nothing_the_fan_out_has_yet_to_handle_is_removed(ctx, alice, bob):
    place(ctx, alice, "sell", 1, 10000)
    place(ctx, bob, "buy", 1, 10000)
    time.sleep(1.1)
    assert jobs.run_retention(ctx)["orders_removed"] == 0  # its events are still to come
    fan_out(ctx)
    assert jobs.run_retention(ctx)["orders_removed"] == 2


def test_the_stream_is_trimmed_below_the_snapshot_and_the_groups_oldest_unhandled(ctx, alice, bob):
    r = ctx.redis
    keeper = Retention(r, 1)
    for i in range(10):
        place(ctx, alice, "sell", 1, 10000 + i)  # entries 1..10
    snap = write_snapshot(r, "BTC-USD")["stream_id"]
    assert keeper.trim_stream("BTC-USD", snap) == 0  # no fan-out group yet: keep everything
    fan_out(ctx)
    for i in range(5):
        place(ctx, bob, "buy", 1, 10000 + i)  # entries 11..20 (5 orders, 5 trades)
    # A consumer has read entries 11-14 and not acknowledged them yet.
    FanOut(ctx, "slow").acquire("BTC-USD")
    r.xreadgroup(GROUP, "slow", {K.events: ">"}, count=4)
    assert group_position(r, "BTC-USD").first_unhandled == "11-0"
    snap = write_snapshot(r, "BTC-USD")["stream_id"]  # "20-0"
    assert keeper.trim_stream("BTC-USD", snap) == 10  # below 11: the pending entry stays
    assert r.xrange(K.events, count=1)[0][0] == "11-0"
    r.delete(keys.lease("fanout:BTC-USD"))
    fan_out(ctx)
    assert keeper.trim_stream("BTC-USD", snap) == 9  # now below the snapshot's own entry
    assert [e[0] for e in r.xrange(K.events)] == ["20-0"]
    assert replay_symbol(r, "BTC-USD")["ok"]


def test_old_events_leave_the_feeds(ctx, alice, bob):
    place(ctx, alice, "sell", 1, 10000)
    fan_out(ctx)
    feed = Feed(ctx.redis)
    keeper = Retention(ctx.redis, 1)
    assert keeper.trim_feeds() == 0
    time.sleep(1.1)
    place(ctx, alice, "sell", 1, 10001)
    fan_out(ctx)
    assert keeper.trim_feeds() == 1
    (_cursor, body), *rest = feed.read(alice, "0-0", 10)
    assert rest == [] and b'"id":"BTC-USD:2:2"' in body


def test_the_snapshot_job_snapshots_changed_books_and_trims(ctx, alice):
    place(ctx, alice, "sell", 1, 10000)
    fan_out(ctx)
    assert jobs.snapshots() == {"snapshots": 1, "entries_trimmed": 0, "feed_trimmed": 0}
    assert jobs.snapshots() is None  # leased for its period
    assert jobs.run_snapshots(ctx) == {"snapshots": 0, "entries_trimmed": 0, "feed_trimmed": 0}
    assert ctx.redis.hget(K.snapshot, "stream_id") == "1-0"
