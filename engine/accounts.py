"""Accounts and their API keys; authenticating a request in one round trip (lua/auth.lua).

An account has a name (what people type) and an internal numeric id (what the books store).
Its API key is ``te_<id>_<secret>``: the id routes the lookup to the account's own keys
without a name index, and only the sha256 of the whole key is stored. Keys are never logged.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from engine import keys
from engine.codes import Code
from engine.errors import EngineError, NotFound, RateLimited, Unauthorized, ValidationFailed

NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# te_<id>_<secret>: token_urlsafe(32) gives 43 characters; accept a little either way.
KEY_RE = re.compile(r"te_([1-9][0-9]{0,17})_([A-Za-z0-9_-]{20,128})")
UNAUTHORIZED = "missing, unknown or revoked API key"


class AccountExists(EngineError):
    status, code = 409, "account_exists"


@dataclass
class Account:
    """The caller of a private request."""

    id: str
    name: str
    symbols: list[str] = field(default_factory=list)  # symbols it has placed orders in
    granted: int = 0  # rate-limit tokens this request took (a partial batch: maybe fewer)
    retry_after: float = 0.0  # seconds until the next token, when fewer were granted


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValidationFailed(
            "account name must be 1-64 characters of A-Z, a-z, 0-9, '_', '.' and '-'", "name"
        )
    return name


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _new_key(account_id: str) -> str:
    return f"te_{account_id}_{secrets.token_urlsafe(32)}"


def _now_us(redis) -> int:
    sec, usec = redis.time()
    return int(sec) * 1_000_000 + int(usec)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def account_id(redis, name: str) -> str:
    """The id of the named account; NotFound if there is none."""
    validate_name(name)
    found = redis.hget(keys.ACCOUNTS, name)
    if found is None:
        raise NotFound(f"unknown account {name!r}", "name")
    return _text(found)


def create(redis, name: str) -> dict:
    """A new account with a new key: ``{"account": name, "api_key": key}`` (shown only here)."""
    validate_name(name)
    if redis.hexists(keys.ACCOUNTS, name):
        raise AccountExists(f"account {name!r} already exists", "name")
    new_id = str(redis.incr(keys.ACCOUNT_IDS))
    api_key = _new_key(new_id)
    account_key = keys.AccountKeys(new_id).account
    # The account's hash first, its name last: until the name points at it nobody holds its
    # key, and a crash in between leaves only an unreachable hash behind.
    redis.hset(
        account_key,
        mapping={
            "name": name,
            "key_hash": key_hash(api_key),
            "revoked": "0",
            "created_us": _now_us(redis),
        },
    )
    if not redis.hsetnx(keys.ACCOUNTS, name, new_id):  # a concurrent create won the name
        redis.delete(account_key)
        raise AccountExists(f"account {name!r} already exists", "name")
    return {"account": name, "api_key": api_key}


def rotate_key(redis, name: str) -> dict:
    """A new key for the account (also after a revoke); the old key stops working at once."""
    aid = account_id(redis, name)
    api_key = _new_key(aid)
    redis.hset(
        keys.AccountKeys(aid).account,
        mapping={"name": name, "key_hash": key_hash(api_key), "revoked": "0"},
    )
    return {"account": name, "api_key": api_key}


def revoke(redis, name: str) -> dict:
    """The account's key stops working; ``rotate_key`` issues a new one."""
    aid = account_id(redis, name)
    redis.hset(keys.AccountKeys(aid).account, "revoked", "1")
    return {"account": name, "revoked": True}


@lru_cache(maxsize=4096)
def _auth_keys(aid: str) -> tuple[str, ...]:
    """KEYS of lua/auth.lua for an account id (names only: built once, not per request)."""
    return tuple(keys.AccountKeys(aid).auth_keys())


def authenticate(
    redis,
    scripts,
    api_key: str | None,
    *,
    rate_limit: int = 0,
    symbol: str | None = None,
    cost: int | None = None,
    partial: bool = False,
    more_symbols: Sequence[str] = (),
) -> Account:
    """The account of an API key, in one round trip (lua/auth.lua).

    ``rate_limit`` is orders per second (0 = off; bursts up to twice that). ``symbol`` marks
    an order placement: it takes one token (unless ``cost`` says otherwise) and is added to
    the account's symbols, so pass it only once the symbol is known to exist.
    ``partial`` (a batch of ``cost`` orders) takes as many tokens as there are, even none,
    and says how many in ``Account.granted`` instead of raising; ``more_symbols`` are marked
    too (only when a token was taken).
    Raises Unauthorized (malformed keys without touching Redis) or RateLimited.
    """
    if not api_key or not isinstance(api_key, str):
        raise Unauthorized(UNAUTHORIZED)
    match = KEY_RE.fullmatch(api_key)
    if match is None:
        raise Unauthorized(UNAUTHORIZED)
    aid = match.group(1)
    if cost is None:
        cost = 1 if symbol else 0
    reply = scripts.call(
        "auth",
        _auth_keys(aid),
        [
            key_hash(api_key),
            int(rate_limit),
            int(cost),
            symbol or "",
            "1" if partial else "",
            *more_symbols,
        ],
    )
    code = int(reply[0])
    if code == Code.OK:
        return Account(
            aid,
            _text(reply[1]),
            sorted(_text(s) for s in reply[4:]),
            granted=int(reply[2]),
            retry_after=int(reply[3]) / 1_000_000,
        )
    if code == Code.AUTH_RATE_LIMITED:
        wait = int(reply[1]) / 1_000_000
        raise RateLimited(
            f"more than {rate_limit} orders per second; retry in {wait:.3f} s", retry_after=wait
        )
    if code in (Code.AUTH_UNKNOWN_KEY, Code.AUTH_REVOKED):
        raise Unauthorized(UNAUTHORIZED)
    raise RuntimeError(f"lua/auth.lua returned an unknown code {code}")
