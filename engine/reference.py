"""A reference order book in plain Python: the contract's matching rules, and nothing else.

This is the specification in code (API.md, the contract: "Order life"). It keeps no
Redis and no clock of its own: every call that can change a book takes ``now_us``, the
exchange time of that call. It mirrors ``engine.book.Engine`` call for call, returns the same
domain objects (``engine.orders``), assigns the same per-symbol sequences (+1 for every
accepted order, trade and kill, in the order lua/place.lua emits them) and writes the same
event entries as the symbol's Redis stream, so the behaviour tests, the randomized
comparison (tests/test_stateful.py) and ``engine.replay`` can hold the Redis/Lua engine to it.

Written for reading, not speed: a side is a dict price -> resting orders in arrival order.

Choices the contract leaves to the engine, made here exactly as lua/place.lua makes them:
- post_only is killed if any order on the other side is at or better than its price, due
  or not (a due order is only killed when a placement meets it in matching).
- A due order met by a placement is killed (expired / max_age) before any self-trade check.
- Time never goes backwards within a symbol: ``now`` is clamped to the last time used.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Iterator, Optional

from engine.config import Settings
from engine.errors import (
    ClientOrderIdConflict,
    NotFound,
    OrderNotOpen,
    SymbolHalted,
    ValidationFailed,
)
from engine.orders import (
    OPEN_STATUSES,
    BookView,
    Fill,
    Order,
    PlaceRequest,
    PlaceResult,
    Trade,
    order_id,
    parse_order_id,
)
from engine.records import SIDE_CODES, STP_CODES, TYPE_CODES

_STATUS_CODES = {"enqueued": "e", "partially_filled": "p", "filled": "f", "killed": "k"}

Event = tuple[int, dict[str, str]]  # (sequence, the stream entry's fields)


def encode_record(o: Order) -> str:
    """The order's record in the layout lua/include/book.lua stores (engine/records.py reads)."""
    return "|".join([
        o.account_id, SIDE_CODES[o.side], TYPE_CODES[o.type], o.time_in_force,
        "" if o.price is None else str(o.price), str(o.quantity), str(o.filled_quantity),
        _STATUS_CODES[o.status], o.kill_reason or "", str(o.created_at), str(o.updated_at),
        "" if o.expires_at is None else str(o.expires_at), "1" if o.post_only else "0",
        STP_CODES[o.self_trade_prevention], o.client_order_id or "",
    ])  # fmt: skip


@dataclass
class _Symbol:
    """One symbol's whole state."""

    name: str
    status: str = "trading"
    seq: int = 0  # the last sequence used
    last_us: int = 0  # the last exchange time used (time never goes backwards)
    orders: dict[int, Order] = field(default_factory=dict)  # every order, by sequence
    bids: dict[int, list[Order]] = field(default_factory=dict)  # price -> resting, FIFO
    asks: dict[int, list[Order]] = field(default_factory=dict)
    client_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    fills: dict[int, list[Fill]] = field(default_factory=dict)  # order seq -> its fills
    trades: list[Trade] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def side(self, side: str) -> dict[int, list[Order]]:
        return self.bids if side == "buy" else self.asks

    def resting(self, side: str) -> Iterator[Order]:
        """A side's resting orders in matching order: best price first, then arrival."""
        levels = self.side(side)
        for price in sorted(levels, reverse=(side == "buy")):
            yield from levels[price]

    def crossing(self, incoming: Order) -> Iterator[Order]:
        """The resting orders the incoming order would meet, in matching order.

        Each price level is copied when it is reached, so the caller may take the orders
        it has met out of the book while it walks on.
        """
        side = "sell" if incoming.side == "buy" else "buy"
        levels = self.side(side)
        for price in sorted(levels, reverse=(side == "buy")):
            if not _crosses(incoming, price):
                return  # nor does any later level
            yield from list(levels.get(price, ()))


