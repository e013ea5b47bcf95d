"""Loads lua/*.lua once, resolves shared fragments, and calls the scripts.

A script includes a shared fragment with a line ``--@include name`` (from lua/include/name.lua);
fragments are pasted in at load time so each script stays one atomic EVALSHA.

On a standalone Redis a call goes straight to a pooled connection: EVALSHA packed, sent and
read, with none of redis-py's per-command machinery (observability hooks, retry wrappers,
response callbacks) that cost more CPU than the rest of a placement's Python. It keeps what
that machinery gives here: a connection that fails mid-call is disconnected (never reused
with a reply in flight), nothing is sent twice (the client's retries are off), and NOSCRIPT
loads the script and calls again. A cluster client goes through redis-py's Script objects
and engine/cluster.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Optional

from redis.commands.core import Script
from redis.exceptions import NoScriptError, ResponseError

try:  # redis[hiredis]: its C packer, which redis-py's own wraps with per-argument Python
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is pinned in requirements.txt
    _hiredis_pack = None

from engine.cluster import is_cluster, run_scripts

LUA_DIR = Path(__file__).resolve().parent.parent / "lua"
_INCLUDE = re.compile(r"^--@include\s+([\w-]+)\s*$", re.M)

Call = tuple[Sequence[str], Sequence[Any]]  # (KEYS, ARGV) of one script call


@cache
def source(name: str) -> str:
    """The text of lua/<name>.lua with its includes resolved."""
    text = (LUA_DIR / f"{name}.lua").read_text()

    def include(match: re.Match[str]) -> str:
        return (LUA_DIR / "include" / f"{match.group(1)}.lua").read_text()

    return _INCLUDE.sub(include, text)


def _packed(conn, commands: list[tuple]) -> list[bytes]:
    """Commands whose arguments are str and int, in the Redis protocol (hiredis when there)."""
    if _hiredis_pack is None:
        return conn.pack_commands(commands)
    return [b"".join([_hiredis_pack(command) for command in commands])]


def _evalsha(conn, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """One script call on a connection this caller holds; NOSCRIPT loads it and calls again."""
    conn.send_packed_command(_packed(conn, [("EVALSHA", script.sha, len(keys), *keys, *args)]))
    try:
        return conn.read_response()
    except NoScriptError:
        conn.send_command("SCRIPT", "LOAD", script.script)
        script.sha = conn.read_response()
        conn.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
        return conn.read_response()


class Scripts:
    """The project's Lua scripts registered on one Redis client (EVALSHA, NOSCRIPT reload)."""

    NAMES = ("auth", "place", "place_batch", "cancel", "cancel_all", "expire", "book")

    def __init__(self, redis) -> None:
        self.redis = redis
        self._scripts: dict[str, Script] = {}
        for name in self.NAMES:
            if (LUA_DIR / f"{name}.lua").exists():
                self._scripts[name] = redis.register_script(source(name))
        # The pool of a standalone client, whose connections calls use directly; None for a
        # cluster client (or a client bound to one connection), which keeps redis-py's path.
        direct = not is_cluster(redis) and getattr(redis, "connection", None) is None
        self.pool = getattr(redis, "connection_pool", None) if direct else None

    def __getattr__(self, name: str) -> Script:
        try:
            return self._scripts[name]
        except KeyError:
            raise AttributeError(name) from None

    def call(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """The reply of one call of script `name` (what ``self.<name>(keys=, args=)`` gives)."""
        script = self._scripts[name]
        if self.pool is None:
            return script(keys=keys, args=args)
        conn = self.pool.get_connection()
        try:
            return _evalsha(conn, script, keys, args)
        finally:
            self.pool.release(conn)

    def call_many(self, name: str, calls: Sequence[Call]) -> list[Any]:
        """Script `name` once per (keys, args), pipelined: the replies (or errors) in order.

        Each call is atomic on its own (no MULTI), in the order given: engine/cluster.py's
        run_scripts, one round trip on a standalone Redis.
        """
        script = self._scripts[name]
        if self.pool is None:
            return run_scripts(self.redis, script, calls)
        replies: list[Any] = [None] * len(calls)
        todo = range(len(calls))
        conn = self.pool.get_connection()
        try:
            for _attempt in range(2):
                sha = script.sha
                commands = [("EVALSHA", sha, len(k), *k, *a) for k, a in (calls[i] for i in todo)]
                conn.send_packed_command(_packed(conn, commands))
                for i in todo:
                    try:
                        replies[i] = conn.read_response()
                    except ResponseError as exc:  # this call's error; the others stand
                        replies[i] = exc
                todo = [i for i in todo if isinstance(replies[i], NoScriptError)]
                if not todo:
                    break
                conn.send_command("SCRIPT", "LOAD", script.script)
                script.sha = conn.read_response()
        finally:
            self.pool.release(conn)
        return replies

    def session(self) -> "ScriptSession":
        """Script calls of one request on one pooled connection (see ScriptSession)."""
        return ScriptSession(self)


class ScriptSession:
    """Several script calls on one pooled connection: one checkout instead of one per call.

    A placement's two round trips (lua/auth.lua, then lua/place.lua) share it. Use it as a
    context manager; while it holds its connection nothing else in the request may wait for
    another one (every holder waiting on a drained pool would stall for the pool's timeout),
    so call close() before any other Redis access.
    """

    __slots__ = ("_scripts", "_conn")

    def __init__(self, scripts: Scripts) -> None:
        self._scripts = scripts
        self._conn: Optional[Any] = None

    def call(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """As Scripts.call, on this session's connection."""
        scripts = self._scripts
        if scripts.pool is None:
            return scripts.call(name, keys, args)
        if self._conn is None:
            self._conn = scripts.pool.get_connection()
        return _evalsha(self._conn, scripts._scripts[name], keys, args)

    def close(self) -> None:
        """Give the connection back to the pool (a failed call has disconnected it)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            self._scripts.pool.release(conn)

    def __enter__(self) -> "ScriptSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
