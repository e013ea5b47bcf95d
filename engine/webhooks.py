"""Webhooks: an account's events POSTed to its URL, signed, retried, one order's in order.

``PUT /account/webhook`` stores ``{url, secret}`` (``te:{a:ID}:webhook``); from then on the
fan-out queues each new event of the account for delivery (lua/feed_append.lua). The
deliverer (a periodic job on the ``webhooks`` queue) claims due deliveries per account
(lua/webhook_claim.lua), POSTs them concurrently from a thread pool, and settles the outcomes
(lua/webhook_settle.lua): a 2xx moves the order on to its next event; anything else is
retried after 1, 2, 4 ... seconds, capped at 60 s, for 24 h after the first attempt, then
given up (the event stays in GET /events). At least once: a deliverer that dies leaves its
claims due again after the visibility timeout, and the receiver deduplicates on X-Event-Id.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import hmac
import http.client
import logging
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from engine.keys import METRICS, WEBHOOKS_DUE, AccountKeys
from engine.scripts import source

log = logging.getLogger(__name__)

MAX_DELAY_MS = 60_000
GIVE_UP_MS = 24 * 3600 * 1000
VISIBILITY_MS = 30_000  # a claimed delivery is due again after this if nobody settles it
HTTP_TIMEOUT = 5.0  # seconds for connect and for the answer; longer counts as a failure
CLAIM_BATCH = 50  # deliveries claimed per account per round
THREADS = 16  # deliveries in flight at once per deliverer
MAX_URL = 2048
USER_AGENT = "trade-engine-webhooks/1"


def sign(secret: str, body: bytes) -> str:
    """The X-Signature header: sha256=<hex HMAC-SHA256 of the body with the secret>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_url(url: str) -> Optional[str]:
    """Why ``url`` cannot be a webhook URL, or None if it can."""
    if len(url) > MAX_URL:
        return f"url must be at most {MAX_URL} characters"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "url must be an absolute http:// or https:// URL"
    if parts.username or parts.password:
        return "url must not contain credentials"
    return None


def put(redis, account_id: str, url: str, rotate_secret: bool = False) -> dict[str, str]:
    """Set the account's webhook URL; a new secret the first time or when rotating."""
    k = AccountKeys(account_id)
    fresh = "whsec_" + secrets.token_hex(32)
    pipe = redis.pipeline(transaction=True)  # one slot: the account's
    if rotate_secret:
        pipe.hset(k.webhook, "secret", fresh)
    else:
        pipe.hsetnx(k.webhook, "secret", fresh)
    pipe.hset(k.webhook, "url", url)
    pipe.hget(k.webhook, "secret")
    secret = pipe.execute()[-1]
    return {"url": url, "secret": secret.decode() if isinstance(secret, bytes) else secret}


def delete(redis, account_id: str) -> None:
    """Stop deliveries: the webhook and its queued deliveries go (the feed keeps the events)."""
    k = AccountKeys(account_id)
    pipe = redis.pipeline(transaction=True)
    pipe.delete(k.webhook, k.wh_due, k.wh_head, k.wh_wait, k.wh_tries)
    pipe.execute()
    redis.zrem(WEBHOOKS_DUE, account_id)


@dataclass(frozen=True)
class Delivery:
    account_id: str
    member: str  # "feed id|order id"
    event_id: str
    body: bytes
    attempts: int
    url: str
    secret: str


def post(delivery: Delivery, timeout: float = HTTP_TIMEOUT) -> bool:
    """POST one event; True for a 2xx answer (redirects are not followed)."""
    parts = urlsplit(delivery.url)
    conn_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = conn_class(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(
            "POST",
            path,
            body=delivery.body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Event-Id": delivery.event_id,
                "X-Signature": sign(delivery.secret, delivery.body),
            },
        )
        response = conn.getresponse()
        response.read(65536)
        return 200 <= response.status < 300
    except (OSError, http.client.HTTPException) as exc:
        log.info("webhook %s: %s", delivery.url, exc)
        return False
    finally:
        conn.close()


