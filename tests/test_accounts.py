"""Accounts and API keys against a real Redis: create, rotate, revoke, authenticate, rate limit."""

from __future__ import annotations

import hashlib
import re
import time

import pytest

from engine import accounts, keys
from engine.accounts import Account, AccountExists, authenticate
from engine.config import Settings
from engine.connection import make_redis
from engine.errors import NotFound, RateLimited, Unauthorized, ValidationFailed
from engine.scripts import Scripts


@pytest.fixture
def scripts(r):
    return Scripts(r)


def test_create_returns_a_key_that_authenticates(r, scripts):
    created = accounts.create(r, "alice")
    assert created["account"] == "alice"
    assert re.fullmatch(r"te_[0-9]+_[A-Za-z0-9_-]{43}", created["api_key"])
    account = authenticate(r, scripts, created["api_key"])
    assert account == Account(id=account.id, name="alice", symbols=[])
    assert created["api_key"].startswith(f"te_{account.id}_")


def test_only_a_hash_of_the_key_is_stored(r):
    key = accounts.create(r, "alice")["api_key"]
    secret = key.rsplit("_", 1)[1]
    for name in r.scan_iter("*"):
        dump = repr(r.dump(name))
        assert key not in dump and secret not in dump
    account_id = r.hget(keys.ACCOUNTS, "alice")
    stored = r.hgetall(keys.AccountKeys(account_id).account)
    assert stored["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert stored["name"] == "alice" and stored["revoked"] == "0"
    assert int(stored["created_us"]) > 1_600_000_000_000_000


def test_accounts_get_distinct_ids_and_keys(r, scripts):
    a = accounts.create(r, "alice")["api_key"]
    b = accounts.create(r, "bob")["api_key"]
    assert authenticate(r, scripts, a).id != authenticate(r, scripts, b).id
    assert authenticate(r, scripts, b).name == "bob"


def test_an_existing_name_cannot_be_created_again(r, scripts):
    key = accounts.create(r, "alice")["api_key"]
    with pytest.raises(AccountExists, match="already exists"):
        accounts.create(r, "alice")
    assert authenticate(r, scripts, key).name == "alice"  # the first key still works


@pytest.mark.parametrize("name", ["", "a" * 65, "with space", "ü", "a/b", "semi;colon"])
def test_bad_names_are_refused(r, name):
    with pytest.raises(ValidationFailed):
        accounts.create(r, name)


def test_names_may_use_letters_digits_dot_dash_underscore(r):
    assert accounts.create(r, "Desk_1.fx-2")["account"] == "Desk_1.fx-2"
    assert accounts.create(r, "b" * 64)["account"] == "b" * 64


def test_rotate_key_replaces_the_key(r, scripts):
    old = accounts.create(r, "alice")["api_key"]
    rotated = accounts.rotate_key(r, "alice")
    assert rotated["account"] == "alice" and rotated["api_key"] != old
    with pytest.raises(Unauthorized):
        authenticate(r, scripts, old)
    assert authenticate(r, scripts, rotated["api_key"]).name == "alice"


def test_revoke_stops_the_key_and_rotate_issues_a_working_one(r, scripts):
    key = accounts.create(r, "alice")["api_key"]
    assert accounts.revoke(r, "alice") == {"account": "alice", "revoked": True}
    with pytest.raises(Unauthorized, match="missing, unknown or revoked API key"):
        authenticate(r, scripts, key)
    fresh = accounts.rotate_key(r, "alice")["api_key"]
    assert authenticate(r, scripts, fresh).name == "alice"


def test_unknown_names_are_not_found(r):
    with pytest.raises(NotFound):
        accounts.rotate_key(r, "nobody")
    with pytest.raises(NotFound):
        accounts.revoke(r, "nobody")


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        "te_",
        "te_1_",
        "te_x_abcdefghijklmnopqrstuvwxyz",
        "te_01_abcdefghijklmnopqrstuvwxyz",
        "sk_1_abcdefghijklmnopqrstuvwxyz",
        "te_1_abc def ghijklmnopqrstuvwxyz",
        "te_1_" + "a" * 500,
    ],
)
def test_malformed_keys_are_refused_without_touching_redis(bad):
    # A client on a port where nothing listens: any Redis call would fail differently.
    dead = make_redis(Settings(redis_url="redis://127.0.0.1:1/0"))
    with pytest.raises(Unauthorized):
        authenticate(dead, Scripts(dead), bad)


