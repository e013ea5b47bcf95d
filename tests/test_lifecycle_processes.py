"""The lifecycle with the Procfile's real worker and scheduler processes: workers killed with
SIGKILL mid-job, two schedulers, a webhook receiver, all against a real Redis."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter, defaultdict

import pytest
from rq import Worker

from engine import accounts, events, keys, webhooks
from engine.config import Settings
from engine.connection import make_redis
from engine.context import EngineContext
from engine.fanout import GROUP
from engine.feed import Feed
from engine.orders import PlaceRequest
from engine.queues import EVENTS_QUEUE, EXPIRY_QUEUE, WORKER_GROUPS
from tests.lifecycle import account_id
from tests.test_processes import start, stop, wait_for
from tests.webhook_receiver import Receiver

K = keys.symbol_keys("BTC-USD")


def redis_now_us(redis) -> int:
    sec, usec = redis.time()
    return int(sec) * 1_000_000 + int(usec)


def expected_events(redis) -> Counter:
    """Events per account the whole stream calls for (what the feeds must hold, once each)."""
    per_account: Counter = Counter()
    for entry_id, fields in redis.xrange(K.events):
        for change in events.changes(entry_id, fields):
            per_account[change.account] += 1
    return per_account


def worker_pid(rq_r, queue: str) -> int:
    """The pid of the worker process on `queue` (once it has registered)."""

    def find():
        for worker in Worker.all(connection=rq_r):
            if worker.queue_names() == [queue] and worker.pid:
                return worker.pid
        return None

    return wait_for(find, 10, f"a worker on {queue}", interval=0.01)


@pytest.fixture
def stack(redis_url):
    settings = Settings(redis_url=redis_url, order_rate_limit=0)
    ctx = EngineContext(settings)
    ctx.symbols.add("BTC-USD", "0.01", "0.0001")
    rq_r = make_redis(settings, decode_responses=False)
    yield ctx, rq_r
    rq_r.close()
    ctx.redis.close()


@pytest.mark.timeout(90)
def test_workers_killed_mid_job_leave_no_event_twice_and_no_order_killed_twice(stack):
    ctx, rq_r = stack
    r = ctx.redis
    alice = account_id(accounts.create(r, "alice")["api_key"])
    bob = account_id(accounts.create(r, "bob")["api_key"])
    receiver = Receiver(answer=lambda n: 503 if n < 20 else 200).start()  # down at first
    webhooks.put(r, alice, receiver.url)
    # A backlog before any worker runs: 400 trades, and 400 GTD orders due in 2 s.
    deadline = redis_now_us(r) + 2_000_000
    ctx.engine.place_many(alice, [
        PlaceRequest("BTC-USD", "sell", "limit", 1, price=10000 + i % 10) for i in range(400)
    ])  # fmt: skip
    ctx.engine.place_many(bob, [
        PlaceRequest("BTC-USD", "buy", "limit", 1, price=10010) for _ in range(400)
    ])  # fmt: skip
    ctx.engine.place_many(alice, [
        PlaceRequest("BTC-USD", "buy", "limit", 1, price=9000 + i % 10, time_in_force="GTD",
                     expires_at=deadline)
        for i in range(400)
    ])  # fmt: skip

    # Every event these call for, plus the 400 kills to come (housekeeping trims the stream).
    want = expected_events(r)
    want[alice] += 400
    assert want[alice] == 400 * 2 + 400 * 2 and want[bob] == 400
    worker = start("worker", ctx.settings.redis_url)
    scheduler = start("scheduler", ctx.settings.redis_url)
    feed = Feed(r)
    try:
        # The fan-out is under way: kill its worker in the middle of the backlog.
        alice_feed = keys.AccountKeys(alice).feed
        wait_for(lambda: r.xlen(alice_feed) > 0, 20, "the first events", interval=0.002)
        os.kill(worker_pid(rq_r, EVENTS_QUEUE), signal.SIGKILL)
        assert r.xlen(alice_feed) < want[alice] // 2  # it had most of its work ahead of it
        # The sweep is under way: kill its worker too, as the orders fall due.
        while redis_now_us(r) < deadline:
            time.sleep(0.01)
        os.kill(worker_pid(rq_r, EXPIRY_QUEUE), signal.SIGKILL)

        wait_for(lambda: r.zcard(K.gtd) == 0, 20, "every due order to be killed")

        def fed():
            return all(r.xlen(keys.AccountKeys(a).feed) >= n for a, n in want.items())

        wait_for(fed, 30, "every event in the feeds")
        wait_for(lambda: len(receiver.accepted()) >= want[alice], 30, "every webhook delivery")
        assert worker.poll() is None  # the supervisor restarted what was killed
        wait_for(lambda: len(Worker.all(connection=rq_r)) >= len(WORKER_GROUPS), 10, "workers")
    finally:
        stop(worker, 40)
        stop(scheduler, 40)
        receiver.stop()

    for account, n in want.items():
        got = [json.loads(body) for _, body in feed.read(account, "0-0", 10_000)]
        ids = [e["id"] for e in got]
        assert len(ids) == n and len(set(ids)) == n  # each event exactly once in the feed
        last_seq: dict[str, int] = {}
        for e in got:  # and each order's events in sequence order
            seq = int(e["id"].rsplit(":", 1)[1])
            assert seq > last_seq.get(e["order"]["id"], 0)
            last_seq[e["order"]["id"]] = seq
    assert r.xpending(K.events, GROUP)["pending"] == 0
    # None killed twice: one order.killed per GTD order, each killed with `expired`.
    kills = Counter(e["order"]["id"] for _, e in _feed_json(feed, alice)
                    if e["type"] == "order.killed")  # fmt: skip
    assert len(kills) == 400 and max(kills.values()) == 1
    assert int(r.hget(K.stats, "killed:expired")) == 400
    # Webhooks: at least once, every event of alice, each order's in order.
    delivered = [json.loads(x.body) for x in receiver.accepted()]
    assert {e["id"] for e in delivered} == {e["id"] for _, e in _feed_json(feed, alice)}
    order_types: dict[str, list[str]] = defaultdict(list)
    for e in delivered:
        if e["type"] not in order_types[e["order"]["id"]]:
            order_types[e["order"]["id"]].append(e["type"])
    assert all(t[0] == "order.enqueued" and len(t) == 2 for t in order_types.values())


def _feed_json(feed: Feed, account: str):
    return [(c, json.loads(b)) for c, b in feed.read(account, "0-0", 10_000)]
