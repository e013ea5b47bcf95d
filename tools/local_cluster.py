"""A local Redis Cluster of N masters on 127.0.0.1, for `make cluster`, the tests and the bench.

Each node is Debian's ``redis-server`` with its own directory (``<dir>/<port>/``: its
``nodes.conf``, AOF, log and pid file), AOF on with ``appendfsync everysec``,
``cluster-require-full-coverage no`` so a node that is down stops only its own symbols, and
redis.conf's data-encoding settings.
Starting an existing cluster again reuses its directories: the nodes find each other from
their ``nodes.conf`` and reload their data from the AOF.

    python -m tools.local_cluster start --ports 7001-7003 --dir var/cluster
    python -m tools.local_cluster stop --ports 7001-7003 --dir var/cluster
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

SLOTS = 16384
REDIS_CONF = Path(__file__).resolve().parent.parent / "redis.conf"
BUS_OFFSET = 10000  # a node also listens on its port + 10000 for the cluster bus


def encoding_options(conf: Path = REDIS_CONF) -> list[str]:
    """redis.conf's data-encoding settings (*-max-listpack-*, *-max-intset-*) as options, so
    a cluster node stores a book as `make run`'s Redis does (and costs the same per order)."""
    options: list[str] = []
    for line in conf.read_text().splitlines() if conf.exists() else []:
        name, _, value = line.strip().partition(" ")
        if "-max-listpack-" in name or "-max-intset-" in name:
            options += [f"--{name}", value.strip()]
    return options


def node_config(
    port: int, directory: Path, *, aof: bool = True, daemonize: bool = False
) -> list[str]:
    """redis-server arguments for one cluster node whose files all live in `directory`."""
    return [
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--protected-mode", "yes",
        "--dir", str(directory),
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        # A master that stops answering is marked failed after this; with no replica to
        # promote, its slots stay down until it comes back (the others keep trading).
        "--cluster-node-timeout", "5000",
        "--cluster-require-full-coverage", "no",
        "--appendonly", "yes" if aof else "no",
        "--appendfsync", "everysec",
        "--appenddirname", "appendonlydir",
        "--save", "",
        "--logfile", "redis.log",
        "--pidfile", "redis.pid",
        "--daemonize", "yes" if daemonize else "no",
        *encoding_options(),
    ]  # fmt: skip


def free_ports(n: int) -> list[int]:
    """n TCP ports on 127.0.0.1 that are free, each with its cluster bus port (+10000)."""
    chosen: list[int] = []
    rng = random.Random()
    while len(chosen) < n:
        port = rng.randrange(20000, 40000)
        if port in chosen or not all(_free(p) for p in (port, port + BUS_OFFSET)):
            continue
        chosen.append(port)
    return chosen


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _client(port: int) -> redis.Redis:
    # retry=None: redis-py's default retries a dropped connection with backoff, which makes
    # SHUTDOWN (the server closes the connection) take seconds.
    return redis.Redis(
        host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=1,
        decode_responses=True, retry=None,
    )  # fmt: skip


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


