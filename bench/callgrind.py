"""Instructions per placement, counted by valgrind's callgrind: figures no other load can move.

    python -m bench.callgrind [--orders 3000]

Runs redis-server under callgrind, places the seeded workload's orders (no cancels, 128 deep)
through lua/place.lua and through bench/baseline.lua, and counts the instructions Redis
executes per order, with the share spent inside the Redis commands the script calls
(`scriptCall`) against the Lua interpreter and argument handling around them. Wall-clock
figures on a shared 2-core machine move by ±20% with whatever else runs; these do not.
Needs valgrind (Debian's `valgrind`); slow (about a minute per side).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import redis

from bench import core
from bench.redis_server import encoding_options, free_port, wait_for_ping
from bench.workload import Workload
from engine.config import Settings

WARM = 1000  # orders placed before counting starts (scripts loaded, structures grown)


def count(side_name: str, orders: int, seed: int) -> dict[str, float]:
    """Instructions per order for one side, and the share inside Redis commands."""
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="te-callgrind-"))
    out = work / "callgrind.out"
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--instr-atstart=no",
         "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(work), *encoding_options()],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"redis://127.0.0.1:{port}/0"
        if not wait_for_ping(port, 60):
            raise SystemExit("redis-server did not start under valgrind")
        client = redis.Redis.from_url(url)
        settings = Settings(redis_url=url, order_rate_limit=0)
        side = (core.EngineSide if side_name == "engine" else core.BaselineSide)(url, settings)
        core.fresh(side)
        ops = list(Workload(seed=seed).orders_only(WARM + orders))
        core.run_ops(side, ops[:WARM], 128, seed)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], capture_output=True)
        core.run_ops(side, ops[WARM:], 128, seed)
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], capture_output=True)
        client.shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # the shutdown closed the connection
    finally:
        proc.wait(120)
    report = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(out)],
                            capture_output=True, text=True).stdout  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)

    def inclusive(label: str) -> int:
        m = re.search(rf"^\s*([\d,]+) .*{re.escape(label)}", report, re.M)
        return int(m.group(1).replace(",", "")) if m else 0

    total = inclusive("PROGRAM TOTALS")
    return {
        "instructions_per_order": total / orders,
        "in_redis_commands": inclusive(":scriptCall ") / total if total else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.callgrind", description=__doc__.split("\n")[0]
    )
    p.add_argument("--orders", type=int, default=3000, help="orders counted per side")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    figures = {name: count(name, args.orders, args.seed) for name in ("baseline", "engine")}
    for name, f in figures.items():
        share = 100 * f["in_redis_commands"]
        print(f"{name:9s} {f['instructions_per_order']:>9,.0f} instructions per placement, "
              f"{share:.0f}% inside the Redis commands it calls")  # fmt: skip
    per_order = {name: f["instructions_per_order"] for name, f in figures.items()}
    ratio = per_order["engine"] / per_order["baseline"]
    print(f"engine / baseline: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
