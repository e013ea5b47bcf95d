"""Authorization matrix: every private endpoint, every kind of bad key, every kind of object.

Alice owns an open (partly filled), a filled and a killed order, fills, events and a
webhook. Against every private operation of the OpenAPI document, with each of alice's
objects in the path: no key, an empty or malformed key, a wrong secret for alice's own id,
an unknown account, a revoked key and a rotated-away key are all 401, and the dataset does
not change at all. Bob's valid key reaches none of alice's objects: reads answer exactly as
for an order that does not exist, cancels are 404 and kill nothing of hers, his lists and
events show nothing of hers, and his writes (an order with her client_order_id, his own
webhook) leave everything of hers as it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket

import pytest

from engine import accounts, jobs, keys
from engine.api.openapi import API_PREFIX, openapi_document
from engine.context import EngineContext
from tests.state import changed, digest

API = API_PREFIX
BTC = "BTC-USD"


def private_operations() -> list[tuple[str, str]]:
    doc = openapi_document()
    return sorted(
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if op.get("security")
    )


PRIVATE = private_operations()
DOCUMENTED = {path for _m, path in PRIVATE}
EVENTS, WEBHOOK = f"{API}/events", f"{API}/account/webhook"


def needs(path: str):
    """Skip (with the reason) a check of an endpoint the OpenAPI document does not list yet."""
    return pytest.mark.skipif(path not in DOCUMENTED, reason=f"{path} is not in the API yet")


@pytest.fixture
def world(app, client, r, settings, make_symbol):
    make_symbol(BTC, "0.01", "0.0001")
    alice = accounts.create(r, "alice")["api_key"]
    bob = accounts.create(r, "bob")["api_key"]
    revoked = accounts.create(r, "mallory")["api_key"]
    accounts.revoke(r, "mallory")
    rotated_away = alice
    alice = accounts.rotate_key(r, "alice")["api_key"]

    def post(key, **body):
        response = client.post(f"{API}/orders", json={"symbol": BTC, **body},
                               headers={"X-API-Key": key})  # fmt: skip
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    open_order = post(alice, side="buy", price="100.00", quantity="1", client_order_id="a-open")
    post(bob, side="sell", price="99.00", quantity="0.4")  # fills part of alice's bid
    filled = post(alice, side="sell", price="102.00", quantity="0.2", client_order_id="a-fill")
    post(bob, side="buy", price="102.00", quantity="0.2")  # takes alice's ask
    killed = post(alice, side="sell", price="105.00", quantity="0.3", client_order_id="a-kill")
    assert (
        client.delete(f"{API}/orders/{killed['id']}", headers={"X-API-Key": alice}).status_code
        == 200
    )
    if WEBHOOK in DOCUMENTED:
        response = client.put(WEBHOOK, json={"url": "https://alice.example/hook"},
                              headers={"X-API-Key": alice})  # fmt: skip
        assert response.status_code == 200, response.get_json()
    return {
        "alice": alice, "bob": bob, "revoked": revoked, "rotated_away": rotated_away,
        "orders": {"open": open_order["id"], "filled": filled["id"], "killed": killed["id"]},
        "alice_id": accounts.account_id(r, "alice"),
    }  # fmt: skip


def request(client, method: str, path: str, key, order_id: str):
    """One call of an operation with alice's object in its path and a valid body or query."""
    url = path.replace("{order_id}", order_id)
    kwargs: dict = {"headers": {} if key is None else {"X-API-Key": key}}
    if (method, path) == ("POST", f"{API}/orders"):
        kwargs["json"] = {"symbol": BTC, "side": "buy", "price": "90.00", "quantity": "1"}
    elif (method, path) == ("POST", f"{API}/orders/batch"):
        kwargs["json"] = {"orders": [{"symbol": BTC, "side": "buy", "price": "90.00",
                                      "quantity": "1"}]}  # fmt: skip
    elif method == "PUT":
        kwargs["json"] = {"url": "https://mallory.example/hook", "rotate_secret": True}
    elif path == f"{API}/fills":
        url += f"?order_id={order_id}"
    elif (method, path) == ("GET", f"{API}/orders"):
        url += f"?symbol={BTC}&client_order_id=a-open"
    return getattr(client, method.lower())(url, **kwargs)


