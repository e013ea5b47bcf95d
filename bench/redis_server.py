"""A throwaway redis-server on a free port for one benchmark run (stopped when it ends)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

REDIS_CONF = Path(__file__).resolve().parent.parent / "redis.conf"


def encoding_options(conf: Path = REDIS_CONF) -> list[str]:
    """The project's data-encoding settings from redis.conf (*-max-listpack-*, *-max-intset-*),
    as command-line options: the bench's Redis stores data as `make run`'s does."""
    options = []
    for line in conf.read_text().splitlines() if conf.exists() else []:
        name, _, value = line.strip().partition(" ")
        if "-max-listpack-" in name or "-max-intset-" in name:
            options += [f"--{name}", value.strip()]
    return options


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_ping(port: int, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    """Wait until the redis-server on `port` answers PING; False on timeout or if it died."""
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.ping()
                return True
            except redis.ConnectionError:
                if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
                    return False
                time.sleep(0.05)
    finally:
        client.close()


class RedisServer:
    """``with RedisServer() as r: r.url``. No persistence unless aof=True (appendfsync everysec)."""

    def __init__(self, aof: bool = False) -> None:
        self.aof = aof
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = Path(tempfile.mkdtemp(prefix="te-bench-redis-"))
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> "RedisServer":
        exe = shutil.which("redis-server")
        if exe is None:
            raise SystemExit("redis-server is not on the PATH (make setup installs it)")
        args = [
            exe,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self._dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.aof else "no",
            "--appendfsync",
            "everysec",
            "--maxmemory",
            "0",
            "--protected-mode",
            "yes",
            "--logfile",
            str(self._dir / "redis.log"),
            *encoding_options(),
        ]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for_ping(self.port, 10, self._proc):
            self.__exit__(None, None, None)
            raise SystemExit(f"redis-server did not start on port {self.port}")
        return self

    def __exit__(self, *exc) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()  # SIGTERM: redis-server exits (no save configured)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)
