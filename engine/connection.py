"""Redis clients with timeouts: a dead Redis must answer fast (503), never hang a request."""

from __future__ import annotations

import redis

from engine.config import Settings


def make_redis(settings: Settings, url: str | None = None, **overrides) -> redis.Redis:
    """A client for the books (or, with url=settings.rq_url, for RQ) with bounded timeouts."""
    options = dict(
        socket_timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_connect_timeout,
        health_check_interval=30,
        decode_responses=True,
        protocol=2,
        retry_on_timeout=False,
    )
    options.update(overrides)
    return redis.Redis.from_url(url or settings.redis_url, **options)
