"""Status updates over HTTP: the long-poll event feed and the account's webhook.

``GET /events`` reads the account's feed (engine/feed.py) after a cursor; with ``wait`` it
blocks in Redis (XREAD BLOCK) until an event arrives or the wait ends. The web runs gunicorn's
gevent worker (see the Procfile), so a waiting request is a greenlet parked on its socket, not
a thread: it cannot starve order entry. Each waiting request holds one connection of its own
client, whose socket timeout outlasts the longest wait; at most LONG_POLL_SLOTS requests per
web process wait at once (fewer than that client's pool holds, so none waits for a
connection), and any more answer at once with what there is (a shorter wait, as the contract
allows: "up to S seconds").
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from flask import Blueprint, Response, current_app

from engine import webhooks
from engine.connection import POOL_SIZE, make_redis
from engine.context import EngineContext, current_context
from engine.errors import ValidationFailed
from engine.event_models import EventsQuery, WebhookRequest
from engine.feed import BLOCKING_SOCKET_TIMEOUT, Feed, check_cursor
from engine.market_stream import install_shutdown_hook, stopping
from engine.models import NoQuery, validate

from .inputs import caller, query, read_body

bp = Blueprint("events", __name__)

# Requests of one web process that may wait at once: fewer than the client's pool holds.
LONG_POLL_SLOTS = POOL_SIZE * 3 // 4


def _extension(name: str, build) -> Any:
    found = current_app.extensions.get(name)
    if found is None:
        found = current_app.extensions.setdefault(name, build())
    return found


def _feed(ctx: EngineContext) -> Feed:
    return _extension("trade_engine_feed", lambda: Feed(ctx.redis))


def _blocking_redis(ctx: EngineContext):
    return _extension(
        "trade_engine_blocking_redis",
        lambda: make_redis(ctx.settings, socket_timeout=BLOCKING_SOCKET_TIMEOUT),
    )


def _slots() -> threading.BoundedSemaphore:
    return _extension(
        "trade_engine_long_polls", lambda: threading.BoundedSemaphore(LONG_POLL_SLOTS)
    )


@bp.get("/events")
def list_events() -> Any:
    ctx = current_context()
    account = caller(ctx)
    q = query(EventsQuery)
    after = check_cursor(q.after)
    feed = _feed(ctx)
    slots = _slots()
    if q.wait > 0 and slots.acquire(blocking=False):
        try:
            install_shutdown_hook()  # a SIGTERM ends the wait within WAIT_SLICE
            found = feed.read(account.id, after, q.limit, q.wait, _blocking_redis(ctx), stopping)
        finally:
            slots.release()
    else:
        found = feed.read(account.id, after, q.limit)
    cursor = found[-1][0] if found else q.after
    body = b'{"events":[' + b",".join(event for _, event in found) + b'],"next_cursor":'
    body += orjson.dumps(cursor) + b"}"
    return Response(body, mimetype="application/json")


@bp.put("/account/webhook")
def put_webhook() -> Any:
    ctx = current_context()
    body = read_body()
    account = caller(ctx)
    data = body.object()
    query(NoQuery)
    req = validate(WebhookRequest, data)
    problem = webhooks.check_url(req.url)
    if problem is not None:
        raise ValidationFailed(problem, "url")
    return webhooks.put(ctx.redis, account.id, req.url, req.rotate_secret)


@bp.delete("/account/webhook")
def delete_webhook() -> Any:
    ctx = current_context()
    account = caller(ctx)
    query(NoQuery)
    webhooks.delete(ctx.redis, account.id)
    return Response(status=204)
