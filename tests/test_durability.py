"""Durability: SIGKILL the redis-server (AOF everysec) in the middle of a burst of orders.

The stack runs as real processes (gunicorn web, RQ worker, rq cron scheduler) against a
redis-server with the project's persistence settings. Eight threads post crossing orders;
the redis-server is killed mid-burst and started again on the same port and data. Then:
every order that was answered 201 is there and consistent with what the 201 said, the book
checks clean, a request whose outcome was unknown (a 503 while Redis died) placed at most
one order, and web, worker and scheduler recovered by themselves (same pids) within 5 s.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from rq import Queue

from engine import jobs, keys
from engine.check import check_symbol
from engine.keys import symbol_keys
from engine.queues import ENGINE_QUEUE
from tests.stack import (
    ROOT,
    Client,
    DurableRedis,
    Process,
    seed,
    start_web,
    stop_all,
    wait_until,
)

SYMBOL = "BTC-USD"
THREADS = 8
RECOVERY_LIMIT = 5.0  # seconds: the bound for web, worker and scheduler
DOWNTIME = 2.0  # seconds the redis-server stays dead: long enough for every client to notice
FINAL = ("filled", "killed")
SAME = ("id", "client_order_id", "symbol", "side", "type", "time_in_force", "price", "quantity",
        "post_only", "self_trade_prevention", "expires_at", "sequence", "created_at")  # fmt: skip


class Burst:
    """THREADS clients posting crossing orders until told to stop; every answer recorded."""

    def __init__(self, port: int, api_keys: list[str]) -> None:
        self.port, self.keys = port, api_keys
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: list[tuple[str, dict, dict]] = []  # (key, body sent, 201 answer)
        self.unknown: list[tuple[str, dict]] = []  # (key, body) answered 503 or failed
        self.statuses: Counter[int] = Counter()
        self.acked_at: list[float] = []  # monotonic time of each 201
        self.errors: list[str] = []

    def run(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._post, args=(i,), daemon=True)
                   for i in range(THREADS)]  # fmt: skip
        for t in threads:
            t.start()
        return threads

    def _post(self, i: int) -> None:
        rnd = random.Random(i)
        client = Client(self.port, self.keys[i], timeout=10)
        n = 0
        while not self.stop.is_set():
            n += 1
            body = {
                "symbol": SYMBOL, "side": "buy" if rnd.random() < 0.5 else "sell",
                "price": f"{100 + rnd.randint(-3, 3)}.00",
                "quantity": f"0.000{rnd.randint(1, 9)}",
                "time_in_force": "IOC" if rnd.random() < 0.1 else "GTC",
                "client_order_id": f"t{i}-{n}",
            }  # fmt: skip
            try:
                reply = client.request("POST", "/orders", body)
            except OSError as exc:  # the web itself must not fail: note it, go on
                with self.lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    self.unknown.append((self.keys[i], body))
                time.sleep(0.02)
                continue
            with self.lock:
                self.statuses[reply.status] += 1
                if reply.status == 201:
                    self.acked.append((self.keys[i], body, reply.body))
                    self.acked_at.append(time.monotonic())
                elif reply.status == 503:
                    self.unknown.append((self.keys[i], body))
                    assert reply.headers.get("Retry-After") == "1"
                    assert reply.body["error"]["code"] == "unavailable"
            if reply.status == 503:
                time.sleep(0.02)  # a polite client: Redis is down
        client.close()


def consistent(sent: dict, answered: dict, now: dict) -> list[str]:
    """What is wrong with the order as it is now, given what its 201 said ([] = fine)."""
    problems = [f"{f}: {answered[f]!r} then {now[f]!r}" for f in SAME if answered[f] != now[f]]
    if answered["client_order_id"] != sent["client_order_id"]:
        problems.append("the 201 is not the order that was sent")
    filled_then, filled_now = Decimal(answered["filled_quantity"]), Decimal(now["filled_quantity"])
    if filled_now < filled_then:
        problems.append(f"filled went down: {filled_then} -> {filled_now}")
    if answered["status"] in FINAL:
        for f in ("status", "filled_quantity", "kill_reason", "average_price"):
            if answered[f] != now[f]:
                problems.append(f"final order changed {f}: {answered[f]!r} -> {now[f]!r}")
    elif now["status"] == "killed":
        problems.append(f"a resting order was killed ({now['kill_reason']}): nobody cancels")
    remaining = Decimal(now["remaining_quantity"])
    expected = 0 if now["status"] in FINAL else Decimal(now["quantity"]) - filled_now
    if remaining != expected:
        problems.append(f"remaining {remaining}, expected {expected}")
    return problems


@pytest.mark.timeout(150)
def test_a_redis_killed_mid_burst_loses_no_acknowledged_order(tmp_path):
    server = DurableRedis(tmp_path / "redis")
    server.start()
    api_keys = seed(server.url, {SYMBOL: ("0.01", "0.0001")},
                    [f"trader{i}" for i in range(THREADS)])  # fmt: skip
    env = {"REDIS_URL": server.url, "ORDER_RATE_LIMIT": "0"}
    web, port = start_web(env, tmp_path / "web.log")
    worker = Process("worker", env, tmp_path / "worker.log")
    scheduler = Process("scheduler", env, tmp_path / "scheduler.log")
    pids = (web.pid, worker.pid, scheduler.pid)
    probe = Client(port, timeout=5)
    r = server.client()
    rq_r = server.client(decode_responses=False)
    burst = Burst(port, api_keys)
    threads: list[threading.Thread] = []
    try:
        wait_until(lambda: probe.request("GET", "/health").body["status"] == "ok", 30,
                   "health ok before the burst")  # fmt: skip
        threads = burst.run()
        # Kill once the burst is well under way (or after 3 s on a very slow machine).
        _wait_acked(burst, 300, 3.0)
        acked_before = len(burst.acked)
        server.kill()
        killed_at = time.monotonic()
        time.sleep(DOWNTIME)  # the burst goes on against a dead Redis: 503s, fast
        down_statuses = Counter(burst.statuses)
        load_seconds = server.start()
        restarted_at = time.monotonic()
        sec, usec = r.time()
        restart_us = int(sec) * 1_000_000 + int(usec)
        r.delete(keys.SCHEDULER_HEARTBEAT)

        # Measured from the restart, polled together: the web's first 201 (from the burst),
        # the worker running a job enqueued now, the scheduler's heartbeat job writing again
        # (scheduler -> queue -> worker -> Redis).
        job = Queue(ENGINE_QUEUE, connection=rq_r).enqueue(jobs.housekeeping, result_ttl=60)
        recovery = _first_true(
            {
                "web": lambda: burst.acked_at and burst.acked_at[-1] > restarted_at,
                "worker": lambda: job.get_status(refresh=True) == "finished",
                "scheduler": lambda: int(r.get(keys.SCHEDULER_HEARTBEAT) or 0) > restart_us,
            },
            since=restarted_at, timeout=15,
        )  # fmt: skip
        time.sleep(0.5)  # a little more burst on the recovered stack
    finally:
        burst.stop.set()
        for t in threads:
            t.join(15)
    try:
        assert not burst.errors, burst.errors[:5]  # the web never failed to answer
        assert set(burst.statuses) <= {201, 503}, burst.statuses  # no 500, no other error
        assert down_statuses[503] > 0, "the burst did not see Redis down"
        assert len(burst.acked) > acked_before, "no order was acked after the restart"

        # Every order answered 201 is there, and consistent with its 201 (read back by its
        # owner, one client per account, the accounts in parallel).
        by_key: dict[str, list] = {}
        for key, sent, answered in burst.acked:
            by_key.setdefault(key, []).append((sent, answered))

        def read_back(key: str) -> tuple[int, list[str]]:
            client, found, problems = Client(port, key), 0, []
            for sent, answered in by_key.get(key, []):
                reply = client.request("GET", f"/orders/{answered['id']}")
                if reply.status != 200:
                    problems.append(f"{answered['id']}: GET answered {reply.status}")
                    continue
                found += 1
                problems += [
                    f"{answered['id']}: {p}" for p in consistent(sent, answered, reply.body)
                ]
            return found, problems

        # A request answered 503 placed at most one order: posting it again answers the
        # order it placed (200) or places it now (201), and never makes a second one.
        def post_again(key: str) -> list[int]:
            client = Client(port, key)
            statuses = [client.request("POST", "/orders", sent).status
                        for k, sent in burst.unknown if k == key]  # fmt: skip
            client.close()
            return statuses

        with ThreadPoolExecutor(THREADS) as pool:
            checked = list(pool.map(read_back, api_keys))
            found = sum(f for f, _ in checked)
            problems = [p for _, ps in checked for p in ps]
            assert not problems, problems[:10]
            assert found == len(burst.acked)
            replays = Counter(s for statuses in pool.map(post_again, api_keys) for s in statuses)
        assert set(replays) <= {200, 201}, replays
        acked_ids = {sent["client_order_id"] for _k, sent, _a in burst.acked}
        unknown_ids = {sent["client_order_id"] for _k, sent in burst.unknown}
        assert r.hlen(symbol_keys(SYMBOL).orders) == len(acked_ids | unknown_ids)

        # The whole symbol state is coherent, by the library and by the CLI.
        assert check_symbol(r, SYMBOL) == []
        cli = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", "book", "check", SYMBOL],
            cwd=ROOT, env={"REDIS_URL": server.url, "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert '"ok": true' in cli.stdout

        # Nobody was restarted, and all three say so.
        assert (web.pid, worker.pid, scheduler.pid) == pids
        assert web.alive() and worker.alive() and scheduler.alive()
        health = probe.request("GET", "/health")
        assert health.status == 200 and health.body["status"] == "ok", health.body
        for name, seconds in recovery.items():
            assert seconds <= RECOVERY_LIMIT, f"{name} took {seconds:.2f} s to recover"
        print(
            f"\ndurability: {len(burst.acked)} orders acked ({acked_before} before the kill), "
            f"{found} found; {len(burst.unknown)} answered 503 (re-posted: {dict(replays)}); "
            f"Redis down {restarted_at - killed_at:.2f} s (AOF load {load_seconds:.2f} s); "
            "recovered after the restart: "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in recovery.items())
        )
    finally:
        probe.close()
        stop_all(web, worker, scheduler)
        r.close()
        rq_r.close()
        server.stop()


def _first_true(conditions: dict, since: float, timeout: float) -> dict[str, float]:
    """Seconds from `since` until each condition first held (polled together)."""
    seen: dict[str, float] = {}
    while len(seen) < len(conditions):
        for name, condition in conditions.items():
            if name not in seen:
                try:
                    if condition():
                        seen[name] = time.monotonic() - since
                except Exception:
                    pass
        if time.monotonic() - since > timeout:
            missing = sorted(set(conditions) - set(seen))
            raise AssertionError(f"not recovered after {timeout} s: {missing}")
        time.sleep(0.01)
    return seen


def _wait_acked(burst: Burst, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(burst.acked) < count and time.monotonic() < deadline:
        time.sleep(0.01)


# --- backup and restore of a running system (docs/operations.md, "Backup and restore")


class Trading:
    """Crossing orders placed one after another from a thread until stopped."""

    def __init__(self, url: str, account_id: str) -> None:
        from engine.book import Engine
        from engine.config import Settings
        from engine.connection import make_redis

        self.client = make_redis(Settings(redis_url=url))
        self.engine = Engine(self.client, Settings(redis_url=url))
        self.account_id = account_id
        self.stop = threading.Event()
        self.placed = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from engine.orders import PlaceRequest

        rnd = random.Random(7)
        while not self.stop.is_set():
            side = "buy" if rnd.random() < 0.5 else "sell"
            self.engine.place(self.account_id if side == "buy" else str(int(self.account_id) + 1),
                              PlaceRequest(symbol=SYMBOL, side=side, type="limit",
                                           quantity=rnd.randint(1, 9),
                                           price=10000 + rnd.randint(-5, 5)))  # fmt: skip
            self.placed += 1

    def __enter__(self) -> "Trading":
        self.thread.start()
        _wait_for(lambda: self.placed >= 200, 10)
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)
        self.client.close()


def _wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _persistence_idle(r) -> bool:
    info = r.info("persistence")
    return not (info["rdb_bgsave_in_progress"] or info["aof_rewrite_in_progress"]
                or info["aof_rewrite_scheduled"])  # fmt: skip


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", ["bgsave", "bgrewriteaof"])
def test_a_backup_of_a_running_system_restores_onto_a_fresh_redis(tmp_path, method):
    import shutil

    live = DurableRedis(tmp_path / "live")
    live.start()
    seed(live.url, {SYMBOL: ("0.01", "0.0001")}, ["buyer", "seller"])
    r = live.client()
    orders = symbol_keys(SYMBOL).orders
    backup = tmp_path / "backup"
    try:
        with Trading(live.url, "1") as trading:
            before = r.hlen(orders)
            if method == "bgsave":
                # A point-in-time snapshot, written by a fork: copy it once it is written
                # (INFO's rdb_saves counts them; LASTSAVE has a one-second resolution).
                saves = r.info("persistence")["rdb_saves"]
                r.bgsave()
                _wait_for(
                    lambda: r.info("persistence")["rdb_saves"] > saves and _persistence_idle(r), 30
                )
                backup.mkdir()
                shutil.copy2(live.directory / "dump.rdb", backup / "dump.rdb")
            else:
                # A fresh base file, then a copy of the whole directory while writes go on:
                # the last command may be cut, and Redis drops it (aof-load-truncated yes;
                # a script's writes are one MULTI/EXEC, kept whole or not at all).
                r.bgrewriteaof()
                _wait_for(lambda: _persistence_idle(r), 30)
                shutil.copytree(live.directory / "appendonlydir", backup / "appendonlydir")
            after = r.hlen(orders)
            assert trading.placed > 200
    finally:
        r.close()
        live.stop()

    restored = DurableRedis(backup)
    if method == "bgsave":
        # An RDB restores with AOF off (with AOF on, Redis would start empty from the
        # missing AOF); AOF is then switched on, which writes it from the loaded data.
        restored.start_args = ["--appendonly", "no"]
    restored.start()
    rr = restored.client()
    try:
        if method == "bgsave":
            rr.config_set("appendonly", "yes")
            _wait_for(lambda: _persistence_idle(rr) and rr.info("persistence")["aof_enabled"], 30)
        count = rr.hlen(orders)
        assert before <= count <= after, (before, count, after)
        assert check_symbol(rr, SYMBOL) == []
        if method == "bgsave":  # and it is durable from there on: a restart keeps it all
            restored.stop()
            restored.start_args = []
            restored.start()
            rr.close()
            rr = restored.client()
            assert rr.hlen(orders) == count and check_symbol(rr, SYMBOL) == []
        print(f"\nbackup by {method}: {count} orders restored (live had {before} to {after} "
              "while it was taken); book check ok")  # fmt: skip
    finally:
        rr.close()
        restored.stop()
