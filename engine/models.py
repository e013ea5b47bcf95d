"""Request and response models: one set of classes validates input and documents the API.

Request models check the shape of what a client sends (types, enums, patterns, unknown
fields); `to_place_request` then applies the rules that need the symbol's steps and the
contract's cross-field rules, field by field in body order, and converts decimals to ticks
and lots through engine/money.py. Response models describe what engine/views.py renders;
engine/api/openapi.py builds the OpenAPI document from all of them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional, TypeVar, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from engine.clock import parse_time
from engine.errors import ValidationFailed
from engine.money import AMOUNT_PATTERN, AMOUNT_RULE, parse_amount
from engine.orders import PlaceRequest

SYMBOL_PATTERN = r"^[A-Z0-9]{1,12}-[A-Z0-9]{1,12}$"
CLIENT_ORDER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$"
DECIMAL_OUT_PATTERN = r"^[0-9]+(\.[0-9]+)?$"
MAX_SEQUENCE = 2**53 - 1  # sequences are counted in Lua, exact up to 2^53

M = TypeVar("M", bound=BaseModel)

Side = Literal["buy", "sell"]
OrderType = Literal["limit", "market"]
TimeInForce = Literal["GTC", "IOC", "FOK", "GTD"]
SelfTradePrevention = Literal["cancel_newest", "cancel_oldest", "cancel_both"]
Status = Literal["enqueued", "partially_filled", "filled", "killed"]
StatusFilter = Literal["enqueued", "partially_filled", "filled", "killed", "open"]
KillReason = Literal[
    "user", "expired", "max_age", "immediate_or_cancel", "fill_or_kill", "post_only",
    "self_trade", "no_liquidity", "match_limit",
]  # fmt: skip

SymbolName = Annotated[str, Field(pattern=SYMBOL_PATTERN, description="A market such as BTC-USD.")]
ClientOrderId = Annotated[
    str,
    Field(
        pattern=CLIENT_ORDER_ID_PATTERN,
        description="The client's own id: unique per account and symbol while readable.",
    ),
]
AmountIn = Annotated[
    str,
    Field(
        pattern=AMOUNT_PATTERN,
        description="A positive decimal string, a whole multiple of the step, at most 10^12 "
        "steps. A JSON number is rejected.",
        examples=["101.25"],
    ),
]
Price = Annotated[
    str,
    Field(
        pattern=DECIMAL_OUT_PATTERN,
        description="Fixed-point with exactly the tick size's decimals.",
        examples=["101.25"],
    ),
]
Quantity = Annotated[
    str,
    Field(
        pattern=DECIMAL_OUT_PATTERN,
        description="Fixed-point with exactly the lot size's decimals.",
        examples=["2.0000"],
    ),
]
Time = Annotated[
    str,
    Field(
        pattern=TIME_PATTERN,
        json_schema_extra={"format": "date-time"},
        description="RFC 3339 UTC with six fractional digits.",
        examples=["2026-11-24T21:45:15.123456Z"],
    ),
]
Sequence = Annotated[int, Field(ge=1, le=MAX_SEQUENCE)]


# --- errors ------------------------------------------------------------------------------

_PATTERN_MESSAGES = {
    "symbol": 'must be a symbol such as "BTC-USD" (1 to 12 of A-Z and 0-9, a dash, 1 to 12 more)',
    "client_order_id": "must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -",
    "price": f"must be {AMOUNT_RULE}",
}
_PATTERN_MESSAGES["quantity"] = _PATTERN_MESSAGES["price"]


def _field_name(loc: tuple[Any, ...]) -> Optional[str]:
    """ "price", or "orders[2].price" for a nested location; None for the whole body."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or None


def _message(error: Any, field: Optional[str], noun: str) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    leaf = str(error["loc"][-1]) if error["loc"] else ""
    subject = field or "the request body"
    if kind == "missing":
        return f"{subject} is required"
    if kind == "extra_forbidden":
        return f"{subject} is not a known {noun}"
    if kind == "string_type":
        if leaf in ("price", "quantity"):
            return f'{subject} must be a string such as "1.25" (not a JSON number)'
        return f"{subject} must be a string"
    if kind == "bool_type":
        return f"{subject} must be true or false"
    if kind == "literal_error":
        return f"{subject} must be {ctx.get('expected', 'one of the documented values')}"
    if kind == "string_pattern_mismatch" and leaf in _PATTERN_MESSAGES:
        return f"{subject} {_PATTERN_MESSAGES[leaf]}"
    if kind in ("int_parsing", "int_type"):
        return f"{subject} must be a whole number"
    if kind == "greater_than_equal":
        return f"{subject} must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"{subject} must be at most {ctx['le']}"
    if kind in ("list_type", "dict_type", "model_type", "model_attributes_type"):
        return f"{subject} has the wrong type"
    return f"{subject}: {error['msg']}"


