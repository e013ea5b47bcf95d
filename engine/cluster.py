"""What running on Redis Cluster takes: the client, and script calls pipelined per node.

``REDIS_URL=redis+cluster://host:port`` (``rediss+cluster://`` with TLS) names a cluster by
any one of its nodes, or several separated by commas (``host1:port1,host2:port2``: the
client asks the next when one is down); it discovers the others. It is redis-py's
``RedisCluster`` built from the same URL with ``+cluster`` removed, with these changes:

- It connects on first use, not when it is built, so a process started while the cluster
  is down waits for it like one on a standalone Redis does (and ``GET /health`` can say so).
- It never sends a command twice. redis-py's cluster client retries a command after a
  timeout or a dropped connection by default; a placement script may have run by then, and
  sending it again would place the order twice. Like the standalone client, it raises
  instead (the API answers 503; MOVED and ASK redirections are still followed, as they
  mean the command did not run).
- A cluster it cannot reach at all raises ``ClusterUnreachable``, a ``ConnectionError``
  like a standalone Redis that is down (redis-py raises an exception outside its
  ``RedisError`` tree), so the API's 503 and the CLI's exit 1 hold for both.
- On NOSCRIPT it loads the script on every master that answers (redis-py's would fail
  while any master is down).

Every script's KEYS share one slot (``{SYMBOL}`` or ``{a:ID}``: engine/keys.py), so each
call runs on the node that holds that symbol or account.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.commands.core import Script
from redis.exceptions import (
    AskError,
    ClusterDownError,
    NoScriptError,
    RedisClusterException,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.retry import Retry

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


class ClusterUnreachable(redis.exceptions.ConnectionError):
    """No node of the cluster answers, or the slot's node is down (with full coverage)."""


def is_cluster_url(url: str) -> bool:
    """Whether a REDIS_URL names a Redis Cluster (redis+cluster:// or rediss+cluster://)."""
    return url.partition("://")[0].lower() in CLUSTER_SCHEMES


def split_url(url: str) -> tuple[str, list[tuple[str, int]]]:
    """(plain URL of the first node, (host, port) of the others) of a cluster URL.

    ``redis+cluster://[user:password@]host:port[,host:port...][/0][?options]``: the first
    node as redis-py's ``RedisCluster.from_url`` takes it, the others as more nodes to
    discover the cluster from when the first is down.
    """
    scheme, _, rest = url.partition("://")
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    userinfo, at, hosts = rest[:end].rpartition("@")
    first, *others = hosts.split(",")
    plain = f"{CLUSTER_SCHEMES[scheme.lower()]}://{userinfo}{at}{first}{rest[end:]}"
    return plain, [_host_port(h) for h in others]


def _host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):  # [IPv6 address]:port
        host, _, port = text[1:].partition("]")
        return host, int(port.lstrip(":") or 6379)
    host, _, port = text.partition(":")
    return host, int(port or 6379)


def node_url(url: str) -> str:
    """The plain redis:// (rediss://) URL of the first node a cluster URL names."""
    return split_url(url)[0]


def _unreachable(exc: Exception) -> bool:
    if isinstance(exc, (ClusterDownError, SlotNotCoveredError)):
        return True
    # NodesManager.initialize: "Redis Cluster cannot be connected", from a ConnectionError.
    return isinstance(exc, RedisClusterException) and isinstance(
        exc.__cause__, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
    )


def _translated(call):
    def run(*args, **kwargs):
        try:
            return call(*args, **kwargs)
        except (RedisClusterException, ClusterDownError) as exc:
            if _unreachable(exc):
                raise ClusterUnreachable(f"Redis Cluster unreachable: {exc}") from exc
            raise

    return run


class EngineCluster(RedisCluster):
    """RedisCluster whose "cannot reach the cluster" errors are ConnectionErrors."""

    def execute_command(self, *args, **kwargs):
        return _translated(super().execute_command)(*args, **kwargs)

    def pipeline(self, transaction=None, shard_hint=None):
        pipe = super().pipeline(transaction=transaction, shard_hint=shard_hint)
        pipe.execute = _translated(pipe.execute)
        return pipe

    def script_load(self, script):
        """SCRIPT LOAD on every master that answers; returns the SHA1.

        redis-py's Script calls this on NOSCRIPT (a node restarted or promoted has no
        scripts). It would fail outright while any other master is down; a master that is
        down now loads the script on its own NOSCRIPT once it is back.
        """
        sha, failed = None, None
        for node in self.get_primaries():
            try:
                sha = self.get_redis_connection(node).script_load(script)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                failed = exc
        if sha is None:
            raise ClusterUnreachable(f"no master of the Redis Cluster answers ({failed})")
        return sha