BAD_KEYS = ["none", "empty", "malformed", "wrong secret", "unknown account", "revoked",
            "rotated away", "lower-cased"]  # fmt: skip


def bad_key(world, kind: str):
    alice = world["alice"]
    return {
        "none": None,
        "empty": "",
        "malformed": "Bearer " + alice,
        "wrong secret": f"te_{world['alice_id']}_" + "A" * 43,
        "unknown account": "te_424242_" + secret_of(alice),
        "revoked": world["revoked"],
        "rotated away": world["rotated_away"],
        "lower-cased": alice.lower() if alice.lower() != alice else alice.upper(),
    }[kind]


@pytest.mark.parametrize(("method", "path"), PRIVATE, ids=[f"{m} {p}" for m, p in PRIVATE])
def test_a_bad_key_is_401_on_every_private_endpoint_and_changes_nothing(
    client, r, world, method, path
):
    targets = world["orders"].values() if "{order_id}" in path else ["-"]
    before = digest(r)
    for kind in BAD_KEYS:
        for order_id in targets:
            response = request(client, method, path, bad_key(world, kind), order_id)
            assert response.status_code == 401, (kind, order_id, response.get_data()[:200])
            assert response.get_json()["error"]["code"] == "unauthorized"
    assert changed(before, digest(r)) == []


@pytest.mark.parametrize("kind", ["open", "filled", "killed"])
def test_another_accounts_orders_are_not_found_and_not_changed(client, r, world, kind):
    bob = {"X-API-Key": world["bob"]}
    oid = world["orders"][kind]
    symbol, seq = oid.rsplit(":", 1)
    missing = f"{symbol}:{int(seq) + 1000}"  # an order that does not exist
    before = digest(r)
    for method in ("get", "delete"):
        theirs = getattr(client, method)(f"{API}/orders/{oid}", headers=bob)
        nobody = getattr(client, method)(f"{API}/orders/{missing}", headers=bob)
        assert theirs.status_code == nobody.status_code == 404
        assert theirs.get_json() == nobody.get_json()  # not even the message tells them apart
    theirs = client.get(f"{API}/fills?order_id={oid}", headers=bob)
    nobody = client.get(f"{API}/fills?order_id={missing}", headers=bob)
    assert theirs.status_code == nobody.status_code and theirs.get_json() == nobody.get_json()
    assert changed(before, digest(r)) == []


def test_another_accounts_lists_show_nothing_of_alices(client, r, world):
    bob = {"X-API-Key": world["bob"]}
    alices = set(world["orders"].values())
    before = digest(r)
    listed = client.get(f"{API}/orders?limit=1000", headers=bob).get_json()["orders"]
    assert listed and not alices & {o["id"] for o in listed}
    fills = client.get(f"{API}/fills?limit=1000", headers=bob).get_json()["fills"]
    assert fills and not alices & {f["order_id"] for f in fills}
    by_client_id = client.get(f"{API}/orders?symbol={BTC}&client_order_id=a-open", headers=bob)
    assert by_client_id.get_json() == {"orders": [], "next_cursor": None}
    killed = client.delete(f"{API}/orders?symbol={BTC}", headers=bob)
    assert killed.status_code == 200 and killed.get_json() == {"killed": []}
    assert changed(before, digest(r)) == []


@needs(EVENTS)
def test_another_accounts_events_show_nothing_of_alices(client, world, settings):
    jobs.use_context(EngineContext(settings))
    try:
        jobs.fan_out()  # what the workers do: fills and kills become the accounts' events
    finally:
        jobs.use_context(None)
    alices = set(world["orders"].values())
    seen = {}
    for who in ("alice", "bob"):
        response = client.get(f"{EVENTS}?limit=1000", headers={"X-API-Key": world[who]})
        assert response.status_code == 200
        seen[who] = {e["order"]["id"] for e in response.get_json()["events"]}
    assert seen["alice"] == alices  # the feed works: alice sees each of her orders
    assert seen["bob"] and not seen["bob"] & alices  # bob sees his, and none of hers


