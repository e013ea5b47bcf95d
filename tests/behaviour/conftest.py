"""The behaviour suite runs every test twice: on the reference book and on the Redis engine.

``book`` is an adapter with the same calls for both. The reference takes the time
explicitly, so its adapter keeps a clock (1 µs per call); the Redis engine's clock is Redis
TIME clamped per symbol to ``meta.last_us``, so ``advance()`` moves ``last_us`` forward and
the next scripts run at that time (expiry and max age without sleeping).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Optional

import pytest

from engine.book import Engine
from engine.config import Settings
from engine.keys import symbol_keys
from engine.orders import BookView, Order, PlaceRequest, PlaceResult
from engine.reference import Event, ReferenceBook

SYMBOL = "BTC-USD"


class Book:
    """The calls a behaviour test makes; integers in, domain objects out."""

    kind = ""
    settings: Settings

    def request(self, side: str, quantity: int, price: Optional[int] = None, *,
                type: Optional[str] = None, tif: Optional[str] = None,
                expires_at: Optional[int] = None, post_only: bool = False,
                stp: str = "cancel_newest", coid: Optional[str] = None,
                symbol: str = SYMBOL) -> PlaceRequest:  # fmt: skip
        """A PlaceRequest with the API's defaults (limit if priced, GTC/IOC by type)."""
        type = type or ("limit" if price is not None else "market")
        tif = tif or ("GTC" if type == "limit" else "IOC")
        return PlaceRequest(
            symbol=symbol, side=side, type=type, quantity=quantity, price=price,
            time_in_force=tif, expires_at=expires_at, post_only=post_only,
            self_trade_prevention=stp, client_order_id=coid,
        )  # fmt: skip

    def place(self, account: str, side: str, quantity: int, price: Optional[int] = None,
              **kw) -> Order:  # fmt: skip
        return self.submit(account, self.request(side, quantity, price, **kw)).order

    def log(self, symbol: str = SYMBOL) -> list[tuple]:
        """The event stream in short: ("order",), ("trade", maker, taker, qty), ("kill", seq,
        reason), one per sequence, in order."""
        out: list[tuple] = []
        for _seq, e in self.events(symbol):
            if e["t"] == "order":
                out.append(("order",))
            elif e["t"] == "trade":
                out.append(("trade", int(e["m"]), int(e["k"]), int(e["q"])))
            else:
                out.append(("kill", int(e["o"]), e["why"]))
        return out

    def makers(self, symbol: str = SYMBOL) -> list[int]:
        """The maker sequences of the trades, in trade order."""
        return [t[1] for t in self.log(symbol) if t[0] == "trade"]

    # Implemented by each kind.
    def add_symbol(self, symbol: str = SYMBOL) -> None: ...
    def configure(self, **overrides) -> None: ...
    def submit(self, account: str, req: PlaceRequest) -> PlaceResult: ...
    def place_many(self, account: str, reqs: list[PlaceRequest]) -> list[PlaceResult]: ...
    def cancel(self, account: str, oid: str) -> Order: ...
    def cancel_all(self, account: str, symbol: Optional[str] = SYMBOL) -> list[str]: ...
    def expire(self, symbol: str = SYMBOL, budget: int = 1000): ...
    def get(self, account: str, oid: str) -> Order: ...
    def book(self, symbol: str = SYMBOL, depth: int = 50) -> BookView: ...
    def trades(self, symbol: str = SYMBOL, limit: int = 100): ...
    def fills(self, account: str, oid: Optional[str] = None): ...
    def events(self, symbol: str = SYMBOL) -> list[Event]: ...
    def now(self, symbol: str = SYMBOL) -> int: ...
    def advance(self, us: int, symbol: str = SYMBOL) -> None: ...
    def set_status(self, status: str, symbol: str = SYMBOL) -> None: ...
    def set_sequence(self, seq: int, symbol: str = SYMBOL) -> None: ...


