"""Result codes of the Lua scripts: 0 is success, each failure a small negative number.

Ranges: -1..-99 the book scripts (place, cancel, expire), -100..-199 lua/auth.lua.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    OK = 0

    # lua/auth.lua
    AUTH_UNKNOWN_KEY = -101  # no such account, or the key's hash does not match
    AUTH_REVOKED = -102  # the account's key was revoked
    AUTH_RATE_LIMITED = -103  # no token left in the account's bucket
