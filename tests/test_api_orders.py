"""Orders over HTTP, as a client sees them: place, match, read, list, cancel, replay, fills.

Real app, real Redis, real engine. Every answer is also checked against the response models
the OpenAPI document is built from.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from engine import models
from engine.symbols import SymbolRegistry
from tests import http_accounts

API = "/api/v1"
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


btc, alice, bob = http_accounts.btc, http_accounts.alice, http_accounts.bob  # API keys


def place(client, key, expect=201, **fields):
    body = {"symbol": "BTC-USD", "side": "buy", "quantity": "1", **fields}
    if body.get("type", "limit") == "limit":
        body.setdefault("price", "100.00")
    response = client.post(f"{API}/orders", json=body, headers={"X-API-Key": key})
    assert response.status_code == expect, response.get_data(as_text=True)
    data = response.get_json()
    if expect in (200, 201):
        models.PlacedOrder.model_validate_json(response.data, strict=True)
    return data


def get(client, path, key=None, expect=200, model=None):
    headers = {"X-API-Key": key} if key else {}
    response = client.get(API + path, headers=headers)
    assert response.status_code == expect, response.get_data(as_text=True)
    if model is not None:
        model.model_validate_json(response.data, strict=True)
    return response.get_json()


def test_a_resting_limit_order(client, alice):
    order = place(client, alice, price="101.25", quantity="2", client_order_id="my-1")
    assert order == {
        "id": order["id"], "client_order_id": "my-1", "symbol": "BTC-USD", "side": "buy",
        "type": "limit", "time_in_force": "GTC", "price": "101.25", "quantity": "2.0000",
        "filled_quantity": "0.0000", "remaining_quantity": "2.0000", "average_price": None,
        "status": "enqueued", "kill_reason": None, "post_only": False,
        "self_trade_prevention": "cancel_newest", "expires_at": None,
        "sequence": order["sequence"], "created_at": order["created_at"],
        "updated_at": order["updated_at"], "fills": [],
    }  # fmt: skip
    assert TIME.fullmatch(order["created_at"]) and TIME.fullmatch(order["updated_at"])
    assert isinstance(order["sequence"], int) and order["sequence"] >= 1
    again = get(client, f"/orders/{order['id']}", alice, model=models.Order)
    assert "fills" not in again
    assert again == {k: v for k, v in order.items() if k != "fills"}
    book = get(client, "/book/BTC-USD", model=models.Book)
    assert book["bids"] == [["101.25", "2.0000", 1]] and book["asks"] == []
    assert book["sequence"] == order["sequence"]


def test_trailing_zeros_and_whole_numbers_are_accepted(client, alice):
    order = place(client, alice, price="100.100", quantity="3")
    assert (order["price"], order["quantity"]) == ("100.10", "3.0000")


def test_a_crossing_order_fills_at_the_makers_price(client, alice, bob):
    maker1 = place(client, alice, side="sell", price="101.00", quantity="0.5")
    maker2 = place(client, alice, side="sell", price="101.50", quantity="1")
    taker = place(client, bob, side="buy", price="102.00", quantity="1.2")
    assert taker["status"] == "filled"
    assert (taker["filled_quantity"], taker["remaining_quantity"]) == ("1.2000", "0.0000")
    # (101.00 × 0.5 + 101.50 × 0.7) / 1.2 = 101.291666… → 101.29
    assert taker["average_price"] == "101.29"
    assert [(f["price"], f["quantity"], f["liquidity"]) for f in taker["fills"]] == [
        ("101.00", "0.5000", "taker"), ("101.50", "0.7000", "taker"),
    ]  # fmt: skip
    for fill in taker["fills"]:
        assert set(fill) == {"trade_id", "price", "quantity", "liquidity", "created_at"}

    first = get(client, f"/orders/{maker1['id']}", alice)
    assert (first["status"], first["average_price"]) == ("filled", "101.00")
    second = get(client, f"/orders/{maker2['id']}", alice)
    assert (second["status"], second["filled_quantity"], second["remaining_quantity"]) == (
        "partially_filled", "0.7000", "0.3000",
    )  # fmt: skip
    assert get(client, "/book/BTC-USD")["asks"] == [["101.50", "0.3000", 1]]

    trades = get(client, "/trades/BTC-USD", model=models.TradeList)["trades"]
    assert [(t["price"], t["quantity"], t["taker_side"]) for t in trades] == [
        ("101.50", "0.7000", "buy"), ("101.00", "0.5000", "buy"),
    ]  # newest first  # fmt: skip
    assert [t["id"] for t in reversed(trades)] == [f["trade_id"] for f in taker["fills"]]

    maker_fills = get(client, "/fills", alice, model=models.FillList)
    assert maker_fills["next_cursor"] is None
    assert [(f["order_id"], f["side"], f["liquidity"]) for f in maker_fills["fills"]] == [
        (maker2["id"], "sell", "maker"), (maker1["id"], "sell", "maker"),
    ]  # fmt: skip
    taker_fills = get(client, f"/fills?order_id={taker['id']}", bob, model=models.FillList)
    assert {f["liquidity"] for f in taker_fills["fills"]} == {"taker"}
    assert len(taker_fills["fills"]) == 2


def test_a_market_order_has_no_price_and_kills_what_it_cannot_fill(client, alice, bob):
    place(client, alice, side="sell", price="100.00", quantity="1")
    order = place(client, bob, side="buy", type="market", quantity="3")
    assert order["price"] is None
    assert order["time_in_force"] == "IOC"
    assert (order["status"], order["kill_reason"]) == ("killed", "no_liquidity")
    assert (order["filled_quantity"], order["remaining_quantity"]) == ("1.0000", "0.0000")
    assert order["average_price"] == "100.00"


def test_ioc_fok_and_post_only_kills(client, alice, bob):
    place(client, alice, side="sell", price="100.00", quantity="1")
    ioc = place(client, bob, price="100.00", quantity="2", time_in_force="IOC")
    assert (ioc["status"], ioc["kill_reason"], ioc["filled_quantity"]) == (
        "killed", "immediate_or_cancel", "1.0000",
    )  # fmt: skip
    place(client, alice, side="sell", price="100.00", quantity="1")
    fok = place(client, bob, price="100.00", quantity="2", time_in_force="FOK")
    assert (fok["status"], fok["kill_reason"], fok["fills"]) == ("killed", "fill_or_kill", [])
    post_only = place(client, bob, price="100.00", quantity="1", post_only=True)
    assert (post_only["status"], post_only["kill_reason"]) == ("killed", "post_only")


def test_a_gtd_order_shows_its_expiry(client, alice):
    expires = datetime.now(UTC) + timedelta(hours=1)
    text = expires.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"
    order = place(client, alice, time_in_force="GTD", expires_at=text)
    assert order["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "000Z"


def test_self_trade_prevention_never_trades_with_itself(client, alice):
    place(client, alice, side="sell", price="100.00", quantity="1")
    order = place(client, alice, price="100.00", quantity="1")
    assert (order["status"], order["kill_reason"], order["fills"]) == ("killed", "self_trade", [])


def test_cancel_an_order_then_cancel_again_is_409(client, alice):
    order = place(client, alice)
    response = client.delete(f"{API}/orders/{order['id']}", headers={"X-API-Key": alice})
    assert response.status_code == 200
    killed = response.get_json()
    models.Order.model_validate_json(response.data, strict=True)
    assert (killed["status"], killed["kill_reason"]) == ("killed", "user")
    assert killed["remaining_quantity"] == "0.0000"
    assert "fills" not in killed
    again = client.delete(f"{API}/orders/{order['id']}", headers={"X-API-Key": alice})
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "order_not_open"
    assert get(client, "/book/BTC-USD")["bids"] == []


def test_cancel_all_kills_every_open_order_of_the_account_only(client, alice, bob, make_symbol):
    make_symbol("ETH-USD", "0.1", "0.001")
    a1 = place(client, alice, price="90.00")
    a2 = place(client, alice, symbol="ETH-USD", price="90.0")
    place(client, alice, side="sell", price="200.00", quantity="1", time_in_force="GTC")
    b1 = place(client, bob, price="91.00")
    response = client.delete(f"{API}/orders?symbol=ETH-USD", headers={"X-API-Key": alice})
    assert response.status_code == 200
    assert response.get_json() == {"killed": [a2["id"]]}
    response = client.delete(f"{API}/orders", headers={"X-API-Key": alice})
    killed = response.get_json()["killed"]
    assert a1["id"] in killed and len(killed) == 2
    assert client.delete(f"{API}/orders", headers={"X-API-Key": alice}).get_json() == {"killed": []}
    assert get(client, f"/orders/{b1['id']}", bob)["status"] == "enqueued"


def test_an_idempotent_replay_answers_200_with_the_same_order(client, alice, bob):
    place(client, bob, side="sell", price="100.00", quantity="0.4")
    first = place(client, alice, quantity="1", client_order_id="abc")
    assert first["status"] == "partially_filled" and len(first["fills"]) == 1
    replay = place(client, alice, 200, quantity="1.0000", client_order_id="abc")
    assert replay == first | {"updated_at": replay["updated_at"]}
    # Nothing placed twice.
    assert get(client, "/book/BTC-USD")["bids"] == [["100.00", "0.6000", 1]]
    conflict = place(client, alice, 409, quantity="2", client_order_id="abc")
    assert conflict["error"]["code"] == "client_order_id_conflict"
    # Another account's id space is its own.
    assert place(client, bob, quantity="2", client_order_id="abc")["client_order_id"] == "abc"


def test_a_replay_on_a_halted_symbol_still_answers(client, alice, r):
    first = place(client, alice, client_order_id="h1")
    SymbolRegistry(r).set_status("BTC-USD", "halted")
    assert place(client, alice, 200, client_order_id="h1")["id"] == first["id"]
    assert place(client, alice, 409, client_order_id="h2")["error"]["code"] == "symbol_halted"
    # Cancels still work while halted.
    response = client.delete(f"{API}/orders/{first['id']}", headers={"X-API-Key": alice})
    assert response.status_code == 200


def test_another_accounts_order_is_not_found_anywhere(client, alice, bob):
    order = place(client, alice, client_order_id="secret")
    oid = order["id"]
    for method in (client.get, client.delete):
        response = method(f"{API}/orders/{oid}", headers={"X-API-Key": bob})
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
    assert get(client, "/orders", bob)["orders"] == []
    assert get(client, "/orders?symbol=BTC-USD&client_order_id=secret", bob)["orders"] == []
    response = client.get(f"{API}/fills?order_id={oid}", headers={"X-API-Key": bob})
    assert response.status_code == 422
    assert client.delete(f"{API}/orders", headers={"X-API-Key": bob}).get_json() == {"killed": []}
    assert get(client, f"/orders/{oid}", alice)["status"] == "enqueued"


def test_look_up_by_client_order_id(client, alice):
    order = place(client, alice, client_order_id="lookup-1")
    found = get(client, "/orders?symbol=BTC-USD&client_order_id=lookup-1", alice,
                model=models.OrderList)  # fmt: skip
    assert found == {"orders": [{k: v for k, v in order.items() if k != "fills"}],
                     "next_cursor": None}  # fmt: skip
    assert get(client, "/orders?symbol=BTC-USD&client_order_id=other", alice)["orders"] == []
    path = "/orders?symbol=BTC-USD&client_order_id=lookup-1&status=filled"
    assert get(client, path, alice)["orders"] == []
    path = "/orders?symbol=BTC-USD&client_order_id=lookup-1&status=open"
    assert len(get(client, path, alice)["orders"]) == 1


def test_list_orders_newest_first_with_filters(client, alice, bob):
    resting = place(client, alice, price="90.00")
    place(client, bob, side="sell", price="95.00", quantity="1")
    filled = place(client, alice, price="95.00", quantity="1")
    killed = place(client, alice, price="80.00")
    client.delete(f"{API}/orders/{killed['id']}", headers={"X-API-Key": alice})

    def ids(path):
        return [o["id"] for o in get(client, path, alice, model=models.OrderList)["orders"]]

    assert ids("/orders") == [killed["id"], filled["id"], resting["id"]]
    assert ids("/orders?status=open") == [resting["id"]]
    assert ids("/orders?status=enqueued") == [resting["id"]]
    assert ids("/orders?status=filled") == [filled["id"]]
    assert ids("/orders?status=killed") == [killed["id"]]
    assert ids("/orders?status=partially_filled") == []
    assert ids("/orders?symbol=BTC-USD&limit=1") == [killed["id"]]


def test_pages_of_orders_never_repeat_or_skip(client, alice):
    placed = [place(client, alice, price=f"{90 + i}.00")["id"] for i in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        path = "/orders?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = get(client, path, alice)
        seen += [o["id"] for o in page["orders"]]
        pages += 1
        # Orders change status between pages: that must not move the cursor.
        if pages == 1:
            client.delete(f"{API}/orders/{placed[0]}", headers={"X-API-Key": alice})
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert seen == list(reversed(placed))
    assert pages == 3


def test_pages_of_fills(client, alice, bob):
    for i in range(5):
        place(client, alice, side="sell", price=f"{100 + i}.00", quantity="1")
    place(client, bob, price="110.00", quantity="5")
    first = get(client, "/fills?limit=2", bob)
    second = get(client, f"/fills?limit=2&cursor={first['next_cursor']}", bob)
    third = get(client, f"/fills?limit=2&cursor={second['next_cursor']}", bob)
    assert third["next_cursor"] is None
    trade_ids = [f["trade_id"] for page in (first, second, third) for f in page["fills"]]
    assert len(trade_ids) == len(set(trade_ids)) == 5
    assert get(client, "/fills?symbol=BTC-USD&limit=1000", bob)["fills"] == [
        f for page in (first, second, third) for f in page["fills"]
    ]


def test_fills_filtered_by_an_order_of_another_symbol_are_empty(client, alice, make_symbol):
    make_symbol("ETH-USD", "0.1", "0.001")
    order = place(client, alice)
    assert get(client, f"/fills?symbol=ETH-USD&order_id={order['id']}", alice) == {
        "fills": [], "next_cursor": None,
    }  # fmt: skip


def test_big_numbers_stay_exact(client, alice, bob):
    order = place(client, alice, side="sell", price="10000000000.00", quantity="100000000")
    assert (order["price"], order["quantity"]) == ("10000000000.00", "100000000.0000")
    taker = place(client, bob, price="10000000000.00", quantity="100000000")
    assert taker["status"] == "filled"
    assert taker["average_price"] == "10000000000.00"
    assert get(client, "/trades/BTC-USD")["trades"][0]["quantity"] == "100000000.0000"