def alices_view(client, world) -> dict:
    alice = {"X-API-Key": world["alice"]}
    view = {oid: client.get(f"{API}/orders/{oid}", headers=alice).get_json()
            for oid in world["orders"].values()}  # fmt: skip
    view["orders"] = client.get(f"{API}/orders?limit=1000", headers=alice).get_json()
    view["fills"] = client.get(f"{API}/fills?limit=1000", headers=alice).get_json()
    if EVENTS in DOCUMENTED:
        view["events"] = client.get(f"{EVENTS}?limit=1000", headers=alice).get_json()
    return view


def test_another_accounts_writes_leave_alices_things_as_they_were(client, r, world):
    bob = {"X-API-Key": world["bob"]}
    before = alices_view(client, world)
    webhook_before = r.hgetall(keys.AccountKeys(world["alice_id"]).account)
    # Alice's client_order_id is hers only: the same body from bob is bob's new order.
    same = {"symbol": BTC, "side": "buy", "price": "100.00", "quantity": "1",
            "client_order_id": "a-open"}  # fmt: skip
    response = client.post(f"{API}/orders", json=same, headers=bob)
    assert response.status_code == 201
    assert response.get_json()["id"] not in world["orders"].values()
    client.delete(f"{API}/orders?symbol={BTC}", headers=bob)
    if WEBHOOK in DOCUMENTED:
        assert client.put(WEBHOOK, json={"url": "https://bob.example/hook"},
                          headers=bob).status_code == 200  # fmt: skip
        assert client.delete(WEBHOOK, headers=bob).status_code == 204
    assert alices_view(client, world) == before
    assert r.hgetall(keys.AccountKeys(world["alice_id"]).account) == webhook_before


@needs(WEBHOOK)
def test_another_accounts_webhook_calls_touch_only_their_own(client, r, world):
    alice_keys = [k for k in r.scan_iter(match=f"*{{a:{world['alice_id']}}}*")]
    before = {k: r.dump(k) for k in alice_keys}
    bob = {"X-API-Key": world["bob"]}
    put = client.put(WEBHOOK, json={"url": "https://bob.example/hook", "rotate_secret": True},
                     headers=bob)  # fmt: skip
    assert put.status_code == 200 and put.get_json()["url"] == "https://bob.example/hook"
    assert client.delete(WEBHOOK, headers=bob).status_code == 204
    assert {k: r.dump(k) for k in alice_keys} == before


def test_keys_are_stored_only_as_sha256_digests(r, world):
    alice_id = world["alice_id"]
    stored = r.hgetall(keys.AccountKeys(alice_id).account)
    assert stored["key_hash"] == hashlib.sha256(world["alice"].encode()).hexdigest()
    secrets = [world[k] for k in ("alice", "bob", "revoked", "rotated_away")]
    for key in r.scan_iter(count=1000):
        blob = r.dump(key)
        for secret in secrets:
            assert secret.encode() not in blob, key
            assert secret_of(secret).encode() not in blob, key


def test_nothing_logs_a_key_even_when_things_fail(app, client, world, caplog, monkeypatch):
    """Every logger at DEBUG through a success, each 4xx, an unexpected fault and a 503."""
    caplog.set_level(logging.DEBUG)
    alice = {"X-API-Key": world["alice"]}
    client.get(f"{API}/orders", headers=alice)
    client.get(f"{API}/orders/{BTC}:999999", headers=alice)
    client.post(f"{API}/orders", data="{", content_type="application/json", headers=alice)
    client.get(f"{API}/orders", headers={"X-API-Key": world["alice"] + "x"})
    client.get(f"{API}/orders", headers={"X-API-Key": world["revoked"]})
    ctx = app.extensions["trade_engine"]

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(ctx.engine, "get_order", broken)
    assert client.get(f"{API}/orders/{world['orders']['open']}", headers=alice).status_code == 503
    ctx.redis.connection_pool.reset()
    monkeypatch.setitem(ctx.redis.connection_pool.connection_kwargs, "port", closed_port())
    assert client.get(f"{API}/orders", headers=alice).status_code == 503
    text = caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    assert "a bug" in text and "unreachable" in text.lower()  # the logs did capture both
    for secret in (world["alice"], world["revoked"], secret_of(world["alice"])):
        assert secret not in text


def secret_of(api_key: str) -> str:
    """The secret part of te_<id>_<secret> (the secret may hold '_' itself)."""
    return accounts.KEY_RE.fullmatch(api_key).group(2)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
