"""Expiry through the real processes: ``python -m bench.expiry`` (figures in docs/performance.md).

Starts its own redis-server, then the Procfile's ``worker`` (all four worker processes) and
``scheduler``, and measures the sweep as it runs in production (the expiry job every second,
sweeping every 0.1 s inside it; the fan-out handles the kills' events at the same time):

- drain: N GTD orders (default 100,000) all due at the same instant; how long until the last
  is killed, kills per second, and their lateness (kill time minus deadline) percentiles;
- spread: orders due one after another at a fixed rate (default 1,000 a second for 30 s);
  their lateness percentiles (the issue's target: p99 <= 1 s).

Lateness is read from the orders themselves afterwards (their ``updated_at`` is the kill's
Redis time), so the measurement adds nothing to the sweep. Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.redis_server import RedisServer
from engine import accounts
from engine.config import Settings
from engine.context import EngineContext
from engine.keys import symbol_keys
from engine.orders import PlaceRequest

ROOT = Path(__file__).resolve().parent.parent
SYMBOL = "BTC-USD"
BATCH = 1000  # placements per pipeline


def now_us(redis) -> int:
    sec, usec = redis.time()
    return int(sec) * 1_000_000 + int(usec)


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[i]


def start(kind: str, url: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """A Procfile process as honcho runs it (the venv on the PATH)."""
    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
    env = dict(
        os.environ, REDIS_URL=url, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    )
    env.pop("RQ_REDIS_URL", None)
    env.update(extra_env or {})
    return subprocess.Popen(
        ["/bin/sh", "-c", "exec " + procfile[kind].strip()],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def place_gtd(ctx: EngineContext, account: str, deadlines: list[int]) -> None:
    """Resting GTD buys (they never cross) with these deadlines, BATCH per round trip."""
    for i in range(0, len(deadlines), BATCH):
        reqs = [
            PlaceRequest(SYMBOL, "buy", "limit", 1, price=1000 + (i + j) % 50,
                         time_in_force="GTD", expires_at=deadline)
            for j, deadline in enumerate(deadlines[i : i + BATCH])
        ]  # fmt: skip
        ctx.engine.place_many(account, reqs)


def lateness_of(ctx: EngineContext, since_us: int = 0) -> list[tuple[int, int]]:
    """(deadline, kill time) in µs of every order killed with `expired`, due from since_us."""
    out = []
    for _member, raw in ctx.redis.hscan_iter(symbol_keys(SYMBOL).orders, count=5000):
        fields = raw.split("|")
        if fields[7] == "k" and fields[8] == "expired" and int(fields[11]) >= since_us:
            out.append((int(fields[11]), int(fields[10])))
    return out


def wait_until_killed(ctx: EngineContext, n: int, timeout: float) -> None:
    gtd = symbol_keys(SYMBOL).gtd
    deadline = time.monotonic() + timeout
    while ctx.redis.zcard(gtd) > 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"expiry: {ctx.redis.zcard(gtd)} of {n} orders still resting")
        time.sleep(0.05)


def summary(pairs: list[tuple[int, int]]) -> dict:
    late = sorted((kill - due) / 1e6 for due, kill in pairs)
    return {
        "orders": len(late),
        "p50_s": round(percentile(late, 50), 3),
        "p90_s": round(percentile(late, 90), 3),
        "p99_s": round(percentile(late, 99), 3),
        "max_s": round(late[-1], 3) if late else None,
    }


def run(drain: int, rate: int, seconds: int) -> dict:
    with RedisServer() as server:
        settings = Settings(redis_url=server.url, order_rate_limit=0)
        ctx = EngineContext(settings)
        ctx.symbols.add(SYMBOL, "0.01", "0.0001")
        account = accounts.create(ctx.redis, "bench")["api_key"].split("_")[1]
        worker, scheduler = start("worker", server.url), start("scheduler", server.url)
        try:
            results = {}
            # Drain: every order due at one instant, far enough ahead to place them all.
            if drain:
                print(f"drain: placing {drain:,} GTD orders due at one instant ...", flush=True)
                t_place = time.monotonic()
                due = now_us(ctx.redis) + 5_000_000 + drain * 150  # time to place them first
                place_gtd(ctx, account, [due] * drain)
                placed_in = time.monotonic() - t_place
                while now_us(ctx.redis) < due:
                    time.sleep(0.01)
                wait_until_killed(ctx, drain, 120)
                pairs = lateness_of(ctx)
                last_kill = max(kill for _, kill in pairs)
                seconds_to_drain = (last_kill - due) / 1e6
                results["drain"] = summary(pairs) | {
                    "placed_in_s": round(placed_in, 1),
                    "drained_in_s": round(seconds_to_drain, 2),
                    "kills_per_s": (
                        round(len(pairs) / seconds_to_drain) if seconds_to_drain else None
                    ),
                }
                print(f"drain: {results['drain']}", flush=True)

            # Spread: `rate` deadlines a second for `seconds`, starting after the placement.
            n = rate * seconds
            print(f"spread: placing {n:,} GTD orders due {rate:,}/s over {seconds} s ...",
                  flush=True)  # fmt: skip
            start_us = now_us(ctx.redis) + 5_000_000 + n * 150  # time to place them first
            place_gtd(ctx, account, [start_us + i * 1_000_000 // rate for i in range(n)])
            while now_us(ctx.redis) < start_us + seconds * 1_000_000:
                time.sleep(0.1)
            wait_until_killed(ctx, n, 60)
            results["spread"] = summary(lateness_of(ctx, start_us)) | {"rate_per_s": rate}
            print(f"spread: {results['spread']}", flush=True)
            results["kill_reasons"] = {
                k: int(v)
                for k, v in ctx.redis.hgetall(symbol_keys(SYMBOL).stats).items()
                if k.startswith("killed:")
            }
            return results
        finally:
            stop(worker)
            stop(scheduler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--drain", type=int, default=100_000, help="orders due at one instant (0: none)"
    )
    parser.add_argument("--rate", type=int, default=1000, help="deadlines a second (spread)")
    parser.add_argument("--seconds", type=int, default=30, help="length of the spread phase")
    args = parser.parse_args(argv)
    results = run(args.drain, args.rate, args.seconds)
    s = results["spread"]
    print()
    print("| figure | measured |")
    print("|---|---|")
    if "drain" in results:
        d = results["drain"]
        print(f"| drain: {d['orders']:,} orders due at one instant, all killed in | "
              f"{d['drained_in_s']} s ({d['kills_per_s']:,} kills/s) |")  # fmt: skip
        print(f"| drain: lateness p50 / p90 / p99 / max | {d['p50_s']} / {d['p90_s']} / "
              f"{d['p99_s']} / {d['max_s']} s |")  # fmt: skip
    print(f"| spread: {s['rate_per_s']:,} deadlines/s, lateness p50 / p90 / p99 / max | "
          f"{s['p50_s']} / {s['p90_s']} / {s['p99_s']} / {s['max_s']} s |")  # fmt: skip
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
