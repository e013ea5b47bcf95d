"""Request validation, the contract's order rules, and rendering (engine/models.py, views.py).

No Redis here: these are the rules a client meets before anything is placed.
"""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import models
from engine.errors import ValidationFailed
from engine.models import OrderRequest, OrdersQuery, to_place_request, validate
from engine.orders import BookView, Fill, Order, PlaceRequest, Trade
from engine.symbols import SymbolSpec
from engine.views import book_view, fill_view, order_view, symbol_view, trade_view

SPEC = SymbolSpec("BTC-USD", "0.01", "0.0001")
NOW = 1_795_556_715_000_000  # 2026-11-24T21:45:15Z
FUTURE = "2026-11-24T21:45:16Z"


def conforms(model, view: dict) -> None:
    """The rendered JSON is what the OpenAPI document's model says (strict, no extra keys)."""
    model.model_validate_json(orjson.dumps(view), strict=True)


def place(body: dict, now: int = NOW) -> PlaceRequest:
    return to_place_request(validate(OrderRequest, body), SPEC, now)


def rejects(body: dict, now: int = NOW) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        place(body, now)
    assert info.value.status == 422
    assert info.value.code == "validation_error"
    return info.value


LIMIT = {"symbol": "BTC-USD", "side": "buy", "price": "101.25", "quantity": "2"}
MARKET = {"symbol": "BTC-USD", "side": "sell", "type": "market", "quantity": "0.5"}
GTD = {**LIMIT, "time_in_force": "GTD"}


def test_a_limit_order_defaults_to_gtc_cancel_newest_and_converts_to_ticks_and_lots():
    assert place(LIMIT) == PlaceRequest(
        symbol="BTC-USD", side="buy", type="limit", quantity=20000, price=10125,
        time_in_force="GTC", expires_at=None, post_only=False,
        self_trade_prevention="cancel_newest", client_order_id=None,
    )  # fmt: skip


def test_a_market_order_defaults_to_ioc_and_has_no_price():
    req = place(MARKET)
    assert (req.type, req.price, req.quantity, req.time_in_force) == ("market", None, 5000, "IOC")
    assert place({**MARKET, "time_in_force": "FOK"}).time_in_force == "FOK"


def test_every_option_is_carried_over():
    req = place(
        {**GTD, "type": "limit", "expires_at": "2026-11-24T22:45:16+01:00", "post_only": True,
         "self_trade_prevention": "cancel_both", "client_order_id": "a-B_9"}
    )  # fmt: skip
    assert req.expires_at == NOW + 1_000_000
    assert (req.post_only, req.self_trade_prevention, req.client_order_id) == (
        True, "cancel_both", "a-B_9",
    )  # fmt: skip


