"""`flask --app app ...`: one JSON document on stdout and exit 0; errors on stderr and exit 1;
wrong usage exit 2."""

from __future__ import annotations

import json

import pytest

from engine import keys
from engine.accounts import authenticate
from engine.errors import Unauthorized
from engine.scripts import Scripts


def run(runner, *args: str):
    result = runner.invoke(args=list(args))
    return result.exit_code, result.stdout, result.stderr


def ok(runner, *args: str):
    code, out, err = run(runner, *args)
    assert code == 0, err
    return json.loads(out)


def fails(runner, *args: str) -> str:
    code, out, err = run(runner, *args)
    assert code == 1, (out, err)
    assert out == ""
    assert err.strip()
    return err


def test_symbols_add_list_halt_resume(runner):
    btc = ok(runner, "symbols", "add", "BTC-USD", "--tick-size", "0.01", "--lot-size", "0.0001")
    assert btc == {
        "symbol": "BTC-USD",
        "tick_size": "0.01",
        "lot_size": "0.0001",
        "status": "trading",
    }
    ok(runner, "symbols", "add", "ETH-USD", "--tick-size", "0.010", "--lot-size", "0.001")
    assert ok(runner, "symbols", "list") == {
        "symbols": [
            btc,
            {"symbol": "ETH-USD", "tick_size": "0.01", "lot_size": "0.001", "status": "trading"},
        ]
    }
    assert ok(runner, "symbols", "halt", "ETH-USD")["status"] == "halted"
    assert ok(runner, "symbols", "list")["symbols"][1]["status"] == "halted"
    assert ok(runner, "symbols", "resume", "ETH-USD")["status"] == "trading"


def test_symbols_add_again_is_a_no_op_but_other_steps_fail(runner):
    args = ["symbols", "add", "BTC-USD", "--tick-size", "0.01", "--lot-size", "0.0001"]
    assert ok(runner, *args) == ok(runner, *args)
    err = fails(runner, "symbols", "add", "BTC-USD", "--tick-size", "0.1", "--lot-size", "0.0001")
    assert "already exists" in err


def test_symbols_errors_exit_1_with_a_message(runner):
    assert "unknown symbol" in fails(runner, "symbols", "halt", "NOPE-USD")
    assert "unknown symbol" in fails(runner, "symbols", "resume", "NOPE-USD")
    assert "tick_size" in fails(
        runner, "symbols", "add", "BTC-USD", "--tick-size", "0", "--lot-size", "1"
    )
    assert "BTC-USD" in fails(
        runner, "symbols", "add", "btc-usd", "--tick-size", "1", "--lot-size", "1"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["symbols", "add", "BTC-USD"],
        ["symbols", "add", "BTC-USD", "--tick-size", "0.01"],
        ["symbols", "halt"],
        ["symbols", "nope"],
        ["accounts", "create"],
        ["accounts", "create", "a", "b"],
        ["book", "show", "BTC-USD", "--depth", "0"],
        ["book", "show", "BTC-USD", "--depth", "many"],
    ],
)
def test_wrong_usage_exits_2(runner, args):
    code, out, _ = run(runner, *args)
    assert code == 2
    assert out == ""


def test_accounts_create_rotate_revoke(runner, r):
    created = ok(runner, "accounts", "create", "alice")
    assert set(created) == {"account", "api_key"} and created["account"] == "alice"
    scripts = Scripts(r)
    assert authenticate(r, scripts, created["api_key"]).name == "alice"

    rotated = ok(runner, "accounts", "rotate-key", "alice")
    assert rotated["account"] == "alice" and rotated["api_key"] != created["api_key"]
    with pytest.raises(Unauthorized):
        authenticate(r, scripts, created["api_key"])
    assert authenticate(r, scripts, rotated["api_key"]).name == "alice"

    assert ok(runner, "accounts", "revoke", "alice") == {"account": "alice", "revoked": True}
    with pytest.raises(Unauthorized):
        authenticate(r, scripts, rotated["api_key"])


def test_accounts_errors_exit_1(runner):
    ok(runner, "accounts", "create", "alice")
    assert "already exists" in fails(runner, "accounts", "create", "alice")
    assert "unknown account" in fails(runner, "accounts", "rotate-key", "bob")
    assert "unknown account" in fails(runner, "accounts", "revoke", "bob")
    assert "account name" in fails(runner, "accounts", "create", "no spaces")


def test_book_commands_on_an_unknown_symbol_exit_1(runner):
    assert "unknown symbol" in fails(runner, "book", "show", "NOPE-USD")
    assert "unknown symbol" in fails(runner, "book", "check", "NOPE-USD")


def test_book_show_and_check_on_an_empty_book(runner, make_symbol):
    make_symbol("BTC-USD")
    assert ok(runner, "book", "show", "BTC-USD", "--depth", "5") == {
        "symbol": "BTC-USD",
        "sequence": 0,
        "bids": [],
        "asks": [],
    }
    assert ok(runner, "book", "check", "BTC-USD") == {
        "symbol": "BTC-USD",
        "ok": True,
        "faults": [],
    }


def test_book_check_reports_faults_and_exits_1(runner, make_symbol, r):
    make_symbol("BTC-USD")
    # Damage the book: a resting bid whose order record does not exist.
    r.zadd(keys.symbol_keys("BTC-USD").bids, {keys.seq_member(7): -10000})
    code, out, err = run(runner, "book", "check", "BTC-USD")
    assert code == 1
    report = json.loads(out)
    assert report["symbol"] == "BTC-USD" and report["ok"] is False and report["faults"]
    assert "fault" in err


def test_redis_unreachable_exits_1(redis_url):
    from app import create_app

    runner = create_app({"REDIS_URL": "redis://127.0.0.1:1/0"}).test_cli_runner()
    code, out, err = run(runner, "symbols", "list")
    assert code == 1 and out == "" and "Redis" in err


def trade_a_little(client, make_symbol, make_account) -> None:
    make_symbol("BTC-USD")
    alice, bob = make_account("alice"), make_account("bob")

    def post(key, side, price, quantity):
        body = {"symbol": "BTC-USD", "side": side, "price": price, "quantity": quantity}
        response = client.post("/api/v1/orders", json=body, headers={"X-API-Key": key})
        assert response.status_code == 201, response.get_json()

    post(alice, "buy", "100.00", "0.5")
    post(alice, "buy", "99.50", "1")
    post(bob, "sell", "99.00", "0.2")  # trades 0.2 at 100.00
    post(bob, "sell", "101.00", "0.25")


def test_book_show_and_check_after_trading(runner, client, make_symbol, make_account):
    trade_a_little(client, make_symbol, make_account)
    assert ok(runner, "book", "show", "BTC-USD") == {
        "symbol": "BTC-USD",
        "sequence": 5,  # four accepted orders and one trade
        "bids": [["100.00", "0.3000", 1], ["99.50", "1.0000", 1]],
        "asks": [["101.00", "0.2500", 1]],
    }
    assert ok(runner, "book", "show", "BTC-USD", "--depth", "1")["bids"] == [
        ["100.00", "0.3000", 1]
    ]
    assert ok(runner, "book", "check", "BTC-USD")["ok"] is True


def test_book_replay_after_trading(runner, client, make_symbol, make_account):
    pytest.importorskip("engine.replay", reason="engine/replay.py is not there yet")
    trade_a_little(client, make_symbol, make_account)
    assert ok(runner, "book", "replay", "BTC-USD") == {
        "symbol": "BTC-USD",
        "ok": True,
        "differences": [],
    }
    assert "unknown symbol" in fails(runner, "book", "replay", "NOPE-USD")
