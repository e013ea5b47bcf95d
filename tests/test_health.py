"""engine.health.health: Redis, live RQ workers and the scheduler, as GET /health reports them."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from rq import Queue, SimpleWorker, cron_scheduler_registry
from rq.utils import now, utcformat

from engine import jobs, keys
from engine.config import Settings
from engine.connection import make_redis
from engine.errors import Unavailable
from engine.health import health
from engine.queues import ENGINE_QUEUE, WORKER_TTL


def registered_worker(rq_r) -> SimpleWorker:
    worker = SimpleWorker([Queue(ENGINE_QUEUE, connection=rq_r)], connection=rq_r)
    worker.register_birth()  # what a starting worker writes
    return worker


def test_nothing_running_is_degraded(r, rq_r):
    assert health(r, rq_r) == {
        "status": "degraded",
        "redis": "ok",
        "workers": 0,
        "scheduler": "missing",
    }


def test_a_live_worker_and_a_scheduler_heartbeat_are_ok(r, rq_r):
    registered_worker(rq_r)
    registered_worker(rq_r)
    assert health(r, rq_r)["workers"] == 2
    assert health(r, rq_r)["status"] == "degraded"  # no scheduler yet
    jobs.write_scheduler_heartbeat(r)
    assert health(r, rq_r) == {"status": "ok", "redis": "ok", "workers": 2, "scheduler": "ok"}


def test_a_worker_silent_for_longer_than_its_ttl_is_not_counted(r, rq_r):
    live = registered_worker(rq_r)
    dead = registered_worker(rq_r)  # killed hard: still registered, no more heartbeats
    stale = now() - timedelta(seconds=WORKER_TTL + 1)
    rq_r.hset(dead.key, "last_heartbeat", utcformat(stale))
    assert health(r, rq_r)["workers"] == 1
    live.register_death()  # a clean shutdown unregisters at once
    assert health(r, rq_r)["workers"] == 0


def test_an_rq_cron_scheduler_heartbeat_counts(r, rq_r):
    registry = cron_scheduler_registry.get_registry_key()
    rq_r.zadd(registry, {"host:1:abc": time.time() - 30})  # long gone
    assert health(r, rq_r)["scheduler"] == "missing"
    rq_r.zadd(registry, {"host:2:def": time.time()})
    assert health(r, rq_r)["scheduler"] == "ok"


def test_the_scheduler_heartbeat_expires_after_ten_seconds(r, rq_r):
    jobs.write_scheduler_heartbeat(r)
    assert health(r, rq_r)["scheduler"] == "ok"
    # What 10 s without a run looks like: the key is gone.
    r.pexpire(keys.SCHEDULER_HEARTBEAT, 1)
    time.sleep(0.01)
    assert health(r, rq_r)["scheduler"] == "missing"


def test_an_unreachable_redis_raises_unavailable_quickly():
    dead = make_redis(Settings(redis_url="redis://127.0.0.1:1/0"))
    started = time.monotonic()
    with pytest.raises(Unavailable):
        health(dead, dead)
    assert time.monotonic() - started < 2


def test_an_unreachable_rq_redis_is_degraded_not_unavailable(r):
    dead = make_redis(Settings(redis_url="redis://127.0.0.1:1/0"), decode_responses=False)
    jobs.write_scheduler_heartbeat(r)
    assert health(r, dead) == {
        "status": "degraded",
        "redis": "ok",
        "workers": 0,
        "scheduler": "ok",
    }
