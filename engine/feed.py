"""Each account's event feed (``te:{a:ID}:feed``, a Redis stream): appended by the fan-out,
read by ``GET /events``, trimmed by housekeeping after ORDER_RETENTION.

The feed's entry ids are the API's cursors: ``after=C`` reads the entries after C, oldest
first. Appends go through lua/feed_append.lua, which skips any (symbol, sequence) at or below
the account's per-symbol high-water mark, so a batch handled twice adds nothing twice.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Optional

from engine import keys
from engine.cluster import run_scripts
from engine.errors import ValidationFailed
from engine.scripts import source

CURSOR_RE = re.compile(r"[0-9]{1,15}-[0-9]{1,15}")
START = "0-0"

# Longest wait of GET /events (seconds), and the socket timeout of the client that blocks.
MAX_WAIT = 30
BLOCKING_SOCKET_TIMEOUT = MAX_WAIT + 5.0
WAIT_SLICE = 1.0  # seconds of one blocking read: how soon a long poll notices a shutdown


def check_cursor(cursor: Optional[str]) -> str:
    """The feed id to read after; ValidationFailed (422 on ``after``) if it is not a cursor."""
    if cursor is None:
        return START
    if not CURSOR_RE.fullmatch(cursor):
        raise ValidationFailed("after is not a valid cursor (use a next_cursor)", "after")
    return cursor


def account_keys(account_id: str) -> keys.AccountKeys:
    return keys.AccountKeys(account_id)


class Feed:
    """Appends to and reads the accounts' feeds over one client."""

    def __init__(self, redis) -> None:
        self.redis = redis
        self.append_script = redis.register_script(source("feed_append"))

    def append_call(
        self, account_id: str, symbol: str, events: list[tuple[int, str, str, bytes]]
    ) -> tuple[list[str], list]:
        """KEYS and ARGV of lua/feed_append.lua for (sequence, event id, order id, JSON)s."""
        k = account_keys(account_id)
        args: list = [symbol]
        for seq, event_id, oid, body in events:
            args += [seq, event_id, oid, body]
        return [k.feed, k.feed_hw, k.webhook, k.wh_due, k.wh_head, k.wh_wait], args

    def append_many(self, calls: list[tuple[list[str], list]]) -> list[tuple[int, int]]:
        """Run append calls (one per account) pipelined: [(appended, queued for webhook)].

        Each call is atomic on its own account; on a cluster, one pipeline per node.
        """
        replies = run_scripts(self.redis, self.append_script, calls)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return [(int(a), int(q)) for a, q in replies]

    def read(
        self,
        account_id: str,
        after: str,
        limit: int,
        wait: float = 0,
        blocking_redis=None,
        stopping: Optional[Callable[[], bool]] = None,
    ) -> list[tuple[str, bytes]]:
        """Up to ``limit`` (cursor, event JSON) after ``after``; waits up to ``wait`` seconds
        for the first one (on ``blocking_redis``, whose socket timeout outlasts the wait).

        The wait is spent in slices of at most WAIT_SLICE seconds; when ``stopping()`` says
        the process is shutting down, it ends after the current slice with what there is
        (nothing: the client polls again, on another process)."""
        feed = account_keys(account_id).feed
        reply = None
        if wait > 0 and blocking_redis is not None:
            deadline = time.monotonic() + wait
            left = wait
            while True:
                block_ms = max(1, int(min(left, WAIT_SLICE) * 1000))
                reply = blocking_redis.xread({feed: after}, count=limit, block=block_ms)
                left = deadline - time.monotonic()
                if reply or left <= 0.001 or (stopping is not None and stopping()):
                    break
        else:
            reply = self.redis.xread({feed: after}, count=limit)
        if not reply:
            return []
        entries = reply[0][1] if isinstance(reply, list) else next(iter(reply.values()))[0]
        out = []
        for entry_id, fields in entries:
            body = fields.get("e") if isinstance(fields, dict) else None
            if body is None:
                continue
            out.append((_text(entry_id), body.encode() if isinstance(body, str) else body))
        return out

    def trim(self, account_ids: list[str], older_than_ms: int) -> int:
        """Drop feed entries older than ``older_than_ms`` (their ids are times) from accounts."""
        if not account_ids:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for account_id in account_ids:
            pipe.xtrim(account_keys(account_id).feed, minid=f"{older_than_ms}-0", approximate=False)
        return sum(int(n or 0) for n in pipe.execute())


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value
