"""Redis Cluster: symbols spread over the masters, nothing assumes one node, a master restart.

A real 3-master cluster is started once for the session (tests/cluster/conftest.py); the
app and the CLI run on its ``redis+cluster://`` URL. The unmarked tests at the top need none.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis as redis_lib
from redis.crc import key_slot

from app import create_app
from engine import accounts, keys
from engine.cluster import (
    ClusterClient,
    is_cluster_url,
    node_url,
    split_url,
    unreachable_masters,
)
from engine.config import Settings
from engine.connection import make_redis
from engine.symbols import SymbolRegistry
from tests.redis_server import free_port

API = "/api/v1"
ROOT = Path(__file__).resolve().parents[2]
cluster = pytest.mark.cluster

# Eight symbols whose slots fall on all three masters of an evenly split cluster.
SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "ADA-USD", "DOT-USD", "LTC-USD", "BTC-EUR"]


# -- no cluster needed ---------------------------------------------------------------------


def test_every_scripts_keys_share_one_slot():
    for symbol in [*SYMBOLS, "A-B", "X1-Y2"]:
        k = keys.symbol_keys(symbol)
        script_keys = [
            k.place_keys(),  # place, cancel, cancel_all, expire
            [k.meta, k.bid_levels, k.ask_levels, k.level_sizes],  # book
            [k.meta, k.bids, k.asks, k.orders, k.snapshot],  # snapshot
            [k.meta, k.bids, k.asks, k.orders, k.bid_levels, k.ask_levels, k.level_sizes,
             k.snapshot],  # book_state
        ]  # fmt: skip
        for ks in script_keys:
            assert {key_slot(x.encode()) for x in ks} == {key_slot(symbol.encode())}, ks
    for account_id in ("1", "42", "123456789012345678"):
        ks = keys.AccountKeys(account_id).auth_keys()
        assert len({key_slot(x.encode()) for x in ks}) == 1, ks


def test_a_cluster_url_gives_a_cluster_client_that_connects_on_first_use():
    assert is_cluster_url("redis+cluster://127.0.0.1:7001")
    assert is_cluster_url("rediss+cluster://user:pw@host:7001")
    assert not is_cluster_url("redis://127.0.0.1:6379/0")
    assert node_url("rediss+cluster://user:pw@host:7001") == "rediss://user:pw@host:7001"
    assert split_url("redis+cluster://u:p@h1:7001,h2:7002,[::1]:7003/0?socket_timeout=2") == (
        "redis://u:p@h1:7001/0?socket_timeout=2",
        [("h2", 7002), ("::1", 7003)],
    )
    # Nothing listens there, and building the client does not fail: it has not connected.
    client = make_redis(Settings(redis_url=f"redis+cluster://127.0.0.1:{free_port()}"))
    assert isinstance(client, ClusterClient)
    with pytest.raises(redis_lib.ConnectionError, match="unreachable"):
        client.get("x")
    assert isinstance(make_redis(Settings(redis_url="redis://127.0.0.1:1/0")), redis_lib.Redis)


def test_an_unreachable_cluster_is_a_fast_503_and_a_cli_error():
    app = create_app({"REDIS_URL": f"redis+cluster://127.0.0.1:{free_port()}", "TESTING": True})
    client = app.test_client()
    started = time.monotonic()
    health = client.get(f"{API}/health")
    assert health.status_code == 503 and health.headers["Retry-After"]
    assert health.get_json() == {
        "status": "unavailable", "redis": "unreachable", "workers": 0, "scheduler": "missing",
    }  # fmt: skip
    placed = client.post(
        f"{API}/orders",
        json={"symbol": "BTC-USD", "side": "buy", "price": "1", "quantity": "1"},
        headers={"X-API-Key": "te_1_" + "x" * 43},
    )
    assert placed.status_code == 503 and placed.get_json()["error"]["code"] == "unavailable"
    assert time.monotonic() - started < 2
    result = app.test_cli_runner().invoke(args=["symbols", "list"])
    assert result.exit_code == 1 and "unreachable" in result.output


# -- against the cluster -------------------------------------------------------------------


@pytest.fixture
def symbols(r):
    registry = SymbolRegistry(r)
    for symbol in SYMBOLS:
        registry.add(symbol, "0.01", "0.001")
    return SYMBOLS


@pytest.fixture
def alice(r, symbols) -> str:
    return accounts.create(r, "alice")["api_key"]


@pytest.fixture
def bob(r, symbols) -> str:
    return accounts.create(r, "bob")["api_key"]


def call(client, method, path, key=None, expect=200, **kwargs):
    headers = {"X-API-Key": key} if key else {}
    response = client.open(API + path, method=method, headers=headers, **kwargs)
    assert response.status_code == expect, response.get_data(as_text=True)
    return response.get_json()


def place(client, key, symbol, side="buy", price="100.00", quantity="1", expect=201, **more):
    body = {"symbol": symbol, "side": side, "price": price, "quantity": quantity, **more}
    return call(client, "POST", "/orders", key, expect, json=body)


def master_of(node: redis_lib.Redis, key: str) -> str:
    """host:port of the master serving a key, asked of the cluster (CLUSTER KEYSLOT, NODES)."""
    slot = node.execute_command("CLUSTER KEYSLOT", key)
    for address, info in node.execute_command("CLUSTER NODES").items():  # parsed by redis-py
        if "master" in info["flags"].split(","):
            for first, *last in info["slots"]:
                if int(first) <= slot <= int((last or [first])[0]):
                    return address.split("@")[0]
    raise LookupError(f"no master serves slot {slot}")


def node_client(address: str) -> redis_lib.Redis:
    host, port = address.rsplit(":", 1)
    return redis_lib.Redis(host=host, port=int(port), decode_responses=True, retry=None)


@cluster
def test_eight_symbols_land_on_all_three_masters(redis_cluster, symbols):
    any_node = node_client(f"127.0.0.1:{redis_cluster.ports[0]}")
    placement = {s: master_of(any_node, keys.symbol_keys(s).meta) for s in symbols}
    assert set(placement.values()) == {f"127.0.0.1:{p}" for p in redis_cluster.ports}
    for symbol, address in placement.items():
        # The symbol's book is on that node itself, not merely routed there.
        assert node_client(address).exists(keys.symbol_keys(symbol).meta) == 1


@cluster
def test_trading_on_eight_symbols_spread_over_the_nodes(client, runner, alice, bob, symbols):
    for i, symbol in enumerate(symbols):
        price = f"{100 + i}.00"
        maker = place(client, alice, symbol, "buy", price, "2")
        taker = place(client, bob, symbol, "sell", f"{99 + i}.00", "0.5")
        assert (taker["status"], [f["price"] for f in taker["fills"]]) == ("filled", [price])
        assert call(client, "GET", f"/orders/{maker['id']}", alice)["status"] == "partially_filled"
        book = call(client, "GET", f"/book/{symbol}")
        assert book["bids"] == [[price, "1.500", 1]] and book["asks"] == []
        assert call(client, "GET", f"/trades/{symbol}")["trades"][0]["price"] == price
    # A batch over every symbol: one pipeline per node, each order as a single post.
    orders = [
        {"symbol": s, "side": "sell", "price": f"{100 + i}.00", "quantity": "1.5"}
        for i, s in enumerate(symbols)
    ] + [{"symbol": s, "side": "buy", "price": "1.00", "quantity": "1"} for s in symbols]
    results = call(client, "POST", "/orders/batch", bob, json={"orders": orders})["results"]
    assert [r["status"] for r in results] == [201] * 16
    assert [r["order"]["status"] for r in results[:8]] == ["filled"] * 8
    assert [r["order"]["status"] for r in results[8:]] == ["enqueued"] * 8
    # Idempotent replay and conflict, on a symbol of each node.
    for symbol in symbols:
        first = place(client, alice, symbol, "sell", "500.00", client_order_id="x-1")
        again = place(client, alice, symbol, "sell", "500.00", client_order_id="x-1", expect=200)
        assert again["id"] == first["id"]
        place(client, alice, symbol, "sell", "501.00", client_order_id="x-1", expect=409)
    for symbol in symbols:
        result = runner.invoke(args=["book", "check", symbol])
        assert result.exit_code == 0 and json.loads(result.output)["ok"], result.output
    try:
        import engine.replay  # noqa: F401
    except ImportError:
        return  # book replay comes with its own issue
    for symbol in symbols:
        result = runner.invoke(args=["book", "replay", symbol])
        assert result.exit_code == 0 and json.loads(result.output)["ok"], result.output


@cluster
def test_listing_orders_and_fills_across_symbols_pages_without_repeats(client, alice, bob, symbols):
    placed = []
    for round_ in range(2):
        for symbol in symbols:
            placed.append(place(client, alice, symbol, "buy", f"{90 + round_}.00", "1"))
    for symbol in symbols:
        place(client, bob, symbol, "sell", "91.00", "0.4")  # fills alice's second order there

    def pages(path: str, item: str) -> list[dict]:
        seen, cursor = [], None
        while True:
            query = f"{path}{'&' if '?' in path else '?'}limit=3"
            body = call(client, "GET", query + (f"&cursor={cursor}" if cursor else ""), alice)
            seen += body[item]
            cursor = body["next_cursor"]
            if cursor is None:
                return seen

    listed = pages("/orders", "orders")
    assert sorted(o["id"] for o in listed) == sorted(o["id"] for o in placed)
    order_keys = [(o["created_at"], o["symbol"], o["sequence"]) for o in listed]
    assert order_keys == sorted(order_keys, reverse=True)  # newest first, across symbols
    fills = pages("/fills", "fills")
    assert len(fills) == 8 and {f["symbol"] for f in fills} == set(symbols)
    fill_keys = [(f["created_at"], f["symbol"], f["sequence"]) for f in fills]
    assert fill_keys == sorted(fill_keys, reverse=True)
    partly = pages("/orders?status=partially_filled", "orders")
    assert {o["symbol"] for o in partly} == set(symbols) and len(partly) == 8


@cluster
def test_cancel_all_kills_the_accounts_open_orders_on_every_node(client, alice, bob, symbols):
    mine = [place(client, alice, s, "buy", "50.00")["id"] for s in symbols]
    mine += [place(client, alice, s, "sell", "150.00")["id"] for s in symbols[:3]]
    theirs = place(client, bob, symbols[0], "buy", "49.00")
    killed = call(client, "DELETE", "/orders", alice)["killed"]
    assert sorted(killed) == sorted(mine)
    assert call(client, "GET", "/orders?status=open", alice)["orders"] == []
    assert call(client, "GET", f"/orders/{theirs['id']}", bob)["status"] == "enqueued"
    for symbol in symbols:
        book = call(client, "GET", f"/book/{symbol}")
        bids = [["49.00", "1.000", 1]] if symbol == symbols[0] else []
        assert (book["bids"], book["asks"]) == (bids, [])


@cluster
def test_requests_never_run_keys_or_scan(redis_cluster, client, runner, alice, bob, symbols):
    nodes = [node_client(f"127.0.0.1:{p}") for p in redis_cluster.ports]
    for node in nodes:
        node.config_resetstat()
    for symbol in symbols:
        order = place(client, alice, symbol, "buy", "10.00")
        place(client, bob, symbol, "sell", "10.00", "0.5")
        call(client, "GET", f"/orders/{order['id']}", alice)
        call(client, "GET", f"/book/{symbol}")
        call(client, "GET", f"/trades/{symbol}")
    call(client, "POST", "/orders/batch", alice, json={"orders": [
        {"symbol": s, "side": "buy", "price": "9.00", "quantity": "1"} for s in symbols
    ]})  # fmt: skip
    for path in ("/orders", "/orders?status=open", "/fills", "/orders?symbol=SOL-USD"):
        call(client, "GET", path, alice)
    call(client, "GET", "/symbols")
    call(client, "GET", "/health")
    call(client, "DELETE", "/orders", alice)
    assert runner.invoke(args=["book", "check", "BTC-USD"]).exit_code == 0
    for node in nodes:
        stats = node.info("commandstats")
        assert not {"cmdstat_keys", "cmdstat_scan"} & set(stats), stats


@cluster
@pytest.mark.timeout(120)
def test_a_master_killed_and_restarted_brings_its_orders_back(
    redis_cluster, client, r, alice, bob, symbols
):
    resting = {s: place(client, alice, s, "buy", "100.00", "3") for s in symbols}
    any_node = node_client(f"127.0.0.1:{redis_cluster.ports[0]}")
    victim = master_of(any_node, keys.symbol_keys("BTC-USD").meta)
    port = int(victim.rsplit(":", 1)[1])
    lost = [s for s in symbols if master_of(any_node, keys.symbol_keys(s).meta) == victim]
    kept = [s for s in symbols if s not in lost]
    assert lost and kept
    # Acknowledged just before the crash: AOF everysec writes it before the reply.
    last = place(client, alice, "BTC-USD", "sell", "200.00", "1")
    redis_cluster.kill(port)
    try:
        started = time.monotonic()
        call(client, "GET", "/book/BTC-USD", expect=503)
        place(client, alice, "BTC-USD", expect=503)
        assert time.monotonic() - started < 2  # a fast 503, never a hang
        # The other masters' symbols trade on.
        for symbol in kept:
            assert place(client, bob, symbol, "sell", "100.00", "1")["status"] == "filled"
        assert unreachable_masters(r) == [victim]
    finally:
        redis_cluster.restart(port)
    assert unreachable_masters(r) == []
    for symbol in lost:
        order = call(client, "GET", f"/orders/{resting[symbol]['id']}", alice)
        assert order == {k: v for k, v in resting[symbol].items() if k != "fills"}
    assert call(client, "GET", f"/orders/{last['id']}", alice)["status"] == "enqueued"
    assert call(client, "GET", "/book/BTC-USD")["asks"] == [["200.00", "1.000", 1]]
    # The restarted node has no scripts: NOSCRIPT, loaded again, for one call and a batch.
    for symbol in lost:
        assert place(client, bob, symbol, "sell", "100.00", "1")["status"] == "filled"
    batch = [{"symbol": s, "side": "sell", "price": "100.00", "quantity": "1"} for s in symbols]
    results = call(client, "POST", "/orders/batch", bob, json={"orders": batch})["results"]
    assert [x["order"]["status"] for x in results] == ["filled"] * 8
    runner = create_app({"REDIS_URL": redis_cluster.url, "TESTING": True}).test_cli_runner()
    for symbol in symbols:
        order = call(client, "GET", f"/orders/{resting[symbol]['id']}", alice)
        assert (order["status"], order["filled_quantity"]) == ("partially_filled", "2.000")
        result = runner.invoke(args=["book", "check", symbol])
        assert result.exit_code == 0, result.output


@cluster
@pytest.mark.timeout(60)
def test_a_master_without_scripts_loads_them_while_another_is_down(
    redis_cluster, client, r, alice, symbols
):
    any_node = node_client(f"127.0.0.1:{redis_cluster.ports[0]}")
    wiped = master_of(any_node, keys.symbol_keys("SOL-USD").meta)
    account = master_of(any_node, keys.AccountKeys(accounts.account_id(r, "alice")).account)
    down = next(port for port in redis_cluster.ports if f"127.0.0.1:{port}" not in (wiped, account))
    call(client, "GET", "/symbols")  # a running web process: it knows the symbols' steps
    node_client(wiped).script_flush()  # as after a restart or a failover
    redis_cluster.kill(down)
    try:
        assert place(client, alice, "SOL-USD")["status"] == "enqueued"
        node_client(wiped).script_flush()
        batch = [{"symbol": "SOL-USD", "side": "buy", "price": "99.00", "quantity": "1"}]
        results = call(client, "POST", "/orders/batch", alice, json={"orders": batch})
        assert results["results"][0]["status"] == 201
    finally:
        redis_cluster.restart(down)


# -- processes -----------------------------------------------------------------------------


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    entries = [line.split(":", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip(): command.strip() for name, command in entries}


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "RQ_REDIS_URL", "PORT")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env | values


@cluster
@pytest.mark.parametrize("kind", ["worker", "scheduler"])
def test_rq_processes_refuse_a_cluster(redis_cluster, kind):
    node = f"redis://127.0.0.1:{redis_cluster.ports[1]}/0"
    for env, says in (
        (_env(REDIS_URL=redis_cluster.url), "is a Redis Cluster"),
        (_env(REDIS_URL=redis_cluster.url, RQ_REDIS_URL=node), "is a node of a Redis Cluster"),
    ):
        done = subprocess.run(
            ["/bin/sh", "-c", "exec " + _procfile()[kind]], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr[-2000:]
        assert says in done.stderr and "RQ does not run on Redis Cluster" in done.stderr


@cluster
@pytest.mark.timeout(120)
def test_the_procfile_runs_on_the_cluster_with_rq_on_its_own_redis(
    redis_cluster, redis_server, r, symbols
):
    """What `make cluster` does after seeding: honcho, books on the cluster, RQ standalone.

    The workers' jobs run against the cluster: a GTD order is expired by the sweep, and the
    fan-out delivers every order's events to the account's feed (GET /events, long poll).
    """
    rq = redis_lib.Redis(port=redis_server.port)
    rq.flushall()
    key = accounts.create(r, "carol")["api_key"]
    port = free_port()
    honcho = subprocess.Popen(
        [str(Path(sys.executable).parent / "honcho"), "start", "-p", str(port)],
        cwd=ROOT,
        env=_env(REDIS_URL=redis_cluster.url, RQ_REDIS_URL=redis_server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/api/v1"

    def request(path, body=None, timeout=5):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "X-API-Key": key}
        req = urllib.request.Request(base + path, data=data, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return json.load(response)

    def healthy():
        try:
            return request("/health")["status"] == "ok"
        except OSError:
            return False

    try:
        deadline = time.monotonic() + 45
        while not healthy():
            assert time.monotonic() < deadline, "GET /health never said ok"
            time.sleep(0.2)
        ids = {
            request("/orders", {"symbol": s, "side": "buy", "price": "1", "quantity": "1"})["id"]
            for s in symbols
        }
        expires = datetime.now(UTC) + timedelta(seconds=1)
        gtd = request("/orders", {
            "symbol": "SOL-USD", "side": "sell", "price": "900", "quantity": "1",
            "time_in_force": "GTD", "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        })  # fmt: skip
        assert len(request("/orders?status=open")["orders"]) == 9
        seen: dict[str, list[str]] = {}
        cursor = None
        deadline = time.monotonic() + 30
        everything = {**{i: ["order.enqueued"] for i in ids},
                      gtd["id"]: ["order.enqueued", "order.killed"]}  # fmt: skip
        while seen != everything:
            assert time.monotonic() < deadline, f"the feed never showed every event: {seen}"
            query = "/events?wait=5" + (f"&after={cursor}" if cursor else "")
            page = request(query, timeout=10)
            for event in page["events"]:
                seen.setdefault(event["order"]["id"], []).append(event["type"])
                if event["type"] == "order.killed":
                    assert event["order"]["kill_reason"] == "expired"
            cursor = page["next_cursor"]
    finally:
        honcho.send_signal(signal.SIGINT)
        try:
            output = honcho.communicate(timeout=20)[0].decode()
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            raise
    for kind in ("web", "worker", "scheduler"):
        assert f"{kind}.1 stopped" in output, output[-3000:]


@cluster
@pytest.mark.slow  # four clusters started one after another: `pytest -m slow` runs it
@pytest.mark.timeout(120)
def test_the_cluster_benchmark_spreads_8_symbols_over_3_nodes_and_a_hot_one_over_1(
    tmp_path, monkeypatch
):
    """`python -m bench.cluster` in miniature (its figures are not checked: a smoke test)."""
    import bench.cluster

    monkeypatch.setattr(bench.cluster, "OUT", tmp_path / "cluster.json")
    args = ["--orders", "240", "--clients", "2", "--depth", "8", "--repeat", "1", "--no-doc"]
    assert bench.cluster.main(args) == 0
    runs = json.loads((tmp_path / "cluster.json").read_text())["runs"]
    assert [run["orders"] for rs in runs.values() for run in rs] == [238] * 4
    assert all(calls > 0 for calls in runs["3-master cluster"][0]["node_calls"])
    assert sorted(runs["3-master cluster, one hot symbol"][0]["node_calls"])[:2] == [0, 0]
