"""The symbols (markets): their price and quantity steps, and whether they trade.

Storage: ``keys.SYMBOLS`` is a hash symbol -> JSON ``{"tick_size", "lot_size"}`` (steps never
change once set); the live status sits in the symbol's own ``meta`` hash (fields ``status``,
``seq``, ``last_us``), where the placement script reads it in the same atomic call.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from engine import keys
from engine.errors import NotFound, ValidationFailed

SymbolStatus = Literal["trading", "halted"]
STATUSES: tuple[SymbolStatus, ...] = ("trading", "halted")

SYMBOL_RE = re.compile(r"[A-Z0-9]{1,12}-[A-Z0-9]{1,12}")
STEP_RE = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")

# Unknown symbols re-read the symbol hash at most this often (seconds), so a client sending
# garbage symbols cannot turn each request into a Redis read.
MISS_REFRESH_INTERVAL = 1.0


def _decimals(step: str) -> int:
    """Fractional digits of a normalised step: "0.01" -> 2, "0.5" -> 1, "1" -> 0."""
    _, _, fraction = step.partition(".")
    return len(fraction)


@dataclass(frozen=True)
class SymbolSpec:
    """A symbol's steps (normalised decimal strings) and its status when it was read."""

    symbol: str
    tick_size: str
    lot_size: str
    status: SymbolStatus = "trading"

    @property
    def tick(self) -> Decimal:
        return Decimal(self.tick_size)

    @property
    def lot(self) -> Decimal:
        return Decimal(self.lot_size)

    @property
    def tick_decimals(self) -> int:
        return _decimals(self.tick_size)

    @property
    def lot_decimals(self) -> int:
        return _decimals(self.lot_size)

    def to_dict(self) -> dict[str, str]:
        """The API's symbol object."""
        return {
            "symbol": self.symbol,
            "tick_size": self.tick_size,
            "lot_size": self.lot_size,
            "status": self.status,
        }


def validate_symbol(symbol: object, field: str = "symbol") -> str:
    if not isinstance(symbol, str) or not SYMBOL_RE.fullmatch(symbol):
        raise ValidationFailed(
            f"{field} must look like BTC-USD (1-12 of A-Z and 0-9, a dash, 1-12 more)", field
        )
    return symbol


def normalize_step(value: object, field: str) -> str:
    """A positive decimal step as its shortest fixed-point text ("0.010" -> "0.01")."""
    if not isinstance(value, str) or not STEP_RE.fullmatch(value):
        raise ValidationFailed(f"{field} must be a decimal string such as 0.01", field)
    step = Decimal(value)
    if step <= 0:
        raise ValidationFailed(f"{field} must be greater than 0", field)
    text = format(step.normalize(), "f")  # normalize() may give 1E+2: "f" writes 100
    return text


def _decode_steps(raw: str) -> tuple[str, str]:
    data = json.loads(raw)
    return data["tick_size"], data["lot_size"]


# Bumped by every add() in this process: a registry that recently missed a symbol looks again
# at once instead of waiting out MISS_REFRESH_INTERVAL (several registries share a process in
# tests and in the CLI).
_generation = 0