class LocalCluster:
    """N master nodes on the given ports, data under `root/<port>/`.

    ``start()`` starts every node (as child processes, or daemonized with
    ``daemonize=True``), joins them into one cluster unless they already are one, and waits
    for ``cluster_state:ok``. ``kill(port)`` / ``restart(port)`` simulate a crash.
    """

    def __init__(self, root: Path, ports: list[int], *, aof: bool = True,
                 daemonize: bool = False) -> None:  # fmt: skip
        self.root = Path(root)
        self.ports = list(ports)
        self.aof = aof
        self.daemonize = daemonize
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        """The REDIS_URL naming this cluster: every node, so any one of them is enough."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def directory(self, port: int) -> Path:
        return self.root / str(port)

    # -- processes

    def start(self, timeout: float = 30.0) -> LocalCluster:
        for port in self.ports:
            self.start_node(port)
        for port in self.ports:
            _wait(lambda p=port: _client(p).ping(), timeout, f"redis-server on port {port}")
        if not self._joined():
            self._create()
        self.wait_ok(timeout)
        return self

    def start_node(self, port: int) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not on the PATH: run `make setup`")
        directory = self.directory(port)
        directory.mkdir(parents=True, exist_ok=True)
        args = [exe, *node_config(port, directory.resolve(), aof=self.aof,
                                  daemonize=self.daemonize)]  # fmt: skip
        if self.daemonize:
            subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        else:
            self.processes[port] = subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )

    def stop(self) -> None:
        """Stop every node (SHUTDOWN: the AOF is flushed), or kill those that do not answer."""
        for port in self.ports:
            self.stop_node(port)

    def stop_node(self, port: int, timeout: float = 10.0) -> None:
        try:
            _client(port).shutdown(nosave=not self.aof)
        except redis.ConnectionError:
            pass  # shutdown closes the connection (or nothing ran there)
        except redis.RedisError:
            self._signal(port, signal.SIGKILL)
        process = self.processes.pop(port, None)
        if process is not None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        else:
            _wait(lambda: not self._alive(port), timeout, f"redis-server on port {port} to stop")

    def kill(self, port: int) -> None:
        """SIGKILL one node, as a crash would (no shutdown, no final AOF flush)."""
        self._signal(port, signal.SIGKILL)
        process = self.processes.pop(port, None)
        if process is not None:
            process.wait(10)
        _wait(lambda: not self._alive(port), 10, f"redis-server on port {port} to die")

    def restart(self, port: int, timeout: float = 30.0) -> None:
        """Start a stopped node again from its directory (nodes.conf and AOF) and wait for ok."""
        self.start_node(port)
        _wait(lambda: _client(port).ping(), timeout, f"redis-server on port {port}")
        self.wait_ok(timeout)

    def _pid(self, port: int) -> int | None:
        process = self.processes.get(port)
        if process is not None:
            return process.pid if process.poll() is None else None
        try:
            return int((self.directory(port) / "redis.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _signal(self, port: int, signum: int) -> None:
        pid = self._pid(port)
        if pid is not None:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def _alive(self, port: int) -> bool:
        try:
            return bool(_client(port).ping())
        except redis.ConnectionError:
            return False

    # -- cluster state

    def _joined(self) -> bool:
        """Whether the nodes already form one cluster covering every slot (a restart)."""
        info = _client(self.ports[0]).cluster("info")
        return (
            int(info.get("cluster_known_nodes", 0)) == len(self.ports)
            and int(info.get("cluster_slots_assigned", 0)) == SLOTS
        )

    def _create(self) -> None:
        """Give every node an equal share of the slots and introduce them to each other."""
        n = len(self.ports)
        for i, port in enumerate(self.ports):
            first, last = SLOTS * i // n, SLOTS * (i + 1) // n - 1
            node = _client(port)
            node.execute_command("CLUSTER ADDSLOTSRANGE", first, last)
            # Distinct epochs from the start, as `redis-cli --cluster create` sets them.
            node.execute_command("CLUSTER SET-CONFIG-EPOCH", i + 1)
        for port in self.ports[1:]:
            _client(port).execute_command("CLUSTER MEET", "127.0.0.1", self.ports[0])

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Wait until every node says cluster_state:ok and knows all the others."""

        def ok() -> bool:
            for port in self.ports:
                info = _client(port).cluster("info")
                if info.get("cluster_state") != "ok":
                    return False
                if int(info.get("cluster_known_nodes", 0)) != len(self.ports):
                    return False
            return True

        _wait(ok, timeout, "cluster_state:ok on every node")

    def flushall(self) -> None:
        """Empty every node (the scripts they have loaded stay)."""
        for port in self.ports:
            _client(port).flushall()

    def node_of_slot(self, slot: int) -> int:
        """The port of the master serving a slot (from CLUSTER SHARDS' view, via SLOTS)."""
        for first, last, master, *_ in _client(self.ports[0]).execute_command("CLUSTER SLOTS"):
            if int(first) <= slot <= int(last):
                return int(master[1])
        raise LookupError(f"no node serves slot {slot}")


def _ports(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.local_cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--ports", default="7001-7003", help="first-last (default 7001-7003)")
    parser.add_argument("--dir", default="var/cluster", help="data root (default var/cluster)")
    args = parser.parse_args(argv)
    cluster = LocalCluster(Path(args.dir), _ports(args.ports), daemonize=True)
    if args.action == "start":
        running = [p for p in cluster.ports if cluster._alive(p)]
        for port in cluster.ports:
            if port not in running:
                cluster.start_node(port)
        try:
            for port in cluster.ports:
                _wait(lambda p=port: _client(p).ping(), 10, f"redis-server on port {port}")
            if not cluster._joined():
                cluster._create()
            cluster.wait_ok(30)
        except RuntimeError as exc:
            print(f"Error: {exc}; see {args.dir}/<port>/redis.log", file=sys.stderr)
            return 1
        print(f"Redis Cluster ok on 127.0.0.1:{args.ports} (data in {args.dir}/): "
              f"REDIS_URL={cluster.url}")  # fmt: skip
        return 0
    stopped = [p for p in cluster.ports if cluster._alive(p)]
    cluster.stop()
    print(f"Redis Cluster nodes stopped: {', '.join(map(str, stopped)) or 'none was running'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
