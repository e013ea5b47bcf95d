"""Symbols: steps are validated and normalised, never change, and status is always live."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest

from engine import keys
from engine.errors import NotFound, ValidationFailed
from engine.symbols import MISS_REFRESH_INTERVAL, SymbolRegistry, SymbolSpec


@pytest.fixture
def registry(r):
    return SymbolRegistry(r)


def test_add_creates_a_trading_symbol_with_a_fresh_meta_hash(registry, r):
    spec = registry.add("BTC-USD", "0.01", "0.0001")
    assert spec == SymbolSpec("BTC-USD", "0.01", "0.0001", "trading")
    assert json.loads(r.hget(keys.SYMBOLS, "BTC-USD")) == {
        "tick_size": "0.01",
        "lot_size": "0.0001",
    }
    meta = r.hgetall(keys.symbol_keys("BTC-USD").meta)
    assert meta == {
        "status": "trading", "seq": "0", "last_us": "0",
        "tick_size": "0.01", "lot_size": "0.0001",  # for lua/show_order.lua
    }  # fmt: skip


def test_steps_are_normalised_and_expose_their_decimals(registry):
    spec = registry.add("ETH-USD", "0.50", "1.000")
    assert (spec.tick_size, spec.lot_size) == ("0.5", "1")
    assert (spec.tick_decimals, spec.lot_decimals) == (1, 0)
    assert spec.tick == Decimal("0.5") and spec.lot == Decimal("1")
    assert registry.add("X-Y", "100", "0.00000001").tick_size == "100"
    assert SymbolSpec("A-B", "0.01", "0.0001").tick_decimals == 2
    assert SymbolSpec("A-B", "0.01", "0.0001").lot_decimals == 4


def test_adding_the_same_symbol_again_is_a_no_op_and_keeps_the_sequence(registry, r):
    registry.add("BTC-USD", "0.01", "0.0001")
    meta = keys.symbol_keys("BTC-USD").meta
    r.hset(meta, mapping={"seq": 42, "last_us": 1700000000000000, "status": "halted"})
    again = registry.add("BTC-USD", "0.010", "0.0001")  # the same step, written differently
    assert again.tick_size == "0.01"
    assert r.hgetall(meta) == {
        "status": "halted", "seq": "42", "last_us": "1700000000000000",
        "tick_size": "0.01", "lot_size": "0.0001",
    }  # fmt: skip


def test_other_steps_for_an_existing_symbol_are_an_error(registry):
    registry.add("BTC-USD", "0.01", "0.0001")
    with pytest.raises(ValidationFailed, match=r"already exists with tick_size 0\.01"):
        registry.add("BTC-USD", "0.1", "0.0001")
    with pytest.raises(ValidationFailed):
        registry.add("BTC-USD", "0.01", "0.001")
    assert registry.get("BTC-USD").tick_size == "0.01"


@pytest.mark.parametrize(
    "symbol",
    ["btc-usd", "BTCUSD", "BTC-", "-USD", "BTC_USD", "ABCDEFGHIJKLM-USD", "BTC-USD-X", " BTC-USD"],
)
def test_malformed_symbols_are_refused(registry, r, symbol):
    with pytest.raises(ValidationFailed) as err:
        registry.add(symbol, "0.01", "0.01")
    assert err.value.field == "symbol"
    assert r.hlen(keys.SYMBOLS) == 0


@pytest.mark.parametrize(
    "step", ["0", "0.000", "-1", "1e-2", ".5", "5.", "0,01", " 1", "1 ", "+1", "１", "", "1_0"]
)
def test_malformed_or_zero_steps_are_refused(registry, step):
    with pytest.raises(ValidationFailed) as err:
        registry.add("BTC-USD", step, "0.01")
    assert err.value.field == "tick_size"
    with pytest.raises(ValidationFailed) as err:
        registry.add("BTC-USD", "0.01", step)
    assert err.value.field == "lot_size"


def test_get_list_and_status(registry):
    assert registry.get("BTC-USD") is None
    registry.add("ETH-USD", "0.01", "0.001")
    registry.add("BTC-USD", "0.01", "0.0001")
    assert [s.symbol for s in registry.list()] == ["BTC-USD", "ETH-USD"]
    assert registry.status("BTC-USD") == "trading"
    halted = registry.set_status("BTC-USD", "halted")
    assert halted.status == "halted"
    assert registry.status("BTC-USD") == "halted"
    assert {s.symbol: s.status for s in registry.list()} == {
        "BTC-USD": "halted",
        "ETH-USD": "trading",
    }
    assert registry.set_status("BTC-USD", "trading").status == "trading"


def test_status_changes_made_elsewhere_are_seen_at_once(registry, r):
    registry.add("BTC-USD", "0.01", "0.0001")
    other = SymbolRegistry(r)  # e.g. the CLI, in another process
    other.set_status("BTC-USD", "halted")
    assert registry.status("BTC-USD") == "halted"
    assert registry.list()[0].status == "halted"


def test_unknown_symbols_and_bad_statuses(registry):
    with pytest.raises(NotFound):
        registry.set_status("NOPE-USD", "halted")
    with pytest.raises(NotFound):
        registry.status("NOPE-USD")
    registry.add("BTC-USD", "0.01", "0.0001")
    with pytest.raises(ValidationFailed):
        registry.set_status("BTC-USD", "closed")


def test_known_symbols_are_served_from_memory(registry, r):
    registry.add("BTC-USD", "0.01", "0.0001")
    before = r.info("stats")["total_commands_processed"]
    for _ in range(50):
        assert registry.get("BTC-USD").lot_size == "0.0001"
    # INFO itself is the only command in between.
    assert r.info("stats")["total_commands_processed"] - before <= 1


def test_unknown_symbols_read_redis_at_most_once_a_second(registry, r):
    assert registry.get("GARBAGE-1") is None  # first miss reads the symbol hash
    before = r.info("stats")["total_commands_processed"]
    for i in range(100):
        assert registry.get(f"GARBAGE-{i}") is None
        assert registry.get("not a symbol at all") is None
    assert r.info("stats")["total_commands_processed"] - before <= 1


def test_a_symbol_added_by_another_process_is_found_within_a_second(registry, r):
    assert registry.get("SOL-USD") is None
    # Another process adds it: written straight to Redis, as that process would.
    r.hset(keys.SYMBOLS, "SOL-USD", json.dumps({"tick_size": "0.001", "lot_size": "0.1"}))
    assert registry.get("SOL-USD") is None  # within the second: not looked up again
    time.sleep(MISS_REFRESH_INTERVAL + 0.05)
    spec = registry.get("SOL-USD")
    assert spec is not None and spec.tick_size == "0.001"


def test_a_symbol_added_in_this_process_is_found_at_once(registry, r):
    assert registry.get("SOL-USD") is None
    SymbolRegistry(r).add("SOL-USD", "0.001", "0.1")
    assert registry.get("SOL-USD").lot_size == "0.1"
