"""GET /metrics (outside /api/v1): Prometheus text, read from Redis at scrape time."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app

from engine import metrics
from engine.connection import make_redis
from engine.context import current_context
from engine.models import NoQuery

from .inputs import query

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape() -> Any:
    ctx = current_context()
    query(NoQuery)
    rq_redis = current_app.extensions.get("trade_engine_rq_redis")
    if rq_redis is None:  # the same client GET /health uses (RQ_REDIS_URL, bytes)
        rq_redis = make_redis(ctx.settings, ctx.settings.rq_url, decode_responses=False)
        current_app.extensions["trade_engine_rq_redis"] = rq_redis
    return Response(metrics.render(ctx.redis, rq_redis), content_type=metrics.CONTENT_TYPE)
