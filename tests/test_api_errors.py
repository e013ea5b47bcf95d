"""Every error status of the contract, its one shape, and which wins when several apply.

The contract's order: 404/405 (path, method), 413, 401, 429, 415, 400, 422, then 404 for
an unknown order or symbol in the path, then 409. Real app, real Redis.
"""

from __future__ import annotations

import io
import json
import socket
import time
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from engine.symbols import SymbolRegistry

API = "/api/v1"
ORDER = {"symbol": "BTC-USD", "side": "buy", "price": "100.00", "quantity": "1"}
BIG = b'{"symbol": "BTC-USD", "pad": "' + b"x" * (64 * 1024) + b'"}'


@pytest.fixture
def key(make_symbol, make_account) -> str:
    make_symbol("BTC-USD", "0.01", "0.0001")
    return make_account("alice")


def error_of(response, status: int, code: str, field=None) -> str:
    """Asserts the documented shape; returns the message."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code
    assert body["error"]["field"] == field
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    return message


def post(client, body=None, key=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if key is not None:
        headers["X-API-Key"] = key
    if body is not None and "data" not in kwargs:
        kwargs["json"] = body
    return client.post(f"{API}/orders", headers=headers, **kwargs)


# --- each status


def test_unknown_path_is_404(client):
    message = error_of(client.get(f"{API}/nothing"), 404, "not_found")
    assert "/api/v1/nothing" in message
    error_of(client.get("/api/v2/symbols"), 404, "not_found")
    error_of(client.get(f"{API}/orders/"), 404, "not_found")
    error_of(client.get(f"{API}//symbols"), 404, "not_found")  # not a redirect
    error_of(client.get(f"{API}/orders//1", headers={"X-API-Key": "x"}), 404, "not_found")
    error_of(client.get("/static/app.js"), 404, "not_found")


def test_unknown_method_is_405_with_allow(client):
    response = client.put(f"{API}/orders")
    error_of(response, 405, "method_not_allowed")
    assert {"GET", "POST", "DELETE"} <= set(response.headers["Allow"].split(", "))
    error_of(client.post(f"{API}/symbols"), 405, "method_not_allowed")
    error_of(client.patch(f"{API}/orders/BTC-USD:1"), 405, "method_not_allowed")


def test_body_over_64_kib_is_413(client, key):
    message = error_of(post(client, key=key, data=BIG, content_type="application/json"), 413,
                       "payload_too_large")  # fmt: skip
    assert "64 KiB" in message


def test_a_body_of_exactly_64_kib_is_read(client, key):
    body = b'{"x": "' + b" " * (64 * 1024 - 9) + b'"}'
    assert len(body) == 64 * 1024
    error_of(post(client, key=key, data=body, content_type="application/json"), 422,
             "validation_error", "symbol")  # fmt: skip


@pytest.mark.parametrize("size", [64 * 1024 + 1, 10**6])
def test_a_chunked_body_over_64_kib_is_413_not_truncated(client, key, size):
    response = post(
        client, key=key, input_stream=io.BytesIO(b"{" + b" " * size + b"}"),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True},
    )  # fmt: skip
    error_of(response, 413, "payload_too_large")


def test_a_chunked_body_within_the_limit_is_read(client, key):
    response = post(
        client, key=key, input_stream=io.BytesIO(b'{"symbol": "BTC-USD"}'),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True},
    )  # fmt: skip
    error_of(response, 422, "validation_error", "side")


def test_a_get_with_a_body_over_64_kib_is_413(client):
    error_of(client.get(f"{API}/symbols", data=BIG), 413, "payload_too_large")


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": ""}, {"X-API-Key": "nonsense"}, {"X-API-Key": "te_1_" + "a" * 43}],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/orders"), ("get", "/orders/BTC-USD:1"), ("delete", "/orders/BTC-USD:1"),
     ("delete", "/orders"), ("get", "/fills"), ("post", "/orders")],
)  # fmt: skip
def test_private_endpoints_need_a_valid_key(client, key, headers, method, path):
    kwargs = {"json": ORDER} if method == "post" else {}
    response = getattr(client, method)(API + path, headers=headers, **kwargs)
    error_of(response, 401, "unauthorized")


def test_a_revoked_or_rotated_key_is_401(client, key, r):
    from engine import accounts

    assert post(client, ORDER, key).status_code == 201
    new_key = accounts.rotate_key(r, "alice")["api_key"]
    error_of(post(client, ORDER, key), 401, "unauthorized")
    assert post(client, ORDER, new_key).status_code == 201
    accounts.revoke(r, "alice")
    error_of(client.get(f"{API}/orders", headers={"X-API-Key": new_key}), 401, "unauthorized")


@pytest.fixture
def limited(redis_url):
    """An app that allows 1 order per second per account (bursts of 2)."""
    return create_app({"REDIS_URL": redis_url, "ORDER_RATE_LIMIT": 1, "TESTING": True})


def test_over_the_order_rate_is_429_with_retry_after(limited, key):
    client = limited.test_client()
    assert [post(client, ORDER, key).status_code for _ in range(2)] == [201, 201]
    response = post(client, ORDER, key)
    error_of(response, 429, "rate_limited")
    assert response.headers["Retry-After"].isdigit()
    assert 1 <= int(response.headers["Retry-After"]) <= 2
    # Reads are not rate limited.
    assert client.get(f"{API}/orders", headers={"X-API-Key": key}).status_code == 200


@pytest.mark.parametrize(
    ("data", "content_type"),
    [('{"symbol": "BTC-USD"}', "text/plain"), ('{"symbol": "BTC-USD"}', None),
     ("symbol=BTC-USD", "application/x-www-form-urlencoded"), ("{}", "application/xml")],
)  # fmt: skip
def test_a_body_without_a_json_content_type_is_415(client, key, data, content_type):
    kwargs = {"content_type": content_type} if content_type else {}
    error_of(post(client, key=key, data=data, **kwargs), 415, "unsupported_media_type")


def test_json_content_types_with_parameters_or_suffixes_are_json(client, key):
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        assert post(client, key=key, data='{"symbol": "BTC-USD"}',
                    content_type=content_type).status_code == 422  # fmt: skip


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b"not json", b"[]", b'["symbol"]', b'"BTC-USD"', b"42", b"null", b"true",
     b'{"price": NaN}', b'{"a": 1} {"b": 2}', b"\xff\xfe{}", b'{"a": "\\ud800"}',
     b"[" * 2000 + b"]" * 2000],
)  # fmt: skip
def test_a_body_that_is_not_a_json_object_is_400(client, key, data):
    error_of(post(client, key=key, data=data, content_type="application/json"), 400,
             "bad_request")  # fmt: skip


def test_a_post_without_a_body_is_400(client, key):
    error_of(post(client, key=key), 400, "bad_request")


@pytest.mark.parametrize(
    ("change", "field"),
    [({"price": 100}, "price"), ({"quantity": 1.5}, "quantity"), ({"symbol": "ETH-USD"}, "symbol"),
     ({"symbol": "btc-usd"}, "symbol"), ({"price": "100.001"}, "price"),
     ({"quantity": "0.00001"}, "quantity"), ({"price": "10000000000.01"}, "price"),
     ({"color": "red"}, "color"), ({"side": "long"}, "side"), ({"post_only": "yes"}, "post_only"),
     ({"type": "market"}, "price"), ({"time_in_force": "GTD"}, "expires_at")],
)  # fmt: skip
def test_a_bad_field_is_422_on_that_field(client, key, change, field):
    error_of(post(client, {**ORDER, **change}, key), 422, "validation_error", field)


def test_an_unknown_symbol_in_a_body_is_422(client, key):
    message = error_of(post(client, {**ORDER, "symbol": "NOPE-USD"}, key), 422,
                       "validation_error", "symbol")  # fmt: skip
    assert "NOPE-USD" in message


@pytest.mark.parametrize(
    ("path", "field"),
    [("/orders?limit=0", "limit"), ("/orders?limit=1001", "limit"), ("/orders?limit=x", "limit"),
     ("/orders?status=done", "status"), ("/orders?symbol=NOPE-USD", "symbol"),
     ("/orders?client_order_id=abc", "client_order_id"), ("/orders?cursor=%25%25", "cursor"),
     ("/orders?cursor=bm9wZQ", "cursor"), ("/orders?limit=1&limit=2", "limit"),
     ("/orders?verbose=1", "verbose"), ("/fills?limit=0", "limit"),
     ("/fills?symbol=NOPE-USD", "symbol"), ("/fills?order_id=nope", "order_id"),
     ("/fills?order_id=BTC-USD:999", "order_id"), ("/fills?cursor=%25", "cursor"),
     ("/orders/BTC-USD:1?x=1", "x")],
)  # fmt: skip
def test_bad_query_parameters_on_private_reads_are_422(client, key, path, field):
    response = client.get(API + path, headers={"X-API-Key": key})
    error_of(response, 422, "validation_error", field)


@pytest.mark.parametrize(
    ("path", "field"),
    [("/book/BTC-USD?depth=0", "depth"), ("/book/BTC-USD?depth=1001", "depth"),
     ("/book/BTC-USD?depth=1e3", "depth"), ("/trades/BTC-USD?limit=0", "limit"),
     ("/trades/BTC-USD?before=0", "before"), ("/trades/BTC-USD?before=-1", "before"),
     ("/trades/BTC-USD?before=99999999999999999999", "before"), ("/symbols?all=1", "all"),
     ("/health?deep=1", "deep"), ("/openapi.json?v=2", "v")],
)  # fmt: skip
def test_bad_query_parameters_on_public_reads_are_422(client, key, path, field):
    error_of(client.get(API + path), 422, "validation_error", field)


def test_cancel_all_with_an_unknown_symbol_is_422(client, key):
    response = client.delete(f"{API}/orders?symbol=NOPE-USD", headers={"X-API-Key": key})
    error_of(response, 422, "validation_error", "symbol")


@pytest.mark.parametrize(
    "path", ["/book/NOPE-USD", "/trades/NOPE-USD", "/book/btc-usd", "/trades/x"]
)
def test_an_unknown_symbol_in_the_path_is_404(client, key, path):
    error_of(client.get(API + path), 404, "not_found")


@pytest.mark.parametrize("oid", ["BTC-USD:999", "nope", "NOPE-USD:1", "BTC-USD:-1", "BTC-USD:1x"])
def test_an_unknown_order_is_404(client, key, oid):
    error_of(client.get(f"{API}/orders/{oid}", headers={"X-API-Key": key}), 404, "not_found")
    error_of(client.delete(f"{API}/orders/{oid}", headers={"X-API-Key": key}), 404, "not_found")


def test_a_halted_symbol_is_409(client, key, r):
    SymbolRegistry(r).set_status("BTC-USD", "halted")
    error_of(post(client, ORDER, key), 409, "symbol_halted")


# --- precedence: the first that applies wins


def test_404_and_405_beat_413(client):
    error_of(client.post(f"{API}/nothing", data=BIG, content_type="application/json"), 404,
             "not_found")  # fmt: skip
    error_of(client.put(f"{API}/orders", data=BIG, content_type="application/json"), 405,
             "method_not_allowed")  # fmt: skip


def test_413_beats_401(client, key):
    error_of(post(client, data=BIG, content_type="text/plain"), 413, "payload_too_large")


def test_401_beats_415_400_and_422(client, key):
    error_of(post(client, data="{}", content_type="text/plain"), 401, "unauthorized")
    error_of(post(client, data="{", content_type="application/json"), 401, "unauthorized")
    error_of(post(client, {"price": 1}), 401, "unauthorized")
    error_of(client.get(f"{API}/orders?limit=0"), 401, "unauthorized")


def test_429_beats_415_400_and_422(limited, key):
    client = limited.test_client()
    for _ in range(2):
        post(client, ORDER, key)
    error_of(post(client, key=key, data="{}", content_type="text/plain"), 429, "rate_limited")
    error_of(post(client, key=key, data="{", content_type="application/json"), 429,
             "rate_limited")  # fmt: skip
    error_of(post(client, {"price": 1}, key), 429, "rate_limited")


def test_a_bad_body_takes_a_rate_limit_token_too(limited, key):
    client = limited.test_client()
    for _ in range(2):
        error_of(post(client, key=key, data="{", content_type="application/json"), 400,
                 "bad_request")  # fmt: skip
    error_of(post(client, ORDER, key), 429, "rate_limited")


def test_415_beats_400(client, key):
    error_of(post(client, key=key, data="{", content_type="text/plain"), 415,
             "unsupported_media_type")  # fmt: skip


def test_400_beats_422(client, key):
    response = client.post(f"{API}/orders?x=1", data="[]", content_type="application/json",
                           headers={"X-API-Key": key})  # fmt: skip
    error_of(response, 400, "bad_request")


def test_422_beats_409(client, key, r):
    SymbolRegistry(r).set_status("BTC-USD", "halted")
    error_of(post(client, {**ORDER, "price": "1.001"}, key), 422, "validation_error", "price")
    response = client.post(f"{API}/orders?x=1", json=ORDER, headers={"X-API-Key": key})
    error_of(response, 422, "validation_error", "x")


def test_422_beats_404_in_the_path(client, key):
    error_of(client.get(f"{API}/book/NOPE-USD?depth=0"), 422, "validation_error", "depth")
    error_of(client.get(f"{API}/trades/NOPE-USD?limit=0"), 422, "validation_error", "limit")
    error_of(client.get(f"{API}/orders/BTC-USD:999?x=1", headers={"X-API-Key": key}), 422,
             "validation_error", "x")  # fmt: skip


def test_404_beats_409(client, key):
    error_of(client.delete(f"{API}/orders/BTC-USD:999", headers={"X-API-Key": key}), 404,
             "not_found")  # fmt: skip


# --- Redis unreachable: a fast 503 with Retry-After


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dead_app():
    return create_app({"REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0", "TESTING": True})


@pytest.fixture
def silent_app():
    """Redis that accepts connections and never answers (a hung server)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        port = server.getsockname()[1]
        yield create_app({"REDIS_URL": f"redis://127.0.0.1:{port}/0", "TESTING": True})


