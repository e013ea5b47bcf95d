"""What one process holds: settings, the Redis client, the scripts and the engine."""

from __future__ import annotations

from engine.book import Engine
from engine.config import Settings
from engine.connection import make_redis


class EngineContext:
    """Built once per process (create_app, worker, CLI); stateless beyond caches."""

    def __init__(self, settings: Settings) -> None:
        from engine.symbols import SymbolRegistry

        self.settings = settings
        self.redis = make_redis(settings)
        self.symbols = SymbolRegistry(self.redis)
        self.engine = Engine(self.redis, settings)


def current_context() -> EngineContext:
    """The EngineContext of the running Flask app."""
    from flask import current_app

    return current_app.extensions["trade_engine"]
