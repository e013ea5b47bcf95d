"""Script calls on pooled connections (engine/scripts.py): what redis-py's path gave, kept."""

from __future__ import annotations

import pytest
import redis as redis_lib

from engine.scripts import Scripts

API = "/api/v1"


@pytest.fixture
def scripts(r):
    s = Scripts(r)
    r.script_load(s.book.script)
    return s


def order(price="100.00", **fields):
    return {"symbol": "BTC-USD", "side": "buy", "price": price, "quantity": "1", **fields}


def test_a_flushed_script_cache_is_reloaded_for_single_and_batch_posts(client, r, make_symbol,
                                                                       make_account):  # fmt: skip
    make_symbol("BTC-USD", "0.01", "0.0001")
    key = make_account("alice")
    headers = {"X-API-Key": key}
    assert client.post(f"{API}/orders", json=order(), headers=headers).status_code == 201
    r.script_flush()  # a restarted Redis: every EVALSHA answers NOSCRIPT
    assert client.post(f"{API}/orders", json=order(), headers=headers).status_code == 201
    r.script_flush()
    response = client.post(f"{API}/orders/batch", json={"orders": [order()] * 3}, headers=headers)
    assert [x["status"] for x in response.get_json()["results"]] == [201, 201, 201]


def test_call_many_returns_each_calls_error_in_its_place(scripts, r):
    # lua/book.lua with a depth it refuses fails on its own; the calls beside it stand.
    calls = [(["m", "b", "a", "l"], [5]), (["m", "b", "a", "l"], ["nonsense"])]
    replies = scripts.call_many("book", calls * 2)
    assert [isinstance(x, redis_lib.ResponseError) for x in replies] == [False, True] * 2


def test_a_session_uses_one_connection_and_gives_it_back(scripts, r):
    pool = r.connection_pool
    with scripts.session() as session:
        session.call("book", ["m", "b", "a", "l"], [5])
        held = session._conn
        session.call("book", ["m", "b", "a", "l"], [5])
        assert session._conn is held
        assert held not in pool.pool.queue  # checked out once, for both calls
    assert held in pool.pool.queue


def test_a_connection_that_failed_mid_call_is_not_reused_with_a_reply_in_flight(scripts, r):
    pool = r.connection_pool
    conn = pool.get_connection()
    pool.release(conn)
    r.config_set("timeout", 0)
    with scripts.session() as session:
        session.call("book", ["m", "b", "a", "l"], [5])
        held = session._conn
        held._sock.shutdown(2)  # the link drops: the next call fails
        with pytest.raises(redis_lib.ConnectionError):
            session.call("book", ["m", "b", "a", "l"], [5])
    assert held._sock is None  # disconnected before it went back to the pool
    assert scripts.call("book", ["m", "b", "a", "l"], [5])  # a fresh connection serves