class SymbolRegistry:
    """Reads and writes symbols; caches steps in-process (they never change), never status."""

    def __init__(self, redis) -> None:
        self.redis = redis
        self._steps: dict[str, tuple[str, str]] = {}
        self._status_seen: dict[str, SymbolStatus] = {}
        self._refreshed_at = float("-inf")  # time.monotonic() of the last full read
        self._refreshed_generation = -1
        self._lock = threading.Lock()

    # -- reading

    def get(self, symbol: str) -> SymbolSpec | None:
        """The symbol's spec, or None if it does not exist.

        Known symbols cost no round trip: ``status`` is the one last read (it may be stale;
        the placement script checks the live one, and status()/list() read it).
        """
        steps = self._steps.get(symbol)
        if steps is None:
            if not isinstance(symbol, str) or not SYMBOL_RE.fullmatch(symbol):
                return None
            now = time.monotonic()
            if (
                now - self._refreshed_at < MISS_REFRESH_INTERVAL
                and self._refreshed_generation == _generation
            ):
                return None
            self._refresh(now)
            steps = self._steps.get(symbol)
            if steps is None:
                return None
        return SymbolSpec(symbol, steps[0], steps[1], self._status_seen.get(symbol, "trading"))

    def list(self) -> list[SymbolSpec]:
        """Every symbol, sorted by name, with its current status."""
        self._refresh(time.monotonic())
        names = sorted(self._steps)
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hget(keys.symbol_keys(name).meta, "status")
        statuses = pipe.execute() if names else []
        specs = []
        for name, status in zip(names, statuses, strict=True):
            status = _status(status)
            self._status_seen[name] = status
            tick, lot = self._steps[name]
            specs.append(SymbolSpec(name, tick, lot, status))
        return specs

    def status(self, symbol: str) -> SymbolStatus:
        """The symbol's live status; NotFound if there is no such symbol."""
        return self._require(symbol).status

    # -- writing

    def add(self, symbol: str, tick_size: str, lot_size: str) -> SymbolSpec:
        """Create a symbol (trading). The same again is a no-op; other steps are an error."""
        global _generation
        validate_symbol(symbol)
        tick = normalize_step(tick_size, "tick_size")
        lot = normalize_step(lot_size, "lot_size")
        payload = json.dumps({"tick_size": tick, "lot_size": lot}, separators=(",", ":"))
        meta = keys.symbol_keys(symbol).meta
        # Meta first, each field only if missing (HSETNX): adding a symbol again never resets
        # a running book's sequence. No MULTI: the two hashes live in different cluster slots,
        # and so in two round trips, as a cluster sends one pipeline's commands for different
        # nodes in no set order: the symbol is listed only once its book can take orders.
        pipe = self.redis.pipeline(transaction=False)
        pipe.hsetnx(meta, "status", "trading")
        pipe.hsetnx(meta, "seq", 0)
        pipe.hsetnx(meta, "last_us", 0)
        *_, status = pipe.hget(meta, "status").execute()
        pipe = self.redis.pipeline(transaction=False)
        pipe.hsetnx(keys.SYMBOLS, symbol, payload)
        _, stored = pipe.hget(keys.SYMBOLS, symbol).execute()
        stored_tick, stored_lot = _decode_steps(stored)
        if (stored_tick, stored_lot) != (tick, lot):
            raise ValidationFailed(
                f"{symbol} already exists with tick_size {stored_tick} and lot_size "
                f"{stored_lot}; steps of an existing symbol cannot change",
                "symbol",
            )
        # The steps in the book's own slot too, for lua/show_order.lua at a redis-cli prompt.
        self.redis.hset(meta, mapping={"tick_size": stored_tick, "lot_size": stored_lot})
        with self._lock:
            self._steps[symbol] = (tick, lot)
            self._status_seen[symbol] = _status(status)
            _generation += 1
        return SymbolSpec(symbol, tick, lot, _status(status))

    def set_status(self, symbol: str, status: str) -> SymbolSpec:
        """Halt or resume a symbol; NotFound if there is no such symbol."""
        if status not in STATUSES:
            raise ValidationFailed("status must be trading or halted", "status")
        spec = self._require(symbol)
        self.redis.hset(keys.symbol_keys(symbol).meta, "status", status)
        self._status_seen[symbol] = status  # type: ignore[assignment]
        return SymbolSpec(symbol, spec.tick_size, spec.lot_size, status)  # type: ignore[arg-type]

    # -- internals

    def _require(self, symbol: str) -> SymbolSpec:
        """The spec with the live status read now, or NotFound."""
        if isinstance(symbol, str) and SYMBOL_RE.fullmatch(symbol):
            pipe = self.redis.pipeline(transaction=False)
            pipe.hget(keys.SYMBOLS, symbol)
            pipe.hget(keys.symbol_keys(symbol).meta, "status")
            raw, status = pipe.execute()
            if raw is not None:
                tick, lot = _decode_steps(raw)
                self._steps[symbol] = (tick, lot)
                self._status_seen[symbol] = _status(status)
                return SymbolSpec(symbol, tick, lot, _status(status))
        raise NotFound(f"unknown symbol {symbol!r}", "symbol")

    def _refresh(self, now: float) -> None:
        generation = _generation
        raw = self.redis.hgetall(keys.SYMBOLS)
        steps = {_text(name): _decode_steps(_text(value)) for name, value in raw.items()}
        with self._lock:
            self._steps.update(steps)
            self._refreshed_at = now
            self._refreshed_generation = generation


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _status(value: str | bytes | None) -> SymbolStatus:
    # A symbol whose meta hash has no status yet trades (add() writes "trading").
    return "halted" if value is not None and _text(value) == "halted" else "trading"
