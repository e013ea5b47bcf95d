"""The order book interface: place, cancel, read. Returns domain objects, never HTTP.

(Implementation in progress: signatures are the contract the API and CLI code against.)
"""

from __future__ import annotations

from typing import Optional

from engine.config import Settings
from engine.orders import BookView, Fill, Order, PlaceRequest, PlaceResult, Trade


class Engine:
    """All book operations of all symbols, over one Redis client (or cluster client)."""

    def __init__(self, redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings

    def place(self, account_id: str, req: PlaceRequest) -> PlaceResult:
        """Place and match one order atomically (one placement script call).

        Raises SymbolHalted, ClientOrderIdConflict. A replay (same client_order_id, same
        order) returns PlaceResult(replay=True). The result's order has .fills set.
        """
        raise NotImplementedError

    def cancel(self, account_id: str, oid: str) -> Order:
        """Kill one open order with kill_reason user. Raises NotFound, OrderNotOpen."""
        raise NotImplementedError

    def cancel_all(self, account_id: str, symbol: Optional[str], symbols_used: list[str]) -> list[str]:
        """Kill every open order of the account (in `symbol` if given); returns their ids."""
        raise NotImplementedError

    def get_order(self, account_id: str, oid: str) -> Order:
        """The order, or NotFound if it does not exist or belongs to another account."""
        raise NotImplementedError

    def find_by_client_id(self, account_id: str, symbol: str, client_order_id: str) -> Optional[Order]:
        raise NotImplementedError

    def list_orders(self, account_id: str, symbols: list[str], status: Optional[str],
                    limit: int, cursor: Optional[str]) -> tuple[list[Order], Optional[str]]:
        """Newest first by (created_at, id). status: a status, 'open', or None.

        Raises ValidationFailed(field='cursor') on a bad cursor.
        """
        raise NotImplementedError

    def list_fills(self, account_id: str, symbols: list[str], oid: Optional[str],
                   limit: int, cursor: Optional[str]) -> tuple[list[Fill], Optional[str]]:
        raise NotImplementedError

    def book(self, symbol: str, depth: int) -> BookView:
        raise NotImplementedError

    def trades(self, symbol: str, limit: int, before: Optional[int]) -> list[Trade]:
        raise NotImplementedError
