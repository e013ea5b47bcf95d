"""Redis memory under a steady flow: ``python -m bench.retention`` (docs/performance.md).

Starts its own redis-server, the Procfile's ``worker`` and ``scheduler`` with a short
ORDER_RETENTION, and places a steady flow of orders that fill and are killed (per cycle: a
maker and the taker that fills it, an IOC killed at once, a GTD order the sweep kills a
second later). Every few seconds it prints Redis's ``used_memory`` and what holds it: order
records, the symbol's stream, the accounts' feeds. Retention removes final orders (and their
fills and trades) ORDER_RETENTION after they end, housekeeping trims the stream below the
latest snapshot (every 30 s) and the fan-out's position, and the feeds keep ORDER_RETENTION
of events, so memory levels off once the first orders reach retention.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from bench.expiry import now_us, start, stop
from bench.redis_server import RedisServer
from engine import accounts
from engine.config import Settings
from engine.context import EngineContext
from engine.keys import AccountKeys, symbol_keys
from engine.orders import PlaceRequest

SYMBOL = "BTC-USD"


def sample(ctx: EngineContext, names: list[str], started: float) -> dict:
    r = ctx.redis
    k = symbol_keys(SYMBOL)
    pipe = r.pipeline(transaction=False)
    pipe.info("memory")
    pipe.hlen(k.orders)
    pipe.xlen(k.events)
    pipe.zcard(k.trades)
    for account in names:
        pipe.xlen(AccountKeys(account).feed)
    info, orders, stream, trades, *feeds = pipe.execute()
    return {
        "t_s": round(time.monotonic() - started),
        "used_memory_mb": round(int(info["used_memory"]) / 1e6, 1),
        "orders": orders,
        "trades": trades,
        "stream": stream,
        "feeds": sum(feeds),
    }


def run(rate: int, seconds: int, retention: int, every: int) -> list[dict]:
    with RedisServer() as server:
        ctx = EngineContext(Settings(redis_url=server.url, order_rate_limit=0))
        ctx.symbols.add(SYMBOL, "0.01", "0.0001")
        maker = accounts.create(ctx.redis, "maker")["api_key"].split("_")[1]
        taker = accounts.create(ctx.redis, "taker")["api_key"].split("_")[1]
        env = {"ORDER_RETENTION": str(retention)}
        worker, scheduler = start("worker", server.url, env), start("scheduler", server.url, env)
        samples = []
        try:
            started = time.monotonic()
            next_sample = started
            cycle = 0
            batch = max(1, rate // 4 // 10)  # cycles per tenth of a second
            while time.monotonic() - started < seconds:
                tick = time.monotonic()
                soon = now_us(ctx.redis) + 1_000_000
                makers, takers = [], []
                for i in range(batch):
                    price = 10_000 + (cycle + i) % 20
                    makers.append(PlaceRequest(SYMBOL, "sell", "limit", 2, price=price))
                    makers.append(PlaceRequest(SYMBOL, "sell", "limit", 1, price=20_000,
                                               time_in_force="GTD", expires_at=soon))  # fmt: skip
                    takers.append(PlaceRequest(SYMBOL, "buy", "limit", 2, price=price))
                    takers.append(PlaceRequest(SYMBOL, "buy", "limit", 1, price=100,
                                               time_in_force="IOC"))  # fmt: skip
                ctx.engine.place_many(maker, makers)
                ctx.engine.place_many(taker, takers)
                cycle += batch
                if time.monotonic() >= next_sample:
                    samples.append(sample(ctx, [maker, taker], started))
                    print(json.dumps(samples[-1]), flush=True)
                    next_sample += every
                time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
            samples.append(sample(ctx, [maker, taker], started))
            print(json.dumps(samples[-1]), flush=True)
            print(f"placed {cycle * 4:,} orders ({cycle * 4 / seconds:,.0f}/s)")
        finally:
            stop(worker)
            stop(scheduler)
        return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=800, help="orders a second")
    parser.add_argument("--seconds", type=int, default=240, help="length of the run")
    parser.add_argument("--retention", type=int, default=20, help="ORDER_RETENTION, seconds")
    parser.add_argument("--every", type=int, default=15, help="seconds between samples")
    args = parser.parse_args(argv)
    samples = run(args.rate, args.seconds, args.retention, args.every)
    print()
    print("| t (s) | used_memory (MB) | order records | trades | stream entries | feed entries |")
    print("|---|---|---|---|---|---|")
    for s in samples:
        print(f"| {s['t_s']} | {s['used_memory_mb']} | {s['orders']:,} | {s['trades']:,} | "
              f"{s['stream']:,} | {s['feeds']:,} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
