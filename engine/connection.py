"""Redis clients with timeouts: a dead Redis must answer fast (503), never hang a request.

``REDIS_URL`` names a standalone Redis (``redis://``, ``rediss://``, ``unix://``) or a Redis
Cluster (``redis+cluster://host:port``, any one node; see engine/cluster.py). RQ always
gets a standalone Redis (engine/queues.py).
"""

from __future__ import annotations

import redis

from engine.cluster import ClusterClient, is_cluster_url, make_cluster_client
from engine.config import Settings

POOL_SIZE = 64  # connections per client and process
# Seconds a command waits for a free connection before a ConnectionError (503). Past its
# capacity the web queues rather than fails: with 256 clients at once on 2 cores, waits of
# 1-2 s are normal, and a 1 s wait turned a third of them into 503s (tests/test_overload.py).
# A Redis that is down refuses or times out on the connections themselves, which come back
# to the pool at once: that stays a fast 503.
POOL_WAIT = 10.0


def make_redis(
    settings: Settings, url: str | None = None, **overrides
) -> redis.Redis | ClusterClient:
    """A client for the books (or, with url=settings.rq_url, for RQ) with bounded timeouts.

    A ``redis+cluster://`` URL gives a cluster client with the same timeouts and options.
    """
    options = dict(
        socket_timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_connect_timeout,
        health_check_interval=30,
        decode_responses=True,
        protocol=2,
        retry_on_timeout=False,
    )
    options.update(overrides)
    url = url or settings.redis_url
    if is_cluster_url(url):
        # The same bounded, waiting pool for each node's connections.
        pool = {"connection_pool_class": redis.BlockingConnectionPool,
                "max_connections": POOL_SIZE, "timeout": POOL_WAIT}  # fmt: skip
        return make_cluster_client(url, **(pool | options))
    # The web's gevent worker runs far more requests at once than a pool has connections (200
    # open streams starting together): wait a moment for a free one rather than fail at once.
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=POOL_SIZE, timeout=POOL_WAIT, **options
    )
    client = redis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True
    return client
