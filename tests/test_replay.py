"""Snapshots and replay: the snapshot plus the event stream rebuild the book Redis holds."""

from __future__ import annotations

import json

import pytest

from engine.book import Engine
from engine.config import Settings
from engine.keys import symbol_keys
from engine.orders import PlaceRequest
from engine.replay import replay_symbol
from engine.snapshot import decode_orders, write_snapshot

S = "BTC-USD"
SETTINGS = Settings(order_max_age=1, match_limit=10_000)


@pytest.fixture
def engine(r, make_symbol) -> Engine:
    make_symbol(S)
    return Engine(r, SETTINGS)


def order(side, qty, price=None, **kw) -> PlaceRequest:
    otype = "limit" if price is not None else "market"
    tif = kw.pop("tif", "GTC" if otype == "limit" else "IOC")
    return PlaceRequest(symbol=S, side=side, type=otype, quantity=qty, price=price,
                        time_in_force=tif, **kw)  # fmt: skip


def activity(engine: Engine, r, rounds: int = 3) -> None:
    """Orders of every kind, trades, cancels and expiry kills."""
    k = symbol_keys(S)
    for i in range(rounds):
        a = engine.place("ann", order("sell", 5, 101 + i)).order
        engine.place("bob", order("sell", 2, 100))
        engine.place("cat", order("buy", 3, 100 + i, tif="IOC"))
        engine.place("cat", order("buy", 4, 99))
        engine.place("cat", order("sell", 1, 99, post_only=True))
        engine.place(
            "ann", order("buy", 9, 102 + i, tif="FOK", self_trade_prevention="cancel_oldest")
        )
        engine.place("bob", order("buy", 1))
        engine.place("ann", order("buy", 1, 90, tif="GTD", expires_at=_now(r) + 20_000))
        engine.place("bob", order("buy", 1, 98, client_order_id=f"c{i}"))
        if a.is_open:
            try:
                engine.cancel("ann", a.id)
            except Exception:
                pass
        r.hset(k.meta, "last_us", _now(r) + 1_100_000)  # one second and a bit later
        engine.expire(S)
        engine.place("cat", order("sell", 20, 1))  # sweeps the bids (some are due)
        engine.cancel_all("cat", S, [S])


def _now(r) -> int:
    sec, us = r.time()
    return max(sec * 1_000_000 + us, int(r.hget(symbol_keys(S).meta, "last_us") or 0))


def test_an_empty_symbol_replays(engine, r):
    assert replay_symbol(r, S, SETTINGS) == {"symbol": S, "ok": True, "differences": []}


def test_the_stream_alone_rebuilds_the_book(engine, r):
    activity(engine, r)
    engine.place("ann", order("buy", 2, 95))
    engine.place("bob", order("sell", 3, 105))
    result = replay_symbol(r, S, SETTINGS)
    assert result["ok"], result["differences"]


def test_a_snapshot_holds_the_resting_orders_and_the_sequence(engine, r):
    activity(engine, r, rounds=1)
    resting = [engine.place("ann", order("buy", 2, 95 - i)).order for i in range(3)]
    seq = engine.book(S, 1).sequence
    snap = write_snapshot(r, S)
    assert snap["seq"] == seq and snap["stream_id"] == f"{seq}-0"
    assert snap["orders"] == len(resting)
    stored = r.hgetall(symbol_keys(S).snapshot)
    assert stored["seq"] == str(seq) and stored["stream_id"] == f"{seq}-0"
    assert int(stored["taken_us"]) == snap["taken_us"]
    assert [o.id for o in decode_orders(S, stored["orders"])] == [o.id for o in resting]
    assert json.loads(stored["orders"])[0][0] == "%016d" % resting[0].sequence


def test_an_empty_book_snapshot_is_an_empty_list(engine, r):
    snap = write_snapshot(r, S)
    assert (snap["seq"], snap["orders"]) == (0, 0)
    assert r.hget(symbol_keys(S).snapshot, "orders") == "[]"


