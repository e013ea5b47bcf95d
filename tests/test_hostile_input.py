"""Hostile input: each request gets a 4xx in the documented shape, and nothing changes.

Oversized bodies, deeply nested JSON, numbers JSON cannot hold, NaN and Infinity, unicode
look-alikes (fullwidth and other non-ASCII digits, RTL and zero-width marks, NUL), and
CR/LF meant to inject a header through client_order_id. After all of them the whole Redis
dataset is byte for byte what it was (tests/state.py), and no response carries an
injected header.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.state import changed, digest

API = "/api/v1"
ORDER = {"symbol": "BTC-USD", "side": "buy", "price": "100.00", "quantity": "1"}
NESTED = 10_000  # levels: the body stays under 64 KiB, far past any JSON parser's depth


@pytest.fixture
def market(client, make_symbol, make_account, r):
    """BTC-USD with a resting order and a trade; returns the key and the dataset's digest."""
    make_symbol("BTC-USD", "0.01", "0.0001")
    key, other = make_account("alice"), make_account("bob")
    for k, body in [(key, {**ORDER, "client_order_id": "mine"}),
                    (other, {**ORDER, "side": "sell", "quantity": "0.5"})]:  # fmt: skip
        assert client.post(f"{API}/orders", json=body, headers={"X-API-Key": k}).status_code == 201
    return key


def raw_post(client, key, data: bytes | str, path: str = "/orders", **headers):
    headers = {"X-API-Key": key, "Content-Type": "application/json", **headers}
    return client.post(API + path, data=data, headers=headers)


def documented_error(response, status: int | tuple[int, ...], field=None) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.get_data()[:300])
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if field is not None:
        assert body["error"]["field"] == field, body
    for name in response.headers.keys():
        assert name.lower() not in ("x-injected", "set-cookie"), dict(response.headers)
    return body["error"]


def with_field(name: str, value) -> bytes:
    """An otherwise valid order body with one field's value replaced (any JSON text)."""
    body = json.dumps({**ORDER, name: "__VALUE__"})
    return body.replace(
        '"__VALUE__"', value if isinstance(value, str) else json.dumps(value)
    ).encode()


# (raw JSON value for one field, the field the 422 must name)
HOSTILE_FIELDS = [
    # numbers JSON carries but the contract refuses (amounts are strings)
    ("quantity", "1e999", None),  # not a double: the body is not JSON we accept (400)
    ("quantity", "-1e999", None),
    ("quantity", "1" + "0" * 400, None),
    ("price", "1" + "0" * 30, "price"),
    ("price", "1.0e-400", "price"),
    ("quantity", '"' + "9" * 25 + '"', "quantity"),
    ("price", '"99999999999999999999"', "price"),  # 20 digits: over 10^12 ticks
    ("quantity", '"1e3"', "quantity"),
    ("price", '"-100.00"', "price"),
    ("price", '"0x64"', "price"),
    # NaN and Infinity: not JSON (400), nor amounts as strings (422)
    ("price", "NaN", None),
    ("price", "Infinity", None),
    ("price", "-Infinity", None),
    ("price", '"NaN"', "price"),
    ("quantity", '"Infinity"', "quantity"),
    # unicode look-alikes and invisible marks
    ("price", '"１００.００"', "price"),  # fullwidth digits
    ("price", '"١٠٠.٠٠"', "price"),  # Arabic-Indic digits
    ("quantity", '"¹"', "quantity"),  # superscript one
    ("quantity", '"1\u200b"', "quantity"),  # zero-width space
    ("symbol", '"ＢＴＣ-USD"', "symbol"),  # fullwidth letters
    ("symbol", '"\u202eDSU-CTB"', "symbol"),  # right-to-left override
    ("symbol", '"BTC\u200f-USD"', "symbol"),  # right-to-left mark
    ("symbol", '"BTC-USD\\u0000"', "symbol"),  # NUL
    ("symbol", '"btc-usd"', "symbol"),
    ("side", '"buy\\u0000"', "side"),
    ("side", '"ｂｕｙ"', "side"),
    ("client_order_id", '"a\\u0000b"', "client_order_id"),
    ("client_order_id", '"caf\u00e9"', "client_order_id"),
    ("client_order_id", '"a\u200db"', "client_order_id"),  # zero-width joiner
    # header injection
    ("client_order_id", '"abc\\r\\nX-Injected: yes"', "client_order_id"),
    ("client_order_id", '"abc\\nSet-Cookie: session=1"', "client_order_id"),
    ("client_order_id", '"abc%0d%0aX-Injected:%20yes"', "client_order_id"),
    ("client_order_id", '"' + "a" * 65 + '"', "client_order_id"),
    # wrong types and deep nesting inside a field
    ("symbol", "[" * 500 + "]" * 500, "symbol"),
    ("quantity", {"$gt": ""}, "quantity"),
    ("post_only", '"true"', "post_only"),
    ("expires_at", '"2100-01-01T00:00:00\\u0000Z"', "expires_at"),
]


@pytest.mark.parametrize(("name", "value", "field"), HOSTILE_FIELDS)
def test_a_hostile_field_is_a_4xx_and_changes_nothing(client, market, r, name, value, field):
    before = digest(r)
    response = raw_post(client, market, with_field(name, value))
    if field is None:
        documented_error(response, 400)
    else:
        documented_error(response, 422, field)
    assert changed(before, digest(r)) == []


