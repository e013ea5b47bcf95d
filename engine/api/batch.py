"""POST /orders/batch: up to 100 orders, each handled exactly as a single POST /orders.

The request as a whole answers 413, 401, 415, 400 or 422 (on `orders`) like any other, and
429 only when its body is not a batch and no token is left. A well-formed batch is 200; each
order gets the status and body a single post would have had. Redis sees two round trips:
lua/auth.lua takes up to N rate-limit tokens at once (orders past the tokens it grants are
answered 429 one by one), then one pipeline of placement scripts, each atomic on its own,
in the batch's order (Engine.place_many).
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, request

from engine.accounts import authenticate
from engine.clock import now_us
from engine.context import current_context
from engine.errors import EngineError, RateLimited, ValidationFailed
from engine.models import (
    MAX_BATCH,
    BatchRequest,
    NoQuery,
    place_request,
    validate,
)
from engine.orders import PlaceRequest
from engine.views import order_view

from .errors import BadRequest
from .inputs import API_KEY_HEADER, query, read_body

bp = Blueprint("batch", __name__)


def _error(exc: EngineError) -> dict[str, Any]:
    return {
        "status": exc.status,
        "error": {"code": exc.code, "message": exc.message, "field": exc.field},
    }


@bp.post("/orders/batch")
def place_batch() -> Any:
    ctx = current_context()
    body = read_body()
    items = body.value.get("orders") if isinstance(body.value, dict) else None
    # A batch to place: exactly {"orders": [1 to 100 items]}. Anything else fails as a whole.
    is_batch = isinstance(items, list) and 1 <= len(items) <= MAX_BATCH and len(body.value) == 1
    # The spec of each symbol the orders name (steps are cached: no round trip, and none
    # later while the orders are checked); those that exist are marked as the account's, as
    # a single post marks its own.
    specs: dict[str, Any] = {}
    known = []
    if is_batch:
        for item in items:
            name = item.get("symbol") if isinstance(item, dict) else None
            if isinstance(name, str) and name not in specs:
                spec = specs[name] = ctx.symbols.get(name)
                if spec is not None and spec.symbol not in known:
                    known.append(spec.symbol)
    # One token per order; a body that is no batch takes one, like a bad single post.
    account = authenticate(
        ctx.redis,
        ctx.engine.scripts,
        request.headers.get(API_KEY_HEADER),
        rate_limit=ctx.settings.order_rate_limit,
        symbol=known[0] if known else None,
        cost=len(items) if is_batch else 1,
        partial=is_batch,
        more_symbols=known[1:],
    )
    data = body.object()
    query(NoQuery)
    orders = data.get("orders")
    if isinstance(orders, list) and not 1 <= len(orders) <= MAX_BATCH:
        raise ValidationFailed(f"orders must hold 1 to {MAX_BATCH} orders", "orders")
    validate(BatchRequest, data)

    results: list[Any] = [None] * len(items)
    pending: list[tuple[int, PlaceRequest, Any]] = []
    now = now_us()
    for i, item in enumerate(items):
        if i >= account.granted:
            wait = account.retry_after
            limited = RateLimited(
                f"more than {ctx.settings.order_rate_limit} orders per second; "
                f"retry in {wait:.3f} s",
                retry_after=wait,
            )
            results[i] = _error(limited)
            continue
        try:
            if not isinstance(item, dict):
                raise BadRequest("the request body must be a JSON object")
            name = item.get("symbol")
            spec = specs.get(name) if isinstance(name, str) else None
            pending.append((i, place_request(item, spec, now), spec))
        except EngineError as exc:
            results[i] = _error(exc)

    placed = ctx.engine.place_many(account.id, [req for _i, req, _s in pending])
    for (i, _req, spec), outcome in zip(pending, placed, strict=True):
        if isinstance(outcome, EngineError):
            results[i] = _error(outcome)
        else:
            results[i] = {
                "status": 200 if outcome.replay else 201,
                "order": order_view(outcome.order, spec, with_fills=True),
            }
    headers = {}
    if account.granted < len(items):
        headers["Retry-After"] = str(max(1, math.ceil(account.retry_after)))
    return {"results": results}, 200, headers
