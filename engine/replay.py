"""Replay: rebuild a symbol's book from its snapshot and event stream, compare with Redis.

The snapshot (engine/snapshot.py) gives the resting orders and the sequence S they are the
state after; with no snapshot the book starts empty at sequence 0 and the stream must start
at entry 1. The stream entries after S are then replayed into the reference book
(engine/reference.py), and the result is compared with the book Redis holds: the sequence,
every resting order's record (its remaining quantity and status included), the depth, and
the records of the orders the replay changed and finished.

Placements are **re-executed**, not applied as deltas: each accepted order (``t=order``) is
placed again in the reference at the time the stream records, and the trades and kills the
reference derives must be exactly the entries that follow it in the stream. That makes the
replay a proof, not a copy: it checks that the Lua engine matched by the contract and that
the stream is a complete audit log (no entry missing, changed or invented). The other kills
are applied one by one and checked too: a ``user`` kill must hit an open order of that
account, an ``expired``/``max_age`` kill an order that was due at that time.

The price of re-execution: matching depends on ``MATCH_LIMIT`` and ``ORDER_MAX_AGE``, so the
replay must run with the settings the placements ran with (the process's own by default).
Snapshots are frequent, so a replay covers a short window; if those settings changed inside
it, the first placement they affect is reported as a difference in its derived entries and
the replay stops there, which names the cause plainly.

Redis is read consistently: one script (lua/book_state.lua) reads the book and the stored
snapshot at one instant, then the stream entries up to that sequence are read (they never
change). A snapshot written and a stream trimmed between the two reads is retried.
"""

from __future__ import annotations

import json
from typing import Optional

from engine import records
from engine.config import Settings
from engine.errors import EngineError
from engine.keys import symbol_keys
from engine.orders import BookView, PlaceRequest, order_id
from engine.reference import ReferenceBook, encode_record
from engine.snapshot import decode_orders, script

_PAGE = 10_000  # stream entries per XRANGE
_MAX_DIFFERENCES = 100


class _Differences(list):
    """Readable sentences, capped so a broken book cannot flood the output."""

    def add(self, sentence: str) -> None:
        if len(self) < _MAX_DIFFERENCES:
            self.append(sentence)
        elif len(self) == _MAX_DIFFERENCES:
            self.append("... more differences not shown")


def replay_symbol(redis, symbol: str, settings: Optional[Settings] = None) -> dict:
    """{"symbol", "ok", "differences": [...]}: the replayed book against the one in Redis."""
    settings = settings or Settings.from_env()
    for attempt in range(3):
        diffs = _Differences()
        state = _read_state(redis, symbol)
        if state is None:
            diffs.add(f"unknown symbol {symbol}")
            break
        ref = ReferenceBook(settings)
        start = _start(ref, symbol, state, diffs)
        if diffs:
            break
        entries = _stream(redis, symbol, start, state["seq"])
        first = entries[0][0] if entries else state["seq"] + 1
        if (
            first != start + 1
            and attempt < 2
            and _stored_snapshot_seq(redis, symbol) != state["snapshot_seq"]
        ):
            continue  # a newer snapshot was written and the stream trimmed meanwhile
        if _replay(ref, symbol, start, entries, state["seq"], diffs):
            _compare(redis, ref, symbol, state, diffs)
        break
    return {"symbol": symbol, "ok": not diffs, "differences": list(diffs)}


# -- reading Redis -----------------------------------------------------------------------


