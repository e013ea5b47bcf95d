"""Fan-out throughput: ``python -m bench.fanout`` (docs/performance.md).

Starts its own redis-server, places a backlog of crossing orders among 20 accounts (about
three stream entries per two orders: accepted orders and trades), then times one fan-out
consumer (engine/fanout.py, as one worker process runs it) turning the whole stream into
the accounts' feed events.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.redis_server import RedisServer
from engine import accounts
from engine.config import Settings
from engine.context import EngineContext
from engine.fanout import FanOut
from engine.keys import AccountKeys, symbol_keys
from engine.orders import PlaceRequest

SYMBOL = "BTC-USD"


def run(orders: int, n_accounts: int = 20) -> dict:
    with RedisServer() as server:
        ctx = EngineContext(Settings(redis_url=server.url, order_rate_limit=0))
        ctx.symbols.add(SYMBOL, "0.01", "0.0001")
        ids = [
            accounts.create(ctx.redis, f"a{i}")["api_key"].split("_")[1] for i in range(n_accounts)
        ]
        per_call = 100
        for k in range(orders // per_call):
            account = ids[k % n_accounts]
            side = "sell" if k % 2 else "buy"
            ctx.engine.place_many(
                account,
                [PlaceRequest(SYMBOL, side, "limit", 1, price=10_000) for _ in range(per_call)],
            )
        entries = ctx.redis.xlen(symbol_keys(SYMBOL).events)
        fan = FanOut(ctx, "bench")
        assert fan.acquire(SYMBOL)
        started = time.monotonic()
        handled = 0
        while n := fan.poll(SYMBOL):
            handled += n
        seconds = time.monotonic() - started
        events = sum(ctx.redis.xlen(AccountKeys(a).feed) for a in ids)
        assert handled == entries
        return {
            "entries": entries,
            "events": events,
            "seconds": round(seconds, 2),
            "entries_per_s": round(entries / seconds),
            "events_per_s": round(events / seconds),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000, help="orders in the backlog")
    args = parser.parse_args(argv)
    result = run(args.orders)
    print(
        f"fan-out: {result['entries']:,} stream entries -> {result['events']:,} events in "
        f"{result['seconds']} s: {result['entries_per_s']:,} entries/s, "
        f"{result['events_per_s']:,} events/s (one consumer)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