class ReferenceBook:
    """Every symbol's book in memory, with the same interface as Engine plus explicit time."""

    def __init__(self, settings: Optional[Settings] = None) -> None:
        self.settings = settings or Settings()
        self.symbols: dict[str, _Symbol] = {}

    # -- symbols (what engine/symbols.py does in Redis) -----------------------------------

    def add_symbol(self, symbol: str) -> None:
        self.symbols.setdefault(symbol, _Symbol(symbol))

    def set_status(self, symbol: str, status: str) -> None:
        self.symbols[symbol].status = status

    def set_sequence(self, symbol: str, seq: int) -> None:
        """Jump the symbol's counter (tests of large sequences do the same in Redis)."""
        self.symbols[symbol].seq = seq

    # -- changes ---------------------------------------------------------------------------

    def place(
        self, account_id: str, req: PlaceRequest, now_us: int, *, check_client_order_id: bool = True
    ) -> PlaceResult:
        """Place and match one order at time now_us (Engine.place's semantics and errors).

        check_client_order_id=False skips the replay/conflict check (engine.replay re-executes
        accepted orders, whose ids were checked when they were placed).
        """
        s = self.symbols.get(req.symbol)
        if s is None:
            raise ValidationFailed("unknown symbol", "symbol")
        now = max(now_us, s.last_us)

        coid_key = (account_id, req.client_order_id or "")
        if check_client_order_id and req.client_order_id and coid_key in s.client_ids:
            existing = s.orders[s.client_ids[coid_key]]
            if _same_order(existing, req):
                order = _detached(existing)
                order.fills = [
                    f for f in s.fills.get(existing.sequence, []) if f.liquidity == "taker"
                ]
                return PlaceResult(order, replay=True)
            raise ClientOrderIdConflict(
                "client_order_id is taken by a different order", "client_order_id"
            )
        if s.status != "trading":
            raise SymbolHalted("symbol is halted: orders are not accepted")
        if req.time_in_force == "GTD" and req.expires_at <= now:
            raise ValidationFailed("expires_at must be in the future", "expires_at")

        # Accepted: the order's sequence is its place in the queue.
        s.last_us = now
        s.seq += 1
        o = Order(
            id=order_id(req.symbol, s.seq), account_id=account_id, symbol=req.symbol,
            side=req.side, type=req.type, time_in_force=req.time_in_force, price=req.price,
            quantity=req.quantity, filled_quantity=0, status="enqueued", kill_reason=None,
            post_only=req.post_only, self_trade_prevention=req.self_trade_prevention,
            expires_at=req.expires_at, client_order_id=req.client_order_id, sequence=s.seq,
            created_at=now, updated_at=now,
        )  # fmt: skip
        s.orders[o.sequence] = o
        accepted = {"t": "order", "r": encode_record(o), "ts": str(now)}
        s.events.append((o.sequence, accepted))
        if req.client_order_id:
            s.client_ids[coid_key] = o.sequence

        kill_reason = self._match(s, o, now)
        if o.filled_quantity == o.quantity:
            o.status = "filled"
        elif kill_reason:
            self._kill(s, o, kill_reason, now, resting=False)
        else:
            if o.filled_quantity:
                o.status = "partially_filled"
            s.side(o.side).setdefault(o.price, []).append(o)  # rests, last in its level
        accepted["st"] = _STATUS_CODES[o.status]

        result = _detached(o)
        result.fills = [f for f in s.fills.get(o.sequence, [])]
        return PlaceResult(result)

    def cancel(self, account_id: str, oid: str, now_us: int) -> Order:
        """Kill one open order of the account (user). Raises NotFound, OrderNotOpen."""
        s, o = self._find(account_id, oid)
        if not o.is_open:
            raise OrderNotOpen(f"order is {o.status}, not open")
        now = max(now_us, s.last_us)
        s.last_us = now
        self._kill(s, o, "user", now, resting=True)
        return _detached(o)

    def cancel_all(self, account_id: str, symbol: Optional[str], now_us: int) -> list[str]:
        """Kill every open order of the account (in `symbol`, else in every symbol); ids."""
        names = [symbol] if symbol else sorted(self.symbols)
        killed: list[str] = []
        for name in names:
            s = self.symbols.get(name)
            if s is None:
                continue
            mine = [o for o in s.orders.values() if o.account_id == account_id and o.is_open]
            mine.sort(key=lambda o: (o.created_at, o.sequence))  # the open index's order
            if mine:
                now = s.last_us = max(now_us, s.last_us)
            for o in mine:
                self._kill(s, o, "user", now, resting=True)
                killed.append(o.id)
        return killed

    def expire(
        self, symbol: str, now_us: int, budget: int = 1000
    ) -> tuple[int, int, bool, list[int]]:
        """Kill due resting orders: (expired, max_age, more_left, lateness_us list).

        As lua/expire.lua: GTD orders by deadline (then sequence) first, then GTC orders in
        acceptance order, at most `budget` kills in all. (The script also says more_left
        when it stopped at its scan bound over stale list entries, which this book has not.)
        """
        s = self.symbols.get(symbol)
        if s is None:
            return 0, 0, False, []
        now = max(now_us, s.last_us)
        resting = list(s.resting("buy")) + list(s.resting("sell"))
        gtd = sorted(
            (o for o in resting if o.time_in_force == "GTD" and now >= o.expires_at),
            key=lambda o: (o.expires_at, o.sequence),
        )
        max_age_us = self.settings.order_max_age * 1_000_000
        gtc = sorted(
            (
                o
                for o in resting
                if o.time_in_force == "GTC" and max_age_us and now >= o.created_at + max_age_us
            ),
            key=lambda o: o.sequence,
        )
        more = len(gtd) + len(gtc) > budget
        gtd = gtd[:budget]
        gtc = gtc[: budget - len(gtd)]
        lateness = [now - o.expires_at for o in gtd]
        lateness += [now - (o.created_at + max_age_us) for o in gtc]
        if gtd or gtc:
            s.last_us = now
        for o in gtd:
            self._kill(s, o, "expired", now, resting=True)
        for o in gtc:
            self._kill(s, o, "max_age", now, resting=True)
        return len(gtd), len(gtc), more, lateness

    def expire_one(self, symbol: str, oid: str, now_us: int) -> Order:
        """Kill one resting order that is due at now_us (engine.replay applies the workers'
        expiry kills one by one). Raises NotFound, OrderNotOpen, or ValueError if not due."""
        s = self.symbols[symbol]
        parsed = parse_order_id(oid)
        o = s.orders.get(parsed[1]) if parsed and parsed[0] == symbol else None
        if o is None:
            raise NotFound("order not found")
        if not o.is_open:
            raise OrderNotOpen(f"order is {o.status}, not open")
        now = max(now_us, s.last_us)
        reason = self._due(o, now)
        if reason is None:
            raise ValueError(f"order {oid} is not due at {now}")
        s.last_us = now
        self._kill(s, o, reason, now, resting=True)
        return _detached(o)

    # -- reads -----------------------------------------------------------------------------

    def get_order(self, account_id: str, oid: str) -> Order:
        _s, o = self._find(account_id, oid)
        return _detached(o)

    def list_orders(
        self, account_id: str, symbol: Optional[str] = None, status: Optional[str] = None
    ) -> list[Order]:
        """Every order of the account, newest first by (created_at, symbol, sequence)."""

        def wanted(o: Order) -> bool:
            return status is None or status == o.status or (status == "open" and o.is_open)

        out = [
            _detached(o)
            for s in self.symbols.values()
            if symbol in (None, s.name)
            for o in s.orders.values()
            if o.account_id == account_id and wanted(o)
        ]
        out.sort(key=lambda o: (o.created_at, o.symbol, o.sequence), reverse=True)
        return out

    def list_fills(
        self, account_id: str, symbol: Optional[str] = None, oid: Optional[str] = None
    ) -> list[Fill]:
        """Every fill of the account, newest first by (time, symbol, trade sequence)."""
        out = [
            f
            for s in self.symbols.values()
            if symbol in (None, s.name)
            for seq, fills in s.fills.items()
            if s.orders[seq].account_id == account_id
            for f in fills
            if oid in (None, f.order_id)
        ]
        out.sort(key=lambda f: (f.created_at, f.symbol, f.sequence), reverse=True)
        return out

    def book(self, symbol: str, depth: int) -> BookView:
        """Depth by price level, best first: (price, Σ remaining lots, order count)."""
        s = self.symbols.get(symbol)
        if s is None:
            return BookView(symbol=symbol, sequence=0)
        view = BookView(symbol=symbol, sequence=s.seq)
        for side, out in (("buy", view.bids), ("sell", view.asks)):
            levels = s.side(side)
            for price in sorted(levels, reverse=(side == "buy"))[:depth]:
                orders = levels[price]
                out.append(
                    (price, sum(o.quantity - o.filled_quantity for o in orders), len(orders))
                )
        return view

    def trades(self, symbol: str, limit: int = 100, before: Optional[int] = None) -> list[Trade]:
        s = self.symbols.get(symbol)
        found = [t for t in (s.trades if s else []) if before is None or t.sequence < before]
        return sorted(found, key=lambda t: t.sequence, reverse=True)[:limit]

    def resting(self, symbol: str) -> list[Order]:
        """The resting orders, bids then asks, each side in matching order."""
        s = self.symbols[symbol]
        return [_detached(o) for side in ("buy", "sell") for o in s.resting(side)]

    def events(self, symbol: str) -> list[Event]:
        """The symbol's event entries as the Redis stream holds them: (sequence, fields)."""
        return list(self.symbols[symbol].events)

    def sequence(self, symbol: str) -> int:
        return self.symbols[symbol].seq

    # -- matching --------------------------------------------------------------------------

    def _match(self, s: _Symbol, o: Order, now: int) -> Optional[str]:
        """Match the incoming order; the reason its rest is killed, or None."""
        if o.post_only and next(s.crossing(o), None) is not None:
            return "post_only"  # any order at or better than its price, due or not
        if o.time_in_force == "FOK" and self._fillable(o, s.crossing(o), now) < o.quantity:
            return "fill_or_kill"  # and nothing else changes

        met = 0
        for r in s.crossing(o):
            if o.filled_quantity == o.quantity:
                break
            if met == self.settings.match_limit:
                return "match_limit"  # met the limit and still crosses
            met += 1
            due = self._due(r, now)
            if due:
                self._kill(s, r, due, now, resting=True)
            elif r.account_id == o.account_id:
                if o.self_trade_prevention == "cancel_newest":
                    return "self_trade"
                self._kill(s, r, "self_trade", now, resting=True)
                if o.self_trade_prevention == "cancel_both":
                    return "self_trade"
            else:
                self._trade(s, maker=r, taker=o, now=now)
        if o.filled_quantity < o.quantity:
            if o.type == "market":
                return "no_liquidity"
            if o.time_in_force == "IOC":
                return "immediate_or_cancel"
            if o.time_in_force == "FOK":
                return "fill_or_kill"
        return None

    def _fillable(self, o: Order, crossing: Iterator[Order], now: int) -> int:
        """What a FOK order could fill: matching walked without changing anything."""
        fillable = met = 0
        for r in crossing:
            if met == self.settings.match_limit:
                break
            met += 1
            if self._due(r, now):
                continue  # it would be killed on contact
            if r.account_id == o.account_id:
                if o.self_trade_prevention != "cancel_oldest":
                    break  # matching would stop here
                continue  # it would be killed and matching goes on
            fillable += r.quantity - r.filled_quantity
            if fillable >= o.quantity:
                break
        return fillable

    def _due(self, o: Order, now: int) -> Optional[str]:
        """'expired' / 'max_age' if the resting order is due at `now`, else None."""
        if o.time_in_force == "GTD" and now >= o.expires_at:
            return "expired"
        max_age_us = self.settings.order_max_age * 1_000_000
        if o.time_in_force == "GTC" and max_age_us and now >= o.created_at + max_age_us:
            return "max_age"
        return None

    def _trade(self, s: _Symbol, maker: Order, taker: Order, now: int) -> None:
        """One trade at the maker's price for what both still have."""
        qty = min(maker.quantity - maker.filled_quantity, taker.quantity - taker.filled_quantity)
        price = maker.price
        maker.filled_quantity += qty
        taker.filled_quantity += qty
        maker.updated_at = now
        s.seq += 1
        tid = order_id(s.name, s.seq)
        s.trades.append(
            Trade(
                id=tid,
                symbol=s.name,
                price=price,
                quantity=qty,
                taker_side=taker.side,
                sequence=s.seq,
                created_at=now,
            )
        )
        for o, liquidity in ((maker, "maker"), (taker, "taker")):
            o.notional = (o.notional or 0) + price * qty
            s.fills.setdefault(o.sequence, []).append(
                Fill(
                    trade_id=tid,
                    order_id=o.id,
                    symbol=s.name,
                    side=o.side,
                    price=price,
                    quantity=qty,
                    liquidity=liquidity,
                    sequence=s.seq,
                    created_at=now,
                )
            )
        s.events.append((s.seq, {
            "t": "trade", "p": str(price), "q": str(qty),
            "m": _member(maker), "ma": maker.account_id, "mf": str(maker.filled_quantity),
            "k": _member(taker), "ka": taker.account_id, "kf": str(taker.filled_quantity),
            "side": SIDE_CODES[taker.side], "ts": str(now),
        }))  # fmt: skip
        if maker.filled_quantity == maker.quantity:
            maker.status = "filled"
            self._unrest(s, maker)
        else:
            maker.status = "partially_filled"

    def _kill(self, s: _Symbol, o: Order, reason: str, now: int, resting: bool) -> None:
        """The order will never fill again; what it filled stays filled."""
        if resting:
            self._unrest(s, o)
        o.status, o.kill_reason, o.updated_at = "killed", reason, now
        s.seq += 1
        s.events.append(
            (
                s.seq,
                {
                    "t": "kill",
                    "o": _member(o),
                    "a": o.account_id,
                    "why": reason,
                    "f": str(o.filled_quantity),
                    "ts": str(now),
                },
            )
        )

    @staticmethod
    def _unrest(s: _Symbol, o: Order) -> None:
        level = s.side(o.side)[o.price]
        level.remove(o)
        if not level:
            del s.side(o.side)[o.price]

    # -- internals -------------------------------------------------------------------------

    def _find(self, account_id: str, oid: str) -> tuple[_Symbol, Order]:
        parsed = parse_order_id(oid)
        s = self.symbols.get(parsed[0]) if parsed else None
        o = s.orders.get(parsed[1]) if s else None
        if o is None or o.account_id != account_id:
            raise NotFound("order not found")
        return s, o

    # -- loading a snapshot (engine.replay) -------------------------------------------------

    def load(self, symbol: str, seq: int, last_us: int, resting: list[Order]) -> None:
        """Start the symbol from a snapshot: its sequence, clock and resting orders."""
        s = self.symbols[symbol] = _Symbol(symbol, seq=seq, last_us=last_us)
        for o in sorted(resting, key=lambda o: o.sequence):
            if o.status not in OPEN_STATUSES or o.price is None:
                raise ValueError(f"order {o.id} in the snapshot is not a resting order")
            s.orders[o.sequence] = o
            s.side(o.side).setdefault(o.price, []).append(o)
            if o.client_order_id:
                s.client_ids[(o.account_id, o.client_order_id)] = o.sequence


def _detached(o: Order) -> Order:
    """A copy for the caller: later changes to the book do not show through it."""
    out = copy.copy(o)
    out.fills = None
    return out


def _crosses(incoming: Order, price: int) -> bool:
    """Would the incoming order trade at this price (a resting order's)?"""
    if incoming.type == "market":
        return True
    if incoming.side == "buy":
        return price <= incoming.price
    return price >= incoming.price


def _member(o: Order) -> str:
    return "%016d" % o.sequence


def _same_order(o: Order, req: PlaceRequest) -> bool:
    """The contract's "same placement" for a client_order_id."""
    return (
        o.side,
        o.type,
        o.price,
        o.quantity,
        o.time_in_force,
        o.expires_at,
        o.post_only,
        o.self_trade_prevention,
    ) == (
        req.side,
        req.type,
        req.price,
        req.quantity,
        req.time_in_force,
        req.expires_at,
        req.post_only,
        req.self_trade_prevention,
    )
