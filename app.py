"""create_app(): the WSGI entry for gunicorn (`app:create_app()`) and `flask --app app`."""

from __future__ import annotations

from typing import Any, Optional

from flask import Flask

from engine import api, web
from engine.cli import register_cli
from engine.config import Settings
from engine.context import EngineContext


def create_app(test_config: Optional[dict[str, Any]] = None) -> Flask:
    """The Flask app: settings from the environment, overridden by test_config."""
    settings = Settings.from_env().with_overrides(test_config)
    app = Flask(__name__, static_folder=None)  # an API: no /static route
    if test_config:
        app.config.update(test_config)
    app.extensions["trade_engine"] = EngineContext(settings)
    api.init_app(app)
    web.init_app(app)  # the live market page at /
    register_cli(app)
    return app
