"""Request and response models of the status-update endpoints (GET /events, /account/webhook).

Built from engine/models.py's parts, so they validate and document like every other model
(engine/api/openapi.py lists them with their operations).
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from engine.models import Fill, Limit, Order, Time, _Out, _Query, query_int

MAX_WAIT = 30

EventType = Literal["order.enqueued", "order.partially_filled", "order.filled", "order.killed"]


class EventsQuery(_Query):
    after: Optional[str] = Field(
        None, description="next_cursor of the previous answer; none: from the oldest event kept."
    )
    limit: Limit = Field(100, description="1 to 1000, default 100.")
    wait: query_int(0, MAX_WAIT) = Field(
        0, description="Seconds (0 to 30) to wait for an event when there is none yet."
    )


class WebhookRequest(BaseModel):
    """The body of PUT /account/webhook."""

    model_config = ConfigDict(extra="forbid", strict=True)

    url: str = Field(
        min_length=1,
        max_length=2048,
        description="An absolute http:// or https:// URL; each event is POSTed there.",
        examples=["https://example.com/hooks/trade-engine"],
    )
    rotate_secret: bool = Field(
        False, description="true: a new secret (else a second PUT keeps the current one)."
    )


class Webhook(_Out):
    url: str
    secret: str = Field(
        description="Signs each delivery: X-Signature: sha256=<hex HMAC-SHA256 of the body>."
    )


class Event(_Out):
    id: str = Field(description="Unique; a delivery's X-Event-Id (deduplicate on it).")
    type: EventType
    order: Order = Field(description="The order as it is after the event.")
    fill: Optional[Fill] = Field(description="The fill, for order.partially_filled/filled.")
    created_at: Time


class EventList(_Out):
    events: list[Event] = Field(description="Oldest first.")
    next_cursor: Optional[str] = Field(
        description="Pass as after= to read on; the after given when no event came "
        "(null only when there was neither)."
    )
