"""Book snapshots: a symbol's resting orders and the sequence they are the state after.

``write_snapshot`` stores one atomically (lua/snapshot.lua) in ``keys.symbol_keys(s).snapshot``;
housekeeping calls it periodically and then trims the event stream below
min(snapshot stream id, the consumer groups' oldest pending entry). ``engine.replay`` rebuilds
the book from the latest snapshot plus the stream after it.
"""

from __future__ import annotations

import json

from engine import records
from engine.keys import symbol_keys
from engine.orders import Order
from engine.scripts import source


def script(redis, name: str):
    """lua/<name>.lua on this client (EVALSHA, loaded on NOSCRIPT); registering only hashes."""
    return redis.register_script(source(name))


def write_snapshot(redis, symbol: str) -> dict:
    """Store the symbol's snapshot now; {"symbol", "seq", "stream_id", "taken_us", "orders"}.

    ``orders`` is how many resting orders it holds; ``stream_id`` ("<seq>-0") is the last
    stream entry it includes: replay needs only the entries after it.
    """
    k = symbol_keys(symbol)
    seq, taken_us, count = script(redis, "snapshot")(
        keys=[k.meta, k.bids, k.asks, k.orders, k.snapshot]
    )
    seq = int(seq)
    return {
        "symbol": symbol,
        "seq": seq,
        "stream_id": f"{seq}-0",
        "taken_us": int(taken_us),
        "orders": int(count),
    }


def decode_orders(symbol: str, raw: str) -> list[Order]:
    """The orders of a snapshot's ``orders`` JSON ([[seq, record], ...]), in its order.

    Raises ValueError if a member has no record (the book pointed at a missing order).
    """
    out = []
    for member, record in json.loads(raw):
        if not isinstance(record, str):
            raise ValueError(f"resting order {member} has no order record")
        out.append(records.decode_order(symbol, member, record))
    return out
