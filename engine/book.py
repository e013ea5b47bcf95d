"""The order book interface: place, cancel, read. Returns domain objects, never HTTP.

Each state change is one Lua script call (lua/*.lua); reads are one round trip each where
they can be (a MULTI of reads on one symbol's slot is a consistent snapshot).
"""

from __future__ import annotations

import base64
import heapq
from typing import Iterable, Optional

from engine import records
from engine.codes import Code
from engine.config import Settings
from engine.errors import (
    ClientOrderIdConflict,
    EngineError,
    NotFound,
    OrderNotOpen,
    SymbolHalted,
    ValidationFailed,
)
from engine.keys import SymbolKeys, seq_member, symbol_keys
from engine.orders import (
    BookView,
    Fill,
    Order,
    PlaceRequest,
    PlaceResult,
    Trade,
    order_id,
    parse_order_id,
)
from engine.scripts import Scripts, ScriptSession

# Lex bounds: members are "account|…"; '}' sorts right after '|'.
BATCH_CALL = 100  # orders per lua/place_batch.lua call (bounds how long one call holds Redis)
_MAX_SCAN = 5000  # index entries one list request may pass over before it returns a cursor


def _lex_all(account: str) -> tuple[str, str]:
    return f"[{account}|", f"({account}}}"


class _Cursor:
    """Opaque list cursor: the (time, symbol, seq) key of the last item returned."""

    @staticmethod
    def encode(ts: int, symbol: str, seq: int) -> str:
        raw = f"{ts}|{symbol}|{seq}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode(cursor: Optional[str]) -> Optional[tuple[int, str, int]]:
        if cursor is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            ts, symbol, seq = raw.split("|")
            if not (ts.isdigit() and seq.isdigit() and len(ts) <= 16 and len(seq) <= 16):
                raise ValueError
            return int(ts), symbol, int(seq)
        except (ValueError, UnicodeDecodeError):
            raise ValidationFailed("cursor is not valid", "cursor") from None


def _upper_bound(account: str, symbol: str, cursor: Optional[tuple[int, str, int]]) -> str:
    """Exclusive lex upper bound of a symbol's index for items after the cursor (newest first)."""
    if cursor is None:
        return f"({account}}}"
    ts, csym, cseq = cursor
    if symbol == csym:
        return f"({account}|{ts:016d}|{cseq:016d}"
    if symbol < csym:  # same time, smaller symbol: comes later in newest-first order
        return f"({account}|{ts:016d}}}"
    return f"({account}|{ts:016d}"


