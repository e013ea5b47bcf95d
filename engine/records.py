"""The stored formats of lua/include/book.lua, read in one place (orders, fills, trades)."""

from __future__ import annotations

from typing import Optional

from engine.orders import Fill, Order, Trade, order_id

SIDES = {"b": "buy", "s": "sell"}
SIDE_CODES = {"buy": "b", "sell": "s"}
TYPES = {"l": "limit", "m": "market"}
TYPE_CODES = {"limit": "l", "market": "m"}
STATUSES = {"e": "enqueued", "p": "partially_filled", "f": "filled", "k": "killed"}
STP = {"n": "cancel_newest", "o": "cancel_oldest", "b": "cancel_both"}
STP_CODES = {v: k for k, v in STP.items()}


def decode_order(symbol: str, member: str, raw: str, notional: Optional[int] = None) -> Order:
    """An Order from its record (account|side|type|tif|price|qty|filled|status|...)."""
    (
        acct,
        side,
        otype,
        tif,
        price,
        qty,
        filled,
        status,
        reason,
        created,
        updated,
        expires,
        post,
        stp,
        coid,
    ) = raw.split("|", 14)
    seq = int(member)
    return Order(
        id=order_id(symbol, seq),
        account_id=acct,
        symbol=symbol,
        side=SIDES[side],
        type=TYPES[otype],
        time_in_force=tif,
        price=int(price) if price else None,
        quantity=int(qty),
        filled_quantity=int(filled),
        status=STATUSES[status],
        kill_reason=reason or None,
        post_only=post == "1",
        self_trade_prevention=STP[stp],
        expires_at=int(expires) if expires else None,
        client_order_id=coid or None,
        sequence=seq,
        created_at=int(created),
        updated_at=int(updated),
        notional=notional,
    )


def decode_order_fill(symbol: str, order: Order, member: str) -> Fill:
    """A Fill from an ofills member: order seq|trade seq|liq|price|qty|time_us."""
    _oseq, tseq, liq, price, qty, ts = member.split("|")
    t = int(tseq)
    return Fill(
        trade_id=order_id(symbol, t),
        order_id=order.id,
        symbol=symbol,
        side=order.side,
        price=int(price),
        quantity=int(qty),
        liquidity="maker" if liq == "m" else "taker",
        sequence=t,
        created_at=int(ts),
    )


def notional_of(order_fill_members: list[str]) -> Optional[int]:
    """Σ price × quantity (ticks × lots, exact) over an order's fills; None if none."""
    if not order_fill_members:
        return None
    total = 0
    for m in order_fill_members:
        parts = m.split("|")
        total += int(parts[3]) * int(parts[4])
    return total


def decode_account_fill(symbol: str, member: str) -> Fill:
    """A Fill from a fills member: account|time|trade seq|order seq|side|liq|price|qty."""
    _acct, ts, tseq, oseq, side, liq, price, qty = member.split("|")
    t = int(tseq)
    return Fill(
        trade_id=order_id(symbol, t),
        order_id=order_id(symbol, int(oseq)),
        symbol=symbol,
        side=SIDES[side],
        price=int(price),
        quantity=int(qty),
        liquidity="maker" if liq == "m" else "taker",
        sequence=t,
        created_at=int(ts),
    )


def decode_trade(symbol: str, member: str) -> Trade:
    """A Trade from a trades member: trade seq|price|qty|taker side|time|maker|taker."""
    tseq, price, qty, side, ts, _maker, _taker = member.split("|")
    t = int(tseq)
    return Trade(
        id=order_id(symbol, t),
        symbol=symbol,
        price=int(price),
        quantity=int(qty),
        taker_side=SIDES[side],
        sequence=t,
        created_at=int(ts),
    )
