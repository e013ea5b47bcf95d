"""GET /stream: a snapshot, then updates that keep a client's book equal to the real one."""

from __future__ import annotations

import json
import random
import time

import pytest

from engine import market_stream
from engine.book import Engine
from engine.errors import ValidationFailed
from engine.keys import symbol_keys
from engine.market_stream import BookChanges
from engine.marketdata_models import StreamSnapshot, StreamUpdate
from engine.orders import PlaceRequest

API = "/api/v1"
SYMBOL = "BTC-USD"


@pytest.fixture
def engine(r, settings, make_symbol) -> Engine:
    make_symbol(SYMBOL, "0.01", "0.0001")
    return Engine(r, settings)


class ClientBook:
    """What a stream client keeps: levels by price, and the sequence they are at."""

    def __init__(self, bids, asks, sequence: int) -> None:
        self.bids = {p: (q, n) for p, q, n in bids}
        self.asks = {p: (q, n) for p, q, n in asks}
        self.sequence = sequence

    def apply(self, changes) -> None:
        assert changes.prev <= self.sequence <= changes.sequence
        for side, levels in ((self.bids, changes.bids), (self.asks, changes.asks)):
            for p, q, n in levels:
                if n == 0:
                    assert q == 0
                    side.pop(p, None)
                else:
                    side[p] = (q, n)
        self.sequence = changes.sequence

    def levels(self):
        bids = [(p, *self.bids[p]) for p in sorted(self.bids, reverse=True)]
        asks = [(p, *self.asks[p]) for p in sorted(self.asks)]
        return bids, asks


def full_book(engine: Engine):
    book = engine.book(SYMBOL, 100_000)
    return book.bids, book.asks, book.sequence


def random_step(engine: Engine, rng: random.Random, now_us: int) -> None:
    """One placement of any kind, a cancel, a cancel-all or an expiry sweep."""
    account = rng.choice(["1", "2", "3"])
    side = rng.choice(["buy", "sell"])
    roll = rng.random()
    qty = rng.randint(1, 50)
    price = rng.randint(95, 105)
    stp = rng.choice(["cancel_newest", "cancel_oldest", "cancel_both"])
    if roll < 0.45:
        engine.place(account, PlaceRequest(SYMBOL, side, "limit", qty, price=price,
                                           self_trade_prevention=stp))  # fmt: skip
    elif roll < 0.55:
        tif = rng.choice(["IOC", "FOK"])
        engine.place(account, PlaceRequest(SYMBOL, side, "limit", qty, price=price,
                                           time_in_force=tif))  # fmt: skip
    elif roll < 0.62:
        engine.place(account, PlaceRequest(SYMBOL, side, "market", qty, time_in_force="IOC",
                                           self_trade_prevention=stp))  # fmt: skip
    elif roll < 0.68:
        engine.place(account, PlaceRequest(SYMBOL, side, "limit", qty, price=price,
                                           post_only=True))  # fmt: skip
    elif roll < 0.76:
        # GTD orders that fall due within a few steps (killed on contact or by the sweep)
        expires = now_us + rng.randint(1, 30) * 1000
        try:
            gtd = PlaceRequest(SYMBOL, side, "limit", qty, price=price, time_in_force="GTD",
                               expires_at=expires)  # fmt: skip
            engine.place(account, gtd)
        except ValidationFailed:
            pass  # already due when it arrived (a busy machine): refused, nothing changed
    elif roll < 0.9:
        orders, _ = engine.list_orders(account, [SYMBOL], "open", 20, None)
        if orders:
            engine.cancel(account, rng.choice(orders).id)
    elif roll < 0.95:
        engine.cancel_all(account, SYMBOL, [SYMBOL])
    else:
        engine.expire(SYMBOL)


def test_updates_keep_a_clients_book_equal_to_the_real_one(engine, r):
    """Randomized: every kind of order, fill, kill and expiry, read in batches of any size."""
    changes = BookChanges(r)
    rng = random.Random(11)
    client = ClientBook([], [], 0)
    late = None  # a client that took its snapshot later, mid-run
    deepest = 0
    for step in range(600):
        sec, usec = r.time()
        random_step(engine, rng, int(sec) * 1_000_000 + int(usec))
        if rng.random() < 0.3:
            got = changes.read(SYMBOL, client.sequence)
            client.apply(got)
            bids, asks, seq = full_book(engine)
            if seq == got.sequence:
                assert client.levels() == (bids, asks), f"step {step}"
            deepest = max(deepest, len(bids) + len(asks))
        if step == 300:
            bids, asks, seq = full_book(engine)
            late = ClientBook(bids, asks, seq)
            late_from = client.sequence  # an update read from before its snapshot
    # The late client applies one update that starts before its snapshot: levels carry
    # values, so it ends up right as well.
    got = changes.read(SYMBOL, late_from)
    client.apply(changes.read(SYMBOL, client.sequence))
    late.apply(got)
    bids, asks, seq = full_book(engine)
    assert seq == got.sequence == client.sequence == late.sequence
    assert client.levels() == late.levels() == (bids, asks)
    assert deepest >= 8  # the book was not trivially empty


