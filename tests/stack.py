"""The whole stack as real processes for the reliability tests: redis-server (with AOF or a
password when asked), the Procfile's web (gunicorn), worker and scheduler, and a small HTTP
client. Each process writes its log to a file the test can read after.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest
import redis as redis_lib

from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"


class DurableRedis:
    """A redis-server on 127.0.0.1 with the project's durability settings (AOF everysec) and
    an optional password; SIGKILL it and start it again on the same port and data."""

    def __init__(
        self,
        directory: Path,
        *,
        appendfsync: str = "everysec",
        password: Optional[str] = None,
        port: Optional[int] = None,
    ) -> None:
        self.directory = directory
        self.appendfsync = appendfsync
        self.password = password
        self.port = port or free_port()
        self.process: Optional[subprocess.Popen] = None
        self.start_args: list[str] = []  # extra redis-server arguments (they come last)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self, **kwargs: Any) -> redis_lib.Redis:
        options = dict(socket_timeout=2, socket_connect_timeout=1, decode_responses=True)
        options.update(kwargs)
        return redis_lib.Redis.from_url(self.url, **options)

    def start(self, timeout: float = 15.0) -> float:
        """Start (or restart on the same data); returns the seconds until it answered PING."""
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.exit("redis-server is not on the PATH: run `make setup`", returncode=1)
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            exe,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--appenddirname", "appendonlydir",
            "--save", "",
            "--logfile", str(self.directory / "redis.log"),
            "--daemonize", "no",
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        args += self.start_args
        started = time.monotonic()
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client(socket_timeout=1)
        try:
            while True:
                if self.process.poll() is not None:
                    log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(
                        f"redis-server exited with {self.process.returncode}:\n{log}"
                    )
                try:
                    if client.ping():
                        return time.monotonic() - started
                except redis_lib.BusyLoadingError:
                    pass  # loading the AOF
                except redis_lib.ConnectionError:
                    pass
                if time.monotonic() - started > timeout:
                    raise RuntimeError("redis-server did not answer PING")
                time.sleep(0.01)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync or save (what a crash of the process does)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    entries = [line.split(":", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip(): command.strip() for name, command in entries}


class Process:
    """One Procfile process (run as honcho runs it: a shell, the venv first on the PATH),
    in its own session, its output in a log file."""

    def __init__(self, kind: str, env: dict[str, str], log: Path) -> None:
        self.kind = kind
        self.log = log
        full = dict(os.environ)
        for name in ("REDIS_URL", "RQ_REDIS_URL", "ORDER_RATE_LIMIT", "WEB_CONCURRENCY"):
            full.pop(name, None)
        full.update(env)
        full["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full.get('PATH', '')}"
        self._out = open(log, "wb")
        self.process = subprocess.Popen(
            ["/bin/sh", "-c", "exec " + procfile()[kind]],
            cwd=ROOT, env=full, stdout=self._out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.pid = self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self) -> None:
        """SIGTERM to the process group (gunicorn's workers, honcho-style shells included)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._out.close()
        return self.process.returncode


def stop_all(*processes: Optional[Process]) -> list[int]:
    """Stop them together (each takes a second or two to finish cleanly); their exit codes."""
    running = [p for p in processes if p is not None]
    for process in running:
        process.terminate()
    return [process.stop() for process in running]


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]
    seconds: float


class Client:
    """A keep-alive HTTP/1.1 client of one thread (reconnects after a failure)."""

    # gunicorn closes a keep-alive connection idle for 5 s (the Procfile's --keep-alive 5):
    # a connection idle for longer than this is not reused, so no request races that close.
    IDLE_REUSE = 3.0

    def __init__(self, port: int, key: Optional[str] = None, timeout: float = 10.0) -> None:
        self.port, self.key, self.timeout = port, key, timeout
        self._conn: Optional[http.client.HTTPConnection] = None
        self._last_used = 0.0

    def request(self, method: str, path: str, body: Any = None, key: Optional[str] = None,
                headers: Optional[dict[str, str]] = None) -> Reply:  # fmt: skip
        if self._conn is not None and time.monotonic() - self._last_used > self.IDLE_REUSE:
            self.close()
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        sent = dict(headers or {})
        if key or self.key:
            sent["X-API-Key"] = key or self.key
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        started = time.monotonic()
        try:
            self._conn.request(method, API + path, body=data, headers=sent)
            response = self._conn.getresponse()
            raw = response.read()
        except Exception:
            self.close()
            raise
        self._last_used = time.monotonic()
        seconds = self._last_used - started
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        parsed = json.loads(raw) if raw else None
        return Reply(response.status, parsed, dict(response.getheaders()), seconds)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def start_web(env: dict[str, str], log: Path, timeout: float = 30) -> tuple[Process, int]:
    """The Procfile's web on a free port; returns once it answers HTTP."""
    port = free_port()
    web = Process("web", {**env, "PORT": str(port)}, log)
    client = Client(port, timeout=2)
    deadline = time.monotonic() + timeout
    while True:
        if not web.alive():
            raise RuntimeError(f"web exited at start:\n{web.text()[-3000:]}")
        try:
            client.request("GET", "/symbols")
            return web, port
        except OSError:
            if time.monotonic() > deadline:
                web.stop()
                raise RuntimeError(f"web did not answer:\n{web.text()[-3000:]}") from None
            time.sleep(0.1)
        finally:
            client.close()


def wait_until(condition, timeout: float, what: str, interval: float = 0.05) -> float:
    """Polls condition() (exceptions count as false); returns the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except Exception:
            pass
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def seed(redis_url: str, symbols: dict[str, tuple[str, str]], accounts: list[str]) -> list[str]:
    """Symbols and accounts, as `flask symbols add` / `accounts create` make them; the keys."""
    from engine import accounts as accounts_mod
    from engine.symbols import SymbolRegistry

    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    try:
        registry = SymbolRegistry(client)
        for name, (tick, lot) in symbols.items():
            registry.add(name, tick, lot)
        return [accounts_mod.create(client, name)["api_key"] for name in accounts]
    finally:
        client.close()