HOSTILE_BODIES = [
    ("nested arrays", b"[" * NESTED + b"]" * NESTED, 400),
    ("nested objects", b'{"a":' * (NESTED // 2) + b"1" + b"}" * (NESTED // 2), 400),
    ("unterminated nesting", b"[" * NESTED, 400),
    ("NaN body", b"NaN", 400),
    ("duplicate keys then garbage", b'{"symbol": "BTC-USD", "symbol": }', 400),
    ("invalid UTF-8", b'{"symbol": "BTC-USD\xc0\xaf"}', 400),  # an overlong "/"
    ("lone surrogate", b'{"symbol": "\\udc00"}', 400),
    ("UTF-16 with a JSON type", '{"symbol": "BTC-USD"}'.encode("utf-16"), 400),
    ("BOM", b"\xef\xbb\xbf" + json.dumps(ORDER).encode(), 400),
    ("64 KiB + 1", b'{"pad": "' + b"x" * (64 * 1024 - 10) + b'"}', 413),
    ("1 MiB", b"[" * (1 << 20), 413),
]


@pytest.mark.parametrize(
    ("what", "data", "status"), HOSTILE_BODIES, ids=[b[0] for b in HOSTILE_BODIES]
)
@pytest.mark.parametrize("path", ["/orders", "/orders/batch"])
def test_a_hostile_body_is_a_4xx_and_changes_nothing(client, market, r, what, data, status, path):
    before = digest(r)
    documented_error(raw_post(client, market, data, path), status)
    assert changed(before, digest(r)) == []


def test_a_hostile_order_inside_a_batch_is_its_own_4xx_and_places_nothing(client, market, r):
    orders = [
        json.loads(with_field(name, value))
        for name, value, field in HOSTILE_FIELDS
        if field is not None and not (isinstance(value, str) and value.startswith("["))
    ]
    before = digest(r)
    response = raw_post(client, market, json.dumps({"orders": orders[:100]}), "/orders/batch")
    assert response.status_code == 200
    for result in response.get_json()["results"]:
        assert 400 <= result["status"] < 500 and set(result["error"]) == {
            "code",
            "message",
            "field",
        }
    assert changed(before, digest(r)) == []


@pytest.mark.parametrize(
    ("method", "path", "status", "field"),
    [
        ("get", "/orders?symbol=BTC-USD&client_order_id=" + quote("a\r\nX-Injected: yes"), 422,
         "client_order_id"),
        ("get", "/orders?symbol=" + quote("ＢＴＣ-USD"), 422, "symbol"),
        ("get", "/orders?symbol=" + quote("BTC-USD\x00"), 422, "symbol"),
        ("get", "/orders?limit=" + quote("１０"), 422, "limit"),
        ("get", "/orders?limit=" + quote("٣"), 422, "limit"),
        ("get", "/orders?limit=" + "9" * 400, 422, "limit"),
        ("get", "/orders?cursor=" + quote("\x00\r\n"), 422, "cursor"),
        ("get", "/fills?order_id=" + quote("BTC-USD:１"), 422, "order_id"),
        ("get", "/book/BTC-USD?depth=" + quote("1e3"), 422, "depth"),
        ("get", "/book/BTC-USD?depth=NaN", 422, "depth"),
        ("get", "/trades/BTC-USD?before=" + "9" * 40, 422, "before"),
        ("get", "/trades/BTC-USD?before=Infinity", 422, "before"),
        ("get", "/orders/" + quote("BTC-USD:１", safe=""), 404, None),  # was order 1
        ("get", "/orders/" + quote("BTC-USD:01", safe=""), 404, None),  # was order 1
        ("get", "/orders/" + quote("BTC-USD:¹", safe=""), 404, None),  # was a 503
        ("delete", "/orders/" + quote("BTC-USD:٣", safe=""), 404, None),
        ("get", "/fills?order_id=" + quote("BTC-USD:¹"), 422, "order_id"),  # was a 503
        ("get", "/orders/" + quote("BTC-USD:1\r\nX-Injected: yes", safe=""), 404, None),
        ("delete", "/orders/" + quote("BTC-USD:1\x00", safe=""), 404, None),
        ("get", "/book/" + quote("ＢＴＣ-USD", safe=""), 404, None),
        ("get", "/trades/" + quote("\u202eBTC-USD", safe=""), 404, None),
        ("delete", "/orders?symbol=" + quote("BTC-USD\r\n"), 422, "symbol"),
    ],
)  # fmt: skip
def test_hostile_paths_and_queries_are_4xx_and_change_nothing(
    client, market, r, method, path, status, field
):
    before = digest(r)
    response = getattr(client, method)(API + path, headers={"X-API-Key": market})
    documented_error(response, status, field)
    assert changed(before, digest(r)) == []


@pytest.mark.parametrize(
    "key",
    ["te_1_" + "ａ" * 43, "te_１_" + "a" * 43, "te_1_" + "a" * 42 + "\x00", "te_1_" + "a" * 5000,
     "te_99999999999999999999_" + "a" * 43, "te_0_" + "a" * 43, "' OR 1=1 --", "*"],
)  # fmt: skip
def test_hostile_api_keys_are_401_and_change_nothing(client, market, r, key):
    before = digest(r)
    for method, path, kwargs in [("get", "/orders", {}), ("post", "/orders", {"json": ORDER})]:
        response = getattr(client, method)(API + path, headers={"X-API-Key": key}, **kwargs)
        documented_error(response, 401)
    assert changed(before, digest(r)) == []