def test_an_update_lists_the_trades_after_prev_with_their_sequences(engine, r):
    engine.place("1", PlaceRequest(SYMBOL, "buy", "limit", 30, price=100))
    after = engine.book(SYMBOL, 1).sequence
    engine.place("2", PlaceRequest(SYMBOL, "sell", "limit", 10, price=99))
    engine.place("2", PlaceRequest(SYMBOL, "sell", "market", 5, time_in_force="IOC"))
    got = BookChanges(r).read(SYMBOL, after)
    assert [(p, q, side) for _seq, p, q, side, _ts in got.trades] == [(100, 10, "s"), (100, 5, "s")]
    assert [t[0] for t in got.trades] == sorted(t[0] for t in got.trades)
    assert got.bids == [(100, 15, 1)]
    assert got.asks == [(99, 0, 0)]  # touched, never rested: gone
    assert got.prev == after and got.sequence == engine.book(SYMBOL, 1).sequence


def test_changes_from_inside_a_placement_still_name_the_takers_level(engine, r):
    """A sequence between a placement's accepted entry and its trades (a client's own
    Last-Event-ID, say): the taker rests at the end of its placement, so its level counts."""
    engine.place("1", PlaceRequest(SYMBOL, "buy", "limit", 10, price=100))
    placed = engine.place("2", PlaceRequest(SYMBOL, "sell", "limit", 15, price=100))
    got = BookChanges(r).read(SYMBOL, placed.order.sequence)  # after its accepted entry
    assert got.bids == [(100, 0, 0)]
    assert got.asks == [(100, 5, 1)]
    assert [t[2] for t in got.trades] == [10]


def test_too_far_behind_or_a_trimmed_stream_asks_for_a_snapshot(engine, r):
    for i in range(5):
        engine.place("1", PlaceRequest(SYMBOL, "buy", "limit", 1, price=90 + i))
    changes = BookChanges(r)
    assert changes.read(SYMBOL, 0) is not None
    assert changes.read(SYMBOL, 0, max_entries=4) is None  # more than 4 entries after 0
    assert changes.read(SYMBOL, 99) is None  # a sequence from the future
    r.xtrim(symbol_keys(SYMBOL).events, minid="3-0", approximate=False)
    assert changes.read(SYMBOL, 0) is None  # entries 1 and 2 are gone
    assert changes.read(SYMBOL, 2) is not None


# -- the endpoint (in process) ------------------------------------------------------------------


def events(response, count: int, timeout: float = 10.0) -> list[tuple[str, str, str]]:
    """The next `count` SSE events or comments of a streamed response: (kind, id, data)."""
    out: list[tuple[str, str, str]] = []
    buffer = b""
    deadline = time.monotonic() + timeout
    chunks = iter(response.response)
    while len(out) < count:
        assert time.monotonic() < deadline, f"only {out}"
        buffer += next(chunks)
        while b"\n\n" in buffer and len(out) < count:
            block, buffer = buffer.split(b"\n\n", 1)
            kind, eid, data = "", "", ""
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    kind = "comment"
                    data = line
                elif line.startswith("retry:"):
                    kind = "retry"
                else:
                    name, _, value = line.partition(": ")
                    if name == "event":
                        kind = value
                    elif name == "id":
                        eid = value
                    elif name == "data":
                        data = value
            out.append((kind, eid, data))
    return out


@pytest.fixture
def app(app):
    """conftest's app, with its feeds stopped after the test (they would outlive its Redis)."""
    yield app
    hub = app.extensions.get("trade_engine_streams")
    if hub is not None:
        hub.close()


@pytest.fixture
def keys(make_symbol, make_account) -> tuple[str, str]:
    make_symbol(SYMBOL, "0.01", "0.0001")
    return make_account("alice"), make_account("bob")


