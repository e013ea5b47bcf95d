"""What a view reads from a request: its body, its query, its caller, its symbol.

The contract orders errors 413, 401, 429, 415, 400, 422: a view reads the body first (an
oversized one fails at once), authenticates, and only then reports what was wrong with the
body (`Body.object()`), then validates fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, TypeVar

import orjson
from flask import request
from pydantic import BaseModel

from engine.accounts import Account, authenticate
from engine.context import EngineContext
from engine.errors import EngineError, InconsistentState, NotFound, ValidationFailed
from engine.models import NoQuery, validate
from engine.scripts import ScriptSession
from engine.symbols import SymbolSpec

from .errors import BadRequest, UnsupportedMediaType, too_large

M = TypeVar("M", bound=BaseModel)

API_KEY_HEADER = "X-API-Key"
_NO_QUERY = NoQuery()


@dataclass(frozen=True)
class Body:
    """A request body read in full (at most MAX_CONTENT_LENGTH), its problem kept for later."""

    value: Any = None
    problem: Optional[EngineError] = None

    def object(self) -> dict[str, Any]:
        """The JSON object, or the 415/400 this body deserves."""
        if self.problem is not None:
            raise self.problem
        return self.value

    def peek(self, name: str) -> Optional[str]:
        """A string member of the object if there is one (before the body is validated)."""
        value = self.value.get(name) if isinstance(self.value, dict) else None
        return value if isinstance(value, str) else None


def _read_raw() -> bytes:
    """The body, never more than MAX_CONTENT_LENGTH bytes of it read; 413 past that."""
    limit = request.max_content_length
    if limit is None or request.content_length is not None:
        return request.get_data(cache=True)  # a declared length over the limit: 413
    if "wsgi.input_terminated" not in request.environ:
        return b""  # no length and a server that does not end the stream: unsafe to read
    # A body without a length (chunked): werkzeug would stop quietly at the limit and hand
    # over a truncated body, so read up to one byte past it ourselves.
    stream, chunks, size = request.environ["wsgi.input"], [], 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise too_large()
    return b"".join(chunks)


def read_body() -> Body:
    """The request's JSON object; raises only for 413 (the read itself is bounded)."""
    raw = _read_raw()
    if not raw:
        return Body(problem=BadRequest("the request body must be a JSON object"))
    if not request.is_json:
        return Body(
            problem=UnsupportedMediaType(
                "the request body must be sent with Content-Type: application/json"
            )
        )
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Body(problem=BadRequest(f"the request body is not valid JSON: {exc}"))
    if not isinstance(value, dict):
        return Body(problem=BadRequest("the request body must be a JSON object"))
    return Body(value)


def query(model: type[M]) -> M:
    """The query string validated by `model`: unknown or repeated parameters are a 422."""
    if model is NoQuery and not request.query_string:
        return _NO_QUERY  # the common case: nothing to validate
    args = request.args
    for name in args:
        if len(args.getlist(name)) > 1:
            raise ValidationFailed(f"{name} must be given once", name)
    return validate(model, args.to_dict())


def caller(
    ctx: EngineContext,
    *,
    placement: bool = False,
    symbol: Optional[str] = None,
    session: Optional[ScriptSession] = None,
) -> Account:
    """The account behind X-API-Key, in one round trip: 401, or 429 for a placement.

    A placement takes a rate-limit token whatever its body holds (so a flood of bad bodies is
    limited too, and 429 comes before 415/400/422 as the contract orders them); `symbol`,
    once known to exist, joins the account's symbols. `session` runs the round trip on the
    request's script session (the placement then uses the same connection).
    """
    return authenticate(
        ctx.redis,
        session or ctx.engine.scripts,
        request.headers.get(API_KEY_HEADER),
        rate_limit=ctx.settings.order_rate_limit if placement else 0,
        symbol=symbol,
        cost=1 if placement else 0,
    )


def known_symbol(ctx: EngineContext, symbol: str, field: str = "symbol") -> SymbolSpec:
    """The spec of a symbol named in a body or query: unknown is a 422 on that field."""
    spec = ctx.symbols.get(symbol)
    if spec is None:
        raise ValidationFailed(f"unknown symbol {symbol}", field)
    return spec


def path_symbol(ctx: EngineContext, symbol: str) -> SymbolSpec:
    """The spec of a symbol named in the path: unknown is a 404."""
    spec = ctx.symbols.get(symbol)
    if spec is None:
        raise NotFound(f"unknown symbol {symbol}")
    return spec


def spec_of(ctx: EngineContext, symbol: str) -> SymbolSpec:
    """The spec of a symbol the engine answered about: it must exist."""
    spec = ctx.symbols.get(symbol)
    if spec is None:
        raise InconsistentState(f"the engine returned data of unknown symbol {symbol!r}")
    return spec