def first_error(exc: ValidationError, noun: str = "field") -> ValidationFailed:
    """One ValidationFailed for a pydantic error: the first failing field, in plain words."""
    error = exc.errors(include_url=False)[0]
    field = _field_name(tuple(error["loc"]))
    return ValidationFailed(_message(error, field, noun), field)


def validate(model: type[M], data: Any) -> M:
    """model.model_validate(data), raising ValidationFailed (422) for the first error."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        noun = "query parameter" if issubclass(model, _Query) else "field"
        raise first_error(exc, noun) from None


# --- requests ----------------------------------------------------------------------------


class OrderRequest(BaseModel):
    """The body of POST /orders."""

    model_config = ConfigDict(extra="forbid", strict=True)

    symbol: SymbolName
    side: Side
    type: OrderType = Field("limit", description="limit needs price; market takes none.")
    price: Optional[AmountIn] = Field(None, description="Required for limit orders only.")
    quantity: AmountIn
    time_in_force: Optional[TimeInForce] = Field(
        None, description="Default GTC for limit, IOC for market (which takes IOC or FOK only)."
    )
    expires_at: Optional[str] = Field(
        None,
        json_schema_extra={"format": "date-time"},
        description="GTD only, required there, in the future: RFC 3339 with Z or an offset, "
        "at most six fractional digits.",
        examples=["2030-01-31T12:00:00Z"],
    )
    post_only: bool = Field(False, description="Limit GTC/GTD only: never take liquidity.")
    self_trade_prevention: SelfTradePrevention = "cancel_newest"
    client_order_id: Optional[ClientOrderId] = None


def to_place_request(req: OrderRequest, spec: Any, now_us: int) -> PlaceRequest:
    """The engine's PlaceRequest: the contract's rules applied, decimals as ticks and lots.

    `spec` is the symbol's SymbolSpec (the caller has checked the symbol exists); `now_us`
    is the wall clock for the GTD check (the engine checks again against Redis TIME).
    """
    return _apply_rules(
        req.symbol, req.side, req.type, req.price, req.quantity, req.time_in_force,
        req.expires_at, req.post_only, req.self_trade_prevention, req.client_order_id,
        spec, now_us,
    )  # fmt: skip


def _apply_rules(
    symbol: str,
    side: Any,
    otype: Any,
    price_text: Optional[str],
    quantity_text: str,
    time_in_force: Optional[str],
    expires_text: Optional[str],
    post_only: bool,
    stp: Any,
    client_order_id: Optional[str],
    spec: Any,
    now_us: int,
) -> PlaceRequest:
    """to_place_request on fields whose shapes OrderRequest accepts: rules in body order."""
    market = otype == "market"
    if market:
        if price_text is not None:
            raise ValidationFailed("price must not be given for a market order", "price")
        price = None
    else:
        if price_text is None:
            raise ValidationFailed("price is required for a limit order", "price")
        price = parse_amount(price_text, spec.tick_size, "price")
    quantity = parse_amount(quantity_text, spec.lot_size, "quantity")

    tif = time_in_force or ("IOC" if market else "GTC")
    if market and tif not in ("IOC", "FOK"):
        raise ValidationFailed(
            "time_in_force must be IOC or FOK for a market order", "time_in_force"
        )
    expires_at = None
    if tif == "GTD":
        if expires_text is None:
            raise ValidationFailed("expires_at is required with time_in_force GTD", "expires_at")
        expires_at = parse_time(expires_text, "expires_at")
        if expires_at <= now_us:
            raise ValidationFailed("expires_at must be in the future", "expires_at")
    elif expires_text is not None:
        raise ValidationFailed("expires_at is only allowed with time_in_force GTD", "expires_at")
    if post_only:
        if market:
            raise ValidationFailed("post_only is not allowed on a market order", "post_only")
        if tif in ("IOC", "FOK"):
            raise ValidationFailed(
                "post_only needs time_in_force GTC or GTD, not " + tif, "post_only"
            )
    return PlaceRequest(
        symbol, side, otype, quantity, price, tif, expires_at, post_only, stp, client_order_id
    )


# The lean path of place_request: what OrderRequest accepts, checked without pydantic.
_ORDER_FIELDS = frozenset(OrderRequest.model_fields)
_SYMBOL = re.compile(SYMBOL_PATTERN[1:-1])
_CLIENT_ORDER_ID = re.compile(CLIENT_ORDER_ID_PATTERN[1:-1])
_AMOUNT = re.compile(AMOUNT_PATTERN[1:-1])
_SIDES = frozenset(get_args(Side))
_TYPES = frozenset(get_args(OrderType))
_TIFS = frozenset(get_args(TimeInForce))
_STPS = frozenset(get_args(SelfTradePrevention))


def place_request(data: Any, spec: Any, now_us: int) -> PlaceRequest:
    """A body of POST /orders (one order of a batch) as the engine's PlaceRequest.

    `spec` is the SymbolSpec of the body's "symbol" if that names a known symbol, else None.
    The answer, and the first error on bad input, are exactly those of validate(OrderRequest)
    then the symbol check then to_place_request: a body whose every field plainly has the
    shape OrderRequest accepts skips pydantic (the common case, and most of its CPU); any
    other body goes through pydantic for its first error.
    """
    if spec is not None and type(data) is dict and _ORDER_FIELDS.issuperset(data):
        get = data.get
        symbol, side, quantity = get("symbol"), get("side"), get("quantity")
        otype = get("type", "limit")
        price = get("price")
        tif = get("time_in_force")
        expires_at = get("expires_at")
        post_only = get("post_only", False)
        stp = get("self_trade_prevention", "cancel_newest")
        coid = get("client_order_id")
        # type(x) is str: strict mode takes no other type (orjson gives no str subclass).
        if (
            type(symbol) is str and symbol == spec.symbol and _SYMBOL.fullmatch(symbol)
            and type(side) is str and side in _SIDES
            and type(quantity) is str and _AMOUNT.fullmatch(quantity)
            and type(otype) is str and otype in _TYPES
            and (price is None or (type(price) is str and _AMOUNT.fullmatch(price)))
            and (tif is None or (type(tif) is str and tif in _TIFS))
            and (expires_at is None or type(expires_at) is str)
            and type(post_only) is bool
            and type(stp) is str and stp in _STPS
            and (coid is None or (type(coid) is str and _CLIENT_ORDER_ID.fullmatch(coid)))
        ):  # fmt: skip
            return _apply_rules(
                symbol, side, otype, price, quantity, tif, expires_at, post_only, stp, coid,
                spec, now_us,
            )  # fmt: skip
    req = validate(OrderRequest, data)
    if spec is None:
        raise ValidationFailed(f"unknown symbol {req.symbol}", "symbol")
    return to_place_request(req, spec, now_us)


def _query_int(value: Any) -> Any:
    """A query parameter as an int: ASCII digits only ("+1", " 1", "1_0" and "1e3" are not)."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > 19:
            raise PydanticCustomError("int_parsing", "must be a whole number")
        return int(value)
    return value