def post(client, key, **body):
    response = client.post(f"{API}/orders", json={"symbol": SYMBOL, **body},
                           headers={"X-API-Key": key})  # fmt: skip
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_stream_starts_with_a_snapshot_then_updates_with_trades(client, keys):
    alice, bob = keys
    post(client, alice, side="buy", price="100.00", quantity="2")
    response = client.get(f"{API}/stream?symbol={SYMBOL}&depth=5", buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    try:
        (retry, snapshot) = events(response, 2)
        assert retry[0] == "retry"
        assert snapshot[0] == "snapshot"
        body = StreamSnapshot.model_validate_json(snapshot[2], strict=True).model_dump()
        assert body["bids"] == [("100.00", "2.0000", 1)] and body["asks"] == []
        assert snapshot[1] == str(body["sequence"])

        sold = post(client, bob, side="sell", price="99.00", quantity="0.5")
        (update,) = events(response, 1)
        assert update[0] == "update"
        u = StreamUpdate.model_validate_json(update[2], strict=True).model_dump()
        assert u["prev"] == body["sequence"] and update[1] == str(u["sequence"])
        (trade,) = u["trades"]
        assert trade["id"] == sold["fills"][0]["trade_id"]
        assert (trade["price"], trade["quantity"], trade["taker_side"]) == (
            "100.00",
            "0.5000",
            "sell",
        )
        assert u["bids"] == [("100.00", "1.5000", 1)]
        assert u["sequence"] == client.get(f"{API}/book/{SYMBOL}").get_json()["sequence"]
    finally:
        response.close()


def test_last_event_id_resumes_with_one_update_or_a_new_snapshot(client, keys, r):
    alice, bob = keys
    post(client, alice, side="buy", price="100.00", quantity="2")
    seen = client.get(f"{API}/book/{SYMBOL}").get_json()["sequence"]
    post(client, bob, side="sell", price="100.00", quantity="0.5")
    post(client, alice, side="sell", price="105.00", quantity="1")

    response = client.get(f"{API}/stream?symbol={SYMBOL}", headers={"Last-Event-ID": str(seen)},
                          buffered=False)  # fmt: skip
    try:
        (_retry, update) = events(response, 2)
    finally:
        response.close()
    assert update[0] == "update"
    u = json.loads(update[2])
    assert u["prev"] == seen and len(u["trades"]) == 1
    assert u["bids"] == [["100.00", "1.5000", 1]]
    # bob's sell at 100.00 touched that ask level without resting there: it says "gone"
    assert u["asks"] == [["100.00", "0.0000", 0], ["105.00", "1.0000", 1]]

    r.xtrim(
        symbol_keys(SYMBOL).events, minid=f"{seen + 2}-0", approximate=False
    )  # housekeeping trimmed it
    for last_id in (str(seen), "not-a-number", "99999999"):
        response = client.get(f"{API}/stream?symbol={SYMBOL}",
                              headers={"Last-Event-ID": last_id}, buffered=False)  # fmt: skip
        try:
            (_retry, first) = events(response, 2)
        finally:
            response.close()
        assert first[0] == "snapshot", last_id


def test_an_idle_stream_sends_heartbeats(client, keys, monkeypatch):
    monkeypatch.setattr(market_stream, "HEARTBEAT", 0.2)
    monkeypatch.setattr(market_stream, "WAKE", 0.05)
    response = client.get(f"{API}/stream?symbol={SYMBOL}", buffered=False)
    try:
        got = events(response, 4, timeout=5)
    finally:
        response.close()
    assert [kind for kind, _id, _data in got] == ["retry", "snapshot", "comment", "comment"]
    assert got[2][2].startswith(": heartbeat ")


def test_streams_of_one_symbol_share_one_feed_and_leave_it(app, client, keys):
    responses = [client.get(f"{API}/stream?symbol={SYMBOL}", buffered=False) for _ in range(3)]
    hub = app.extensions["trade_engine_streams"]
    assert hub.open_streams() == 3
    post(client, keys[0], side="buy", price="100.00", quantity="1")
    for response in responses:
        kinds = [kind for kind, _i, _d in events(response, 3)]
        assert kinds == ["retry", "snapshot", "update"]
    for response in responses:
        response.close()
    assert hub.open_streams() == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "symbol"),
        ("?symbol=NOPE-USD", "symbol"),
        ("?symbol=btc", "symbol"),
        (f"?symbol={SYMBOL}&depth=0", "depth"),
        (f"?symbol={SYMBOL}&x=1", "x"),
    ],
)
def test_stream_errors_are_json_before_the_stream_starts(client, keys, query, field):
    response = client.get(f"{API}/stream{query}")
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field
