"""What the API does past its capacity: `python -m bench.overload`.

Runs the Procfile's web (gunicorn, ORDER_RATE_LIMIT=0) against a throwaway Redis and sends
it resting orders with wrk at rising numbers of concurrent connections, a few seconds each,
loopback only. Prints one row per level: throughput, latency percentiles, answers by status
class and socket errors (a request past wrk's --timeout counts as a timeout error). The
table is the one in docs/operations.md ("Overload").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import redis

from bench.http import APP_TARGET, WebServer
from bench.redis_server import RedisServer

WRK_SCRIPT = Path(__file__).with_name("wrk") / "statuses.lua"


@dataclass
class Figures:
    connections: int
    requests: int
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    s2xx: int
    s4xx: int
    s5xx: int
    other: int
    socket_errors: int  # connect + read + write
    timeouts: int  # requests past wrk's --timeout

    def row(self) -> str:
        return (
            f"| {self.connections} | {self.requests_per_second:,.0f} | {self.p50_ms:,.1f} | "
            f"{self.p99_ms:,.1f} | {self.max_ms:,.0f} | {self.s2xx:,} | {self.s5xx} | "
            f"{self.socket_errors} | {self.timeouts} |"
        )


HEADER = (
    "| connections | orders/s | p50 ms | p99 ms | max ms | 2xx | 5xx | socket errors "
    "| timeouts |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def wrk_statuses(
    url: str,
    api_keys: list[str],
    connections: int,
    seconds: int,
    threads: int = 2,
    timeout: int = 5,
) -> Figures:
    """wrk posting resting BTC-USD orders to url (…/api/v1/orders) with the given keys."""
    exe = shutil.which("wrk")
    if exe is None:
        raise SystemExit("wrk is not installed (make bench installs it with apt-get)")
    args = [exe, f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s",
            "--timeout", f"{timeout}s", "-s", str(WRK_SCRIPT), url, "--", *api_keys]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + timeout + 30)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_STATUS ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    d = json.loads(line.removeprefix("WRK_STATUS "))
    return Figures(
        connections=connections,
        requests=d["requests"],
        requests_per_second=d["requests"] / (d["duration_us"] / 1e6),
        p50_ms=d["p50_us"] / 1000, p90_ms=d["p90_us"] / 1000, p99_ms=d["p99_us"] / 1000,
        max_ms=d["max_us"] / 1000,
        s2xx=d["s2xx"], s4xx=d["s4xx"], s5xx=d["s5xx"], other=d["other"],
        socket_errors=d["connect"] + d["read"] + d["write"], timeouts=d["timeout"],
    )  # fmt: skip


def seed(url: str, accounts: int) -> list[str]:
    """BTC-USD and `accounts` accounts; their API keys."""
    from engine import accounts as accounts_mod
    from engine.symbols import SymbolRegistry

    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        SymbolRegistry(client).add("BTC-USD", "0.01", "0.0001")
        return [accounts_mod.create(client, f"load{i}")["api_key"] for i in range(accounts)]
    finally:
        client.close()


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__)
    parser.add_argument(
        "--connections",
        default="4,16,64,256,1024,2048",
        help="comma-separated concurrency levels (default %(default)s)",
    )
    parser.add_argument("--seconds", type=int, default=5, help="per level (default 5)")
    parser.add_argument("--timeout", type=int, default=10,
                        help="wrk's per-request timeout in seconds (default 10)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    levels = [int(x) for x in args.connections.split(",")]
    rows = []
    with RedisServer() as server:
        keys = seed(server.url, 16)
        with WebServer(APP_TARGET, server.url) as web:
            url = f"{web.url}/api/v1/orders"
            wrk_statuses(url, keys, connections=4, seconds=1)  # warm up
            for connections in levels:
                rows.append(wrk_statuses(url, keys, connections, args.seconds,
                                         timeout=args.timeout))  # fmt: skip
                if not args.json:
                    print(rows[-1].row() if len(rows) > 1 else f"{HEADER}\n{rows[-1].row()}",
                          flush=True)  # fmt: skip
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        workers = os.environ.get("WEB_CONCURRENCY") or os.cpu_count()
        print(f"\nweb: the Procfile's gunicorn, WEB_CONCURRENCY={workers}, {os.cpu_count()} "
              f"cores; wrk 2 threads, --timeout {args.timeout}s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
