"""Live market data: the ticker, candles (both made by the workers) and the SSE stream."""

from __future__ import annotations

from typing import Any, Optional

from flask import Blueprint, Response, current_app, request

from engine.context import current_context
from engine.market_stream import StreamHub, install_shutdown_hook
from engine.marketdata import INTERVALS, MarketData
from engine.marketdata_models import CandlesQuery, StreamQuery, TickerQuery
from engine.marketdata_views import candle_view, ticker_view

from .inputs import known_symbol, path_symbol, query

bp = Blueprint("marketdata", __name__)

STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # a proxy in front must not buffer the stream
}


def _marketdata() -> MarketData:
    md = current_app.extensions.get("trade_engine_marketdata")
    if md is None:
        md = current_app.extensions["trade_engine_marketdata"] = MarketData(current_context().redis)
    return md


def stream_hub() -> StreamHub:
    """This process's feeds (one reader per symbol for all its streams)."""
    hub = current_app.extensions.get("trade_engine_streams")
    if hub is None:
        hub = current_app.extensions["trade_engine_streams"] = StreamHub(current_context())
    return hub


@bp.get("/ticker/<symbol>")
def get_ticker(symbol: str) -> Any:
    ctx = current_context()
    query(TickerQuery)
    spec = path_symbol(ctx, symbol)
    return ticker_view(_marketdata().ticker(symbol, ctx.engine.book(symbol, 1)), spec)


@bp.get("/candles/<symbol>")
def get_candles(symbol: str) -> Any:
    ctx = current_context()
    q = query(CandlesQuery)
    spec = path_symbol(ctx, symbol)
    seq, candles = _marketdata().candles(symbol, INTERVALS[q.interval], q.limit)
    return {
        "symbol": symbol,
        "interval": q.interval,
        "sequence": seq,
        "candles": [candle_view(c, spec) for c in candles],
    }


def _last_event_id() -> Optional[int]:
    """Last-Event-ID as a sequence; anything else means "no resume" (a new snapshot)."""
    raw = request.headers.get("Last-Event-ID", "").strip()
    if raw.isascii() and raw.isdigit() and len(raw) <= 16:
        return int(raw)
    return None


@bp.get("/stream")
def stream() -> Any:
    ctx = current_context()
    q = query(StreamQuery)
    spec = known_symbol(ctx, q.symbol)
    if request.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn"):
        install_shutdown_hook()
    env = request.environ
    body = stream_hub().stream(
        spec, q.depth, _last_event_id(),
        # gunicorn's gevent worker: the feed may write this stream's chunks itself
        sock=env.get("gunicorn.socket"),
        chunked=env.get("SERVER_PROTOCOL") != "HTTP/1.0",
    )  # fmt: skip
    return Response(body, mimetype="text/event-stream", headers=STREAM_HEADERS)
