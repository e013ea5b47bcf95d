"""Public market data: symbols, the book by price level, recent trades."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from engine.context import current_context
from engine.models import BookQuery, NoQuery, TradesQuery
from engine.views import book_view, symbol_view, trade_view

from .inputs import path_symbol, query

bp = Blueprint("market", __name__)


@bp.get("/symbols")
def list_symbols() -> Any:
    query(NoQuery)
    return {"symbols": [symbol_view(spec) for spec in current_context().symbols.list()]}


@bp.get("/book/<symbol>")
def get_book(symbol: str) -> Any:
    ctx = current_context()
    q = query(BookQuery)
    spec = path_symbol(ctx, symbol)
    return book_view(spec, ctx.engine.book(symbol, q.depth))


@bp.get("/trades/<symbol>")
def list_trades(symbol: str) -> Any:
    ctx = current_context()
    q = query(TradesQuery)
    spec = path_symbol(ctx, symbol)
    return {"trades": [trade_view(t, spec) for t in ctx.engine.trades(symbol, q.limit, q.before)]}
