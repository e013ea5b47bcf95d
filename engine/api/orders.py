"""Private endpoints: place, read, list and cancel orders; list fills.

Each view: read what the contract checks first, authenticate, validate, call one engine
method, render. (POST /orders/batch comes with its own issue, beside place_order.)
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from engine.clock import now_us
from engine.context import current_context
from engine.errors import NotFound, ValidationFailed
from engine.models import (
    CancelAllQuery,
    FillsQuery,
    NoQuery,
    OrdersQuery,
    place_request,
)
from engine.orders import OPEN_STATUSES, parse_order_id
from engine.views import fill_view, order_view

from .inputs import caller, known_symbol, query, read_body, spec_of

bp = Blueprint("orders", __name__)


@bp.post("/orders")
def place_order() -> Any:
    ctx = current_context()
    body = read_body()
    # The symbol only marks the account's symbols (and takes a rate-limit token) once it is
    # known to exist; steps are cached in-process, so this is no extra round trip.
    name = body.peek("symbol")
    spec = ctx.symbols.get(name) if name else None
    # Both round trips (authentication, then the placement) on one pooled connection; nothing
    # in between reads Redis, and Engine.place gives it back before it reads any further.
    with ctx.engine.scripts.session() as session:
        account = caller(ctx, placement=True, symbol=spec.symbol if spec else None, session=session)
        data = body.object()
        query(NoQuery)
        result = ctx.engine.place(account.id, place_request(data, spec, now_us()), session)
    return order_view(result.order, spec, with_fills=True), 200 if result.replay else 201


@bp.get("/orders/<order_id>")
def get_order(order_id: str) -> Any:
    ctx = current_context()
    account = caller(ctx)
    query(NoQuery)
    order = ctx.engine.get_order(account.id, order_id)
    return order_view(order, spec_of(ctx, order.symbol))


@bp.get("/orders")
def list_orders() -> Any:
    ctx = current_context()
    account = caller(ctx)
    q = query(OrdersQuery)
    if q.client_order_id is not None and q.symbol is None:
        raise ValidationFailed("client_order_id needs symbol too", "client_order_id")
    if q.symbol is not None:
        known_symbol(ctx, q.symbol)
    if q.client_order_id is not None:
        if q.cursor is not None:
            # A client_order_id names one order: its only page has next_cursor null.
            raise ValidationFailed("cursor cannot be used with client_order_id", "cursor")
        found = ctx.engine.find_by_client_id(account.id, q.symbol, q.client_order_id)
        orders = [found] if found is not None and _has_status(found, q.status) else []
        cursor = None
    else:
        symbols = [q.symbol] if q.symbol else account.symbols
        orders, cursor = ctx.engine.list_orders(account.id, symbols, q.status, q.limit, q.cursor)
    return {
        "orders": [order_view(o, spec_of(ctx, o.symbol)) for o in orders],
        "next_cursor": cursor,
    }


def _has_status(order: Any, status: str | None) -> bool:
    if status is None:
        return True
    if status == "open":
        return order.status in OPEN_STATUSES
    return order.status == status


@bp.delete("/orders/<order_id>")
def cancel_order(order_id: str) -> Any:
    ctx = current_context()
    account = caller(ctx)
    query(NoQuery)
    order = ctx.engine.cancel(account.id, order_id)
    return order_view(order, spec_of(ctx, order.symbol))


@bp.delete("/orders")
def cancel_all() -> Any:
    ctx = current_context()
    account = caller(ctx)
    q = query(CancelAllQuery)
    if q.symbol is not None:
        known_symbol(ctx, q.symbol)
    return {"killed": ctx.engine.cancel_all(account.id, q.symbol, account.symbols)}


@bp.get("/fills")
def list_fills() -> Any:
    ctx = current_context()
    account = caller(ctx)
    q = query(FillsQuery)
    if q.symbol is not None:
        known_symbol(ctx, q.symbol)
    symbols = [q.symbol] if q.symbol else account.symbols
    if q.order_id is not None:
        located = parse_order_id(q.order_id)
        if located is None:
            raise ValidationFailed("order_id is not an order id", "order_id")
        if q.symbol is not None and located[0] != q.symbol:
            return {"fills": [], "next_cursor": None}  # that order is not in this symbol
    try:
        fills, cursor = ctx.engine.list_fills(account.id, symbols, q.order_id, q.limit, q.cursor)
    except NotFound:
        # Like an unknown symbol in a query: a 422 on the parameter (another account's
        # order answers the same as one that does not exist).
        raise ValidationFailed("order_id is not an order of this account", "order_id") from None
    return {"fills": [fill_view(f, spec_of(ctx, f.symbol)) for f in fills], "next_cursor": cursor}