def query_int(minimum: int, maximum: int) -> Any:
    """An integer query parameter within [minimum, maximum] (never clamped: else a 422)."""
    return Annotated[int, Field(ge=minimum, le=maximum), BeforeValidator(_query_int)]


Limit = query_int(1, 1000)


class _Query(BaseModel):
    """Query parameters arrive as strings; an unknown one is a 422 like an unknown field."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NoQuery(_Query):
    """An endpoint without query parameters."""


class OrdersQuery(_Query):
    symbol: Optional[SymbolName] = None
    status: Optional[StatusFilter] = Field(
        None, description="A status, or open (enqueued and partially_filled)."
    )
    client_order_id: Optional[ClientOrderId] = Field(
        None, description="Needs symbol too; answers at most that one order."
    )
    limit: Limit = Field(100, description="1 to 1000, default 100.")
    cursor: Optional[str] = Field(None, description="next_cursor of the previous page.")


class FillsQuery(_Query):
    symbol: Optional[SymbolName] = None
    order_id: Optional[str] = Field(None, description="Only this order's fills.")
    limit: Limit = Field(100, description="1 to 1000, default 100.")
    cursor: Optional[str] = Field(None, description="next_cursor of the previous page.")


class CancelAllQuery(_Query):
    symbol: Optional[SymbolName] = Field(None, description="Only this symbol's orders.")


class BookQuery(_Query):
    depth: Limit = Field(50, description="Price levels per side: 1 to 1000, default 50.")


class TradesQuery(_Query):
    limit: Limit = Field(100, description="1 to 1000, default 100.")
    before: Optional[query_int(1, MAX_SEQUENCE)] = Field(
        None, description="Only trades with a lower sequence (the next page)."
    )


# --- responses ---------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PlacementFill(_Out):
    """A trade an order made on arrival (in answers to POST /orders)."""

    trade_id: str
    price: Price
    quantity: Quantity
    liquidity: Literal["taker"]
    created_at: Time


class Order(_Out):
    id: str = Field(description="Opaque, unique across symbols.")
    client_order_id: Optional[str]
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    price: Optional[Price] = Field(description="null for a market order.")
    quantity: Quantity
    filled_quantity: Quantity
    remaining_quantity: Quantity = Field(description="What still rests: 0 once final.")
    average_price: Optional[Price] = Field(
        description="Σ(price × quantity) / Σ quantity of the fills, rounded half-even; "
        "null until something fills."
    )
    status: Status
    kill_reason: Optional[KillReason]
    post_only: bool
    self_trade_prevention: SelfTradePrevention
    expires_at: Optional[Time]
    sequence: Sequence = Field(description="Its place in the symbol's queue.")
    created_at: Time
    updated_at: Time


class PlacedOrder(Order):
    """The answer to a placement: the order and the trades it made on arrival."""

    fills: list[PlacementFill]


class Fill(_Out):
    trade_id: str
    order_id: str
    symbol: str
    side: Side
    price: Price
    quantity: Quantity
    liquidity: Literal["maker", "taker"]
    sequence: Sequence
    created_at: Time


class Trade(_Out):
    id: str
    symbol: str
    price: Price
    quantity: Quantity
    taker_side: Side
    sequence: Sequence
    created_at: Time


class Symbol(_Out):
    symbol: str
    tick_size: str
    lot_size: str
    status: Literal["trading", "halted"]


class SymbolList(_Out):
    symbols: list[Symbol]


class OrderList(_Out):
    orders: list[Order]
    next_cursor: Optional[str] = Field(description="null on the last page.")


class FillList(_Out):
    fills: list[Fill]
    next_cursor: Optional[str] = Field(description="null on the last page.")


class TradeList(_Out):
    trades: list[Trade] = Field(description="Newest first.")


class Killed(_Out):
    killed: list[str] = Field(description="Ids of the orders this call killed.")


class Book(_Out):
    symbol: str
    sequence: int = Field(ge=0, description="The last sequence applied to this book.")
    bids: list[tuple[Price, Quantity, int]] = Field(
        description="[price, quantity, order count] per level, best first."
    )
    asks: list[tuple[Price, Quantity, int]]


class Health(_Out):
    status: Literal["ok", "degraded", "unavailable"]
    redis: Literal["ok", "unreachable"]
    workers: int = Field(ge=0)
    scheduler: Literal["ok", "missing"]


class ErrorDetail(_Out):
    code: str = Field(examples=["validation_error"])
    message: str = Field(examples=["price must be a multiple of 0.01"])
    field: Optional[str] = Field(description="The field or query parameter at fault, or null.")


class Error(_Out):
    error: ErrorDetail


# --- POST /orders/batch (engine/api/batch.py) ----------------------------------------------

MAX_BATCH = 100


class BatchRequest(BaseModel):
    """The body of POST /orders/batch. Each order is validated on its own, as the body of a
    POST /orders (its errors are its own result), so the list takes any JSON values here."""

    model_config = ConfigDict(extra="forbid", strict=True, title="BatchRequest")

    orders: Annotated[
        list[Any],
        WithJsonSchema({
            "type": "array",
            "items": {"$ref": "#/components/schemas/OrderRequest"},
            "minItems": 1,
            "maxItems": MAX_BATCH,
            "description": f"1 to {MAX_BATCH} orders, handled in this order.",
        }),
    ]  # fmt: skip


class BatchPlaced(_Out):
    status: Literal[200, 201] = Field(description="201 placed, 200 an idempotent replay.")
    order: PlacedOrder


class BatchFailed(_Out):
    status: int = Field(ge=400, le=599, description="What a single POST /orders would answer.")
    error: ErrorDetail


class BatchResults(_Out):
    results: list[BatchPlaced | BatchFailed] = Field(description="One per order, in order.")
