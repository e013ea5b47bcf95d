"""Errors the engine raises; the API maps each to its status and the documented shape."""

from __future__ import annotations

from typing import Optional


class EngineError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(EngineError):
    status, code = 422, "validation_error"


class Unauthorized(EngineError):
    status, code = 401, "unauthorized"


class NotFound(EngineError):
    status, code = 404, "not_found"


class OrderNotOpen(EngineError):
    status, code = 409, "order_not_open"


class ClientOrderIdConflict(EngineError):
    status, code = 409, "client_order_id_conflict"


class SymbolHalted(EngineError):
    status, code = 409, "symbol_halted"


class RateLimited(EngineError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(EngineError):
    status, code = 503, "unavailable"


class InconsistentState(Exception):
    """The Redis state broke an invariant (a bug or tampering): CLI exit 1, API 500-free 503."""