def test_a_wrong_secret_or_unknown_id_is_unauthorized(r, scripts):
    key = accounts.create(r, "alice")["api_key"]
    prefix, secret = key.rsplit("_", 1)
    wrong = prefix + "_" + ("A" if secret[0] != "A" else "B") + secret[1:]
    with pytest.raises(Unauthorized):
        authenticate(r, scripts, wrong)
    with pytest.raises(Unauthorized):
        authenticate(r, scripts, "te_999_" + secret)


def test_a_placement_adds_its_symbol_to_the_account(r, scripts):
    key = accounts.create(r, "alice")["api_key"]
    assert authenticate(r, scripts, key, symbol="ETH-USD").symbols == ["ETH-USD"]
    assert authenticate(r, scripts, key, symbol="BTC-USD").symbols == ["BTC-USD", "ETH-USD"]
    assert authenticate(r, scripts, key).symbols == ["BTC-USD", "ETH-USD"]


def test_rate_limit_allows_a_burst_of_twice_the_rate_then_429(r, scripts):
    key = accounts.create(r, "alice")["api_key"]
    for _ in range(10):  # 5 orders/s: a burst of 10
        authenticate(r, scripts, key, rate_limit=5, symbol="BTC-USD")
    with pytest.raises(RateLimited) as limited:
        authenticate(r, scripts, key, rate_limit=5, symbol="BTC-USD")
    assert limited.value.status == 429
    assert 0 < limited.value.retry_after <= 0.2 + 0.01  # one token comes every 0.2 s
    # Requests that place nothing take no token and are never limited.
    for _ in range(20):
        authenticate(r, scripts, key, rate_limit=5)
    time.sleep(limited.value.retry_after + 0.02)
    authenticate(r, scripts, key, rate_limit=5, symbol="BTC-USD")
    with pytest.raises(RateLimited):
        authenticate(r, scripts, key, rate_limit=5, symbol="BTC-USD")


def test_rate_limit_refills_at_the_rate_and_is_per_account(r, scripts):
    alice = accounts.create(r, "alice")["api_key"]
    bob = accounts.create(r, "bob")["api_key"]
    for _ in range(40):
        authenticate(r, scripts, alice, rate_limit=20, symbol="BTC-USD")
    with pytest.raises(RateLimited):
        authenticate(r, scripts, alice, rate_limit=20, symbol="BTC-USD")
    authenticate(r, scripts, bob, rate_limit=20, symbol="BTC-USD")  # bob's bucket is full
    time.sleep(0.5)  # 20/s for 0.5 s: about 10 tokens
    allowed = 0
    for _ in range(20):
        try:
            authenticate(r, scripts, alice, rate_limit=20, symbol="BTC-USD")
            allowed += 1
        except RateLimited:
            break
    assert 9 <= allowed <= 12


def test_a_rate_of_zero_turns_the_limit_off(r, scripts):
    key = accounts.create(r, "alice")["api_key"]
    for _ in range(300):
        authenticate(r, scripts, key, rate_limit=0, symbol="BTC-USD")
    assert not r.exists(keys.AccountKeys(authenticate(r, scripts, key).id).rate)


def test_a_revoked_key_is_refused_before_the_rate_limit(r, scripts):
    key = accounts.create(r, "alice")["api_key"]
    accounts.revoke(r, "alice")
    for _ in range(5):
        with pytest.raises(Unauthorized):
            authenticate(r, scripts, key, rate_limit=1, symbol="BTC-USD")
