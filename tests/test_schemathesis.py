"""Schemathesis against the OpenAPI document, in process (WSGI), past authentication.

Every operation of /api/v1/openapi.json gets a bounded number of generated requests, valid
and invalid ones (deterministic: derandomized, no example database), sent with a working
API key so the private endpoints are exercised beyond their 401. Every response must be no
5xx, with a documented status, content type and headers, and a body matching its schema.

Generated symbols, order ids and amounts almost never name a real object (a random symbol
is unknown, a random price off-tick), so a second run anchors them on real ones: the same
generated requests, their symbols, order ids and amounts swapped for existing or valid
ones, so success bodies (orders, fills, the book, trades) are checked against their schemas.
"""

from __future__ import annotations

import zlib
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engine.api.openapi import OPERATIONS as OPERATIONS_LIST
from engine.api.openapi import openapi_document

API = "/api/v1"
MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # the same cases on every run
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def _without_tuples(node: Any) -> Any:
    """The document with each tuple (`prefixItems`) loosened to `items: {anyOf: [...]}`.

    schemathesis 4.32.5 rewrites `prefixItems` in a response schema to a draft-4 `items`
    array and then validates with a Draft 2020-12 validator, which rejects that array as an
    invalid schema (its issues #3842 and #4099 are the same family). Our document is right;
    the tuples (book levels) are checked position by position with the pydantic model instead
    (`_matches_model`).
    """
    if isinstance(node, list):
        return [_without_tuples(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _without_tuples(v) for k, v in node.items()}
    if "prefixItems" in out:
        out["items"] = {"anyOf": out.pop("prefixItems")}
    return out


schema = schemathesis.openapi.from_dict(_without_tuples(openapi_document()))
OPERATIONS = {(op.method.upper(), API + op.path): op for op in OPERATIONS_LIST}


def _matches_model(case, response) -> None:
    """A success body validates against the pydantic response model the document comes from."""
    op = OPERATIONS[(case.operation.method.upper(), case.operation.path)]
    if case.method.upper() != op.method.upper():
        return  # schemathesis probing an undocumented method: 405 (or Flask's OPTIONS)
    if op.response is None or response.status_code >= 300:
        return
    assert response.status_code in (op.status, *op.extra_responses), response.status_code
    op.response.model_validate_json(response.content)


STATUSES: dict[str, Counter[int]] = {"generated": Counter(), "anchored": Counter()}


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    for run, seen in STATUSES.items():
        print(f"\nschemathesis {run}: {sum(seen.values())} requests, statuses {dict(seen)}")


@pytest.fixture
def world(app, client, make_symbol, make_account) -> dict[str, Any]:
    """Two symbols, two accounts, a resting, a filled and a killed order, trades and fills."""
    make_symbol("BTC-USD", "0.01", "0.0001")
    make_symbol("ETH-USD", "0.01", "0.001")
    key, other = make_account("alice"), make_account("bob")
    placed = {}
    for name, k, body in [
        ("resting", key, {"symbol": "BTC-USD", "side": "buy", "price": "100.00",
                          "quantity": "1", "client_order_id": "resting-1"}),
        ("theirs", other, {"symbol": "BTC-USD", "side": "sell", "price": "99.00",
                           "quantity": "0.25"}),
        ("ask", key, {"symbol": "BTC-USD", "side": "sell", "price": "101.00", "quantity": "0.5"}),
        ("taker", key, {"symbol": "BTC-USD", "side": "buy", "type": "market",
                        "quantity": "0.1"}),
        ("killed", key, {"symbol": "ETH-USD", "side": "buy", "type": "market",
                         "quantity": "1"}),
    ]:  # fmt: skip
        response = client.post(f"{API}/orders", json=body, headers={"X-API-Key": k})
        assert response.status_code == 201, response.get_json()
        placed[name] = response.get_json()["id"]
    # GET /stream is endless: with the process's stream hub closed, each stream sends its
    # first event (validated like any body) and ends, as when the server stops.
    from engine.api.marketdata import stream_hub

    with app.app_context():
        stream_hub().close()
    return {"app": app, "key": key, "ids": [*placed.values(), "BTC-USD:999999"]}


@schema.parametrize()
@SETTINGS
def test_generated_requests_answer_as_documented(case, world):
    no_long_poll(case)
    response = case.call_and_validate(
        app=world["app"], headers={"X-API-Key": world["key"]}, checks=CHECKS
    )
    _matches_model(case, response)
    STATUSES["generated"][response.status_code] += 1


# --- anchoring generated values on real objects

SYMBOLS = ["BTC-USD", "ETH-USD"]
PRICES = ["99.00", "100.00", "100.50", "101.00", "102.00"]
QUANTITIES = {"BTC-USD": ["0.0001", "0.1", "0.25", "1", "2.5"], "ETH-USD": ["0.001", "1", "3"]}


def _pick(options: list[str], generated: Any) -> str:
    """One of `options`, chosen by the generated value (deterministic, spread out)."""
    return options[zlib.crc32(repr(generated).encode()) % len(options)]


def _anchor_order(order: Any) -> Any:
    if not isinstance(order, dict):
        return order
    order = dict(order)
    symbol = _pick(SYMBOLS, order.get("symbol"))
    if "symbol" in order:
        order["symbol"] = symbol
    if isinstance(order.get("price"), str):
        order["price"] = _pick(PRICES, order["price"])
    if isinstance(order.get("quantity"), str):
        order["quantity"] = _pick(QUANTITIES[symbol], order["quantity"])
    if isinstance(order.get("expires_at"), str):
        order["expires_at"] = _pick(["2100-01-01T00:00:00Z", order["expires_at"]],
                                    order["expires_at"])  # fmt: skip
    return order


def no_long_poll(case) -> None:
    """GET /events?wait=N would hold the test for up to 30 s a case: wait 0 instead."""
    wait = (case.query or {}).get("wait")
    if (isinstance(wait, int) and not isinstance(wait, bool)) or (
        isinstance(wait, str) and wait.isascii() and wait.isdigit()
    ):
        case.query["wait"] = 0


def anchor(case, ids: list[str]) -> None:
    """Swap the case's symbols, order ids and amounts for real or valid ones, in place."""
    no_long_poll(case)
    for name, value in list((case.path_parameters or {}).items()):
        if name == "symbol":
            case.path_parameters[name] = _pick([*SYMBOLS, value], value)
        elif name == "order_id":
            case.path_parameters[name] = _pick(ids, value)
    query = case.query or {}
    if isinstance(query.get("symbol"), str):
        query["symbol"] = _pick(SYMBOLS, query["symbol"])
    if isinstance(query.get("order_id"), str):
        query["order_id"] = _pick(ids, query["order_id"])
    if isinstance(query.get("client_order_id"), str):
        query["client_order_id"] = _pick(["resting-1", query["client_order_id"]],
                                         query["client_order_id"])  # fmt: skip
    if case.path.endswith("/orders") and case.method == "POST":
        case.body = _anchor_order(case.body)
    elif case.path.endswith("/orders/batch") and isinstance(case.body, dict):
        orders = case.body.get("orders")
        if isinstance(orders, list):
            case.body = {**case.body, "orders": [_anchor_order(o) for o in orders]}


@schema.parametrize()
@SETTINGS
def test_anchored_requests_answer_as_documented(case, world):
    anchor(case, world["ids"])
    response = case.call_and_validate(
        app=world["app"], headers={"X-API-Key": world["key"]}, checks=CHECKS
    )
    _matches_model(case, response)
    STATUSES["anchored"][response.status_code] += 1
