"""The event stream format, read in one place: stream entries -> the accounts' order events.

A symbol's stream (``te:{S}:events``, written by lua/include/book.lua) has one entry per
sequence: ``t=order`` (an accepted order: ``r`` its record as accepted, ``st`` its status when
its placement ended), ``t=trade`` (``p``, ``q``, maker ``m``/``ma``/``mf``, taker
``k``/``ka``/``kf``, taker ``side``) and ``t=kill`` (``o``, ``a``, ``why``, ``f``); every entry
has ``ts`` (µs). One entry concerns at most one order per account (no trade has the same
account on both sides), so (symbol, sequence) names an account's event exactly.

The contract's Event is ``{"id","type","order","fill","created_at"}``: ``order.enqueued`` only
when an order rests with nothing filled (``st`` is ``e``), one ``order.partially_filled`` or
``order.filled`` per fill (``fill`` = the Fill object) and one ``order.killed``. ``order`` is
the order as it is after the event: its current record with filled/status/updated taken from
the event, and average_price from its fills up to the event's sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Literal, Optional

import orjson

from engine import records
from engine.clock import format_time
from engine.keys import seq_member
from engine.orders import Fill, order_id
from engine.symbols import SymbolSpec
from engine.views import fill_view, order_view

Kind = Literal["enqueued", "fill", "killed"]


@dataclass(frozen=True)
class Change:
    """What one stream entry did to one order (of one account)."""

    seq: int  # the entry's sequence
    ts: int  # µs
    account: str
    member: str  # the order's %016d sequence
    kind: Kind
    filled: int  # the order's filled lots after the entry
    record: Optional[str] = None  # the record as accepted (t=order entries carry it)
    price: int = 0  # a fill's price ticks and quantity lots
    quantity: int = 0
    liquidity: str = ""  # "maker" | "taker"
    kill_reason: str = ""


def entry_seq(entry_id: str) -> int:
    """The sequence of a stream entry id "<seq>-0"."""
    return int(entry_id.partition("-")[0])


def changes(entry_id: str, fields: dict[str, str]) -> list[Change]:
    """The changes one stream entry makes to the orders it names (0, 1 or 2)."""
    seq, kind = entry_seq(entry_id), fields.get("t")
    ts = int(fields["ts"])
    if kind == "order":
        if fields.get("st") != "e":
            return []  # its trades and kill (if any) carry its events
        record = fields["r"]
        return [Change(seq, ts, record.split("|", 1)[0], seq_member(seq), "enqueued", 0, record)]
    if kind == "trade":
        price, qty = int(fields["p"]), int(fields["q"])
        return [
            Change(seq, ts, fields["ma"], fields["m"], "fill", int(fields["mf"]), None, price,
                   qty, "maker"),
            Change(seq, ts, fields["ka"], fields["k"], "fill", int(fields["kf"]), None, price,
                   qty, "taker"),
        ]  # fmt: skip
    if kind == "kill":
        return [
            Change(seq, ts, fields["a"], fields["o"], "killed", int(fields["f"]),
                   kill_reason=fields["why"]),
        ]  # fmt: skip
    return []


def event_id(symbol: str, change: Change) -> str:
    """Unique across the system: the order's id and the sequence of the event."""
    return f"{order_id(symbol, int(change.member))}:{change.seq}"


def render(
    symbol: str,
    spec: SymbolSpec,
    change: Change,
    record: str,
    order_fills: Iterable[str],
) -> tuple[str, bytes]:
    """(event type, the Event as JSON bytes) for one change.

    ``record`` is the order's current record (or the record as accepted); ``order_fills`` its
    ``ofills`` members (those after the event's sequence are left out here).
    """
    notional = 0
    filled_seen = False
    for m in order_fills:
        parts = m.split("|")
        if int(parts[1]) <= change.seq:
            notional += int(parts[3]) * int(parts[4])
            filled_seen = True
    order = records.decode_order(symbol, change.member, record, notional if filled_seen else None)
    quantity = order.quantity
    if change.kind == "enqueued":
        status, kind, reason = "enqueued", "order.enqueued", None
    elif change.kind == "fill":
        status = "filled" if change.filled >= quantity else "partially_filled"
        kind, reason = f"order.{status}", None
    else:
        status, kind, reason = "killed", "order.killed", change.kill_reason
    order = replace(
        order,
        filled_quantity=change.filled,
        status=status,
        kill_reason=reason,
        updated_at=change.ts,
        fills=None,
    )
    fill: Optional[dict[str, Any]] = None
    if change.kind == "fill":
        fill = fill_view(
            Fill(
                trade_id=order_id(symbol, change.seq), order_id=order.id, symbol=symbol,
                side=order.side, price=change.price, quantity=change.quantity,
                liquidity=change.liquidity, sequence=change.seq, created_at=change.ts,
            ),
            spec,
        )  # fmt: skip
    event = {
        "id": event_id(symbol, change),
        "type": kind,
        "order": order_view(order, spec),
        "fill": fill,
        "created_at": format_time(change.ts),
    }
    return kind, orjson.dumps(event)
