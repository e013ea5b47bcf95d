"""Status updates: each symbol's stream fanned out to the accounts' feeds, exactly once."""

from __future__ import annotations

import pytest

from engine import event_models, keys
from engine.context import EngineContext
from engine.fanout import GROUP, FanOut
from engine.symbols import SymbolRegistry
from tests.lifecycle import fan_out, feed_events, place


@pytest.fixture
def ctx(settings):
    context = EngineContext(settings)
    SymbolRegistry(context.redis).add("BTC-USD", "0.01", "0.0001")
    yield context
    context.redis.close()


def summary(events):
    return [
        (e["type"], e["order"]["id"], e["order"]["status"], e["order"]["filled_quantity"],
         e["order"]["average_price"], e["fill"]["quantity"] if e["fill"] else None)
        for e in events
    ]  # fmt: skip


def test_each_order_gets_enqueued_fills_and_kill_with_its_state_after_the_event(ctx, alice, bob):
    a1 = place(ctx, alice, "sell", 5, 10000)  # rests: enqueued
    a2 = place(ctx, alice, "sell", 5, 10100)  # rests: enqueued
    b1 = place(ctx, bob, "buy", 7, 10100)  # fills a1 fully, a2 partly; b1 filled on arrival
    b2 = place(ctx, bob, "buy", 7)  # market IOC: takes a2's 3 lots, the rest killed
    fan_out(ctx)

    assert summary(feed_events(ctx, alice)) == [
        ("order.enqueued", a1.id, "enqueued", "0.0000", None, None),
        ("order.enqueued", a2.id, "enqueued", "0.0000", None, None),
        ("order.filled", a1.id, "filled", "0.0005", "100.00", "0.0005"),
        ("order.partially_filled", a2.id, "partially_filled", "0.0002", "101.00", "0.0002"),
        ("order.filled", a2.id, "filled", "0.0005", "101.00", "0.0003"),
    ]
    # b1 filled on arrival: no order.enqueued; its average is over both fills (702/7).
    assert summary(feed_events(ctx, bob)) == [
        ("order.partially_filled", b1.id, "partially_filled", "0.0005", "100.00", "0.0005"),
        ("order.filled", b1.id, "filled", "0.0007", "100.29", "0.0002"),
        ("order.partially_filled", b2.id, "partially_filled", "0.0003", "101.00", "0.0003"),
        ("order.killed", b2.id, "killed", "0.0003", "101.00", None),
    ]


def test_events_are_the_contracts_event_objects(ctx, alice, bob):
    place(ctx, alice, "sell", 5, 10000, client_order_id="s-1")
    place(ctx, bob, "buy", 2, 10000)
    fan_out(ctx)
    enqueued, fill = feed_events(ctx, alice)
    for event in (enqueued, fill):
        event_models.Event.model_validate(event, strict=True)
    assert fill["fill"] == {
        "trade_id": "BTC-USD:3", "order_id": "BTC-USD:1", "symbol": "BTC-USD", "side": "sell",
        "price": "100.00", "quantity": "0.0002", "liquidity": "maker", "sequence": 3,
        "created_at": fill["created_at"],
    }  # fmt: skip
    order = fill["order"]
    assert order["client_order_id"] == "s-1"
    assert order["remaining_quantity"] == "0.0003" and order["updated_at"] == fill["created_at"]
    assert enqueued["order"]["updated_at"] == enqueued["created_at"] == order["created_at"]
    assert fill["id"] == "BTC-USD:1:3" and enqueued["id"] == "BTC-USD:1:1"


def test_a_later_change_does_not_leak_into_an_earlier_event(ctx, alice, bob):
    place(ctx, alice, "sell", 5, 10000)
    place(ctx, bob, "buy", 2, 10000)
    place(ctx, bob, "buy", 1, 10100)  # a second fill of alice's order, at the same price
    ctx.engine.cancel(alice, "BTC-USD:1")  # then killed by its owner
    fan_out(ctx)  # all four entries handled after the fact
    events = feed_events(ctx, alice)
    assert [
        (e["type"], e["order"]["filled_quantity"], e["order"]["kill_reason"]) for e in events
    ] == [
        ("order.enqueued", "0.0000", None),
        ("order.partially_filled", "0.0002", None),
        ("order.partially_filled", "0.0003", None),
        ("order.killed", "0.0003", "user"),
    ]
    assert events[1]["order"]["remaining_quantity"] == "0.0003"
    assert events[3]["order"]["remaining_quantity"] == "0.0000"


def test_an_order_killed_on_arrival_has_only_its_kill_event(ctx, alice, bob):
    place(ctx, alice, "sell", 5, 10000)
    post_only = place(ctx, bob, "buy", 1, 10000, post_only=True)
    fan_out(ctx)
    assert summary(feed_events(ctx, bob)) == [
        ("order.killed", post_only.id, "killed", "0.0000", None, None)
    ]


def test_a_consumer_that_died_mid_batch_has_its_entries_finished_once(ctx, alice, bob):
    for i in range(30):
        place(ctx, alice, "sell", 1, 10000 + i)
        place(ctx, bob, "buy", 1, 10000 + i)
    k = keys.symbol_keys("BTC-USD")
    # A consumer reads a batch and appends part of its events, then dies before its XACK.
    dead = FanOut(ctx, "dead")
    assert dead.acquire("BTC-USD")
    entries = ctx.redis.xreadgroup(GROUP, "dead", {k.events: ">"}, count=40)[0][1]
    dead.ack_script = lambda **kwargs: (_ for _ in ()).throw(ConnectionError("killed"))
    with pytest.raises(ConnectionError):
        dead.handle("BTC-USD", entries[:25])
    assert ctx.redis.xpending(k.events, GROUP)["pending"] == 40
    ctx.redis.delete(keys.lease("fanout:BTC-USD"))  # its lease runs out

    fan_out(ctx, consumer="heir")  # takes over the pending entries, then reads the rest
    alice_events, bob_events = feed_events(ctx, alice), feed_events(ctx, bob)
    assert len(alice_events) == 60 and len(bob_events) == 30  # 30 enqueued + 30 fills; 30 fills
    for events in (alice_events, bob_events):
        ids = [e["id"] for e in events]
        assert len(set(ids)) == len(ids)
    assert ctx.redis.xpending(k.events, GROUP)["pending"] == 0
    consumers = {c["name"] for c in ctx.redis.xinfo_consumers(k.events, GROUP)}
    assert consumers == {"heir"}  # the dead consumer is forgotten once its entries moved
    stats = ctx.redis.hgetall(k.stats)
    assert stats["accepted"] == "60" and stats["trades"] == "30" and stats["filled"] == "60"


def test_only_the_holder_of_a_symbols_lease_reads_it(ctx, alice):
    first, second = FanOut(ctx, "one"), FanOut(ctx, "two")
    assert first.acquire("BTC-USD")
    assert not second.acquire("BTC-USD")
    first.release_all()
    assert second.acquire("BTC-USD")
    second.release_all()


def test_handling_the_same_entries_twice_adds_nothing(ctx, alice, bob):
    place(ctx, alice, "sell", 5, 10000)
    place(ctx, bob, "buy", 5, 10000)
    fan_out(ctx)
    before = feed_events(ctx, alice)
    entries = ctx.redis.xrange(keys.symbol_keys("BTC-USD").events)
    fan = FanOut(ctx, "again")
    result = fan.handle("BTC-USD", entries)
    assert result.events == 0
    assert feed_events(ctx, alice) == before
