"""GET /events (long poll), PUT/DELETE /account/webhook and GET /metrics over HTTP."""

from __future__ import annotations

import threading
import time

import pytest

from engine import event_models
from engine.symbols import SymbolRegistry
from tests.lifecycle import account_id, fan_out, place

API = "/api/v1"


@pytest.fixture
def ctx(app, r):
    SymbolRegistry(r).add("BTC-USD", "0.01", "0.0001")
    return app.extensions["trade_engine"]


@pytest.fixture
def alice_key(ctx, make_account):
    return make_account("alice")


@pytest.fixture
def bob_key(ctx, make_account):
    return make_account("bob")


def events(client, key, expect=200, **query):
    response = client.get(f"{API}/events", query_string=query, headers={"X-API-Key": key})
    assert response.status_code == expect, response.get_data(as_text=True)
    if expect == 200:
        event_models.EventList.model_validate_json(response.data, strict=True)
    return response.get_json()


def test_the_feed_pages_oldest_first_with_a_cursor(client, ctx, alice_key, bob_key):
    alice, bob = account_id(alice_key), account_id(bob_key)
    for i in range(3):
        place(ctx, alice, "sell", 1, 10000 + i)
    place(ctx, bob, "buy", 3, 10002)
    fan_out(ctx)
    first = events(client, alice_key, limit=4)
    assert [e["type"] for e in first["events"]] == ["order.enqueued"] * 3 + ["order.filled"]
    rest = events(client, alice_key, after=first["next_cursor"])
    assert [e["type"] for e in rest["events"]] == ["order.filled"] * 2
    nothing = events(client, alice_key, after=rest["next_cursor"])
    assert nothing == {"events": [], "next_cursor": rest["next_cursor"]}  # poll on from there
    assert events(client, bob_key)["events"][0]["order"]["side"] == "buy"  # only its own


def test_an_account_with_no_events_gets_an_empty_feed(client, ctx, alice_key):
    assert events(client, alice_key) == {"events": [], "next_cursor": None}


def test_a_long_poll_answers_when_the_first_event_arrives(client, ctx, alice_key):
    alice = account_id(alice_key)

    def later():
        time.sleep(0.4)
        place(ctx, alice, "sell", 1, 10000)
        fan_out(ctx, consumer="later")

    thread = threading.Thread(target=later)
    started = time.monotonic()
    thread.start()
    body = events(client, alice_key, wait=5)
    thread.join()
    assert 0.3 < time.monotonic() - started < 3
    assert [e["type"] for e in body["events"]] == ["order.enqueued"]


def test_a_long_poll_with_nothing_to_say_answers_after_its_wait(client, ctx, alice_key):
    started = time.monotonic()
    assert events(client, alice_key, wait=1)["events"] == []
    assert 0.9 < time.monotonic() - started < 2


@pytest.mark.parametrize(
    "query, field",
    [
        ({"wait": "31"}, "wait"),
        ({"wait": "-1"}, "wait"),
        ({"wait": "1.5"}, "wait"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"after": "not-a-cursor"}, "after"),
        ({"since": "1"}, "since"),
    ],
)
def test_bad_parameters_are_422(client, ctx, alice_key, query, field):
    body = events(client, alice_key, expect=422, **query)
    assert body["error"]["code"] == "validation_error" and body["error"]["field"] == field


def test_events_and_webhook_need_a_key(client, ctx):
    assert client.get(f"{API}/events").status_code == 401
    assert client.put(f"{API}/account/webhook", json={"url": "http://x.test/"}).status_code == 401
    assert client.delete(f"{API}/account/webhook").status_code == 401


def test_put_webhook_gives_a_secret_kept_until_rotated_and_delete_is_204(client, ctx, alice_key):
    headers = {"X-API-Key": alice_key}
    url = "https://hooks.example.com/te"
    first = client.put(f"{API}/account/webhook", json={"url": url}, headers=headers)
    assert first.status_code == 200
    body = first.get_json()
    event_models.Webhook.model_validate(body, strict=True)
    assert body["url"] == url
    again = client.put(f"{API}/account/webhook", json={"url": url + "/2"}, headers=headers)
    assert again.get_json() == {"url": url + "/2", "secret": body["secret"]}
    rotated = client.put(
        f"{API}/account/webhook", json={"url": url, "rotate_secret": True}, headers=headers
    ).get_json()
    assert rotated["secret"] != body["secret"]
    gone = client.delete(f"{API}/account/webhook", headers=headers)
    assert gone.status_code == 204 and gone.data == b""


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "url"),
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "example.com/x"}, "url"),
        ({"url": "https://user:pw@example.com/"}, "url"),
        ({"url": 5}, "url"),
        ({"url": "https://example.com/", "rotate_secret": "yes"}, "rotate_secret"),
        ({"url": "https://example.com/", "secret": "mine"}, "secret"),
    ],
)
def test_a_bad_webhook_body_is_422(client, ctx, alice_key, body, field):
    response = client.put(f"{API}/account/webhook", json=body, headers={"X-API-Key": alice_key})
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["error"]["field"] == field


def test_metrics_are_prometheus_text_read_from_redis(client, ctx, alice_key, bob_key):
    alice, bob = account_id(alice_key), account_id(bob_key)
    place(ctx, alice, "sell", 2, 10000)
    place(ctx, bob, "buy", 3, 10000, time_in_force="IOC")
    place(ctx, bob, "buy", 1, 9000)
    before = client.get("/metrics").get_data(as_text=True)
    # 5 entries: 3 accepted orders, a trade, the IOC's kill; none handled yet
    assert 'te_event_lag{symbol="BTC-USD"} 5.0' in before
    fan_out(ctx)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    for line in (
        'te_orders_accepted_total{symbol="BTC-USD"} 3.0',
        'te_orders_final_total{reason="",status="filled",symbol="BTC-USD"} 1.0',
        'te_orders_final_total{reason="immediate_or_cancel",status="killed",symbol="BTC-USD"} 1.0',
        'te_orders_open{symbol="BTC-USD"} 1.0',
        'te_trades_total{symbol="BTC-USD"} 1.0',
        'te_event_lag{symbol="BTC-USD"} 0.0',
        'te_expiry_lateness_seconds_bucket{le="+Inf"} 0.0',
        "te_webhook_failures_total 0.0",
        'te_queue_depth{queue="expiry"} 0.0',
    ):
        assert line in text, line