REQUESTS = [
    ("get", "/symbols", {}), ("get", "/book/BTC-USD", {}), ("get", "/trades/BTC-USD", {}),
    ("get", "/orders", {"headers": {"X-API-Key": "te_1_" + "a" * 43}}),
    ("post", "/orders", {"json": ORDER, "headers": {"X-API-Key": "te_1_" + "a" * 43}}),
    ("delete", "/orders/BTC-USD:1", {"headers": {"X-API-Key": "te_1_" + "a" * 43}}),
]  # fmt: skip


@pytest.mark.parametrize("which", ["dead_app", "silent_app"])
@pytest.mark.parametrize(("method", "path", "kwargs"), REQUESTS)
def test_redis_unreachable_is_a_503_within_2_seconds(request, which, method, path, kwargs):
    client = request.getfixturevalue(which).test_client()
    started = time.monotonic()
    response = getattr(client, method)(API + path, **kwargs)
    assert time.monotonic() - started < 2.0
    error_of(response, 503, "unavailable")
    assert response.headers["Retry-After"] == "1"


def test_health_is_503_with_its_own_keys_when_redis_is_unreachable(dead_app):
    response = dead_app.test_client().get(f"{API}/health")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json() == {
        "status": "unavailable", "redis": "unreachable", "workers": 0, "scheduler": "missing",
    }  # fmt: skip


