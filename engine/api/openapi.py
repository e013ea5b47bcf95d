"""The OpenAPI 3.1 document, generated from the models that validate requests (engine/models.py).

OPERATIONS lists every endpoint once; a later feature adds its row here and its route in a
blueprint (tests check that the two agree). Schemas are pydantic's JSON Schema (2020-12,
which OpenAPI 3.1 uses as is), collected under components/schemas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Optional

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from engine import event_models as em
from engine import marketdata_models as mm
from engine import models as m

API_PREFIX = "/api/v1"
REF = "#/components/schemas/{model}"

# What each error status means here (the contract's table).
ERRORS = {
    400: "The body is not valid JSON, or not an object (bad_request).",
    401: "Missing, unknown or revoked API key (unauthorized).",
    404: "Unknown order, or symbol in the path (not_found). An order of another account "
    "is not found either.",
    409: "order_not_open, client_order_id_conflict or symbol_halted.",
    413: "The body is over 64 KiB (payload_too_large).",
    415: "A body sent without a JSON content type (unsupported_media_type).",
    422: "A field or query parameter is missing, unknown, of the wrong type, malformed, "
    "off-tick, off-lot or out of range, or names an unknown symbol; or a bad cursor "
    "(validation_error). `field` names it.",
    429: "Over the account's order rate (rate_limited); see Retry-After.",
    503: "Redis is unreachable (unavailable); see Retry-After.",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # below API_PREFIX, with {placeholders}
    summary: str
    response: Optional[type[BaseModel]]  # the body of the success status
    status: int = 200
    private: bool = False
    query: type[BaseModel] = m.NoQuery
    body: Optional[type[BaseModel]] = None
    errors: tuple[int, ...] = ()  # beyond those implied by private/query/body/path
    extra_responses: dict[int, str] = field(default_factory=dict)
    description: str = ""
    # Server-Sent Events: event name -> the model of its data (the success body is a stream)
    sse_events: dict[str, type[BaseModel]] = field(default_factory=dict)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get", "/health", "Liveness of Redis, the workers and the scheduler", m.Health,
        description="`degraded` when no live worker or scheduler. 503 (same keys, status "
        "unavailable) only when Redis is unreachable.",
    ),
    Operation("get", "/symbols", "The markets and their steps", m.SymbolList),
    Operation(
        "post", "/orders", "Place an order (matched at once)", m.PlacedOrder, status=201,
        private=True, body=m.OrderRequest, errors=(409, 429),
        extra_responses={200: "An idempotent replay: the order as it is now."},
        description="201 with the order and the trades it made on arrival; 200 when the "
        "same order was placed before with this client_order_id.",
    ),
    Operation(
        "post", "/orders/batch", "Place up to 100 orders, each as POST /orders would",
        m.BatchResults, private=True, body=m.BatchRequest, errors=(429,),
        description="200 with one result per order, in order: `{status, order}` or "
        "`{status, error}`, with the status and body a single POST /orders would have "
        "answered. The orders of one symbol are placed in order in one atomic step (so at one "
        "exchange time: their created_at are equal, their sequences rise in order). "
        "Each order takes one rate-limit token; the orders past the account's "
        "tokens are answered 429 one by one (and the response has Retry-After). 422 on "
        "`orders` unless it holds 1 to 100 orders; 429 for the whole request only when its "
        "body is not a batch and no token is left.",
    ),
    Operation(
        "get", "/orders", "The account's orders, newest first", m.OrderList, private=True,
        query=m.OrdersQuery,
    ),
    Operation(
        "delete", "/orders", "Cancel every open order of the account", m.Killed,
        private=True, query=m.CancelAllQuery,
    ),
    Operation("get", "/orders/{order_id}", "One order", m.Order, private=True, errors=(404,)),
    Operation(
        "delete", "/orders/{order_id}", "Cancel one open order", m.Order, private=True,
        errors=(404, 409),
    ),
    Operation(
        "get", "/fills", "The account's fills, newest first", m.FillList, private=True,
        query=m.FillsQuery,
    ),
    Operation(
        "get", "/events", "The account's order events, oldest first (long poll)", em.EventList,
        private=True, query=em.EventsQuery,
        description="The events after the cursor `after`, oldest first. With `wait` (seconds, "
        "0-30) and no event yet, the answer waits for the first one or for the end of the "
        "wait. Pass `next_cursor` as `after` to read on.",
    ),
    Operation(
        "put", "/account/webhook", "Set the account's webhook", em.Webhook, private=True,
        body=em.WebhookRequest,
        description="The workers then POST each event of the account to `url`, signed with "
        "X-Signature: sha256=<hex HMAC-SHA256 of the body with the secret> and X-Event-Id; "
        "anything but a 2xx is retried after 1, 2, 4 ... seconds (at most 60) for 24 h, one "
        "event of an order after the other. The secret stays the same unless "
        "`rotate_secret` is true.",
    ),
    Operation(
        "delete", "/account/webhook", "Stop the account's webhook deliveries", None,
        status=204, private=True,
    ),
    Operation(
        "get", "/book/{symbol}", "The book by price level, best first", m.Book,
        query=m.BookQuery, errors=(404,),
    ),
    Operation(
        "get", "/trades/{symbol}", "Recent public trades, newest first", m.TradeList,
        query=m.TradesQuery, errors=(404,),
    ),
    Operation(
        "get", "/ticker/{symbol}", "Last trade, best bid and ask, and the rolling 24 h window",
        mm.Ticker, query=mm.TickerQuery, errors=(404,),
        description="Made by the workers from the trades (folded about once a second; "
        "`sequence` is the last trade folded); best bid and ask are the book's, now. The 24 h "
        "window is the 1,440 one-minute candles ending with the current minute (UTC).",
    ),
    Operation(
        "get", "/candles/{symbol}", "OHLCV candles, oldest first", mm.CandleList,
        query=mm.CandlesQuery, errors=(404,),
        description="The newest `limit` candles of `interval` that have trades, made by the "
        "workers from the trades (folded about once a second). Kept: 2 days of 1m, 7 days of "
        "5m, 90 days of 1h, 10 years of 1d.",
    ),
    Operation(
        "get", "/stream", "Live book and trades of a symbol (Server-Sent Events)", None,
        query=mm.StreamQuery,
        sse_events={"snapshot": mm.StreamSnapshot, "update": mm.StreamUpdate},
        description="`text/event-stream`: a `snapshot` event (the book, as GET /book), then an "
        "`update` event whenever the book changes: the trades and every changed level after "
        "`prev`, as of `sequence`. Each event's id is the symbol's sequence after it; a client "
        "whose book is older than an update's `prev` missed something and reconnects. "
        "Heartbeat comment lines every 15 s. Reconnecting with `Last-Event-ID` resumes with one "
        "update from there while the event stream still holds it, else a new snapshot.",
    ),
    Operation("get", "/openapi.json", "This document", None),
)  # fmt: skip


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": ERRORS[status],
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
    }
    if status in (429, 503):
        response["headers"] = RETRY_AFTER
    return response


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _placeholders(op.path)
    ]
    schema = op.query.model_json_schema(ref_template=REF)
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        param = {"name": name, "in": "query", "required": name in schema.get("required", ()),
                 "schema": prop}  # fmt: skip
        if description:
            param["description"] = description
        params.append(param)
    return params


def _operation_id(op: Operation) -> str:
    """get_orders_order_id: unique per method and path."""
    words = re.findall(r"[A-Za-z0-9]+", op.path)
    return "_".join([op.method, *words])


def _placeholders(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _operation(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    def content(model: Optional[type[BaseModel]], mode: str) -> dict[str, Any]:
        if op.sse_events and mode == "serialization":
            events = {name: refs[(m_, "serialization")] for name, m_ in op.sse_events.items()}
            # Before OpenAPI 3.2 (itemSchema), an event stream's schema describes one event:
            # its fields (event, data, id), `data` being JSON text of the event's model.
            one_event = [
                {"type": "object", "required": ["event", "data"], "properties": {
                    "event": {"const": name},
                    "data": {"type": "string", "contentMediaType": "application/json",
                             "contentSchema": schema},
                    "id": {"type": "string", "description": "The symbol's sequence after it."},
                    "retry": {"type": "integer"},
                }}
                for name, schema in events.items()
            ]  # fmt: skip
            return {"text/event-stream": {
                "schema": {"oneOf": one_event, "description": "Server-Sent Events: one event "
                           "(its `data` line one JSON object); heartbeats are comment lines."},
                "x-events": events,
            }}  # fmt: skip
        schema = refs[(model, mode)] if model is not None else {"type": "object"}
        return {"application/json": {"schema": schema}}

    out: dict[str, Any] = {
        "operationId": _operation_id(op),
        "summary": op.summary,
        "parameters": _parameters(op),
        "responses": {
            str(op.status): {
                "description": "Success.",
                "content": content(op.response, "serialization"),
            }
        },
    }
    if op.status == 204:  # No Content: no body to describe
        out["responses"]["204"] = {"description": "Done; no body."}
    if op.description:
        out["description"] = op.description
    for status, description in op.extra_responses.items():
        out["responses"][str(status)] = {
            "description": description,
            "content": content(op.response, "serialization"),
        }
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": content(op.body, "validation")}
    out["security"] = [{"ApiKey": []}] if op.private else []
    # 422 everywhere: an unknown query parameter is one on every endpoint.
    statuses = set(op.errors) | {422, 503}
    if op.private:
        statuses.add(401)
    if op.body is not None:
        statuses |= {400, 413, 415}
    for status in sorted(statuses):
        out["responses"].setdefault(str(status), _error_response(status))
    return out


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The whole document (built once per process: it depends on code only)."""
    models: list[tuple[type[BaseModel], str]] = [(m.Error, "serialization")]
    for op in OPERATIONS:
        if op.response is not None:
            models.append((op.response, "serialization"))
        if op.body is not None:
            models.append((op.body, "validation"))
        models += [(event, "serialization") for event in op.sse_events.values()]
    refs, defs = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)

    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(API_PREFIX + op.path, {})[op.method] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Trade Engine",
            "version": "1",
            "description": "A price-time order-matching engine. Prices and quantities are "
            "decimal strings; times are RFC 3339 UTC. Errors have one shape: "
            '{"error": {"code", "message", "field"}}.',
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
    }