def test_null_is_accepted_where_the_order_object_has_null():
    req = place({**LIMIT, "expires_at": None, "client_order_id": None})
    assert req.client_order_id is None
    assert place({**MARKET, "price": None}).price is None


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({**LIMIT, "price": 101.25}, "price", 'price must be a string such as "1.25" (not a JSON'),
        ({**LIMIT, "quantity": 2}, "quantity", 'quantity must be a string such as "1.25" (not a'),
        ({**LIMIT, "price": "1e2"}, "price", "price must be a decimal string"),
        ({**LIMIT, "quantity": "-1"}, "quantity", "quantity must be a decimal string"),
        ({**LIMIT, "price": "101.255"}, "price", "price must be a multiple of 0.01"),
        ({**LIMIT, "quantity": "0.00001"}, "quantity", "quantity must be a multiple of 0.0001"),
        ({**LIMIT, "price": "0"}, "price", "price must be positive"),
        ({**LIMIT, "price": "10000000000.01"}, "price", "price must be at most 10000000000.00"),
        ({**LIMIT, "quantity": "100000000.0001"}, "quantity", "quantity must be at most"),
        ({**LIMIT, "side": "BUY"}, "side", "side must be 'buy' or 'sell'"),
        ({**LIMIT, "type": "stop"}, "type", "type must be 'limit' or 'market'"),
        ({**LIMIT, "time_in_force": "gtc"}, "time_in_force", "time_in_force must be"),
        ({**LIMIT, "self_trade_prevention": "none"}, "self_trade_prevention", "must be"),
        ({**LIMIT, "post_only": "true"}, "post_only", "post_only must be true or false"),
        ({**LIMIT, "post_only": 1}, "post_only", "post_only must be true or false"),
        ({**LIMIT, "client_order_id": "a b"}, "client_order_id", "client_order_id must be 1 to 64"),
        ({**LIMIT, "client_order_id": "x" * 65}, "client_order_id", "client_order_id must be"),
        ({**LIMIT, "client_order_id": 7}, "client_order_id", "client_order_id must be a string"),
        ({**LIMIT, "symbol": "btc-usd"}, "symbol", 'symbol must be a symbol such as "BTC-USD"'),
        ({**LIMIT, "symbol": None}, "symbol", "symbol must be a string"),
        ({**LIMIT, "side": None}, "side", "side must be"),
        ({**LIMIT, "nonce": 1}, "nonce", "nonce is not a known field"),
        ({k: v for k, v in LIMIT.items() if k != "quantity"}, "quantity", "quantity is required"),
        ({k: v for k, v in LIMIT.items() if k != "side"}, "side", "side is required"),
    ],
)  # fmt: skip
def test_field_errors_name_the_field_in_plain_words(body, field, message):
    error = rejects(body)
    assert error.field == field
    assert message in error.message
    assert "pydantic" not in error.message and "Input should" not in error.message


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({**MARKET, "price": "101.00"}, "price", "price must not be given for a market order"),
        ({**MARKET, "post_only": True}, "post_only", "post_only is not allowed on a market order"),
        ({**MARKET, "time_in_force": "GTC"}, "time_in_force", "time_in_force must be IOC or FOK"),
        ({**MARKET, "time_in_force": "GTD", "expires_at": FUTURE}, "time_in_force", "IOC or FOK"),
        ({k: v for k, v in LIMIT.items() if k != "price"}, "price", "price is required for a"),
        (GTD, "expires_at", "expires_at is required with"),
        ({**LIMIT, "expires_at": FUTURE}, "expires_at", "expires_at is only allowed with"),
        ({**LIMIT, "time_in_force": "IOC", "expires_at": FUTURE}, "expires_at", "only allowed"),
        ({**GTD, "expires_at": "2026-11-24T21:45:15Z"}, "expires_at", "must be in the future"),
        ({**GTD, "expires_at": "2020-01-01T00:00:00Z"}, "expires_at", "must be in the future"),
        ({**GTD, "expires_at": "tomorrow"}, "expires_at", "expires_at must be an RFC 3339"),
        ({**GTD, "expires_at": "2030-01-01T00:00:00.1234567Z"}, "expires_at", "must be an RFC"),
        ({**GTD, "expires_at": 1900000000}, "expires_at", "expires_at must be a string"),
        ({**LIMIT, "time_in_force": "IOC", "post_only": True}, "post_only",
         "post_only needs time_in_force GTC or GTD"),
        ({**LIMIT, "time_in_force": "FOK", "post_only": True}, "post_only", "post_only needs"),
    ],
)  # fmt: skip
def test_the_contracts_order_rules(body, field, message):
    error = rejects(body)
    assert error.field == field
    assert message in error.message


def test_post_only_is_fine_on_gtc_and_gtd():
    assert place({**LIMIT, "post_only": True}).post_only
    assert place(
        {**LIMIT, "post_only": True, "time_in_force": "GTD", "expires_at": FUTURE}
    ).post_only


def test_the_first_failing_field_is_reported():
    error = rejects({"side": "up", "price": 1, "quantity": "x"})
    assert error.field == "symbol"
    error = rejects({**LIMIT, "side": "up", "price": 1})
    assert error.field == "side"


@pytest.mark.parametrize("value", ["1e5", " 1", "-1", "1_0", "", "0", ".5", "5.", "١"])
def test_amount_rejects_reach_the_client_as_422_on_the_field(value):
    assert rejects({**LIMIT, "quantity": value}).field == "quantity"


def test_an_unknown_field_is_a_422_even_next_to_valid_ones():
    assert rejects({**LIMIT, "Price": "1"}).field == "Price"


# --- query parameters


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ({"limit": "0"}, "limit", "limit must be at least 1"),
        ({"limit": "1001"}, "limit", "limit must be at most 1000"),
        ({"limit": "ten"}, "limit", "limit must be a whole number"),
        ({"limit": "+5"}, "limit", "limit must be a whole number"),
        ({"limit": " 5"}, "limit", "limit must be a whole number"),
        ({"limit": "1_0"}, "limit", "limit must be a whole number"),
        ({"limit": "١"}, "limit", "limit must be a whole number"),
        ({"limit": ""}, "limit", "limit must be a whole number"),
        ({"status": "closed"}, "status", "status must be"),
        ({"symbol": "btc"}, "symbol", "symbol must be a symbol such as"),
        ({"page": "2"}, "page", "page is not a known query parameter"),
    ],
)
def test_query_parameters_are_validated_never_clamped(args, field, message):
    with pytest.raises(ValidationFailed) as info:
        validate(OrdersQuery, args)
    assert info.value.field == field
    assert info.value.message.startswith(message)