def test_a_missing_key_is_still_401_when_redis_is_down(dead_app):
    error_of(dead_app.test_client().get(f"{API}/orders"), 401, "unauthorized")


def test_an_unexpected_fault_is_a_logged_503_in_the_error_shape(app, caplog):
    @app.get(f"{API}/boom")
    def boom():
        raise RuntimeError("a bug")

    response = app.test_client().get(f"{API}/boom")
    error_of(response, 503, "unavailable")
    assert "a bug" not in response.get_data(as_text=True)  # no internals leak out
    assert any(record.exc_info and "a bug" in str(record.exc_info[1]) for record in caplog.records)


# --- no input gives a 500

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8,
)  # fmt: skip
field_values = st.one_of(
    json_values, st.sampled_from(["BTC-USD", "buy", "sell", "limit", "market", "100.00", "1",
                                  "GTD", "IOC", "FOK", "2030-01-01T00:00:00Z", "0.0001"]),
)  # fmt: skip
order_bodies = st.dictionaries(
    st.sampled_from([*ORDER, "type", "time_in_force", "expires_at", "post_only",
                     "self_trade_prevention", "client_order_id", "other"]),
    field_values, max_size=8,
) | json_values  # fmt: skip


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=order_bodies)
def test_no_order_body_gives_a_5xx(client, key, body):
    # Encoded by the stdlib: it writes integers of any size (orjson stops at 64 bits).
    response = post(client, key=key, data=json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 201, 400, 409, 422), response.get_data(as_text=True)
    if response.status_code >= 400:
        error_of(response, response.status_code, response.get_json()["error"]["code"],
                 response.get_json()["error"]["field"])  # fmt: skip


query_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/orders", "/fills", "/book/BTC-USD", "/trades/BTC-USD", "/symbols"]),
    params=st.dictionaries(
        st.sampled_from(["symbol", "status", "limit", "cursor", "client_order_id", "order_id",
                         "depth", "before"]), query_text, max_size=3),
)  # fmt: skip
def test_no_query_gives_a_5xx(client, key, path, params):
    response = client.get(API + path, query_string=params, headers={"X-API-Key": key})
    assert response.status_code in (200, 404, 422), response.get_data(as_text=True)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(oid=st.text(max_size=30).filter(lambda s: s not in ("", ".", "..")))
def test_no_order_id_gives_a_5xx(client, key, oid):
    for method in (client.get, client.delete):
        response = method(f"{API}/orders/{quote(oid, safe='')}", headers={"X-API-Key": key})
        assert response.status_code in (404, 409, 200), response.get_data(as_text=True)