def _read_state(redis, symbol: str) -> Optional[dict]:
    k = symbol_keys(symbol)
    keys = [k.meta, k.bids, k.asks, k.orders, k.bid_levels, k.ask_levels, k.level_sizes]
    res = script(redis, "book_state")(keys=[*keys, k.snapshot])
    if res[0] is None:
        return None
    seq, last_us, orders, bid_px, ask_px, levels, snap_seq, snap_last_us, snap_orders = res
    flat = dict(zip(levels[::2], levels[1::2], strict=True))
    view = BookView(symbol=symbol, sequence=int(seq))
    for prices, prefix, out in ((bid_px, "b", view.bids), (ask_px, "a", view.asks)):
        for p in prices:
            out.append(
                (int(p), int(flat.get(f"{prefix}q{p}", 0)), int(flat.get(f"{prefix}n{p}", 0)))
            )
    return {
        "seq": int(seq),
        "last_us": int(last_us),
        "resting": json.loads(orders),
        "depth": view,
        "snapshot_seq": None if snap_seq is None else int(snap_seq),
        "snapshot_last_us": int(snap_last_us),
        "snapshot_orders": snap_orders,
    }


def _stored_snapshot_seq(redis, symbol: str) -> Optional[int]:
    seq = redis.hget(symbol_keys(symbol).snapshot, "seq")
    return None if seq is None else int(seq)


def _stream(redis, symbol: str, after: int, last: int) -> list[tuple[int, dict]]:
    """Stream entries after sequence `after` up to `last`, as (sequence, fields)."""
    key = symbol_keys(symbol).events
    out: list[tuple[int, dict]] = []
    start = f"{after + 1}-0"
    while after < last:
        page = redis.xrange(key, start, f"{last}-0", count=_PAGE)
        if not page:
            break
        out += [(int(i.split("-")[0]), f) for i, f in page]
        start = f"({page[-1][0]}"
        if len(page) < _PAGE:
            break
    return out


# -- replaying ---------------------------------------------------------------------------


def _start(ref: ReferenceBook, symbol: str, state: dict, diffs: _Differences) -> int:
    """Load the snapshot (or an empty book) into the reference; the sequence it is at."""
    if state["snapshot_seq"] is None:
        ref.add_symbol(symbol)
        return 0
    if state["snapshot_seq"] > state["seq"]:
        diffs.add(
            f"snapshot is at sequence {state['snapshot_seq']}, "
            f"beyond the symbol's sequence {state['seq']}"
        )
        return 0
    try:
        orders = decode_orders(symbol, state["snapshot_orders"])
        ref.load(symbol, state["snapshot_seq"], state["snapshot_last_us"], orders)
    except ValueError as exc:
        diffs.add(f"snapshot cannot be loaded: {exc}")
    return state["snapshot_seq"]


def _replay(
    ref: ReferenceBook, symbol: str, start: int, entries: list, last: int, diffs: _Differences
) -> bool:
    """Re-execute the entries; False (with the reason in diffs) at the first that differs."""
    if not entries and last > start:
        diffs.add(f"stream entries {start + 1}..{last} are missing")
        return False
    i = 0
    while i < len(entries):
        seq, fields = entries[i]
        expected = ref.sequence(symbol) + 1
        if seq != expected:
            where = "after the snapshot" if start else "with no snapshot"
            diffs.add(
                f"stream entry {seq} where {expected} was expected ({where}): "
                f"entries {expected}..{seq - 1} are missing"
            )
            return False
        done = len(ref.symbols[symbol].events)
        problem = _apply(ref, symbol, fields)
        if problem:
            diffs.add(f"stream entry {seq} ({_describe(fields)}): {problem}")
            return False
        derived = ref.symbols[symbol].events[done:]
        stored = entries[i : i + len(derived)]
        for (dseq, dfields), (sseq, sfields) in zip(derived, stored, strict=False):
            if (dseq, dfields) != (sseq, sfields):
                diffs.add(
                    f"stream entry {sseq} is {_describe(sfields)} {sfields}; "
                    f"replaying entry {seq} derives {dseq} {_describe(dfields)} {dfields}"
                )
                return False
        if len(stored) < len(derived):
            diffs.add(
                f"replaying entry {seq} derives entries up to {derived[-1][0]}, "
                f"the stream ends at {stored[-1][0] if stored else seq}"
            )
            return False
        i += len(derived)
    if ref.sequence(symbol) != last:
        diffs.add(f"the stream ends at {ref.sequence(symbol)}, the symbol's sequence is {last}")
        return False
    return True


