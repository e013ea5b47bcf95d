"""Live streams under load: `python -m bench.streams` (make bench-streams).

Measures, against the Procfile's own `web` command on a throwaway Redis:

1. **Stream latency**: for every trade an open `GET /api/v1/stream` reports, the time from
   the trade (its `created_at`: Redis TIME inside the placement script) to the moment the
   update carrying it is read from the socket (same machine, same clock). Measured quiet
   (about 7 trades a second placed through the API) and while wrk posts orders with 200
   other streams open (every trade wrk makes on the probe's symbol).
2. **Order-entry throughput with and without 200 open streams**: wrk posts orders
   (`bench/http.py`, the same bodies as `make bench`) for `--seconds`, alternating runs
   without and with 200 streams held open on the traded symbols by a separate process
   (`hold`: one selectors loop), `--runs` of each; the medians are compared (the target:
   at most 10% less).

The 200 stream clients, wrk, gunicorn and Redis share this machine's cores, so the figure
with streams also pays for the clients' own reading.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from bench import core, http
from bench.redis_server import RedisServer
from bench.workload import SYMBOLS
from engine.config import Settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "bench" / "streams.json"
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench-streams:begin -->", "<!-- bench-streams:end -->"


# -- a stream reader ------------------------------------------------------------------------


def _iso_us(text: str) -> int:
    """RFC 3339 "…T…(.ffffff)Z" -> microseconds since the epoch."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