class Engine:
    """All book operations of all symbols, over one Redis client (or cluster client)."""

    def __init__(self, redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.scripts = Scripts(redis)

    # -- changes -------------------------------------------------------------------------

    def place(
        self, account_id: str, req: PlaceRequest, session: Optional[ScriptSession] = None
    ) -> PlaceResult:
        """Place and match one order atomically (one placement script call).

        Raises SymbolHalted, ClientOrderIdConflict. A replay (same client_order_id, same
        order) returns PlaceResult(replay=True). The result's order has .fills set.
        `session` (the request's, which authenticated it) makes the call on its connection,
        and is closed before the reply is read further (a replay reads the order back).
        """
        keys, args = self.placement_args(account_id, req)
        if session is None:
            reply = self.scripts.call("place", keys, args)
        else:
            with session:
                reply = session.call("place", keys, args)
        return self._place_result(req, reply)

    def place_many(
        self, account_id: str, reqs: list[PlaceRequest]
    ) -> list[PlaceResult | EngineError]:
        """Place orders one after another, each atomically, in one round trip.

        The orders of each symbol go to lua/place_batch.lua, up to BATCH_CALL of them per
        call: each is placed exactly as place() would place it, in the order given (the
        call is atomic as a whole, so each order is atomic on its own). The calls are
        pipelined, one round trip (on a cluster, one pipeline per node: engine/cluster.py).
        Orders of different symbols meet different books, so their relative order changes
        no outcome. Each result is what place() returns for that order, or the EngineError
        it would raise.
        """
        if not reqs:
            return []  # nothing to send (a batch whose orders were all refused before Redis)
        calls, groups = self.batch_calls([(account_id, req) for req in reqs])
        replies = self.scripts.call_many("place_batch", calls)
        results: list[PlaceResult | EngineError | None] = [None] * len(reqs)
        for group, reply in zip(groups, replies, strict=True):
            if isinstance(reply, Exception):
                raise reply
            for i, res in zip(group, reply, strict=True):
                try:
                    results[i] = self._place_result(reqs[i], res)
                except EngineError as err:
                    results[i] = err
        return results  # type: ignore[return-value]  # every slot is filled above

    def batch_calls(
        self, orders: list[tuple[str, PlaceRequest]], size: int = BATCH_CALL
    ) -> tuple[list[tuple[list[str], list[str]]], list[list[int]]]:
        """The (KEYS, ARGV) of the lua/place_batch.lua calls for these (account id, order)
        pairs: each symbol's orders in their order, up to `size` per call; and the indexes
        into `orders` of the orders each call holds."""
        by_symbol: dict[str, list[int]] = {}
        for i, (_account, req) in enumerate(orders):
            by_symbol.setdefault(req.symbol, []).append(i)
        head = [str(self.settings.order_max_age), str(self.settings.match_limit)]
        calls: list[tuple[list[str], list[str]]] = []
        groups: list[list[int]] = []
        for symbol, indexes in by_symbol.items():
            keys = symbol_keys(symbol).place_keys()
            for start in range(0, len(indexes), size):
                group = indexes[start : start + size]
                args = list(head)
                for i in group:
                    args += self.order_args(*orders[i])
                calls.append((keys, args))
                groups.append(group)
        return calls, groups

    @staticmethod
    def order_args(account_id: str, req: PlaceRequest) -> list[str]:
        """The ten ARGV of one order, as lua/place.lua and lua/place_batch.lua take them."""
        return [
            account_id,
            records.SIDE_CODES[req.side],
            records.TYPE_CODES[req.type],
            req.time_in_force,
            "" if req.price is None else str(req.price),
            str(req.quantity),
            "" if req.expires_at is None else str(req.expires_at),
            "1" if req.post_only else "0",
            records.STP_CODES[req.self_trade_prevention],
            req.client_order_id or "",
        ]

    def placement_args(self, account_id: str, req: PlaceRequest) -> tuple[list[str], list[str]]:
        """KEYS and ARGV of lua/place.lua for one order (bench/ calls the script with them too)."""
        args = self.order_args(account_id, req)
        args.append(str(self.settings.order_max_age))
        args.append(str(self.settings.match_limit))
        return symbol_keys(req.symbol).place_keys(), args

    def _place_result(self, req: PlaceRequest, res: list) -> PlaceResult:
        """Decode one reply of lua/place.lua; raises the EngineError its code stands for."""
        code = int(res[0])
        if code == Code.OK:
            order = records.decode_order(req.symbol, res[1], res[2])
            fills = []
            notional = 0
            for i in range(3, len(res), 3):
                tseq, price, qty = int(res[i]), int(res[i + 1]), int(res[i + 2])
                notional += price * qty
                fills.append(
                    Fill(
                        trade_id=order_id(req.symbol, tseq),
                        order_id=order.id,
                        symbol=req.symbol,
                        side=order.side,
                        price=price,
                        quantity=qty,
                        liquidity="taker",
                        sequence=tseq,
                        created_at=order.created_at,
                    )
                )
            order.notional = notional if fills else None
            order.fills = fills
            return PlaceResult(order)
        if code == Code.REPLAY:
            order = self._load(req.symbol, res[1], with_taker_fills=True)
            return PlaceResult(order, replay=True)
        self._raise(code)
        raise AssertionError("unreachable")

    def cancel(self, account_id: str, oid: str) -> Order:
        """Kill one open order with kill_reason user. Raises NotFound, OrderNotOpen."""
        symbol, seq = self._locate(oid)
        k = symbol_keys(symbol)
        res = self.scripts.cancel(keys=k.place_keys(), args=[account_id, seq_member(seq)])
        code = int(res[0])
        if code == Code.NOT_FOUND:
            raise NotFound("order not found")
        order = self._with_notional(symbol, seq_member(seq), res[1])
        if code == Code.NOT_OPEN:
            raise OrderNotOpen(f"order is {order.status}, not open")
        return order

    def cancel_all(
        self, account_id: str, symbol: Optional[str], symbols_used: list[str]
    ) -> list[str]:
        """Kill every open order of the account (in `symbol` if given); returns their ids."""
        killed: list[str] = []
        for s in [symbol] if symbol else sorted(symbols_used):
            k = symbol_keys(s)
            for member in self.scripts.cancel_all(keys=k.place_keys(), args=[account_id]):
                killed.append(order_id(s, int(member)))
        return killed

    def expire(self, symbol: str, budget: int = 1000) -> tuple[int, int, bool, list[int]]:
        """Kill due orders of one symbol: (expired, max_age, more_left, lateness_us list)."""
        k = symbol_keys(symbol)
        res = self.scripts.expire(
            keys=k.place_keys(), args=[str(self.settings.order_max_age), str(budget)]
        )
        return int(res[0]), int(res[1]), bool(int(res[2])), [int(x) for x in res[3:]]

    # -- reads ---------------------------------------------------------------------------

    def get_order(self, account_id: str, oid: str) -> Order:
        """The order, or NotFound if it does not exist or belongs to another account."""
        symbol, seq = self._locate(oid)
        order = self._load(symbol, seq_member(seq))
        if order is None or order.account_id != account_id:
            raise NotFound("order not found")
        return order

    def find_by_client_id(
        self, account_id: str, symbol: str, client_order_id: str
    ) -> Optional[Order]:
        member = self.redis.hget(symbol_keys(symbol).client_ids, f"{account_id}|{client_order_id}")
        if member is None:
            return None
        order = self._load(symbol, member)
        if order is None or order.account_id != account_id:
            return None
        return order

    def list_orders(
        self,
        account_id: str,
        symbols: list[str],
        status: Optional[str],
        limit: int,
        cursor: Optional[str],
    ) -> tuple[list[Order], Optional[str]]:
        """Newest first by (created_at, symbol, sequence). status: a status, 'open', or None.

        Raises ValidationFailed(field='cursor') on a bad cursor.
        """
        after = _Cursor.decode(cursor)
        if status in ("open", "enqueued", "partially_filled"):
            which = ("open",)
        elif status in ("filled", "killed"):
            which = ("final",)
        else:
            which = ("open", "final")
        wanted = None if status in (None, "open") else status

        out: list[Order] = []
        scanned = 0
        position = after
        while len(out) < limit and scanned < _MAX_SCAN:
            batch = self._index_page(account_id, symbols, which, position, limit - len(out))
            if not batch:
                return out, None
            scanned += len(batch)
            orders = self._load_many([(s, m) for (_t, s, _q, m) in batch])
            for (ts, s, q, _m), order in zip(batch, orders, strict=True):
                position = (ts, s, q)
                if order is not None and (wanted is None or order.status == wanted):
                    out.append(order)
        if len(out) < limit and scanned >= _MAX_SCAN and position is not None:
            return out, _Cursor.encode(*position)
        if not out:
            return out, None
        last = out[-1]
        more = self._index_page(
            account_id, symbols, which, (last.created_at, last.symbol, last.sequence), 1
        )
        return out, (_Cursor.encode(last.created_at, last.symbol, last.sequence) if more else None)

    def list_fills(
        self,
        account_id: str,
        symbols: list[str],
        oid: Optional[str],
        limit: int,
        cursor: Optional[str],
    ) -> tuple[list[Fill], Optional[str]]:
        """The account's fills, newest first by (time, symbol, trade sequence)."""
        after = _Cursor.decode(cursor)
        if oid is not None:
            fills = self._order_fills_newest_first(account_id, oid)
            if after is not None:
                fills = [f for f in fills if (f.created_at, f.symbol, f.sequence) < after]
            page = fills[:limit]
            more = len(fills) > limit
        else:
            batch = self._merged(
                self._fill_members(account_id, s, after, limit + 1) for s in symbols
            )
            page = [records.decode_account_fill(s, m) for (_t, s, _q, m) in batch[:limit]]
            more = len(batch) > limit
        nxt = (
            _Cursor.encode(page[-1].created_at, page[-1].symbol, page[-1].sequence)
            if (more and page)
            else None
        )
        return page, nxt

    def book(self, symbol: str, depth: int) -> BookView:
        k = symbol_keys(symbol)
        res = self.scripts.book(
            keys=[k.meta, k.bid_levels, k.ask_levels, k.level_sizes], args=[depth]
        )
        view = BookView(symbol=symbol, sequence=int(res[0]))
        nbids = int(res[1])
        levels = [
            (int(res[i]), int(res[i + 1] or 0), int(res[i + 2] or 0)) for i in range(2, len(res), 3)
        ]
        view.bids, view.asks = levels[:nbids], levels[nbids:]
        return view

    def trades(self, symbol: str, limit: int, before: Optional[int]) -> list[Trade]:
        """Public trades, newest first by sequence, strictly before `before` if given."""
        top = "+inf" if before is None else f"({before}"
        members = self.redis.zrange(
            symbol_keys(symbol).trades, top, "-inf", byscore=True, desc=True, offset=0, num=limit
        )
        return [records.decode_trade(symbol, m) for m in members]

    # -- internals -----------------------------------------------------------------------

    @staticmethod
    def _raise(code: int) -> None:
        if code == Code.SYMBOL_HALTED:
            raise SymbolHalted("symbol is halted: orders are not accepted")
        if code == Code.CLIENT_ORDER_ID_CONFLICT:
            raise ClientOrderIdConflict(
                "client_order_id is taken by a different order", "client_order_id"
            )
        if code == Code.GTD_EXPIRED:
            raise ValidationFailed("expires_at must be in the future", "expires_at")
        if code == Code.UNKNOWN_SYMBOL:
            raise ValidationFailed("unknown symbol", "symbol")
        raise RuntimeError(f"unexpected script result {code}")

    @staticmethod
    def _locate(oid: str) -> tuple[str, int]:
        parsed = parse_order_id(oid)
        if parsed is None:
            raise NotFound("order not found")
        return parsed

    def _load(self, symbol: str, member: str, with_taker_fills: bool = False) -> Optional[Order]:
        """One order with its notional (and its arrival fills), in one round trip."""
        k = symbol_keys(symbol)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hget(k.orders, member)
        pipe.zrangebylex(k.order_fills, f"[{member}|", f"({member}}}")
        raw, fills = pipe.execute()
        if raw is None:
            return None
        order = records.decode_order(symbol, member, raw, records.notional_of(fills))
        if with_taker_fills:
            order.fills = [
                f
                for f in (records.decode_order_fill(symbol, order, m) for m in fills)
                if f.liquidity == "taker"
            ]
        return order

    def _with_notional(self, symbol: str, member: str, raw: str) -> Order:
        fills = self.redis.zrangebylex(
            symbol_keys(symbol).order_fills, f"[{member}|", f"({member}}}"
        )
        return records.decode_order(symbol, member, raw, records.notional_of(fills))

    def _load_many(self, items: list[tuple[str, str]]) -> list[Optional[Order]]:
        """Orders (with notionals) for (symbol, member) pairs in two round trips."""
        if not items:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for s, m in items:
            pipe.hget(symbol_keys(s).orders, m)
        raws = pipe.execute()
        pipe = self.redis.pipeline(transaction=False)
        need = [i for i, raw in enumerate(raws) if raw is not None and raw.split("|", 7)[6] != "0"]
        for i in need:
            s, m = items[i]
            pipe.zrangebylex(symbol_keys(s).order_fills, f"[{m}|", f"({m}}}")
        fills = dict(zip(need, pipe.execute(), strict=True)) if need else {}
        return [
            None
            if raw is None
            else records.decode_order(s, m, raw, records.notional_of(fills.get(i, [])))
            for i, ((s, m), raw) in enumerate(zip(items, raws, strict=True))
        ]

    def _index_page(
        self,
        account: str,
        symbols: list[str],
        which: tuple[str, ...],
        after: Optional[tuple[int, str, int]],
        n: int,
    ) -> list[tuple[int, str, int, str]]:
        """Up to n (time, symbol, seq, member) from the account's order indexes, newest first."""
        streams = []
        for s in symbols:
            k = symbol_keys(s)
            upper, lower = _upper_bound(account, s, after), f"[{account}|"
            pipe = self.redis.pipeline(transaction=True)
            for name in which:
                pipe.zrange(getattr(k, name), upper, lower, bylex=True, desc=True, offset=0, num=n)
            members = [m for part in pipe.execute() for m in part]
            streams.append([self._key(s, m) for m in members])
        return self._merged(streams)[:n]

    def _fill_members(self, account: str, symbol: str, after, n: int):
        members = self.redis.zrange(
            symbol_keys(symbol).fills,
            _upper_bound(account, symbol, after),
            f"[{account}|",
            bylex=True,
            desc=True,
            offset=0,
            num=n,
        )
        out = []
        for m in members:
            _a, ts, tseq, _rest = m.split("|", 3)
            out.append((int(ts), symbol, int(tseq), m))
        return out

    @staticmethod
    def _key(symbol: str, member: str) -> tuple[int, str, int, str]:
        _a, ts, seq = member.split("|")
        return int(ts), symbol, int(seq), seq

    @staticmethod
    def _merged(
        streams: Iterable[list[tuple[int, str, int, str]]],
    ) -> list[tuple[int, str, int, str]]:
        """Merge lists sorted newest first into one list newest first."""
        return list(heapq.merge(*[sorted(s, reverse=True) for s in streams], reverse=True))

    def _order_fills_newest_first(self, account_id: str, oid: str) -> list[Fill]:
        order = self.get_order(account_id, oid)
        members = self.redis.zrangebylex(
            symbol_keys(order.symbol).order_fills,
            f"[{seq_member(order.sequence)}|",
            f"({seq_member(order.sequence)}}}",
        )
        fills = [records.decode_order_fill(order.symbol, order, m) for m in members]
        fills.sort(key=lambda f: (f.created_at, f.symbol, f.sequence), reverse=True)
        return fills


__all__ = ["Engine", "SymbolKeys"]