class ReferenceAdapter(Book):
    kind = "reference"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ref = ReferenceBook(settings)
        self.clock = time.time_ns() // 1000

    def _tick(self) -> int:
        self.clock += 1
        return self.clock

    def add_symbol(self, symbol=SYMBOL):
        self.ref.add_symbol(symbol)

    def configure(self, **overrides):
        self.settings = self.ref.settings = dataclasses.replace(self.settings, **overrides)

    def submit(self, account, req):
        return self.ref.place(account, req, self._tick())

    def place_many(self, account, reqs):
        return [self.submit(account, req) for req in reqs]

    def cancel(self, account, oid):
        return self.ref.cancel(account, oid, self._tick())

    def cancel_all(self, account, symbol=SYMBOL):
        return self.ref.cancel_all(account, symbol, self._tick())

    def expire(self, symbol=SYMBOL, budget=1000):
        return self.ref.expire(symbol, self._tick(), budget)

    def get(self, account, oid):
        return self.ref.get_order(account, oid)

    def book(self, symbol=SYMBOL, depth=50):
        return self.ref.book(symbol, depth)

    def trades(self, symbol=SYMBOL, limit=100):
        return self.ref.trades(symbol, limit)

    def fills(self, account, oid=None):
        return self.ref.list_fills(account, None, oid)

    def events(self, symbol=SYMBOL):
        return self.ref.events(symbol)

    def now(self, symbol=SYMBOL):
        return max(self.clock, self.ref.symbols[symbol].last_us)

    def advance(self, us, symbol=SYMBOL):
        self.clock = self.now(symbol) + us

    def set_status(self, status, symbol=SYMBOL):
        self.ref.set_status(symbol, status)

    def set_sequence(self, seq, symbol=SYMBOL):
        self.ref.set_sequence(symbol, seq)


class RedisAdapter(Book):
    kind = "redis"

    def __init__(self, r, settings: Settings) -> None:
        from engine.symbols import SymbolRegistry

        self.r = r
        self.settings = settings
        self.engine = Engine(r, settings)
        self.registry = SymbolRegistry(r)
        self.symbols: list[str] = []

    def add_symbol(self, symbol=SYMBOL):
        self.registry.add(symbol, "0.01", "0.0001")
        self.symbols.append(symbol)

    def configure(self, **overrides):
        self.settings = dataclasses.replace(self.settings, **overrides)
        self.engine = Engine(self.r, self.settings)

    def submit(self, account, req):
        return self.engine.place(account, req)

    def place_many(self, account, reqs):
        out = []
        for i in range(0, len(reqs), 1000):  # a pipeline per 1000 placements
            out += self.engine.place_many(account, reqs[i : i + 1000])
        for res in out:
            if isinstance(res, Exception):
                raise res
        return out

    def cancel(self, account, oid):
        return self.engine.cancel(account, oid)

    def cancel_all(self, account, symbol=SYMBOL):
        return self.engine.cancel_all(account, symbol, sorted(self.symbols))

    def expire(self, symbol=SYMBOL, budget=1000):
        return self.engine.expire(symbol, budget)

    def get(self, account, oid):
        return self.engine.get_order(account, oid)

    def book(self, symbol=SYMBOL, depth=50):
        return self.engine.book(symbol, depth)

    def trades(self, symbol=SYMBOL, limit=100):
        return self.engine.trades(symbol, limit, None)

    def fills(self, account, oid=None):
        return self.engine.list_fills(account, sorted(self.symbols), oid, 1000, None)[0]

    def events(self, symbol=SYMBOL):
        raw = self.r.xrange(symbol_keys(symbol).events)
        return [(int(i.split("-")[0]), fields) for i, fields in raw]

    def now(self, symbol=SYMBOL):
        sec, us = self.r.time()
        last = int(self.r.hget(symbol_keys(symbol).meta, "last_us") or 0)
        return max(sec * 1_000_000 + us, last)

    def advance(self, us, symbol=SYMBOL):
        self.r.hset(symbol_keys(symbol).meta, "last_us", self.now(symbol) + us)

    def set_status(self, status, symbol=SYMBOL):
        self.registry.set_status(symbol, status)

    def set_sequence(self, seq, symbol=SYMBOL):
        self.r.hset(symbol_keys(symbol).meta, "seq", seq)


@pytest.fixture(params=["reference", "redis"])
def book(request) -> Book:
    """One book with the symbol BTC-USD, default settings; book.configure() changes them."""
    if request.param == "redis":
        adapter: Book = RedisAdapter(request.getfixturevalue("r"), Settings())
    else:
        adapter = ReferenceAdapter(Settings())
    adapter.add_symbol(SYMBOL)
    return adapter


@pytest.fixture
def redis_book(r) -> RedisAdapter:
    """The Redis engine alone (tests of what only it has: threads, pipelines, the stream)."""
    adapter = RedisAdapter(r, Settings())
    adapter.add_symbol(SYMBOL)
    return adapter