class Probe(threading.Thread):
    """One SSE stream read in a thread: records (trade sequence, latency ms) of every trade."""

    def __init__(self, base_url: str, symbol: str) -> None:
        super().__init__(daemon=True)
        self.url = urlsplit(base_url)
        self.symbol = symbol
        self.latencies: list[float] = []
        self.snapshot = threading.Event()
        self.stop = threading.Event()
        self.updates = 0
        self.error: Optional[str] = None

    def run(self) -> None:
        try:
            sock = socket.create_connection((self.url.hostname, self.url.port), timeout=30)
            sock.sendall(
                f"GET /api/v1/stream?symbol={self.symbol}&depth=1 HTTP/1.1\r\n"
                f"Host: {self.url.hostname}\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            buf = b""
            while not self.stop.is_set():
                chunk = sock.recv(1 << 16)
                if not chunk:
                    return
                now_us = time.time_ns() // 1000
                buf += chunk
                *events, buf = buf.split(b"\n\n")
                for event in events:
                    self._event(event, now_us)
        except OSError as exc:
            if not self.stop.is_set():
                self.error = str(exc)

    def _event(self, raw: bytes, now_us: int) -> None:
        kind = data = None
        for line in raw.split(b"\n"):
            if line.startswith(b"event: "):
                kind = line[7:].strip()
            elif line.startswith(b"data: "):
                data = line[6:]
        if kind == b"snapshot":
            self.snapshot.set()
        elif kind == b"update" and data is not None:
            self.updates += 1
            for trade in json.loads(data)["trades"]:
                self.latencies.append((now_us - _iso_us(trade["created_at"])) / 1000)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _process_tree(pid: int) -> list[int]:
    """pid and its descendants (gunicorn's master and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def p(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"count": len(ordered), "p50": p(0.5), "p99": p(0.99), "max": ordered[-1]}


# -- 200 streams in one process (`python -m bench.streams hold ...`) ---------------------------


def _hold(url: str, symbols: list[str], count: int) -> None:
    """Open `count` streams, read (and count) everything until SIGTERM: one selectors loop
    over non-blocking sockets, so the clients cost the machine as little as they can."""
    parts = urlsplit(url)
    counts = {"wanted": count, "ready": 0, "bytes": 0, "updates": 0, "closed": 0}
    selector = selectors.DefaultSelector()
    for i in range(count):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        sock.sendall(
            f"GET /api/v1/stream?symbol={symbols[i % len(symbols)]} HTTP/1.1\r\n"
            f"Host: {parts.hostname}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, [False])  # data: [snapshot seen]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    deadline = time.monotonic() + 60
    announced = False
    while not stop:
        for key, _mask in selector.select(timeout=0.5):
            try:
                chunk = key.fileobj.recv(1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                counts["closed"] += 1
                selector.unregister(key.fileobj)
                continue
            counts["bytes"] += len(chunk)
            counts["updates"] += chunk.count(b"event: update")
            if not key.data[0] and b"event: snapshot" in chunk:
                key.data[0] = True
                counts["ready"] += 1
        if not announced:
            if counts["ready"] == count:
                print(json.dumps({"ready": counts["ready"]}), flush=True)
                announced = True
            elif time.monotonic() > deadline:
                raise SystemExit(f"only {counts['ready']} of {count} streams opened")
    print(json.dumps(counts), flush=True)


class Holder:
    """`count` open streams in a child process, for the length of a `with` block."""

    def __init__(self, url: str, symbols: list[str], count: int) -> None:
        self.args = [sys.executable, "-m", "bench.streams", "hold", url, ",".join(symbols),
                     str(count)]  # fmt: skip
        self.counts: dict = {}

    def __enter__(self) -> "Holder":
        self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                     env=dict(os.environ, PYTHONPATH=str(ROOT)))  # fmt: skip
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the stream holder exited before its streams were open")
        return self

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def __exit__(self, *exc) -> None:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        self.counts = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}


# -- the measurement --------------------------------------------------------------------------


@dataclass
class Results:
    streams: int
    seconds: int
    runs: int
    web_command: str
    web_concurrency: str
    quiet_latency_ms: dict = field(default_factory=dict)
    loaded_latency_ms: dict = field(default_factory=dict)
    without_rps: list[float] = field(default_factory=list)
    with_rps: list[float] = field(default_factory=list)
    # the web processes' CPU per order placed (µs): steadier than req/s on a shared machine
    without_cpu_us: list[float] = field(default_factory=list)
    with_cpu_us: list[float] = field(default_factory=list)
    without_redis_us: list[float] = field(default_factory=list)  # Redis CPU per order
    with_redis_us: list[float] = field(default_factory=list)
    updates_per_stream_per_second: list[float] = field(default_factory=list)
    client_cores: list[float] = field(default_factory=list)  # the 199 streams' reader, cores
    load: tuple = ()

    @property
    def drop(self) -> float:
        return 1 - statistics.median(self.with_rps) / statistics.median(self.without_rps)


def quiet_latency(base_url: str, keys: list[str], trades: int) -> dict:
    """`trades` trades at about 7 a second (below a feed's rate: nothing is held back),
    each read back from an open stream; the resting side is placed beforehand."""
    import urllib.request

    symbol = SYMBOLS[0][0]
    probe = Probe(base_url, symbol)
    probe.start()
    if not probe.snapshot.wait(10):
        raise RuntimeError(f"no snapshot from the stream: {probe.error}")

    def post(key: str, body: dict) -> None:
        req = urllib.request.Request(
            base_url + "/api/v1/orders", data=json.dumps({"symbol": symbol, **body}).encode(),
            method="POST", headers={"Content-Type": "application/json", "X-API-Key": key},
        )  # fmt: skip
        urllib.request.urlopen(req, timeout=10).read()

    for _ in range(trades):
        post(keys[0], {"side": "sell", "price": "900.00", "quantity": "0.0001"})
    time.sleep(1.0)  # the feed's burst allowance fills up again
    for _ in range(trades):
        post(keys[1], {"side": "buy", "price": "900.00", "quantity": "0.0001"})
        time.sleep(0.15)
    deadline = time.monotonic() + 5
    while len(probe.latencies) < trades and time.monotonic() < deadline:
        time.sleep(0.05)
    probe.stop.set()
    return percentiles(probe.latencies)


def measure(args: argparse.Namespace) -> Results:
    with RedisServer() as redis_server:
        engine = core.EngineSide(redis_server.url, Settings(redis_url=redis_server.url))
        core.fresh(engine)
        symbols = [s for s, _t, _l in SYMBOLS]
        res = Results(
            streams=args.streams, seconds=args.seconds, runs=args.runs,
            web_command=http.web_command(), web_concurrency=http.web_concurrency(),
        )  # fmt: skip
        res.load = (os.getloadavg()[0],)
        with tempfile.TemporaryDirectory(prefix="te-streams-") as tmp:
            bodies = Path(tmp) / "orders.txt"
            http.write_bodies(bodies, engine.api_keys, args.seed, 4096)
            with http.WebServer(http.APP_TARGET, redis_server.url) as web:
                print(f"web: {res.web_command} (WEB_CONCURRENCY={res.web_concurrency})")
                res.quiet_latency_ms = quiet_latency(web.url, engine.api_keys, args.trades)
                print(f"quiet latency ms: {res.quiet_latency_ms}")
                url = web.url + "/api/v1/orders"
                pids = _process_tree(web._proc.pid)

                redis_pid = redis_server._proc.pid

                def run_wrk() -> tuple:
                    before = sum(_cpu_seconds(p) for p in pids)
                    redis_before = _cpu_seconds(redis_pid)
                    figures = http.wrk(url, bodies, args.seconds)
                    used = sum(_cpu_seconds(p) for p in pids) - before
                    redis_used = _cpu_seconds(redis_pid) - redis_before
                    n = max(1, figures.requests)
                    return figures, used / n * 1e6, redis_used / n * 1e6

                http.wrk(url, bodies, 2)  # warm-up
                probe_latencies: list[float] = []
                for run in range(args.runs):
                    for streams in (False, True) if run % 2 == 0 else (True, False):
                        if not streams:
                            rps, cpu_us, redis_us = run_wrk()
                            res.without_rps.append(rps.requests_per_second)
                            res.without_cpu_us.append(cpu_us)
                            res.without_redis_us.append(redis_us)
                            rate = rps.requests_per_second
                            print(f"run {run + 1} without streams: {rate:.0f} req/s")
                            continue
                        probe = Probe(web.url, symbols[0])
                        probe.start()
                        probe.snapshot.wait(10)
                        with Holder(web.url, symbols, args.streams - 1) as holder:
                            before = holder.cpu_seconds()
                            rps, cpu_us, redis_us = run_wrk()
                            res.client_cores.append((holder.cpu_seconds() - before) / args.seconds)
                        probe.stop.set()
                        probe_latencies += probe.latencies
                        res.with_rps.append(rps.requests_per_second)
                        res.with_cpu_us.append(cpu_us)
                        res.with_redis_us.append(redis_us)
                        per = holder.counts.get("updates", 0) / max(1, args.streams - 1)
                        res.updates_per_stream_per_second.append(per / args.seconds)
                        print(f"run {run + 1} with {args.streams} streams: "
                              f"{rps.requests_per_second:.0f} req/s, {per:.0f} updates a stream, "
                              f"{holder.counts.get('closed', 0)} closed")  # fmt: skip
                        if rps.non_2xx or rps.socket_errors:
                            raise RuntimeError(
                                f"wrk: {rps.non_2xx} non-2xx, {rps.socket_errors} errors"
                            )
                res.loaded_latency_ms = percentiles(probe_latencies)
        res.load += (os.getloadavg()[0],)
        return res


def report(res: Results) -> str:
    q, lo = res.quiet_latency_ms, res.loaded_latency_ms
    w, s = statistics.median(res.without_rps), statistics.median(res.with_rps)
    lines = [
        "| figure | target | measured |",
        "|---|---|---|",
        f"| stream latency, quiet ({q['count']} trades) p50 / p99 / max | p99 ≤ 200 ms | "
        f"{q['p50']:.1f} / {q['p99']:.1f} / {q['max']:.1f} ms |",
        f"| stream latency under wrk with {res.streams} streams open ({lo['count']:,} trades) "
        f"p50 / p99 / max | p99 ≤ 200 ms | "
        f"{lo['p50']:.1f} / {lo['p99']:.1f} / {lo['max']:.1f} ms |",
        f"| POST /orders without streams, median of {res.runs} (req/s) | | {w:,.0f} "
        f"({', '.join(f'{x:,.0f}' for x in res.without_rps)}) |",
        f"| POST /orders with {res.streams} streams open, median of {res.runs} (req/s) | "
        f"≥ 90% of without | {s:,.0f} ({', '.join(f'{x:,.0f}' for x in res.with_rps)}): "
        f"{s / w:.1%} |",
        f"| web CPU per order placed, without / with the streams, medians (µs) | | "
        f"{statistics.median(res.without_cpu_us):,.0f} / "
        f"{statistics.median(res.with_cpu_us):,.0f} |",
        f"| Redis CPU per order placed, without / with the streams, medians (µs) | | "
        f"{statistics.median(res.without_redis_us):,.0f} / "
        f"{statistics.median(res.with_redis_us):,.0f} |",
        f"| the stream clients' own CPU during the runs with streams, median (cores) | | "
        f"{statistics.median(res.client_cores):.2f} |",
    ]
    return "\n".join(lines)


def rewrite_doc(res: Results, table: str) -> None:
    """The table between the bench-streams markers of docs/performance.md, with its footer."""
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        return
    import platform

    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    footer = (
        f"Measured {when} on {os.cpu_count()} cores, Python {platform.python_version()}, with "
        f"`make bench-streams` ({res.runs} runs of {res.seconds} s each way, alternating; "
        f"`{res.web_command}`, WEB_CONCURRENCY={res.web_concurrency}; load average "
        f"{res.load[0]:.1f} before, {res.load[-1]:.1f} after)."
    )
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{table}\n\n{footer}\n{END}{tail}")


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["hold"]:
        _, url, symbols, count = argv
        _hold(url, symbols.split(","), int(count))
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m bench.streams", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--streams", type=int, default=200, help="streams held open (200)")
    parser.add_argument("--runs", type=int, default=5, help="runs with and without (5)")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--trades", type=int, default=200, help="trades for the quiet latency")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--web-command", default=None,
        help="another web command line to compare (default: the Procfile's; the docs' table "
        "is only rewritten for the Procfile's)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.web_command:
        http.web_command = lambda procfile=None: args.web_command
    res = measure(args)
    table = report(res)
    print(table)
    if not args.web_command:
        rewrite_doc(res, table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**asdict(res), "drop": res.drop, "table": table}, indent=2))
    print(f"written to {RESULTS.relative_to(ROOT)}")
    ok = (
        res.quiet_latency_ms.get("p99", 1e9) <= 200
        and res.loaded_latency_ms.get("p99", 1e9) <= 200
        and res.drop <= 0.10
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