class Deliverer:
    """Claims, sends and settles the accounts' webhook deliveries (one per worker process)."""

    def __init__(
        self,
        redis,
        give_up_ms: int = GIVE_UP_MS,
        max_delay_ms: int = MAX_DELAY_MS,
        visibility_ms: int = VISIBILITY_MS,
        timeout: float = HTTP_TIMEOUT,
        threads: int = THREADS,
    ) -> None:
        self.redis = redis
        self.give_up_ms = give_up_ms
        self.max_delay_ms = max_delay_ms
        self.visibility_ms = visibility_ms
        self.timeout = timeout
        self.threads = threads
        self.claim_script = redis.register_script(source("webhook_claim"))
        self.settle_script = redis.register_script(source("webhook_settle"))

    def claim(self, account_id: str, limit: int = CLAIM_BATCH) -> list[Delivery]:
        k = AccountKeys(account_id)
        self.redis.zrem(WEBHOOKS_DUE, account_id)  # see _index
        reply = self.claim_script(
            keys=[k.webhook, k.wh_due, k.wh_tries, k.feed, k.wh_head, k.wh_wait],
            args=[limit, self.visibility_ms],
        )
        if not reply:
            return []
        url, secret, next_due = _text(reply[0]), _text(reply[1]), reply[2]
        self._index(account_id, next_due)
        out = []
        for i in range(3, len(reply), 4):
            body = reply[i + 2]
            out.append(Delivery(
                account_id, _text(reply[i]), _text(reply[i + 1]),
                body.encode() if isinstance(body, str) else body, int(reply[i + 3]), url, secret,
            ))  # fmt: skip
        return out

    def settle(self, account_id: str, outcomes: list[tuple[str, bool]]) -> tuple[int, int, int]:
        """(delivered, failed, given up) after recording outcomes of (member, delivered?)."""
        k = AccountKeys(account_id)
        args: list = [self.max_delay_ms, self.give_up_ms]
        for member, ok in outcomes:
            args += [member, "1" if ok else "0"]
        self.redis.zrem(WEBHOOKS_DUE, account_id)
        delivered, failed, given_up, next_due = self.settle_script(
            keys=[k.wh_due, k.wh_tries, k.wh_head, k.wh_wait], args=args
        )
        self._index(account_id, next_due)
        pipe = self.redis.pipeline(transaction=False)
        for name, n in (("webhook_delivered", delivered), ("webhook_failures", failed),
                        ("webhook_given_up", given_up)):  # fmt: skip
            if int(n):
                pipe.hincrby(METRICS, name, int(n))
        pipe.execute()
        return int(delivered), int(failed), int(given_up)

    def _index(self, account_id: str, next_due) -> None:
        """Keep the global due index: re-add the account with its earliest due delivery.

        The index entry was removed before the account's state was read, and is put back with
        ZADD LT: a fan-out that queued an event meanwhile (and set an earlier time) wins.
        """
        if next_due not in (None, "", b""):
            self.redis.zadd(WEBHOOKS_DUE, {account_id: float(next_due)}, lt=True)

    def due_accounts(self, limit: int = 256) -> list[str]:
        sec, usec = self.redis.time()
        now_ms = int(sec) * 1000 + int(usec) // 1000
        return [_text(a) for a in self.redis.zrangebyscore(WEBHOOKS_DUE, "-inf", now_ms, 0, limit)]

    def run(self, until: float, idle_sleep: float = 0.05) -> tuple[int, int, int]:
        """Deliver until ``until`` (time.monotonic()), then wait for what is in flight.

        Up to MAX_IN_FLIGHT deliveries are out at once; each finished one is settled at
        once (an order's next event becomes due as soon as its previous one got its 2xx).
        """
        totals = [0, 0, 0]
        inflight: dict[cf.Future, Delivery] = {}
        limit = self.threads * 4
        with cf.ThreadPoolExecutor(self.threads, thread_name_prefix="webhook") as pool:
            while True:
                if time.monotonic() < until:
                    for account_id in self.due_accounts():
                        room = limit - len(inflight)
                        if room <= 0:
                            break
                        for delivery in self.claim(account_id, min(CLAIM_BATCH, room)):
                            inflight[pool.submit(post, delivery, self.timeout)] = delivery
                elif not inflight:
                    break
                if not inflight:
                    time.sleep(max(0.0, min(idle_sleep, until - time.monotonic())))
                    continue
                finished, _ = cf.wait(
                    list(inflight), timeout=idle_sleep, return_when=cf.FIRST_COMPLETED
                )
                outcomes: dict[str, list[tuple[str, bool]]] = defaultdict(list)
                for future in finished:
                    delivery = inflight.pop(future)
                    outcomes[delivery.account_id].append((delivery.member, future.result()))
                for account_id, done in outcomes.items():
                    for i, n in enumerate(self.settle(account_id, done)):
                        totals[i] += n
        return totals[0], totals[1], totals[2]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
