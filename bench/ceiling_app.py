"""The thinnest HTTP endpoint that places an order: the ceiling the API is measured against.

POST /api/v1/orders takes a JSON limit order, converts its decimals with the symbol's fixed
steps and calls bench/baseline.lua once: no API key, no validation beyond what a KeyError
or a bad decimal gives, no rendering beyond three fields. bench/http.py serves it with the
Procfile's web command (`bench.ceiling_app:create_app()` in place of `app:create_app()`).
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import redis
from flask import Flask, request

BASELINE_LUA = Path(__file__).with_name("baseline.lua")
STEPS = {
    "BTC-USD": (Decimal("0.01"), Decimal("0.0001")),
    "ETH-USD": (Decimal("0.01"), Decimal("0.001")),
}


def create_app() -> Flask:
    app = Flask(__name__)
    client = redis.Redis.from_url(
        os.environ.get("REDIS_URL", "redis://localhost:6379/0"), decode_responses=True,
        protocol=2, socket_timeout=1.5, socket_connect_timeout=1.0,
    )  # fmt: skip
    script = client.register_script(BASELINE_LUA.read_text())

    @app.post("/api/v1/orders")
    def place() -> tuple[dict, int]:
        order = request.get_json()
        symbol = order["symbol"]
        tick, lot = STEPS[symbol]
        tag = f"bl:{{{symbol}}}"
        member, filled, status = script(
            keys=[f"{tag}:bids", f"{tag}:asks", f"{tag}:seq", f"{tag}:trades"],
            args=["p", order["side"][0], int(Decimal(order["price"]) / tick),
                  int(Decimal(order["quantity"]) / lot), f"{tag}:o:", 10000],
        )  # fmt: skip
        return {"id": f"{symbol}:{int(member)}", "status": status, "filled": filled}, 201

    return app
