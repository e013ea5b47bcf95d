"""The HTTP API: thin Flask blueprints under /api/v1 over the engine, JSON via orjson."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask, request
from flask.json.provider import JSONProvider

from .errors import register_error_handlers, too_large
from .openapi import API_PREFIX

MAX_BODY = 64 * 1024  # bytes; a larger body is a 413


class OrjsonProvider(JSONProvider):
    """Flask's JSON through orjson (fast, exact ints, no NaN)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Any:
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(orjson.dumps(obj), mimetype="application/json")


def _reject_oversized() -> None:
    """413 from the declared length alone, on every route (a GET with a body included).

    An unknown path or method keeps its 404/405: those come first in the contract.
    """
    # Most bodies declare fewer than five digits, which no length over MAX_BODY can have:
    # the environ's text answers them without parsing the header through the request.
    declared = request.environ.get("CONTENT_LENGTH")
    if declared is None or len(declared) < len(str(MAX_BODY)):
        return
    if request.routing_exception is None and (request.content_length or 0) > MAX_BODY:
        raise too_large()


def init_app(app: Flask) -> None:
    """Register the API's blueprints, error handlers and JSON on the app."""
    from . import batch, events, market, marketdata, metrics, orders, system

    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY  # bodies without a length stop reading here
    # "/orders//1" is an unknown path (404), not an HTML redirect to "/orders/1".
    app.url_map.merge_slashes = False
    app.json = OrjsonProvider(app)
    register_error_handlers(app)
    app.before_request(_reject_oversized)
    for blueprint in (system.bp, market.bp, orders.bp, batch.bp, events.bp, marketdata.bp):
        app.register_blueprint(blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(metrics.bp)  # GET /metrics, outside API_PREFIX
