"""Loads lua/*.lua once, resolves shared fragments, and calls the scripts.

A script includes a shared fragment with a line ``--@include name`` (from lua/include/name.lua);
fragments are pasted in at load time so each script stays one atomic EVALSHA.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from redis.commands.core import Script

LUA_DIR = Path(__file__).resolve().parent.parent / "lua"
_INCLUDE = re.compile(r"^--@include\s+([\w-]+)\s*$", re.M)


@cache
def source(name: str) -> str:
    """The text of lua/<name>.lua with its includes resolved."""
    text = (LUA_DIR / f"{name}.lua").read_text()

    def include(match: re.Match[str]) -> str:
        return (LUA_DIR / "include" / f"{match.group(1)}.lua").read_text()

    return _INCLUDE.sub(include, text)


class Scripts:
    """The project's Lua scripts registered on one Redis client (EVALSHA, NOSCRIPT reload)."""

    NAMES = ("auth", "place", "cancel", "cancel_all", "expire", "book")

    def __init__(self, redis) -> None:
        self._scripts: dict[str, Script] = {}
        for name in self.NAMES:
            if (LUA_DIR / f"{name}.lua").exists():
                self._scripts[name] = redis.register_script(source(name))

    def __getattr__(self, name: str) -> Script:
        try:
            return self._scripts[name]
        except KeyError:
            raise AttributeError(name) from None