def _apply(ref: ReferenceBook, symbol: str, fields: dict) -> Optional[str]:
    """Apply one stream entry that starts an operation; what is wrong with it, or None."""
    kind, ts = fields.get("t"), int(fields.get("ts", 0))
    try:
        if kind == "order":
            o = records.decode_order(symbol, "0", fields["r"])
            req = PlaceRequest(
                symbol=symbol,
                side=o.side,
                type=o.type,
                quantity=o.quantity,
                price=o.price,
                time_in_force=o.time_in_force,
                expires_at=o.expires_at,
                post_only=o.post_only,
                self_trade_prevention=o.self_trade_prevention,
                client_order_id=o.client_order_id,
            )
            ref.place(o.account_id, req, ts, check_client_order_id=False)
        elif kind == "kill" and fields.get("why") == "user":
            ref.cancel(fields["a"], order_id(symbol, int(fields["o"])), ts)
        elif kind == "kill" and fields.get("why") in ("expired", "max_age"):
            ref.expire_one(symbol, order_id(symbol, int(fields["o"])), ts)
        else:
            return "no placement, cancel or expiry starts with such an entry"
    except EngineError as exc:
        return f"the replayed book refuses it: {exc.message}"
    except (KeyError, ValueError) as exc:
        return f"cannot be applied: {exc}"
    return None


def _describe(fields: dict) -> str:
    kind = fields.get("t")
    if kind == "kill":
        return f"kill of {int(fields.get('o', 0))} ({fields.get('why')})"
    return str(kind)


# -- comparing ---------------------------------------------------------------------------


def _compare(redis, ref: ReferenceBook, symbol: str, state: dict, diffs: _Differences) -> None:
    """The replayed book against the state Redis holds at the same sequence."""
    if ref.sequence(symbol) != state["seq"]:
        diffs.add(f"sequence: replay {ref.sequence(symbol)}, Redis {state['seq']}")
    stored = dict(state["resting"])  # member -> record
    replayed = {"%016d" % o.sequence: encode_record(o) for o in ref.resting(symbol)}
    for member in sorted(set(stored) | set(replayed)):
        mine, theirs = replayed.get(member), stored.get(member)
        if mine is None:
            diffs.add(f"order {int(member)} rests in Redis ({theirs}) but not in the replay")
        elif theirs is None:
            diffs.add(f"order {int(member)} rests in the replay ({mine}) but not in Redis")
        elif mine != theirs:
            diffs.add(f"order {int(member)} differs: replay {mine}, Redis {theirs}")
    order_in_redis = [m for m, _ in state["resting"]]
    order_in_replay = ["%016d" % o.sequence for o in ref.resting(symbol)]
    if set(order_in_redis) == set(order_in_replay) and order_in_redis != order_in_replay:
        diffs.add("resting orders are in a different price-time order than in the replay")

    depth = ref.book(symbol, 10**9)
    view: BookView = state["depth"]
    for side, mine, theirs in (("bid", depth.bids, view.bids), ("ask", depth.asks, view.asks)):
        if mine != theirs:
            at = next(i for i in range(len(mine) + 1) if mine[i : i + 1] != theirs[i : i + 1])
            diffs.add(
                f"{side} depth differs from level {at + 1} on: replay {mine[at : at + 3]}, "
                f"Redis {theirs[at : at + 3]} (price, lots, orders)"
            )

    # Orders the replay finished: their final records (unless retention removed them).
    finished = [o for o in ref.symbols[symbol].orders.values() if not o.is_open]
    k = symbol_keys(symbol)
    for i in range(0, len(finished), 1000):
        chunk = finished[i : i + 1000]
        records = redis.hmget(k.orders, ["%016d" % o.sequence for o in chunk])
        for o, record in zip(chunk, records, strict=True):
            if record is not None and record != encode_record(o):
                diffs.add(f"order {o.sequence} differs: replay {encode_record(o)}, Redis {record}")


__all__ = ["replay_symbol"]
