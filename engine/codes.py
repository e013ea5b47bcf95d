"""Result codes returned by the Lua scripts (lua/*.lua), in one enum."""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    OK = 0
    REPLAY = 1  # place: same client_order_id, same order
    SYMBOL_HALTED = -1
    CLIENT_ORDER_ID_CONFLICT = -2
    GTD_EXPIRED = -3  # expires_at not after the exchange's clock
    NOT_FOUND = -4
    NOT_OPEN = -5
    UNKNOWN_SYMBOL = -6
    # -100..-199: lua/auth.lua (engine/accounts.py)
    AUTH_UNKNOWN_KEY = -101  # no such account, or the key's hash does not match
    AUTH_REVOKED = -102  # the account's key was revoked
    AUTH_RATE_LIMITED = -103  # no token left in the account's bucket
