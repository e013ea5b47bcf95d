"""Public endpoints: health, symbols, the book, recent trades."""

from __future__ import annotations

import pytest

from engine import models
from engine.symbols import SymbolRegistry

API = "/api/v1"


@pytest.fixture
def key(make_symbol, make_account) -> str:
    make_symbol("BTC-USD", "0.01", "0.0001")
    return make_account("alice")


def post(client, key, **fields):
    body = {"symbol": "BTC-USD", "quantity": "1", **fields}
    response = client.post(f"{API}/orders", json=body, headers={"X-API-Key": key})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def get_ok(client, path, model):
    response = client.get(API + path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    model.model_validate_json(response.data, strict=True)
    return response.get_json()


def test_health_without_workers_is_degraded(client):
    assert get_ok(client, "/health", models.Health) == {
        "status": "degraded", "redis": "ok", "workers": 0, "scheduler": "missing",
    }  # fmt: skip


def test_symbols_lists_steps_and_status(client, make_symbol, r):
    assert get_ok(client, "/symbols", models.SymbolList) == {"symbols": []}
    make_symbol("ETH-USD", "0.1", "0.001")
    make_symbol("BTC-USD", "0.01", "0.0001")
    SymbolRegistry(r).set_status("ETH-USD", "halted")
    assert get_ok(client, "/symbols", models.SymbolList) == {
        "symbols": [
            {"symbol": "BTC-USD", "tick_size": "0.01", "lot_size": "0.0001", "status": "trading"},
            {"symbol": "ETH-USD", "tick_size": "0.1", "lot_size": "0.001", "status": "halted"},
        ]
    }


def test_an_empty_book(client, key):
    assert get_ok(client, "/book/BTC-USD", models.Book) == {
        "symbol": "BTC-USD", "sequence": 0, "bids": [], "asks": [],
    }  # fmt: skip


def test_the_book_aggregates_levels_best_first_to_the_depth(client, key, make_account):
    bob = make_account("bob")
    post(client, key, side="buy", price="99.00", quantity="1")
    post(client, key, side="buy", price="99.50", quantity="0.25")
    post(client, bob, side="buy", price="99.50", quantity="2")
    post(client, key, side="sell", price="101.00", quantity="3")
    last = post(client, key, side="sell", price="100.50", quantity="1.5")
    book = get_ok(client, "/book/BTC-USD", models.Book)
    assert book == {
        "symbol": "BTC-USD", "sequence": last["sequence"],
        "bids": [["99.50", "2.2500", 2], ["99.00", "1.0000", 1]],
        "asks": [["100.50", "1.5000", 1], ["101.00", "3.0000", 1]],
    }  # fmt: skip
    top = get_ok(client, "/book/BTC-USD?depth=1", models.Book)
    assert (top["bids"], top["asks"]) == ([["99.50", "2.2500", 2]], [["100.50", "1.5000", 1]])
    assert get_ok(client, "/book/BTC-USD?depth=1000", models.Book) == book


def test_trades_newest_first_with_before_for_the_next_page(client, key, make_account):
    bob = make_account("bob")
    for price in ("100.00", "100.01", "100.02"):
        post(client, key, side="sell", price=price, quantity="1")
    post(client, bob, side="buy", price="100.02", quantity="3")
    trades = get_ok(client, "/trades/BTC-USD", models.TradeList)["trades"]
    assert [t["price"] for t in trades] == ["100.02", "100.01", "100.00"]
    sequences = [t["sequence"] for t in trades]
    assert sequences == sorted(sequences, reverse=True)
    assert trades[0] == {
        "id": trades[0]["id"], "symbol": "BTC-USD", "price": "100.02", "quantity": "1.0000",
        "taker_side": "buy", "sequence": sequences[0], "created_at": trades[0]["created_at"],
    }  # fmt: skip
    page = get_ok(client, "/trades/BTC-USD?limit=1", models.TradeList)["trades"]
    assert page == trades[:1]
    rest = get_ok(client, f"/trades/BTC-USD?before={sequences[0]}", models.TradeList)["trades"]
    assert rest == trades[1:]
    assert get_ok(client, "/trades/BTC-USD?before=1", models.TradeList) == {"trades": []}


def test_responses_are_json_and_times_are_utc(client, key):
    order = post(client, key, side="buy", price="1.00")
    assert order["created_at"].endswith("Z") and len(order["created_at"]) == 27