def test_query_defaults():
    q = validate(OrdersQuery, {})
    assert (q.limit, q.status, q.cursor, q.symbol) == (100, None, None, None)
    assert validate(OrdersQuery, {"limit": "1000", "status": "open"}).limit == 1000
    assert validate(models.BookQuery, {}).depth == 50
    assert validate(models.TradesQuery, {"before": "7"}).before == 7
    with pytest.raises(ValidationFailed, match="before must be at least 1"):
        validate(models.TradesQuery, {"before": "0"})


# --- rendering


def make_order(**changes) -> Order:
    fields = dict(
        id="BTC-USD:42", account_id="1", symbol="BTC-USD", side="buy", type="limit",
        time_in_force="GTC", price=10125, quantity=20000, filled_quantity=5000,
        status="partially_filled", kill_reason=None, post_only=False,
        self_trade_prevention="cancel_newest", expires_at=None, client_order_id=None,
        sequence=42, created_at=NOW + 123456, updated_at=NOW + 223456,
        notional=10100 * 5000,
    )  # fmt: skip
    fields.update(changes)
    return Order(**fields)


def test_order_view_is_the_contracts_order_object():
    conforms(models.Order, order_view(make_order(), SPEC))
    assert order_view(make_order(), SPEC) == {
        "id": "BTC-USD:42", "client_order_id": None, "symbol": "BTC-USD", "side": "buy",
        "type": "limit", "time_in_force": "GTC", "price": "101.25", "quantity": "2.0000",
        "filled_quantity": "0.5000", "remaining_quantity": "1.5000", "average_price": "101.00",
        "status": "partially_filled", "kill_reason": None, "post_only": False,
        "self_trade_prevention": "cancel_newest", "expires_at": None, "sequence": 42,
        "created_at": "2026-11-24T21:45:15.123456Z", "updated_at": "2026-11-24T21:45:15.223456Z",
    }  # fmt: skip


def test_order_view_of_a_final_market_order():
    view = order_view(
        make_order(type="market", time_in_force="IOC", price=None, status="killed",
                   kill_reason="no_liquidity", filled_quantity=3, notional=10100 + 2 * 10101),
        SPEC,
    )  # fmt: skip
    assert view["price"] is None
    assert view["remaining_quantity"] == "0.0000"  # final: nothing rests
    assert view["average_price"] == "101.01"  # 101.00666… rounds half-even to the tick
    assert (view["status"], view["kill_reason"]) == ("killed", "no_liquidity")


def test_order_view_with_nothing_filled_has_no_average_price_and_no_fills_key():
    view = order_view(make_order(filled_quantity=0, notional=None, status="enqueued"), SPEC)
    assert view["average_price"] is None
    assert "fills" not in view
    assert view["expires_at"] is None


def test_order_view_with_fills_lists_the_taker_fills():
    fill = Fill("BTC-USD:43", "BTC-USD:42", "BTC-USD", "buy", 10100, 5000, "taker", 43, NOW)
    view = order_view(make_order(fills=[fill], expires_at=NOW + 1), SPEC, with_fills=True)
    assert view["fills"] == [
        {"trade_id": "BTC-USD:43", "price": "101.00", "quantity": "0.5000",
         "liquidity": "taker", "created_at": "2026-11-24T21:45:15.000000Z"}
    ]  # fmt: skip
    assert view["expires_at"] == "2026-11-24T21:45:15.000001Z"
    conforms(models.PlacedOrder, view)
    assert order_view(make_order(), SPEC, with_fills=True)["fills"] == []


