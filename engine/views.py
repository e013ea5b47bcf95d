"""Engine domain objects -> the contract's JSON objects (decimal strings, RFC 3339 times).

Plain dicts, built in the contract's key order; engine/models.py holds the response models
that document the same shapes in the OpenAPI document (tests check that they agree).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from engine.clock import format_time
from engine.money import average_price, format_amount
from engine.orders import BookView, Fill, Order, Trade

if TYPE_CHECKING:
    from engine.symbols import SymbolSpec


def _time(us: Optional[int]) -> Optional[str]:
    return None if us is None else format_time(us)


def order_view(order: Order, spec: SymbolSpec, with_fills: bool = False) -> dict[str, Any]:
    """An order object; with_fills adds the trades it made on arrival (answers to POST)."""
    tick, lot = spec.tick_size, spec.lot_size
    filled = order.filled_quantity
    created = format_time(order.created_at)
    updated = created if order.updated_at == order.created_at else format_time(order.updated_at)
    view = {
        "id": order.id,
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "time_in_force": order.time_in_force,
        "price": None if order.price is None else format_amount(order.price, tick),
        "quantity": format_amount(order.quantity, lot),
        "filled_quantity": format_amount(filled, lot),
        "remaining_quantity": format_amount(order.remaining_quantity, lot),
        # order.notional is set whenever something filled (None there is an engine bug).
        "average_price": average_price(order.notional, filled, tick) if filled else None,
        "status": order.status,
        "kill_reason": order.kill_reason,
        "post_only": order.post_only,
        "self_trade_prevention": order.self_trade_prevention,
        "expires_at": _time(order.expires_at),
        "sequence": order.sequence,
        "created_at": created,
        "updated_at": updated,
    }
    if with_fills:
        view["fills"] = [
            {
                "trade_id": fill.trade_id,
                "price": format_amount(fill.price, tick),
                "quantity": format_amount(fill.quantity, lot),
                "liquidity": fill.liquidity,
                "created_at": created if fill.created_at == order.created_at
                else format_time(fill.created_at),
            }
            for fill in order.fills or ()
        ]  # fmt: skip
    return view


def fill_view(fill: Fill, spec: SymbolSpec) -> dict[str, Any]:
    """A fill: one side of a trade, as the owner of the order sees it."""
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "symbol": fill.symbol,
        "side": fill.side,
        "price": format_amount(fill.price, spec.tick),
        "quantity": format_amount(fill.quantity, spec.lot),
        "liquidity": fill.liquidity,
        "sequence": fill.sequence,
        "created_at": format_time(fill.created_at),
    }


def trade_view(trade: Trade, spec: SymbolSpec) -> dict[str, Any]:
    """A public trade."""
    return {
        "id": trade.id,
        "symbol": trade.symbol,
        "price": format_amount(trade.price, spec.tick),
        "quantity": format_amount(trade.quantity, spec.lot),
        "taker_side": trade.taker_side,
        "sequence": trade.sequence,
        "created_at": format_time(trade.created_at),
    }


def book_view(spec: SymbolSpec, book: BookView) -> dict[str, Any]:
    """The book aggregated by price level: [price, quantity, order count], best first."""
    tick, lot = spec.tick, spec.lot

    def levels(side: list[tuple[int, int, int]]) -> list[list[Any]]:
        return [
            [format_amount(price, tick), format_amount(qty, lot), count]
            for price, qty, count in side
        ]

    return {
        "symbol": book.symbol,
        "sequence": book.sequence,
        "bids": levels(book.bids),
        "asks": levels(book.asks),
    }


def symbol_view(spec: SymbolSpec) -> dict[str, Any]:
    """A symbol with its steps as decimal strings and its trading status."""
    return spec.to_dict()  # the CLI prints the same object