def test_snapshot_plus_the_stream_after_it_rebuilds_the_book_after_trimming(engine, r):
    activity(engine, r, rounds=2)
    engine.place("ann", order("buy", 2, 95))
    snap = write_snapshot(r, S)
    # What housekeeping does (exactly: redis-py trims approximately by default).
    r.xtrim(symbol_keys(S).events, minid=snap["stream_id"], approximate=False)
    activity(engine, r, rounds=2)
    engine.place("bob", order("sell", 3, 105))
    assert r.xrange(symbol_keys(S).events, count=1)[0][0] == snap["stream_id"]
    result = replay_symbol(r, S, SETTINGS)
    assert result["ok"], result["differences"]


def test_a_trimmed_stream_without_a_snapshot_is_a_difference(engine, r):
    activity(engine, r, rounds=1)
    r.xtrim(symbol_keys(S).events, minid="5-0", approximate=False)
    result = replay_symbol(r, S, SETTINGS)
    assert not result["ok"]
    assert "entries 1..4 are missing" in result["differences"][0]


def test_a_missing_stream_entry_is_a_difference(engine, r):
    activity(engine, r, rounds=1)
    r.xdel(symbol_keys(S).events, "7-0")
    result = replay_symbol(r, S, SETTINGS)
    assert not result["ok"] and "7" in result["differences"][0]


def test_a_changed_order_record_is_a_difference(engine, r):
    o = engine.place("ann", order("sell", 5, 101)).order
    engine.place("bob", order("buy", 2, 101))
    member = "%016d" % o.sequence
    k = symbol_keys(S)
    raw = r.hget(k.orders, member).split("|")
    raw[6] = "3"  # filled 3 instead of 2
    r.hset(k.orders, member, "|".join(raw))
    result = replay_symbol(r, S, SETTINGS)
    assert not result["ok"]
    assert result["differences"] == [
        f"order {o.sequence} differs: replay {_record(r, member, filled='2')}, "
        f"Redis {'|'.join(raw)}"
    ]


def _record(r, member, filled):
    raw = r.hget(symbol_keys(S).orders, member).split("|")
    raw[6] = filled
    return "|".join(raw)


def test_an_order_missing_from_the_book_and_a_wrong_level_are_differences(engine, r):
    engine.place("ann", order("sell", 5, 101))
    engine.place("ann", order("sell", 1, 102))
    k = symbol_keys(S)
    r.zrem(k.asks, "%016d" % 1)
    r.hincrby(k.level_sizes, "aq102", 7)
    diffs = replay_symbol(r, S, SETTINGS)["differences"]
    assert any("order 1 rests in the replay" in d for d in diffs)
    assert any(d.startswith("ask depth differs") for d in diffs)


def test_an_invented_entry_is_a_difference(engine, r):
    engine.place("ann", order("sell", 5, 101))
    k = symbol_keys(S)
    r.xadd(k.events, {"t": "trade", "p": "101", "q": "1", "ts": "1"}, id="2-0")
    r.hset(k.meta, "seq", 2)
    diffs = replay_symbol(r, S, SETTINGS)["differences"]
    assert diffs == [
        "stream entry 2 (trade): no placement, cancel or expiry starts with such an entry"
    ]


def test_replay_with_other_settings_names_the_first_placement_they_change(engine, r):
    for i in range(3):
        engine.place(f"m{i}", order("sell", 1, 100))
    engine.place("t", order("buy", 3, 100))
    diffs = replay_symbol(r, S, Settings(match_limit=2))["differences"]
    # The accepted entry records how the placement ended ("st"): it differs first.
    assert len(diffs) == 1 and diffs[0].startswith("stream entry 4 is order")


def test_unknown_symbol(r):
    assert replay_symbol(r, "NOPE-USD", SETTINGS) == {
        "symbol": "NOPE-USD", "ok": False, "differences": ["unknown symbol NOPE-USD"],
    }  # fmt: skip


def test_cli_book_replay(r, make_symbol, runner):
    make_symbol(S)
    engine = Engine(r, Settings())  # the app's settings (the CLI replays with them)
    activity(engine, r, rounds=1)
    write_snapshot(r, S)
    engine.place("ann", order("buy", 2, 95))
    ok = runner.invoke(args=["book", "replay", S])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout) == {"symbol": S, "ok": True, "differences": []}

    r.hincrby(symbol_keys(S).level_sizes, "bq95", 1)
    bad = runner.invoke(args=["book", "replay", S])
    assert bad.exit_code == 1
    document = json.loads(bad.stdout)
    assert document["ok"] is False and document["differences"][0].startswith("bid depth")