def test_fill_trade_book_and_symbol_views():
    fill = Fill("BTC-USD:43", "BTC-USD:42", "BTC-USD", "sell", 10100, 5000, "maker", 43, NOW)
    assert fill_view(fill, SPEC) == {
        "trade_id": "BTC-USD:43", "order_id": "BTC-USD:42", "symbol": "BTC-USD",
        "side": "sell", "price": "101.00", "quantity": "0.5000", "liquidity": "maker",
        "sequence": 43, "created_at": "2026-11-24T21:45:15.000000Z",
    }  # fmt: skip
    trade = Trade("BTC-USD:43", "BTC-USD", 10100, 5000, "buy", 43, NOW)
    assert trade_view(trade, SPEC) == {
        "id": "BTC-USD:43", "symbol": "BTC-USD", "price": "101.00", "quantity": "0.5000",
        "taker_side": "buy", "sequence": 43, "created_at": "2026-11-24T21:45:15.000000Z",
    }  # fmt: skip
    book = BookView("BTC-USD", 44, bids=[(10100, 5000, 1), (10099, 10**12, 3)], asks=[])
    assert book_view(SPEC, book) == {
        "symbol": "BTC-USD", "sequence": 44,
        "bids": [["101.00", "0.5000", 1], ["100.99", "100000000.0000", 3]], "asks": [],
    }  # fmt: skip
    assert symbol_view(SpecWithStatus()) == {
        "symbol": "ETH-USD",
        "tick_size": "0.5",
        "lot_size": "1",
        "status": "halted",
    }
    conforms(models.Fill, fill_view(fill, SPEC))
    conforms(models.Trade, trade_view(trade, SPEC))
    conforms(models.Book, book_view(SPEC, book))
    conforms(models.Symbol, symbol_view(SPEC))


def SpecWithStatus() -> SymbolSpec:
    return SymbolSpec("ETH-USD", "0.5", "1", "halted")


def test_views_use_the_symbols_own_steps():
    spec = SymbolSpec("ETH-USD", "0.5", "1")
    assert spec.tick == Decimal("0.5")
    view = order_view(make_order(symbol="ETH-USD", price=203, quantity=7, filled_quantity=2,
                                 notional=203 * 2), spec)  # fmt: skip
    assert (view["price"], view["quantity"], view["remaining_quantity"]) == ("101.5", "7", "5")
    assert view["average_price"] == "101.5"


# --- the lean path of place_request against pydantic's -----------------------------------

_VALUES = {
    "symbol": ["BTC-USD", "ETH-USD", "btc-usd", "BTC-USD\n", "BTCUSD", ""],
    "side": ["buy", "sell", "BUY", "hold"],
    "type": ["limit", "market", "stop"],
    "price": ["101.25", "101.255", "0", "0.01", "1e5", " 1", "10000000000.01", "٣", "100.100"],
    "quantity": ["2", "0.00001", "0.5", "100000001", "2.0000", "-1"],
    "time_in_force": ["GTC", "IOC", "FOK", "GTD", "gtc", "DAY"],
    "expires_at": [FUTURE, "2026-11-24T21:45:14Z", "2026-11-24T22:45:16+01:00", "tomorrow",
                   "2026-13-01T00:00:00Z", "2026-11-24T21:45:16.1234567Z"],
    "post_only": [True, False, "true", 1, 0],
    "self_trade_prevention": ["cancel_newest", "cancel_oldest", "cancel_both", "none"],
    "client_order_id": ["abc-1_X", "a" * 64, "a" * 65, "", "has space", "ü"],
}  # fmt: skip
_ODD = [None, 1, 1.5, True, [], {}, ["buy"], {"a": 1}]


def _outcome(call):
    try:
        return call()
    except ValidationFailed as exc:
        return ("422", exc.message, exc.field)


@st.composite
def bodies(draw) -> dict:
    """Order bodies, most of them nearly valid, with odd values and unknown fields mixed in."""
    body = dict(LIMIT) if draw(st.booleans()) else {}
    for key in draw(st.lists(st.sampled_from([*_VALUES, "unknown", "Symbol"]), max_size=6)):
        choices = _VALUES.get(key, ["x"])
        body[key] = draw(st.sampled_from(choices) | st.sampled_from(_ODD))
    for key in draw(st.lists(st.sampled_from(list(body) or ["symbol"]), max_size=2)):
        body.pop(key, None)
    return body


@given(bodies())
def test_place_request_answers_as_pydantic_and_the_rules_do(body):
    name = body.get("symbol")
    spec = SPEC if name == SPEC.symbol else None

    def reference():
        req = validate(OrderRequest, body)
        if spec is None:
            raise ValidationFailed(f"unknown symbol {req.symbol}", "symbol")
        return to_place_request(req, spec, NOW)

    assert _outcome(lambda: models.place_request(body, spec, NOW)) == _outcome(reference)


PLAIN = [
    LIMIT,
    MARKET,
    {**GTD, "expires_at": FUTURE},
    {**LIMIT, "post_only": True, "client_order_id": "c-1"},
]


@pytest.mark.parametrize("body", PLAIN)
def test_place_request_takes_plain_bodies_without_pydantic(body, monkeypatch):
    def fail(*_a, **_k):
        raise AssertionError("pydantic was used")

    expected = place(body)
    monkeypatch.setattr(models, "validate", fail)
    assert models.place_request(body, SPEC, NOW) == expected
