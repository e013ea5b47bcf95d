"""Command line: ``flask --app app symbols|accounts|book ...``.

Each command prints one JSON document on stdout and exits 0. A fault or error (unknown
symbol, existing account, inconsistent book, Redis unreachable) prints a clear message on
stderr and exits 1; wrong usage exits 2 (click's own handling).
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable

import click
from flask.cli import AppGroup
from redis.exceptions import RedisError

from engine import accounts
from engine.context import EngineContext, current_context
from engine.errors import EngineError, InconsistentState

symbols_cli = AppGroup("symbols", help="List, add, halt and resume symbols.")
accounts_cli = AppGroup("accounts", help="Create accounts, rotate and revoke their API keys.")
book_cli = AppGroup("book", help="Show, check and replay a symbol's book.")


def register_cli(app) -> None:
    """Add the command groups to a Flask app (called by create_app)."""
    for group in (symbols_cli, accounts_cli, book_cli):
        app.cli.add_command(group)


def _emit(document: Any) -> None:
    click.echo(json.dumps(document, indent=2))


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def json_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print the command's result as JSON; turn engine and Redis errors into exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            result = func(current_context(), *args, **kwargs)
        except (EngineError, InconsistentState) as exc:
            _fail(str(exc))
        except RedisError as exc:
            _fail(f"Redis is unreachable or failed: {exc}")
        else:
            _emit(result)

    return wrapper


# -- symbols


@symbols_cli.command("add")
@click.argument("symbol")
@click.option("--tick-size", required=True, help="Price step, e.g. 0.01.")
@click.option("--lot-size", required=True, help="Quantity step, e.g. 0.0001.")
@json_command
def symbols_add(ctx: EngineContext, symbol: str, tick_size: str, lot_size: str) -> dict:
    """Add a symbol (the same again is a no-op; other steps for it are an error)."""
    return ctx.symbols.add(symbol, tick_size, lot_size).to_dict()


@symbols_cli.command("list")
@json_command
def symbols_list(ctx: EngineContext) -> dict:
    """Every symbol with its steps and status (the body of GET /symbols)."""
    return {"symbols": [spec.to_dict() for spec in ctx.symbols.list()]}


@symbols_cli.command("halt")
@click.argument("symbol")
@json_command
def symbols_halt(ctx: EngineContext, symbol: str) -> dict:
    """Stop accepting orders on a symbol (cancels and expiry still work)."""
    return ctx.symbols.set_status(symbol, "halted").to_dict()


@symbols_cli.command("resume")
@click.argument("symbol")
@json_command
def symbols_resume(ctx: EngineContext, symbol: str) -> dict:
    """Accept orders on a halted symbol again."""
    return ctx.symbols.set_status(symbol, "trading").to_dict()


# -- accounts


@accounts_cli.command("create")
@click.argument("name")
@json_command
def accounts_create(ctx: EngineContext, name: str) -> dict:
    """Create an account; its API key is shown only here."""
    return accounts.create(ctx.redis, name)


@accounts_cli.command("rotate-key")
@click.argument("name")
@json_command
def accounts_rotate_key(ctx: EngineContext, name: str) -> dict:
    """Give the account a new API key; the old one stops working."""
    return accounts.rotate_key(ctx.redis, name)


@accounts_cli.command("revoke")
@click.argument("name")
@json_command
def accounts_revoke(ctx: EngineContext, name: str) -> dict:
    """Revoke the account's API key (rotate-key issues a new one)."""
    return accounts.revoke(ctx.redis, name)


# -- book


def _spec(ctx: EngineContext, symbol: str):
    spec = ctx.symbols.get(symbol)
    if spec is None:
        _fail(f"unknown symbol {symbol!r}")
    return spec


@book_cli.command("show")
@click.argument("symbol")
@click.option("--depth", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_command
def book_show(ctx: EngineContext, symbol: str, depth: int) -> dict:
    """The aggregated book (the body of GET /book/SYMBOL)."""
    from engine.views import book_view

    spec = _spec(ctx, symbol)
    return book_view(spec, ctx.engine.book(symbol, depth))


@book_cli.command("check")
@click.argument("symbol")
def book_check(symbol: str) -> None:
    """Check the symbol's whole Redis state; exit 1 on any fault."""
    from engine.check import check_symbol

    ctx = current_context()
    try:
        _spec(ctx, symbol)
        faults = list(check_symbol(ctx.redis, symbol, max_age=ctx.settings.order_max_age))
    except RedisError as exc:
        _fail(f"Redis is unreachable or failed: {exc}")
    _emit({"symbol": symbol, "ok": not faults, "faults": faults})
    if faults:
        _fail(f"{len(faults)} fault(s) in {symbol}")


@book_cli.command("replay")
@click.argument("symbol")
def book_replay(symbol: str) -> None:
    """Rebuild the book from its snapshot and event stream, compare with Redis; exit 1 on
    any difference."""
    ctx = current_context()
    try:
        from engine.replay import replay_symbol
    except ImportError:
        _fail("book replay is not implemented yet (engine/replay.py is missing)")
    try:
        _spec(ctx, symbol)
        result = replay_symbol(ctx.redis, symbol, settings=ctx.settings)
    except (EngineError, InconsistentState) as exc:
        _fail(str(exc))
    except RedisError as exc:
        _fail(f"Redis is unreachable or failed: {exc}")
    if isinstance(result, dict):
        differences = list(result.get("differences", []))
        document = {"symbol": symbol, "ok": not differences, **result}
    else:
        differences = list(result)
        document = {"symbol": symbol, "ok": not differences, "differences": differences}
    _emit(document)
    if differences:
        _fail(f"{len(differences)} difference(s) between the replayed book and Redis")
