"""`python -m bench.cluster`: placement throughput over 8 symbols on 1 Redis node vs 3.

Each setup gets a fresh local Redis Cluster (tools/local_cluster.py; no persistence unless
--aof), the 8 symbols and 4 accounts made with the engine's own functions, then several
client processes placing the same seeded workload (bench/workload.py, placements only,
about a third trading on arrival) with ``engine.cluster.run_scripts``, the path
``POST /orders/batch`` takes: pipelines of ``--depth`` calls, one per node. The figure is
all clients' placements over the wall time from the common start to the last finish.

Setups: a standalone Redis (the reference), a 1-master cluster, a 3-master cluster, and the
3-master cluster with every order on one symbol (a hot symbol: one slot, one node).
The table goes between the ``bench-cluster`` markers of docs/performance.md and the details
to var/bench/cluster.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis

from bench.redis_server import RedisServer
from bench.workload import Workload
from engine import accounts
from engine.book import Engine
from engine.cluster import run_scripts
from engine.config import Settings
from engine.connection import make_redis
from engine.orders import PlaceRequest
from engine.symbols import SymbolRegistry
from tools.local_cluster import LocalCluster, free_ports

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
OUT = ROOT / "var" / "bench" / "cluster.json"
BEGIN, END = "<!-- bench-cluster:begin -->", "<!-- bench-cluster:end -->"

SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "ADA-USD", "DOT-USD", "LTC-USD", "BTC-EUR"]
ACCOUNTS = ("bench-a", "bench-b", "bench-c", "bench-d")


@dataclass
class Result:
    setup: str
    nodes: int
    symbols: int
    orders: int
    seconds: float
    traded: int
    # Per node: CPU seconds the redis-server used during the run, and EVALSHA µs per call.
    node_cpu_seconds: list[float] = field(default_factory=list)
    node_usec_per_call: list[float] = field(default_factory=list)
    node_calls: list[int] = field(default_factory=list)
    client_cpu_seconds: float = 0.0  # all client processes together

    @property
    def per_second(self) -> float:
        return self.orders / self.seconds

    @property
    def cpu_usec_per_order(self) -> float:
        """Redis CPU time per placement, all nodes together."""
        return sum(self.node_cpu_seconds) / self.orders * 1e6

    @property
    def core_per_node_bound(self) -> float:
        """Orders/s if each node had a core of its own: the busiest node sets the pace."""
        return self.orders / max(*self.node_cpu_seconds, 0.01)  # clock ticks: 10 ms


# -- one client process ----------------------------------------------------------------------


def _client(url: str, index: int, orders: int, depth: int, symbols: list[str], ready, start,
            out):  # fmt: skip
    """Place `orders` seeded orders through run_scripts, `depth` per call; report times."""
    settings = Settings(redis_url=url, order_rate_limit=0, order_max_age=0)
    client = make_redis(settings, socket_timeout=600)
    engine = Engine(client, settings)
    ids = [accounts.account_id(client, name) for name in ACCOUNTS]
    workload = Workload(seed=1000 + index, accounts=len(ids), symbols=tuple(symbols))
    calls = [
        engine.placement_args(
            ids[op.account],
            PlaceRequest(op.symbol, op.side, "limit", op.quantity, price=op.price),
        )
        for op in workload.orders_only(orders)
    ]
    script = engine.scripts.place
    run_scripts(client, script, calls[:1])  # loads the script where it is missing
    calls = calls[1:]
    ready.put(index)
    start.wait()
    began, cpu = time.monotonic(), time.process_time()
    traded = 0
    for i in range(0, len(calls), depth):
        for reply in run_scripts(client, script, calls[i : i + depth]):
            if isinstance(reply, Exception) or int(reply[0]) != 0:
                raise RuntimeError(f"placement failed: {reply!r}")
            traded += len(reply) > 3
    out.put((began, time.monotonic(), len(calls), traded, time.process_time() - cpu))


# -- setups ----------------------------------------------------------------------------------


def _prepare(url: str, symbols: list[str]) -> None:
    client = make_redis(Settings(redis_url=url))
    registry = SymbolRegistry(client)
    for symbol in symbols:
        registry.add(symbol, "0.01", "0.0001")
    for name in ACCOUNTS:
        accounts.create(client, name)
    client.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(setup: str, url: str, ports: list[int], pids: list[int], symbols: list[str],
             args) -> Result:  # fmt: skip
    _prepare(url, symbols)
    nodes = [redis.Redis(port=p, decode_responses=True) for p in ports]
    ctx = mp.get_context("fork")
    ready, start, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    per_client = args.orders // args.clients
    procs = [
        ctx.Process(
            target=_client, args=(url, i, per_client, args.depth, symbols, ready, start, out)
        )
        for i in range(args.clients)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)  # every client has built its calls
    for node in nodes:
        node.config_resetstat()
    cpu_before = [_cpu_seconds(pid) for pid in pids]
    start.set()
    reports = [out.get(timeout=600) for _ in procs]
    cpu_after = [_cpu_seconds(pid) for pid in pids]
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"a client process failed (exit {p.exitcode})")
    stats = [node.info("commandstats").get("cmdstat_evalsha", {}) for node in nodes]
    began = min(r[0] for r in reports)
    ended = max(r[1] for r in reports)
    return Result(
        setup=setup,
        nodes=len(ports),
        symbols=len(symbols),
        orders=sum(r[2] for r in reports),
        seconds=ended - began,
        traded=sum(r[3] for r in reports),
        node_cpu_seconds=[round(b - a, 3) for a, b in zip(cpu_before, cpu_after, strict=True)],
        node_usec_per_call=[round(float(s.get("usec_per_call", 0)), 1) for s in stats],
        node_calls=[int(s.get("calls", 0)) for s in stats],
        client_cpu_seconds=round(sum(r[4] for r in reports), 3),
    )


def _cluster_run(setup: str, masters: int, symbols: list[str], args) -> Result:
    root = Path(tempfile.mkdtemp(prefix="te-bench-cluster-"))
    cluster = LocalCluster(root, free_ports(masters), aof=args.aof)
    try:
        cluster.start()
        pids = [cluster.processes[p].pid for p in cluster.ports]
        return _measure(setup, cluster.url, cluster.ports, pids, symbols, args)
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _standalone_run(args) -> Result:
    with RedisServer(aof=args.aof) as server:
        return _measure("standalone Redis", server.url, [server.port], [server._proc.pid],
                        SYMBOLS, args)  # fmt: skip


# -- report ----------------------------------------------------------------------------------


def _table(results: list[Result], args, meta: dict) -> str:
    one = next(r for r in results if r.setup == "1-master cluster")
    lines = [
        "| setup | nodes | symbols | orders/s measured | vs 1 node | Redis CPU s per node | "
        "Redis CPU µs per order | client CPU µs per order | "
        "orders/s with a core per node (bound) |",
        "|---|--:|--:|--:|--:|---|--:|--:|--:|",
    ]
    for r in results:
        lines.append(
            f"| {r.setup} | {r.nodes} | {r.symbols} | {r.per_second:,.0f} | "
            f"{r.per_second / one.per_second:.2f}× | "
            f"{' / '.join(f'{c:.2f}' for c in r.node_cpu_seconds)} | "
            f"{r.cpu_usec_per_order:.0f} | {r.client_cpu_seconds / r.orders * 1e6:.0f} | "
            f"{r.core_per_node_bound:,.0f} |"
        )
    traded = sum(r.traded for r in results) / sum(r.orders for r in results)
    lines.append("")
    lines.append(
        f"Measured {meta['when']} on {meta['cores']} cores ({meta['cpu']}), Redis "
        f"{meta['redis']}, with `python -m bench.cluster` ({args.clients} client processes, "
        f"pipelines of {args.depth}, {args.orders:,} placements per run, best of "
        f"{args.repeat} runs per setup, "
        f"{'AOF everysec' if args.aof else 'no persistence'}; {traded:.0%} traded on arrival; "
        f"load average {meta['load_before']:.1f} before, {meta['load_after']:.1f} after)."
    )
    return "\n".join(lines)


def _write_doc(table: str) -> bool:
    text = DOC.read_text()
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        return False
    DOC.write_text(pattern.sub(lambda _m: f"{BEGIN}\n{table}\n{END}", text))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--orders", type=int, default=120_000, help="placements per setup")
    parser.add_argument("--clients", type=int, default=6, help="client processes")
    parser.add_argument("--depth", type=int, default=48, help="placements per pipelined call")
    parser.add_argument("--repeat", type=int, default=3, help="runs per setup (best kept)")
    parser.add_argument("--aof", action="store_true", help="appendonly yes, everysec")
    parser.add_argument("--no-doc", action="store_true", help="leave docs/performance.md alone")
    args = parser.parse_args(argv)
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not on the PATH (make setup installs it)")
    load_before = os.getloadavg()[0]
    setups = [
        ("standalone Redis", lambda: _standalone_run(args)),
        ("1-master cluster", lambda: _cluster_run("1-master cluster", 1, SYMBOLS, args)),
        ("3-master cluster", lambda: _cluster_run("3-master cluster", 3, SYMBOLS, args)),
        ("3-master cluster, one hot symbol",
         lambda: _cluster_run("3-master cluster, one hot symbol", 3, SYMBOLS[:1], args)),
    ]  # fmt: skip
    runs: dict[str, list[Result]] = {name: [] for name, _run in setups}
    # Interleaved repeats, best kept: other work on the machine only ever slows a run down.
    for attempt in range(1, args.repeat + 1):
        for name, run in setups:
            result = run()
            runs[name].append(result)
            print(f"run {attempt}/{args.repeat}, {name}: {result.per_second:,.0f} orders/s "
                  f"({result.orders:,} in {result.seconds:.2f} s)", flush=True)  # fmt: skip
    results = [max(runs[name], key=lambda r: r.per_second) for name, _run in setups]
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True,
                                   text=True).stdout.split("v=")[1].split()[0]  # fmt: skip
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())  # fmt: skip
    meta = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "redis": redis_version,
        "python": sys.version.split()[0],
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    table = _table(results, args, meta)
    print()
    print(table)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    details = {
        name: [asdict(r) | {"per_second": r.per_second} for r in rs] for name, rs in runs.items()
    }
    OUT.write_text(json.dumps({"meta": meta, "args": vars(args), "runs": details}, indent=2))
    if not args.no_doc:
        if _write_doc(table):
            print(f"\ndocs/performance.md updated; details in {OUT.relative_to(ROOT)}")
        else:
            print(f"\n(no {BEGIN} markers in docs/performance.md: the table was not written)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