class ClusterClient:
    """A cluster client that connects on first use; otherwise it is the EngineCluster.

    Scripts registered on it are redis-py ``Script`` objects: EVALSHA on the node of the
    first key, and on NOSCRIPT (a node restarted from its AOF has no scripts) SCRIPT LOAD
    on every master, then EVALSHA again.
    """

    def __init__(self, url: str, more_nodes: Sequence[tuple[str, int]] = (), **options: Any,
                 ) -> None:  # fmt: skip
        options.pop("retry_on_timeout", None)  # deprecated; retries are off below
        self.url = url
        self.more_nodes = list(more_nodes)
        self._options = options
        self._cluster: EngineCluster | None = None
        self._lock = threading.Lock()
        self._encoder = redis.connection.Encoder(
            options.get("encoding", "utf-8"),
            options.get("encoding_errors", "strict"),
            options.get("decode_responses", False),
        )

    def connect(self) -> EngineCluster:
        """The connected cluster client (discovering the nodes now if not done yet)."""
        cluster = self._cluster
        if cluster is None:
            with self._lock:
                if self._cluster is None:
                    try:
                        self._cluster = EngineCluster.from_url(
                            self.url,
                            startup_nodes=[ClusterNode(h, p) for h, p in self.more_nodes],
                            retry=Retry(NoBackoff(), 0),
                            **self._options,
                        )
                    except RedisClusterException as exc:
                        raise ClusterUnreachable(
                            f"Redis Cluster at {self.url} is unreachable: {exc}"
                        ) from exc
                cluster = self._cluster
        return cluster

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connect(), name)

    def register_script(self, script: str) -> Script:
        return Script(self, script)  # hashes the text only; no round trip

    def get_encoder(self) -> redis.connection.Encoder:
        return self._encoder

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()

    def __repr__(self) -> str:
        return f"<ClusterClient {self.url}>"


def make_cluster_client(url: str, **options: Any) -> ClusterClient:
    """The client for a redis+cluster:// URL, with the standalone client's options."""
    first, others = split_url(url)
    return ClusterClient(first, others, **options)


def is_cluster(client: Any) -> bool:
    return isinstance(client, (ClusterClient, RedisCluster))


def unreachable_masters(client: ClusterClient) -> list[str]:
    """host:port of every master that does not answer PING (one round trip each).

    Raises ClusterUnreachable when none answers.
    """
    cluster = client.connect()
    masters = cluster.get_primaries()
    down = []
    for node in masters:
        try:
            cluster.get_redis_connection(node).ping()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            down.append(node.name)
    if masters and len(down) == len(masters):
        raise ClusterUnreachable(f"no master of the Redis Cluster answers ({', '.join(down)})")
    return down


# Errors that mean a command did not run on that node: send it again through the cluster
# client, which follows the redirection.
_NOT_RUN = (AskError, TryAgainError, ClusterDownError)  # MovedError is an AskError


def run_scripts(client, script: Script, calls: Sequence[tuple[Sequence[str], Sequence[Any]]],
                ) -> list[Any]:  # fmt: skip
    """Call `script` once per (keys, args), pipelined; the replies (or errors) in order.

    Each call is atomic on its own, and calls on one symbol run in the order given. On a
    standalone Redis this is one pipeline (no MULTI). On a cluster it is one pipeline per
    node (redis-py's cluster pipeline neither takes EVALSHA nor may be trusted with it: it
    sends a command again after a timeout); a call the node redirects (MOVED, ASK, a slot
    being migrated) did not run there and is sent again through the cluster client, one at
    a time in order. A NOSCRIPT reply (a restarted or flushed Redis) loads the script and
    sends those calls again. A timeout or a dropped connection raises: the outcome of that
    node's calls is unknown, as for any single call.
    """
    replies: list[Any] = [None] * len(calls)
    if not is_cluster(client):
        groups = [(client, list(range(len(calls))))]
    else:
        cluster = client.connect()
        by_node: dict[str, tuple[Any, list[int]]] = {}
        for i, (keys, _args) in enumerate(calls):
            node = cluster.get_node_from_key(keys[0])
            if node.name not in by_node:
                by_node[node.name] = (cluster.get_redis_connection(node), [])
            by_node[node.name][1].append(i)
        groups = list(by_node.values())
    for node_client, todo in groups:
        for _attempt in range(2):
            pipe = node_client.pipeline(transaction=False)
            for i in todo:
                keys, args = calls[i]
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            for i, reply in zip(todo, pipe.execute(raise_on_error=False), strict=True):
                replies[i] = reply
            todo = [i for i in todo if isinstance(replies[i], NoScriptError)]
            if not todo:
                break
            node_client.script_load(script.script)
    for i in [i for i, reply in enumerate(replies) if isinstance(reply, _NOT_RUN)]:
        keys, args = calls[i]
        try:
            replies[i] = script(keys=keys, args=args, client=client)
        except redis.exceptions.ResponseError as exc:
            replies[i] = exc
    return replies
