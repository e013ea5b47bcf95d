"""Webhooks: signed deliveries, retried with backoff, one order's events in order."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections import defaultdict

import pytest

from engine import keys, webhooks
from engine.context import EngineContext
from engine.symbols import SymbolRegistry
from engine.webhooks import Deliverer
from tests.lifecycle import fan_out, feed_events, place
from tests.webhook_receiver import Receiver


@pytest.fixture
def ctx(settings):
    context = EngineContext(settings)
    SymbolRegistry(context.redis).add("BTC-USD", "0.01", "0.0001")
    yield context
    context.redis.close()


@pytest.fixture
def receiver():
    found = Receiver().start()
    yield found
    found.stop()


def deliver_until(deliverer: Deliverer, done, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "deliveries did not finish in time"
        deliverer.run(until=time.monotonic() + 0.2, idle_sleep=0.02)


def trade_a_while(ctx, alice, bob, orders: int = 3) -> None:
    """Each of alice's orders: enqueued, partially filled, filled (three events per order)."""
    for i in range(orders):
        place(ctx, alice, "sell", 2, 10000 + i)
    for i in range(orders):
        place(ctx, bob, "buy", 1, 10000 + i)
        place(ctx, bob, "buy", 1, 10000 + i)
    fan_out(ctx)


def test_deliveries_are_signed_posts_of_the_feeds_events(ctx, alice, bob, receiver):
    hook = webhooks.put(ctx.redis, alice, receiver.url)
    trade_a_while(ctx, alice, bob, orders=2)
    deliverer = Deliverer(ctx.redis)
    deliver_until(deliverer, lambda: len(receiver.accepted()) == 6, 5)
    feed = feed_events(ctx, alice)
    got = receiver.accepted()
    assert sorted(json.loads(r.body)["id"] for r in got) == sorted(e["id"] for e in feed)
    for r in got:
        assert r.path == "/hooks/te"
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["X-Event-Id"] == json.loads(r.body)["id"]
        expected = hmac.new(hook["secret"].encode(), r.body, hashlib.sha256).hexdigest()
        assert r.headers["X-Signature"] == f"sha256={expected}"
    assert ctx.redis.zcard(keys.AccountKeys(alice).wh_due) == 0
    assert not ctx.redis.exists(keys.AccountKeys(alice).wh_head)
    assert ctx.redis.hget(keys.METRICS, "webhook_delivered") == "6"


def test_a_receiver_that_fails_then_recovers_gets_everything_in_order_per_order(
    ctx, alice, bob, receiver
):
    receiver.answer = lambda n: 500 if n < 6 else 200  # down for its first six requests
    webhooks.put(ctx.redis, alice, receiver.url)
    trade_a_while(ctx, alice, bob, orders=3)
    deliverer = Deliverer(ctx.redis)
    deliver_until(deliverer, lambda: len(receiver.accepted()) == 9, 12)

    per_order = defaultdict(list)
    for r in receiver.accepted():
        event = json.loads(r.body)
        per_order[event["order"]["id"]].append(event["type"])
    assert (
        all(
            types == ["order.enqueued", "order.partially_filled", "order.filled"]
            for types in per_order.values()
        )
        and len(per_order) == 3
    )
    # Each order's first event failed twice: retried 1 s, then 2 s after.
    first = defaultdict(list)
    for r in receiver.received:
        first[r.headers["X-Event-Id"]].append(r.at)
    for times in first.values():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        for i, gap in enumerate(gaps):
            assert 2**i - 0.1 <= gap <= 2**i + 0.6
    # No event of an order is attempted before the previous one got a 2xx.
    seen_ok: dict[str, int] = {}
    for r in receiver.received:
        event = json.loads(r.body)
        position = ["order.enqueued", "order.partially_filled", "order.filled"].index(event["type"])
        assert seen_ok.get(event["order"]["id"], -1) >= position - 1
        if r.answered == 200:
            seen_ok[event["order"]["id"]] = position
    assert int(ctx.redis.hget(keys.METRICS, "webhook_failures")) == 6


def test_an_event_is_given_up_after_the_give_up_time_and_stays_in_the_feed(
    ctx, alice, bob, receiver
):
    receiver.answer = lambda n: 500 if n < 2 else 200  # the first event fails twice
    webhooks.put(ctx.redis, alice, receiver.url)
    place(ctx, alice, "sell", 2, 10000)
    place(ctx, bob, "buy", 2, 10000)
    fan_out(ctx)
    deliverer = Deliverer(ctx.redis, give_up_ms=500)
    deliver_until(deliverer, lambda: len(receiver.accepted()) == 1, 6)
    types = [json.loads(r.body)["type"] for r in receiver.received]
    assert types == ["order.enqueued", "order.enqueued", "order.filled"]
    assert ctx.redis.hget(keys.METRICS, "webhook_given_up") == "1"
    assert [e["type"] for e in feed_events(ctx, alice)] == ["order.enqueued", "order.filled"]


def test_put_keeps_the_secret_unless_rotated_and_delete_stops_deliveries(ctx, alice, bob, receiver):
    first = webhooks.put(ctx.redis, alice, receiver.url)
    again = webhooks.put(ctx.redis, alice, receiver.url + "/v2")
    assert again == {"url": receiver.url + "/v2", "secret": first["secret"]}
    rotated = webhooks.put(ctx.redis, alice, receiver.url, rotate_secret=True)
    assert rotated["secret"] != first["secret"] and rotated["secret"].startswith("whsec_")
    webhooks.delete(ctx.redis, alice)
    trade_a_while(ctx, alice, bob, orders=1)
    Deliverer(ctx.redis).run(until=time.monotonic() + 0.3)
    assert receiver.received == []
    assert len(feed_events(ctx, alice)) == 3  # the feed has them all the same
