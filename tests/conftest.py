"""Shared fixtures: a real redis-server for the session, and the Flask app around it.

The server is started once per test session on a free port (no persistence) and stopped at
the end; every test that uses it starts from an empty database (FLUSHALL).
"""

from __future__ import annotations

import pytest
import redis as redis_lib

from engine.config import Settings
from engine.connection import make_redis
from tests.redis_server import RedisServer

# The settings every process reads: tests set what they need and must not pick up a
# developer's environment (say REDIS_URL exported for the walkthrough).
ENGINE_ENV = (
    "REDIS_URL",
    "RQ_REDIS_URL",
    "PORT",
    "ORDER_MAX_AGE",
    "ORDER_RATE_LIMIT",
    "ORDER_RETENTION",
    "MATCH_LIMIT",
    "WEB_CONCURRENCY",
)


@pytest.fixture(scope="session", autouse=True)
def _clean_environment():
    with pytest.MonkeyPatch.context() as patch:
        for name in ENGINE_ENV:
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> RedisServer:
    """One redis-server for the whole session (a port race is retried on another port)."""
    last_error: Exception | None = None
    for _ in range(3):
        server = RedisServer(tmp_path_factory.mktemp("redis"))
        try:
            server.start()
        except RuntimeError as exc:
            server.stop()
            last_error = exc
            continue
        yield server
        server.stop()
        return
    raise RuntimeError(f"could not start redis-server: {last_error}")


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the test Redis, emptied before the test."""
    client = redis_lib.Redis(port=redis_server.port)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings(redis_url=redis_url, order_rate_limit=0)


@pytest.fixture
def r(settings: Settings):
    """A decoding client (the engine's kind) on the emptied test Redis."""
    client = make_redis(settings)
    yield client
    client.close()


@pytest.fixture
def rq_r(settings: Settings):
    """A non-decoding client on the same Redis, as RQ needs."""
    client = make_redis(settings, url=settings.rq_url, decode_responses=False)
    yield client
    client.close()


@pytest.fixture
def app(redis_url: str):
    from app import create_app

    return create_app({"REDIS_URL": redis_url, "ORDER_RATE_LIMIT": 0, "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_symbol(r):
    """make_symbol(symbol="BTC-USD", tick="0.01", lot="0.0001") -> SymbolSpec."""
    from engine.symbols import SymbolRegistry

    registry = SymbolRegistry(r)

    def make(symbol: str = "BTC-USD", tick: str = "0.01", lot: str = "0.0001"):
        return registry.add(symbol, tick, lot)

    return make


@pytest.fixture
def make_account(r):
    """make_account(name="alice") -> a working API key for a new account."""
    from engine import accounts

    def make(name: str = "alice") -> str:
        return accounts.create(r, name)["api_key"]

    return make


@pytest.fixture
def alice(ctx, make_account) -> str:
    """The account id of a new account "alice" (after the test module's `ctx` fixture)."""
    from tests.lifecycle import account_id

    return account_id(make_account("alice"))


@pytest.fixture
def bob(ctx, make_account) -> str:
    """The account id of a new account "bob" (after the test module's `ctx` fixture)."""
    from tests.lifecycle import account_id

    return account_id(make_account("bob"))
