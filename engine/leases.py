"""Leases: a periodic job runs only if it can take its lease (``SET key token NX PX period``).

``rq cron`` holds no leader lock, so two schedulers started by mistake both enqueue every job;
the lease makes the second copy of a run within the same period a no-op. A lease is not
released after the run: it lasts the whole period, which is what spaces the runs.
"""

from __future__ import annotations

import secrets
import time

from engine import keys


def take(redis, name: str, period_ms: int) -> str | None:
    """A token if this caller now holds the lease ``name`` for ``period_ms``, else None."""
    token = secrets.token_hex(8)
    if redis.set(keys.lease(name), token, nx=True, px=max(1, int(period_ms))):
        return token
    return None


def take_on_time(redis, name: str, period_ms: int, grace_ms: int = 250) -> str | None:
    """take(), waiting out a lease that runs out within ``grace_ms``.

    ``rq cron`` enqueues a job every ``interval`` after the last enqueue, and each run takes
    its lease a few milliseconds after it starts: the next run can arrive just before the
    last one's lease of the same length runs out, and would skip a whole period. A run that
    finds the lease about to end waits for it instead; a copy from a second scheduler in the
    middle of a period still finds it held.
    """
    token = take(redis, name, period_ms)
    if token is None:
        left = redis.pttl(keys.lease(name))
        if 0 < left <= grace_ms:
            time.sleep(left / 1000 + 0.002)
            token = take(redis, name, period_ms)
    return token


def holder(redis, name: str) -> str | None:
    """The token holding the lease, if any (for tests and operators)."""
    value = redis.get(keys.lease(name))
    return value.decode() if isinstance(value, bytes) else value


# Compare-and-set on the token, so a holder whose lease ran out cannot touch the next one's.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def renew(redis, name: str, token: str, period_ms: int) -> bool:
    """Extend a lease this caller holds by ``period_ms`` from now; False if it was lost."""
    return bool(redis.eval(_RENEW, 1, keys.lease(name), token, max(1, int(period_ms))))


def release(redis, name: str, token: str) -> bool:
    """Give a lease back early (the next holder need not wait for it to run out)."""
    return bool(redis.eval(_RELEASE, 1, keys.lease(name), token))
