"""lua/show_order.lua: the redis-cli view of one order says what the API says."""

from __future__ import annotations

import subprocess
from pathlib import Path

from engine.keys import symbol_keys
from engine.scripts import source


def _show(r, symbol: str, seq: int) -> dict[str, str]:
    k = symbol_keys(symbol)
    flat = r.eval(source("show_order"), 2, k.orders, k.meta, seq)
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _post(client, key, **body):
    resp = client.post("/api/v1/orders", json=body, headers={"X-API-Key": key})
    assert resp.status_code == 201, resp.json
    return resp.json


def test_show_order_prints_the_api_decimals_and_status(r, client, make_symbol, make_account):
    make_symbol("BTC-USD", "0.01", "0.0001")
    alice, bob = make_account("alice"), make_account("bob")
    resting = _post(
        client,
        alice,
        symbol="BTC-USD",
        side="buy",
        price="10000000000.00",
        quantity="100000000.0000",
        client_order_id="big-1",
    )
    _post(client, bob, symbol="BTC-USD", side="sell", price="10000000000.00", quantity="0.0001")
    order = client.get(f"/api/v1/orders/{resting['id']}", headers={"X-API-Key": alice}).json
    shown = _show(r, "BTC-USD", order["sequence"])
    assert shown["price"] == order["price"] == "10000000000.00"
    assert shown["quantity"] == order["quantity"] == "100000000.0000"
    assert shown["filled_quantity"] == order["filled_quantity"] == "0.0001"
    assert shown["status"] == order["status"] == "partially_filled"
    assert shown["client_order_id"] == "big-1"
    assert shown["kill_reason"] == "null"


def test_show_order_with_steps_that_are_not_powers_of_ten(r, client, make_symbol, make_account):
    make_symbol("ETH-USD", "0.05", "0.5")
    alice = make_account("alice")
    placed = _post(
        client,
        alice,
        symbol="ETH-USD",
        side="sell",
        price="12.35",
        quantity="2.5",
        type="limit",
        time_in_force="IOC",
    )
    shown = _show(r, "ETH-USD", placed["sequence"])
    assert (shown["price"], shown["quantity"], shown["filled_quantity"]) == ("12.35", "2.5", "0.0")
    assert (shown["status"], shown["kill_reason"]) == ("killed", "immediate_or_cancel")


def test_show_order_of_an_unknown_order_is_an_error(r, redis_server, make_symbol):
    make_symbol("BTC-USD")
    k = symbol_keys("BTC-USD")
    # The documented redis-cli form, verbatim.
    out = subprocess.run(
        [
            "redis-cli",
            "-p",
            str(redis_server.port),
            "--eval",
            "lua/show_order.lua",
            k.orders,
            k.meta,
            ",",
            "7",
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert "no such order" in out.stdout + out.stderr
