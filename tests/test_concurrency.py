"""Eight processes trade on one symbol through the real HTTP API (gunicorn) at once.

Each process places and cancels at random (every type, time in force, post-only, STP mode,
short GTD orders) for several accounts, while this process sweeps expiry, writes snapshots
and trims the stream below them as housekeeping does. Afterwards the symbol's whole state
is clean (check_symbol), the contract's invariants hold over every order and trade, every
answer agrees with the final state, and replay_symbol rebuilds the book from the last
snapshot plus the stream: the audit log is complete.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from decimal import Decimal

import pytest

from engine.book import Engine
from engine.check import check_symbol
from engine.config import Settings
from engine.connection import make_redis
from engine.keys import symbol_keys
from engine.replay import replay_symbol
from engine.snapshot import write_snapshot

# The real-process helpers (gunicorn as the Procfile runs it, a keep-alive client).
stack = pytest.importorskip("tests.stack", reason="tests/stack.py is not there yet")
Client, seed, start_web = stack.Client, stack.seed, stack.start_web

SYMBOL = "BTC-USD"
PROCESSES = 8
OPERATIONS = 150  # per process
TICK, LOT = Decimal("0.01"), Decimal("0.0001")


def trader(port: int, keys: list[str], seed_: int, out) -> None:
    """One process: random placements and cancels; sends back every answer it got."""
    rng = random.Random(seed_)
    clients = [Client(port, key) for key in keys]
    mine: list[tuple[int, str]] = []  # (client index, order id) of orders that may rest
    answers = []
    for _ in range(OPERATIONS):
        which = rng.randrange(len(clients))
        client = clients[which]
        roll = rng.random()
        if roll < 0.65 or not mine:
            body = _random_order(rng, time.time_ns() // 1000)  # Redis TIME: the same clock
            reply = client.request("POST", "/orders", body)
            answers.append(("place", which, body, reply.status, reply.body))
            if reply.status == 201 and reply.body["status"] in ("enqueued", "partially_filled"):
                mine.append((which, reply.body["id"]))
        elif roll < 0.95:
            owner, oid = mine.pop(rng.randrange(len(mine)))
            # Now and then the wrong account asks: that is a 404, never a cancel.
            asker = owner if rng.random() < 0.9 else (owner + 1) % len(clients)
            reply = clients[asker].request("DELETE", f"/orders/{oid}")
            answers.append(("cancel", asker, oid, reply.status, reply.body))
        else:
            reply = client.request("DELETE", f"/orders?symbol={SYMBOL}")
            answers.append(("cancel_all", which, None, reply.status, reply.body))
    for c in clients:
        c.close()
    out.put(answers)


def _random_order(rng: random.Random, now_us: int) -> dict:
    side = rng.choice(["buy", "sell"])
    body = {
        "symbol": SYMBOL,
        "side": side,
        "quantity": str(LOT * rng.randint(1, 5)),
        "self_trade_prevention": rng.choice(["cancel_newest", "cancel_oldest", "cancel_both"]),
    }
    kind = rng.choice(["GTC", "GTC", "GTC", "IOC", "FOK", "GTD", "post", "market", "market_fok"])
    if kind.startswith("market"):
        body["type"] = "market"
        if kind == "market_fok":
            body["time_in_force"] = "FOK"
        return body
    body["price"] = str(Decimal(10000 + rng.randint(-4, 4)) * TICK)
    if kind == "post":
        body["post_only"] = True
    elif kind == "GTD":
        body["time_in_force"] = "GTD"
        expires = (now_us + rng.randint(300_000, 1_500_000)) / 1e6
        body["expires_at"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(expires)) + (
            f".{int(expires * 1e6) % 1_000_000:06d}Z"
        )
    else:
        body["time_in_force"] = kind
    return body


def _housekeeping(redis, engine: Engine, stop: threading.Event, counts: dict) -> None:
    """Expiry sweeps, snapshots and stream trimming below the snapshot, while trading runs."""
    while not stop.is_set():
        engine.expire(SYMBOL)
        counts["expire"] += 1
        if counts["expire"] % 5 == 0:
            snap = write_snapshot(redis, SYMBOL)
            redis.xtrim(symbol_keys(SYMBOL).events, minid=snap["stream_id"], approximate=False)
            counts["snapshots"] += 1
        time.sleep(0.01)


@pytest.mark.timeout(300)  # some 8 s on an idle 2-core machine
def test_eight_processes_trade_through_the_http_api(redis_url, tmp_path):
    settings = Settings(redis_url=redis_url, order_rate_limit=0)
    names = [f"trader{i}" for i in range(6)]
    keys = seed(redis_url, {SYMBOL: ("0.01", "0.0001")}, names)
    env = {"REDIS_URL": redis_url, "ORDER_RATE_LIMIT": "0", "WEB_CONCURRENCY": "4"}
    web, port = start_web(env, tmp_path / "web.log")
    redis = make_redis(settings)
    engine = Engine(redis, settings)
    stop, counts = threading.Event(), {"expire": 0, "snapshots": 0}
    keeper = threading.Thread(target=_housekeeping, args=(redis, engine, stop, counts))
    try:
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        procs = [
            ctx.Process(target=trader, args=(port, [keys[i % 6], keys[(i + 1) % 6]], i, out))
            for i in range(PROCESSES)
        ]
        keeper.start()
        for p in procs:
            p.start()
        answers = [a for _ in procs for a in out.get(timeout=120)]
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
    finally:
        stop.set()
        if keeper.is_alive():
            keeper.join(10)
        web.stop()
    assert counts["snapshots"] > 0

    bad = [a for a in answers if a[0] == "place" and a[3] != 201][:3]
    assert not bad, bad
    # Every answer is one the contract allows.
    statuses = {(kind, status) for kind, _, _, status, _ in answers}
    assert statuses <= {
        ("place", 201), ("cancel", 200), ("cancel", 404), ("cancel", 409), ("cancel_all", 200),
    }, statuses  # fmt: skip
    assert sum(1 for a in answers if a[0] == "place") > PROCESSES * OPERATIONS / 2

    assert check_symbol(redis, SYMBOL, settings.order_max_age) == []
    result = replay_symbol(redis, SYMBOL, settings)
    assert result["ok"], result["differences"]
    _check_history(redis, answers)


def _check_history(redis, answers) -> None:
    """Invariants over every order and trade, and every answer against the final state."""
    k = symbol_keys(SYMBOL)
    orders = {int(m): raw.split("|") for m, raw in redis.hgetall(k.orders).items()}
    trades = [m.split("|") for m in redis.zrange(k.trades, 0, -1)]
    filled = dict.fromkeys(orders, 0)
    taker_of = {}
    last = 0
    for tseq, price, qty, side, _ts, maker, taker in trades:
        tseq, price, qty, maker, taker = int(tseq), int(price), int(qty), int(maker), int(taker)
        assert tseq > last
        last = tseq
        m, t = orders[maker], orders[taker]
        assert m[0] != t[0], "a trade between one account's orders"
        assert m[1] != t[1] == side and maker < taker < tseq
        assert price == int(m[4]), "not at the maker's price"
        if t[2] == "l":
            assert price <= int(t[4]) if side == "b" else price >= int(t[4])
        assert t[12] == "0", "a post-only order took liquidity"
        filled[maker] += qty
        filled[taker] += qty
        taker_of.setdefault(taker, []).append((tseq, price, qty))
    for seq, f in orders.items():
        qty, done, status, tif = int(f[5]), int(f[6]), f[7], f[3]
        assert done == filled[seq] and 0 <= done <= qty
        if tif in ("IOC", "FOK") or f[2] == "m":
            assert status in ("f", "k")
        if tif == "FOK":
            assert (status, done) in (("f", qty), ("k", 0))
        if status == "f":
            assert done == qty
    # What each placement answered is what the history says it did on arrival; what a
    # cancel answered, the order's final state.
    for kind, _who, _body, status, body in answers:
        if kind == "cancel" and status == 200:
            assert body["status"] == "killed" and body["kill_reason"] == "user"
            assert orders[int(body["id"].split(":")[1])][7:9] == ["k", "user"]
        if kind == "cancel_all":
            for oid in body["killed"]:
                assert orders[int(oid.split(":")[1])][7:9] == ["k", "user"]
        if kind != "place" or status != 201:
            continue
        seq = int(body["id"].split(":")[1])
        arrival = [
            (int(f["trade_id"].split(":")[1]), f["price"], f["quantity"]) for f in body["fills"]
        ]
        assert [t for t, _p, _q in arrival] == [t for t, _p, _q in taker_of.get(seq, [])]
        if body["status"] in ("filled", "killed"):
            final = {"filled": "f", "killed": "k"}[body["status"]]
            assert orders[seq][7] == final
            assert (orders[seq][8] or None) == body["kill_reason"]
