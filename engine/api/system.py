"""The service itself: health, and the OpenAPI document of the whole API."""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, current_app

from engine.connection import make_redis
from engine.context import EngineContext, current_context
from engine.errors import Unavailable
from engine.health import health as check_health
from engine.models import NoQuery

from .errors import unavailable_headers
from .inputs import query
from .openapi import openapi_document

bp = Blueprint("system", __name__)

# The 503 body: the same keys as a healthy answer.
UNREACHABLE = {
    "status": "unavailable",
    "redis": "unreachable",
    "workers": 0,
    "scheduler": "missing",
}


def _rq_redis(ctx: EngineContext) -> redis.Redis:
    """RQ's Redis (RQ_REDIS_URL), with the web's short timeouts; RQ wants bytes, not text."""
    client = current_app.extensions.get("trade_engine_rq_redis")
    if client is None:
        client = make_redis(ctx.settings, ctx.settings.rq_url, decode_responses=False)
        current_app.extensions["trade_engine_rq_redis"] = client
    return client


@bp.get("/health")
def health() -> Any:
    query(NoQuery)
    ctx = current_context()
    try:
        return check_health(ctx.redis, _rq_redis(ctx))
    except (Unavailable, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        return dict(UNREACHABLE), 503, unavailable_headers()


@bp.get("/openapi.json")
def openapi() -> Any:
    query(NoQuery)
    return openapi_document()
