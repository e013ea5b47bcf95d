"""What durability costs: `python -m bench.durability`.

Order placement throughput with Redis persistence off, AOF `appendfsync everysec` (the
project's redis.conf) and AOF `appendfsync always` (fsync before every reply), side by side:

- script: the placement script (lua/place.lua, with Engine.placement_args) run by
  redis-benchmark from 1 client, one call after another (under `always` each call waits for
  its fsync), and from 32 clients (Redis fsyncs once per event-loop turn, for every write of
  that turn);
- http: the Procfile's web (gunicorn) posting orders with wrk, 16 connections.

Each mode gets a fresh redis-server whose data directory is on the disk under --dir
(default var/bench/durability: the repository's disk, not a tmpfs), and a fresh book of
resting orders. The table is the one in docs/operations.md ("Durability").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional

import redis

from bench.http import APP_TARGET, WebServer
from bench.overload import seed, wrk_statuses
from bench.redis_server import free_port, wait_for_ping
from engine.book import Engine
from engine.config import Settings
from engine.orders import PlaceRequest

ROOT = Path(__file__).resolve().parent.parent
MODES = {
    "off": ["--appendonly", "no"],
    "everysec": ["--appendonly", "yes", "--appendfsync", "everysec"],
    "always": ["--appendonly", "yes", "--appendfsync", "always"],
}


class Server:
    """A redis-server with one durability mode, its data on disk under `directory`."""

    def __init__(self, mode: str, directory: Path) -> None:
        self.mode, self.port = mode, free_port()
        self.directory = directory / mode
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: Optional[subprocess.Popen] = None

    def __enter__(self) -> "Server":
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        self._proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log"),
             *MODES[self.mode]],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if not wait_for_ping(self.port, 10):
            raise SystemExit(f"redis-server ({self.mode}) did not start")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)


def script_rate(url: str, port: int, clients: int, requests: int) -> dict[str, float]:
    """The placement script under redis-benchmark: `requests` resting orders (one account,
    a buy at 90.00 each: no matching, the book grows) from `clients` connections."""
    sync = redis.Redis.from_url(url, decode_responses=True)
    engine = Engine(sync, Settings(redis_url=url, order_rate_limit=0))
    sync.script_load(engine.scripts.place.script)
    account = sync.hget("te:accounts", "load0")
    order = PlaceRequest(symbol="BTC-USD", side="buy", type="limit", quantity=1, price=9000)
    keys, args = engine.placement_args(account, order)
    sync.close()
    done = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-c", str(clients), "-n", str(requests), "--csv",
         "EVALSHA", engine.scripts.place.sha, str(len(keys)), *keys, *args],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    header, row = [line for line in done.stdout.splitlines() if line.strip()][-2:]
    d = dict(zip(json.loads(f"[{header}]"), json.loads(f"[{row}]"), strict=True))
    return {"per_second": float(d["rps"]), "p50_ms": float(d["p50_latency_ms"]),
            "p99_ms": float(d["p99_latency_ms"])}  # fmt: skip


def measure(mode: str, directory: Path, seconds: int) -> dict[str, Any]:
    with Server(mode, directory) as server:
        keys = seed(server.url, 16)
        one = script_rate(server.url, server.port, 1, 300 * seconds)
        many = script_rate(server.url, server.port, 32, 5000 * seconds)
        with WebServer(APP_TARGET, server.url) as web:
            wrk_statuses(f"{web.url}/api/v1/orders", keys, 4, 1)  # warm up
            http = wrk_statuses(f"{web.url}/api/v1/orders", keys, 16, seconds)
        info = redis.Redis(port=server.port).info("persistence")
        return {
            "mode": mode, "script_1": one, "script_32": many,
            "http_16": {"per_second": http.requests_per_second, "p50_ms": http.p50_ms,
                        "p99_ms": http.p99_ms, "non_2xx": http.s4xx + http.s5xx},
            "aof_bytes": info.get("aof_current_size", 0),
        }  # fmt: skip


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| appendfsync | script, 1 client: orders/s (p50 ms) | script, 32 clients: orders/s "
        "(p99 ms) | HTTP, 16 connections: orders/s (p99 ms) |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        name = {"off": "no AOF", "everysec": "everysec (redis.conf)", "always": "always"}[r["mode"]]
        out.append(
            f"| {name} | {r['script_1']['per_second']:,.0f} ({r['script_1']['p50_ms']:.2f}) | "
            f"{r['script_32']['per_second']:,.0f} ({r['script_32']['p99_ms']:.2f}) | "
            f"{r['http_16']['per_second']:,.0f} ({r['http_16']['p99_ms']:.1f}) |"
        )
    return "\n".join(out)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.durability", description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="per measurement (default 5)")
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "bench" / "durability",
                        help="where the servers keep their data (default %(default)s)")  # fmt: skip
    parser.add_argument("--modes", default="off,everysec,always")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    for exe in ("redis-server", "redis-benchmark"):
        if shutil.which(exe) is None:
            raise SystemExit(f"{exe} is not on the PATH (make setup installs Debian's redis)")
    rows = []
    for mode in args.modes.split(","):
        rows.append(measure(mode, args.dir, args.seconds))
        print(f"{mode}: done", flush=True)
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    print(f"\n{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; data on "
          f"{args.dir}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
