"""RQ's side of the processes: queue names, worker liveness, and the Redis client RQ uses.

RQ keeps its own keys (``rq:*``) on ``RQ_REDIS_URL`` (default: ``REDIS_URL``), a standalone
Redis: RQ does not run on Redis Cluster, and its processes refuse to start on one
(``NotStandalone``). Its client must not decode responses (RQ stores pickled and compressed
bytes).
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from engine.cluster import is_cluster_url
from engine.config import Settings

# Each kind of work has its own queue and worker process, so that none waits behind another:
# the expiry sweep, the fan-out of events, webhook deliveries (slow receivers), and the rest
# (heartbeat, retention, snapshots). DEFAULT is also listened to so `rq enqueue`-style ad hoc
# jobs run too.
ENGINE_QUEUE = "engine"
DEFAULT_QUEUE = "default"
EXPIRY_QUEUE = "expiry"
EVENTS_QUEUE = "events"
WEBHOOKS_QUEUE = "webhooks"
QUEUES = (EXPIRY_QUEUE, EVENTS_QUEUE, WEBHOOKS_QUEUE, ENGINE_QUEUE, DEFAULT_QUEUE)
# The worker processes `python worker.py` starts: the queues each one listens to.
WORKER_GROUPS = ((EXPIRY_QUEUE,), (EVENTS_QUEUE,), (WEBHOOKS_QUEUE,), (ENGINE_QUEUE, DEFAULT_QUEUE))

# A worker heartbeats every WORKER_TTL - 15 s while idle (RQ's dequeue timeout): one silent
# for longer than WORKER_TTL is dead, whatever its registration says (RQ's default is 420 s).
WORKER_TTL = 30

# How long an RQ process rides out a Redis that is down or restarting before it gives up:
# each command is retried with backoff (0.1 s doubling, capped at 1 s) this many times.
RQ_COMMAND_RETRIES = 30


class NotStandalone(SystemExit):
    """RQ's Redis would be a Redis Cluster: the RQ process exits (status 1) with the reason."""


def require_standalone(url: str, names: str = "RQ_REDIS_URL") -> None:
    """Raise NotStandalone if `url` names a Redis Cluster, by its scheme or by asking it.

    A Redis that cannot be reached now passes (the process waits for it, as ever).
    """
    hint = "set RQ_REDIS_URL to a standalone Redis, e.g. redis://127.0.0.1:6390/1"
    if is_cluster_url(url):
        raise NotStandalone(
            f"Error: {names} is a Redis Cluster ({url}); RQ does not run on Redis Cluster: {hint}"
        )
    probe = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
    try:
        enabled = probe.info("cluster").get("cluster_enabled")
    except redis.exceptions.RedisError:
        return
    finally:
        probe.close()
    if enabled:
        raise NotStandalone(
            f"Error: {names} ({url}) is a node of a Redis Cluster; RQ does not run on Redis "
            f"Cluster: {hint}"
        )


class RQRedis(redis.Redis):
    """A Redis client for RQ processes that waits out a Redis restart instead of crashing.

    ``rq cron --connection-class engine.queues.RQRedis`` uses it, so the scheduler survives
    a restart of Redis (honcho stops every process when one exits).
    """

    def __init__(self, *args, **kwargs) -> None:
        if kwargs.get("connection_pool") is None:
            _patient(kwargs)
        super().__init__(*args, **kwargs)

    @classmethod
    def from_url(cls, url: str, **kwargs) -> RQRedis:  # type: ignore[override]
        # `rq cron` builds its client here, from RQ_REDIS_URL or else REDIS_URL.
        require_standalone(url, "RQ_REDIS_URL (or REDIS_URL, its default)")
        return super().from_url(url, **_patient(kwargs))


def _patient(kwargs: dict) -> dict:
    kwargs.setdefault("retry", Retry(ExponentialBackoff(cap=1.0, base=0.1), RQ_COMMAND_RETRIES))
    kwargs.setdefault(
        "retry_on_error", [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    )
    kwargs.setdefault("socket_connect_timeout", 2.0)
    kwargs.setdefault("health_check_interval", 30)
    return kwargs


def rq_connection(settings: Settings, **overrides) -> RQRedis:
    """The client RQ processes (worker, scheduler) use for RQ_REDIS_URL.

    Raises NotStandalone if that is a Redis Cluster.
    """
    return RQRedis.from_url(settings.rq_url, **overrides)
