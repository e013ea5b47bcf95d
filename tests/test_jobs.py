"""Periodic jobs: leases make a second run within the period a no-op; the cron config."""

from __future__ import annotations

import time

import pytest
from rq import Queue, SimpleWorker
from rq.cron import CronScheduler

from engine import jobs, keys, leases
from engine.context import EngineContext
from engine.queues import (
    ENGINE_QUEUE,
    EVENTS_QUEUE,
    EXPIRY_QUEUE,
    WEBHOOKS_QUEUE,
    WORKER_GROUPS,
)
from engine.symbols import SymbolRegistry


@pytest.fixture
def job_context(settings):
    context = EngineContext(settings)
    jobs.use_context(context)
    yield context
    jobs.use_context(None)


def test_a_lease_is_taken_once_per_period(r):
    token = leases.take(r, "sweep", 200)
    assert token is not None and leases.holder(r, "sweep") == token
    assert leases.take(r, "sweep", 200) is None
    assert 0 < r.pttl(keys.lease("sweep")) <= 200
    time.sleep(0.25)
    assert leases.take(r, "sweep", 200) not in (None, token)


def test_a_run_just_before_the_lease_ends_waits_for_it_and_one_mid_period_does_not(r):
    first = leases.take(r, "job", 1000)
    assert leases.take_on_time(r, "job", 1000) is None  # mid-period: a second scheduler's copy
    r.pexpire(keys.lease("job"), 150)  # the same lease, about to run out
    started = time.monotonic()
    second = leases.take_on_time(r, "job", 1000)
    assert second not in (None, first) and 0.1 < time.monotonic() - started < 0.3


def test_a_lease_is_given_back_only_by_its_holder(r):
    token = leases.take(r, "job", 1000)
    assert not leases.release(r, "job", "someone else") and leases.holder(r, "job") == token
    assert not leases.renew(r, "job", "someone else", 5000)
    assert leases.renew(r, "job", token, 5000) and r.pttl(keys.lease("job")) > 4000
    assert leases.release(r, "job", token) and leases.holder(r, "job") is None


def test_leases_of_different_jobs_are_independent(r):
    assert leases.take(r, "a", 1000)
    assert leases.take(r, "b", 1000)


def test_housekeeping_runs_once_per_period(r, job_context):
    registry = SymbolRegistry(r)
    registry.add("BTC-USD", "0.01", "0.0001")
    registry.add("ETH-USD", "0.01", "0.001")
    registry.set_status("ETH-USD", "halted")
    done = {"symbols": 2, "halted": 1, "orders_removed": 0, "trades_removed": 0}
    assert jobs.housekeeping() == done
    assert jobs.housekeeping() is None  # a second scheduler's copy: does nothing
    time.sleep(jobs.HOUSEKEEPING_PERIOD_MS / 1000 + 0.05)
    assert jobs.housekeeping() == done


def test_scheduler_heartbeat_records_redis_time_and_expires(r, job_context):
    sec, usec = r.time()
    stamp = jobs.scheduler_heartbeat()
    assert stamp is not None and stamp >= sec * 1_000_000 + usec
    assert int(r.get(keys.SCHEDULER_HEARTBEAT)) == stamp
    assert 9_000 < r.pttl(keys.SCHEDULER_HEARTBEAT) <= jobs.SCHEDULER_HEARTBEAT_TTL_MS
    assert jobs.scheduler_heartbeat() is None
    assert int(r.get(keys.SCHEDULER_HEARTBEAT)) == stamp


def test_jobs_run_in_an_rq_worker_and_twice_enqueued_work_happens_once(r, rq_r, job_context):
    queue = Queue(ENGINE_QUEUE, connection=rq_r)
    first = queue.enqueue(jobs.scheduler_heartbeat)
    second = queue.enqueue(jobs.scheduler_heartbeat)  # as a second scheduler would
    SimpleWorker([queue], connection=rq_r).work(burst=True)
    assert first.latest_result().return_value is not None
    assert second.latest_result().return_value is None
    assert r.exists(keys.SCHEDULER_HEARTBEAT)


def test_cron_config_registers_every_periodic_job_on_its_queue(rq_r):
    scheduler = CronScheduler(connection=rq_r)
    scheduler.load_config_from_file("engine.cron")
    registered = {job.func_name: (job.queue_name, job.interval) for job in scheduler.get_jobs()}
    assert registered == {
        "engine.jobs.scheduler_heartbeat": (ENGINE_QUEUE, 1),
        "engine.jobs.housekeeping": (ENGINE_QUEUE, 1),
        "engine.jobs.snapshots": (ENGINE_QUEUE, jobs.SNAPSHOT_PERIOD_S),
        "engine.jobs.expiry_sweep": (EXPIRY_QUEUE, 1),
        "engine.jobs.fan_out": (EVENTS_QUEUE, 1),
        "engine.jobs.deliver_webhooks": (WEBHOOKS_QUEUE, 1),
        "engine.marketdata.fold_job": (ENGINE_QUEUE, 1),
    }
    # Every queue a job goes to has a worker process listening to it.
    listened = {q for group in WORKER_GROUPS for q in group}
    assert {queue for queue, _ in registered.values()} <= listened


def test_a_deep_book_is_snapshotted_at_most_once_per_hundred_times_its_cost():
    from engine.jobs import SNAPSHOT_PERIOD_S, snapshot_gap_us

    assert snapshot_gap_us(0) == 0 and snapshot_gap_us(10_000) == 0  # every period
    assert snapshot_gap_us(50_000) == 0  # 0.3 s of Redis time: still every 30 s
    # 1,000,000 resting orders cost about 6 s of blocked Redis: once per 10 minutes.
    assert snapshot_gap_us(1_000_000) == 600_000_000 > SNAPSHOT_PERIOD_S * 1_000_000


def test_a_paced_book_keeps_its_last_snapshot_until_the_gap_has_passed(r, make_symbol):
    from engine import jobs
    from engine.keys import symbol_keys

    make_symbol("BTC-USD")
    k = symbol_keys("BTC-USD")
    # 60,000 resting orders (36 s of gap) without placing them: only their count matters.
    r.zadd(k.bids, {f"{i:016d}": -1 for i in range(60_000)})
    sec, usec = r.time()
    now = int(sec) * 1_000_000 + int(usec)
    r.hset(k.snapshot, "taken_us", now - 30_000_000)
    assert jobs.snapshot_due(r, k, first=False) is False
    r.hset(k.snapshot, "taken_us", now - 40_000_000)
    assert jobs.snapshot_due(r, k, first=False) is True
    assert jobs.snapshot_due(r, k, first=True) is True
