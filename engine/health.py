"""GET /health: is Redis reachable, how many RQ workers are alive, does the scheduler run."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import cron_scheduler_registry, worker_registration
from rq.utils import utcparse

from engine import keys
from engine.cluster import is_cluster, unreachable_masters
from engine.errors import Unavailable
from engine.queues import WORKER_TTL

# A scheduler is alive while it (or the heartbeat job it drives) was seen this recently.
SCHEDULER_MAX_AGE = 10.0


def health(redis, rq_redis) -> dict:
    """The body of GET /health; raises Unavailable when the books' Redis is unreachable.

    ``workers``: RQ workers whose last heartbeat is younger than WORKER_TTL (RQ keeps a worker
    killed hard registered for much longer). ``scheduler``: "ok" if ``rq cron`` heartbeated
    in its registry, or our heartbeat job ran, within SCHEDULER_MAX_AGE seconds. On a Redis
    Cluster, a master that does not answer makes the status "degraded" (its symbols are
    unavailable, the others trade); none answering is Unavailable.
    """
    nodes_down: list[str] = []
    try:
        if is_cluster(redis):
            # Every master is asked (a cluster's pipeline takes no PING); one that is down
            # stops only its own symbols: degraded, not unavailable.
            nodes_down = unreachable_masters(redis)
            try:
                heartbeat = redis.exists(keys.SCHEDULER_HEARTBEAT)
            except (RedisConnectionError, RedisTimeoutError):
                heartbeat = 0  # the heartbeat's own node is one of those down
        else:
            pipe = redis.pipeline(transaction=False)
            pipe.ping()
            pipe.exists(keys.SCHEDULER_HEARTBEAT)  # the key expires 10 s after the last run
            _, heartbeat = pipe.execute()
    except RedisError as exc:
        raise Unavailable(f"Redis is unreachable ({type(exc).__name__})") from None
    try:
        workers = live_workers(rq_redis)
        scheduler_seen = bool(heartbeat) or scheduler_alive(rq_redis)
    except RedisError:  # RQ's Redis (RQ_REDIS_URL) may be another server: count it as down
        workers, scheduler_seen = 0, bool(heartbeat)
    scheduler = "ok" if scheduler_seen else "missing"
    status = "ok" if workers > 0 and scheduler == "ok" and not nodes_down else "degraded"
    return {"status": status, "redis": "ok", "workers": workers, "scheduler": scheduler}


def live_workers(rq_redis, ttl: float = WORKER_TTL) -> int:
    """RQ workers that heartbeated within ``ttl`` seconds (two round trips)."""
    worker_keys = worker_registration.get_keys(connection=rq_redis)
    if not worker_keys:
        return 0
    pipe = rq_redis.pipeline(transaction=False)
    for key in worker_keys:
        pipe.hget(key, "last_heartbeat")
    now = datetime.now(UTC)
    live = 0
    for beat in pipe.execute():
        if beat is None:
            continue
        try:
            seen = utcparse(beat.decode() if isinstance(beat, bytes) else beat)
        except ValueError:
            continue
        if seen.tzinfo is None:
            seen = seen.replace(tzinfo=UTC)
        if (now - seen).total_seconds() < ttl:
            live += 1
    return live


def scheduler_alive(rq_redis, max_age: float = SCHEDULER_MAX_AGE) -> bool:
    """Whether an ``rq cron`` scheduler heartbeated in RQ's registry within ``max_age``."""
    recent = rq_redis.zrangebyscore(
        cron_scheduler_registry.get_registry_key(), time.time() - max_age, "+inf", start=0, num=1
    )
    return bool(recent)
