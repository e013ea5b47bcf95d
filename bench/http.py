"""HTTP phases: the API under gunicorn (the Procfile's `web`) and the ceiling app, with wrk.

Both servers run the Procfile's web command itself (same worker class, workers, threads and
options); the ceiling only swaps `app:create_app()` for `bench.ceiling_app:create_app()`.
wrk posts a rotating set of seeded bodies with 2 threads and 16 connections.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Optional

from bench.redis_server import free_port
from bench.workload import SYMBOLS, Op, Workload
from engine.money import format_amount

ROOT = Path(__file__).resolve().parent.parent
WRK_SCRIPT = Path(__file__).with_name("wrk") / "post.lua"
APP_TARGET = "app:create_app()"
CEILING_TARGET = "bench.ceiling_app:create_app()"
STEPS = {s: (Decimal(t), Decimal(lot)) for s, t, lot in SYMBOLS}


def web_command(procfile: Path = ROOT / "Procfile") -> str:
    """The Procfile's `web` command line."""
    for line in procfile.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == "web":
            return command.strip()
    raise SystemExit(f"{procfile} has no web process")


def web_concurrency() -> str:
    """WEB_CONCURRENCY as the environment gives it, else one worker per core."""
    return os.environ.get("WEB_CONCURRENCY") or str(os.cpu_count() or 1)


class WebServer:
    """The Procfile's web command on a free port (target swapped for the ceiling app)."""

    def __init__(self, target: str, redis_url: str) -> None:
        command = web_command()
        if APP_TARGET not in command:
            raise SystemExit(f"the Procfile's web command does not serve {APP_TARGET}")
        self.command = command.replace(APP_TARGET, target)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            PORT=str(self.port),
            REDIS_URL=redis_url,
            ORDER_RATE_LIMIT="0",
            WEB_CONCURRENCY=web_concurrency(),
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            PYTHONPATH=str(ROOT),
        )
        self._proc: Optional[subprocess.Popen] = None

    def __enter__(self) -> "WebServer":
        self._proc = subprocess.Popen(
            ["bash", "-c", f"exec {self.command}"], cwd=ROOT, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace")[-2000:]
                raise SystemExit(f"the web server exited at start:\n{err}")
            try:
                urllib.request.urlopen(self.url + "/api/v1/symbols", timeout=1).read()
                break
            except urllib.error.HTTPError:
                break  # it answers (the ceiling app has no /symbols)
            except OSError:
                time.sleep(0.1)
        else:
            self.__exit__(None, None, None)
            raise SystemExit(f"the web server did not answer on {self.url}")
        # stderr is not read from here on: drop it rather than let the pipe fill up.
        self._proc.stderr.close()
        return self

    def __exit__(self, *exc) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        os.killpg(self._proc.pid, signal.SIGTERM)  # our own session: gunicorn and its workers
        try:
            self._proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()


def order_body(op: Op) -> dict:
    tick, lot = STEPS[op.symbol]
    return {
        "symbol": op.symbol, "side": op.side, "type": "limit",
        "price": format_amount(op.price, tick), "quantity": format_amount(op.quantity, lot),
    }  # fmt: skip


def write_bodies(path: Path, api_keys: list[str], seed: int, count: int, batch: int = 0) -> None:
    """`count` request lines "key<TAB>json": single orders, or batches of `batch` orders."""
    work = Workload(seed=seed, accounts=len(api_keys))
    lines = []
    if batch:
        ops = work.orders_only(count * batch)
        for n in range(count):
            orders = [order_body(next(ops)) for _ in range(batch)]
            lines.append(f"{api_keys[n % len(api_keys)]}\t{json.dumps({'orders': orders})}")
    else:
        for op in work.orders_only(count):
            lines.append(f"{api_keys[op.account]}\t{json.dumps(order_body(op))}")
    path.write_text("\n".join(lines) + "\n")


@dataclass
class WrkFigures:
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    requests: int


def wrk(
    url: str,
    bodies: Path,
    seconds: int,
    threads: int = 2,
    connections: int = 16,
    tick: Optional[Callable[[float], None]] = None,
) -> WrkFigures:
    """Run wrk against url with the bodies file; tick(seconds) advances a progress bar."""
    exe = shutil.which("wrk")
    if exe is None:
        raise SystemExit("wrk is not installed (make bench installs it with apt-get)")
    args = [exe, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
            "-s", str(WRK_SCRIPT), url, "--", str(bodies)]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    while proc.poll() is None:
        time.sleep(0.25)
        if tick is not None:
            tick(time.monotonic() - started)
    out, err = proc.communicate()
    line = next((x for x in out.splitlines() if x.startswith("WRK_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.strip() or out.strip()}")
    d = json.loads(line.removeprefix("WRK_JSON "))
    return WrkFigures(
        requests_per_second=d["requests"] / (d["duration_us"] / 1e6),
        p50_ms=d["p50_us"] / 1000, p90_ms=d["p90_us"] / 1000, p99_ms=d["p99_us"] / 1000,
        non_2xx=d["non_2xx"], socket_errors=d["connect"] + d["read"] + d["write"] + d["timeout"],
        requests=d["requests"],
    )  # fmt: skip
