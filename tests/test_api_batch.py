"""POST /orders/batch: each order answered exactly as a single POST /orders would be."""

from __future__ import annotations

import pytest

from engine import models
from tests import http_accounts

API = "/api/v1"


btc, alice, bob = http_accounts.btc, http_accounts.alice, http_accounts.bob  # API keys


def order(**fields):
    return {"symbol": "BTC-USD", "side": "buy", "price": "100.00", "quantity": "1", **fields}


def batch(client, key, orders, expect=200, **kwargs):
    body = kwargs.pop("body", {"orders": orders})
    response = client.post(f"{API}/orders/batch", json=body, headers={"X-API-Key": key})
    assert response.status_code == expect, response.get_data(as_text=True)
    if expect == 200:
        models.BatchResults.model_validate_json(response.data, strict=True)
    return response


def single(client, key, body):
    response = client.post(f"{API}/orders", json=body, headers={"X-API-Key": key})
    return response.status_code, response.get_json()


def test_each_order_gets_what_a_single_post_would_answer(client, alice, bob, r):
    batch(client, bob, [order(side="sell", price="100.50", quantity="0.5")])
    items = [
        order(price="100.50", quantity="2", client_order_id="b-1"),  # fills 0.5, rests
        order(price=100),  # a JSON number
        order(symbol="XYZ-USD"),  # unknown symbol
        "not an object",
        order(price="100.001"),  # off tick
        order(price="100.50", quantity="2", client_order_id="b-1"),  # the same again: replay
        order(price="99.00", client_order_id="b-1"),  # same id, other order: conflict
        order(side="sell", price="90.00"),  # meets alice's own order: self-trade kill
    ]
    results = batch(client, alice, items).get_json()["results"]
    assert [x["status"] for x in results] == [201, 422, 422, 400, 422, 200, 409, 201]

    first = results[0]["order"]
    assert first["status"] == "partially_filled"
    assert first["filled_quantity"] == "0.5000" and first["average_price"] == "100.50"
    assert [f["price"] for f in first["fills"]] == ["100.50"]
    assert results[5]["order"]["id"] == first["id"]  # the replay names the same order
    assert results[7]["order"]["kill_reason"] == "self_trade"
    assert results[1]["error"]["field"] == "price"
    assert results[2]["error"] == {
        "code": "validation_error", "message": "unknown symbol XYZ-USD", "field": "symbol",
    }  # fmt: skip
    assert results[3]["error"]["code"] == "bad_request"
    assert results[6]["error"]["code"] == "client_order_id_conflict"

    # The same bodies posted one by one answer the same (on a book in the same state).
    for body, result in zip(items[1:5], results[1:5], strict=True):
        status, answer = single(client, alice, body)
        assert (status, answer) == (result["status"], {"error": result["error"]})


def test_orders_are_placed_in_their_order(client, alice, bob):
    batch(client, bob, [order(side="sell", price="101.00"), order(side="sell", price="100.00")])
    results = batch(client, alice, [order(price="101.00", quantity="2")]).get_json()["results"]
    fills = results[0]["order"]["fills"]
    assert [f["price"] for f in fills] == ["100.00", "101.00"]  # best price first
    sequences = [x["order"]["sequence"] for x in batch(
        client, alice, [order(price="1.00"), order(price="2.00"), order(price="3.00")]
    ).get_json()["results"]]  # fmt: skip
    assert sequences == sorted(sequences)


def test_orders_of_several_symbols_come_back_in_the_requests_order(client, alice, make_symbol):
    # The engine places each symbol's orders in one call; the answers still follow the request,
    # each order rendered with its own symbol's steps.
    make_symbol("ETH-USD", "0.05", "0.001")
    items = [
        order(price="100.00"),
        order(symbol="ETH-USD", side="sell", price="50.05", quantity="2"),
        order(price="100.001"),  # off tick: answered in its place, nothing placed
        order(symbol="ETH-USD", price="49.00", quantity="0.5"),
        order(price="101.00", quantity="3"),
        order(symbol="ETH-USD", side="sell", price="51.00", quantity="0.25"),
    ]
    results = batch(client, alice, items).get_json()["results"]
    assert [x["status"] for x in results] == [201, 201, 422, 201, 201, 201]
    placed = [(x["order"]["symbol"], x["order"]["price"], x["order"]["quantity"])
              for x in results if "order" in x]  # fmt: skip
    assert placed == [
        ("BTC-USD", "100.00", "1.0000"),
        ("ETH-USD", "50.05", "2.000"),
        ("ETH-USD", "49.00", "0.500"),
        ("BTC-USD", "101.00", "3.0000"),
        ("ETH-USD", "51.00", "0.250"),
    ]
    assert results[2]["error"]["field"] == "price"
    eth = [x["order"]["sequence"] for x in results if x.get("order", {}).get("symbol") == "ETH-USD"]
    assert eth == sorted(eth)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"orders": []}, "orders must hold 1 to 100 orders"),
        ({"orders": [order()] * 101}, "orders must hold 1 to 100 orders"),
        ({}, "orders is required"),
        ({"orders": order()}, "orders has the wrong type"),
        ({"orders": [order()], "extra": 1}, "extra is not a known field"),
    ],
)
def test_a_body_that_is_not_a_batch_is_422(client, alice, body, message):
    error = batch(client, alice, None, expect=422, body=body).get_json()["error"]
    assert error["message"] == message
    assert error["field"] == ("extra" if "extra" in body else "orders")


def test_a_body_that_is_not_a_batch_takes_one_token_not_one_per_order(redis_url, btc, make_account):
    from app import create_app

    client = create_app({"REDIS_URL": redis_url, "ORDER_RATE_LIMIT": 2}).test_client()
    key = make_account("carol")  # 2 orders/s: a burst of 4
    batch(client, key, None, expect=422, body={"orders": [order()] * 4, "extra": 1})
    results = batch(client, key, [order(), order(), order(), order()]).get_json()["results"]
    assert [x["status"] for x in results] == [201, 201, 201, 429]


def test_a_batch_needs_a_key(client, alice):
    response = client.post(f"{API}/orders/batch", json={"orders": [order()]})
    assert response.status_code == 401


def test_each_order_takes_a_token_and_those_past_the_limit_get_429(redis_url, btc, make_account):
    from app import create_app

    client = create_app({"REDIS_URL": redis_url, "ORDER_RATE_LIMIT": 2}).test_client()
    key = make_account("carol")  # 2 orders/s: a burst of 4
    response = batch(client, key, [order(price=f"{p}.00") for p in range(1, 7)])
    statuses = [x["status"] for x in response.get_json()["results"]]
    assert statuses == [201, 201, 201, 201, 429, 429]
    assert response.get_json()["results"][4]["error"]["code"] == "rate_limited"
    assert response.headers["Retry-After"] == "1"
    # Nothing left: every order of the next batch is limited, the batch itself answers 200.
    again = batch(client, key, [order(), order()]).get_json()["results"]
    assert [x["status"] for x in again] == [429, 429]
    # A single post is limited as well: the batch took the same account's tokens.
    assert single(client, key, order())[0] == 429


def test_the_batch_is_in_the_openapi_document(client):
    doc = client.get(f"{API}/openapi.json").get_json()
    op = doc["paths"][f"{API}/orders/batch"]["post"]
    assert op["security"] == [{"ApiKey": []}]
    assert {"200", "401", "413", "415", "422", "429"} <= set(op["responses"])
    body = doc["components"]["schemas"]["BatchRequest"]["properties"]["orders"]
    assert body["items"] == {"$ref": "#/components/schemas/OrderRequest"}
    assert body["maxItems"] == 100
