"""Fixtures of the HTTP tests that trade BTC-USD with API keys (tests/test_api_*.py).

A module takes them with ``btc, alice, bob = http_accounts.btc, ...`` (pytest collects
fixtures from module attributes). Here ``alice`` and ``bob`` are API keys, where conftest's
fixtures of those names are account ids.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def btc(make_symbol):
    return make_symbol("BTC-USD", "0.01", "0.0001")


@pytest.fixture
def alice(btc, make_account) -> str:
    return make_account("alice")


@pytest.fixture
def bob(btc, make_account) -> str:
    return make_account("bob")
