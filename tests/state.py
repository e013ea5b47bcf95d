"""The whole Redis dataset as one comparable value: proof that a request changed nothing."""

from __future__ import annotations

import hashlib


def volatile(name: str) -> bool:
    """Keys that change by themselves or by design on a rejected request: rate-limit buckets
    (a rejected placement still takes its token, as the contract says) and job leases."""
    return name.endswith(":rate") or name.startswith("te:lease:")


def value(redis, name: str) -> object:
    """A key's value in a canonical form (DUMP is not: a hashtable dumps in its own order)."""
    kind = redis.type(name)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "string":
        return redis.get(name)
    if kind == "hash":
        return sorted(redis.hgetall(name).items())
    if kind == "zset":
        return redis.zrange(name, 0, -1, withscores=True)
    if kind == "set":
        return sorted(redis.smembers(name))
    if kind == "list":
        return redis.lrange(name, 0, -1)
    if kind == "stream":
        groups = [(g["name"], g["last-delivered-id"], g["pending"])
                  for g in redis.xinfo_groups(name)]  # fmt: skip
        return [redis.xrange(name), sorted(groups)]
    return kind  # "none": gone in between


def digest(redis) -> dict[str, str]:
    """{key: sha256 of its type and canonical value} for every key but the volatile ones."""
    out: dict[str, str] = {}
    for key in redis.scan_iter(count=1000):
        name = key.decode() if isinstance(key, bytes) else key
        if volatile(name):
            continue
        found = value(redis, name)
        if found == "none":
            continue
        text = repr(found).encode()
        out[name] = hashlib.sha256(text).hexdigest()
    return out


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Keys added, removed or changed between two digests."""
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
