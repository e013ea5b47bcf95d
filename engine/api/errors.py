"""Every error the API answers, in the contract's one shape, and never a 500.

``{"error": {"code", "message", "field"}}``. Engine errors carry their own status and code;
HTTP-level ones (unknown path or method, body too large, wrong content type, bad JSON) are
defined here; a Redis that cannot be reached is a fast 503 with Retry-After.
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional

import redis
from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from engine.errors import EngineError, RateLimited, Unavailable

RETRY_AFTER_UNAVAILABLE = 1  # seconds a client should wait before trying a dead Redis again


class BadRequest(EngineError):
    status, code = 400, "bad_request"


class PayloadTooLarge(EngineError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(EngineError):
    status, code = 415, "unsupported_media_type"


def error_body(code: str, message: str, field: Optional[str] = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(
    status: int, code: str, message: str, field: Optional[str] = None, headers: Any = None
) -> Response:
    response = current_app.json.response(error_body(code, message, field))
    response.status_code = status
    if headers:
        response.headers.update(headers)
    return response


def unavailable_headers() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_UNAVAILABLE)}


def _snake(name: str) -> str:
    """ "Request-URI Too Large" -> "request_uri_too_large"."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def too_large() -> PayloadTooLarge:
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return PayloadTooLarge(f"request body is over {limit // 1024} KiB")


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", f"no such endpoint: {request.path}")
    if isinstance(exc, MethodNotAllowed):
        allowed = ", ".join(sorted(exc.valid_methods or ()))
        return error_response(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {request.path} (allowed: {allowed})",
            headers={"Allow": allowed},
        )
    if isinstance(exc, RequestEntityTooLarge):
        return _engine_error(too_large())
    if status >= 500:  # werkzeug only raises these for server faults: never answer a 500
        return _unexpected(exc)
    return error_response(status, _snake(exc.name), exc.description or exc.name)


def _engine_error(exc: EngineError) -> Response:
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    elif isinstance(exc, Unavailable):
        headers = unavailable_headers()
    return error_response(exc.status, exc.code, exc.message, exc.field, headers)


def _redis_down(exc: Exception) -> Response:
    current_app.logger.warning("Redis unreachable: %s", exc)
    return error_response(
        503, "unavailable", "the order store is unreachable; retry later", None,
        unavailable_headers(),
    )  # fmt: skip


def _unexpected(exc: BaseException) -> Response:
    # A bug or a broken invariant: logged with its traceback, answered in the documented shape
    # (the contract allows no 500), and to be fixed at its cause.
    current_app.logger.error("unexpected error on %s %s", request.method, request.path,
                             exc_info=exc)  # fmt: skip
    return error_response(
        503, "unavailable", "the request could not be completed; retry later", None,
        unavailable_headers(),
    )  # fmt: skip


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(EngineError, _engine_error)
    app.register_error_handler(redis.exceptions.ConnectionError, _redis_down)
    app.register_error_handler(redis.exceptions.TimeoutError, _redis_down)
    app.register_error_handler(Exception, _unexpected)
