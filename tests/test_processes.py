"""The Procfile's worker and scheduler as real processes against a real Redis."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from engine import keys
from engine.config import Settings
from engine.connection import make_redis
from engine.errors import Unavailable
from engine.health import health
from engine.queues import WORKER_GROUPS
from tests.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    entries = [line.split(":", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip(): command.strip() for name, command in entries}


def start(kind: str, redis_url: str) -> subprocess.Popen:
    """One Procfile process, run the way honcho runs it (a shell, the venv on the PATH)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["REDIS_URL"] = redis_url
    env.pop("RQ_REDIS_URL", None)
    return subprocess.Popen(
        ["/bin/sh", "-c", "exec " + procfile()[kind]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def stop(process: subprocess.Popen, timeout: float = 10) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def wait_for(condition, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Unavailable:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def test_procfile_lists_web_first_then_worker_and_scheduler():
    entries = procfile()
    assert list(entries) == ["web", "worker", "scheduler"]
    assert "app:create_app()" in entries["web"] and "$PORT" in entries["web"].replace("{", "")
    assert entries["worker"] == "python worker.py"
    assert entries["scheduler"].startswith("rq cron engine.cron")


def test_worker_and_scheduler_make_health_ok_and_stop_cleanly(redis_url):
    settings = Settings(redis_url=redis_url)
    r = make_redis(settings)
    rq_r = make_redis(settings, decode_responses=False)
    worker = start("worker", redis_url)
    scheduler = start("scheduler", redis_url)
    try:
        body = wait_for(
            lambda: (h := health(r, rq_r))["workers"] == len(WORKER_GROUPS) and h,
            20,
            "every worker process to be up",
        )
        assert body == {
            "status": "ok",
            "redis": "ok",
            "workers": len(WORKER_GROUPS),
            "scheduler": "ok",
        }
        # The heartbeat job went scheduler -> queue -> worker -> Redis.
        wait_for(lambda: r.exists(keys.SCHEDULER_HEARTBEAT), 10, "the heartbeat job")
        wait_for(lambda: r.exists(keys.lease("housekeeping")), 10, "the housekeeping job")
    finally:
        worker_rc = stop(worker)
        scheduler_rc = stop(scheduler)
    assert worker_rc == 0, worker.stderr.read().decode()[-2000:]
    assert scheduler_rc == 0, scheduler.stderr.read().decode()[-2000:]
    assert health(r, rq_r)["workers"] == 0  # a clean stop unregisters at once


def test_two_schedulers_double_no_run(redis_url):
    settings = Settings(redis_url=redis_url)
    r = make_redis(settings)
    worker = start("worker", redis_url)
    schedulers = [start("scheduler", redis_url), start("scheduler", redis_url)]
    # The heartbeat's stamp and the housekeeping lease's token: one a second each. The jobs
    # that loop inside their second (then give their lease back): a new token only after the
    # last run's ~0.95 s, never two runs at once.
    once_a_second = {
        "heartbeat": keys.SCHEDULER_HEARTBEAT,
        "housekeeping": keys.lease("housekeeping"),
    }
    looping = {name: keys.lease(name) for name in ("expiry", "fanout", "webhooks")}
    watched = {**once_a_second, **looping}
    first_seen: dict[str, dict[str, float]] = {name: {} for name in watched}
    try:
        wait_for(lambda: r.exists(keys.SCHEDULER_HEARTBEAT), 20, "the first heartbeat")
        started = time.monotonic()
        while time.monotonic() - started < 3.5:
            pipe = r.pipeline(transaction=False)
            for key in watched.values():
                pipe.get(key)
            now = time.monotonic()
            for name, value in zip(watched, pipe.execute(), strict=True):
                if value:
                    first_seen[name].setdefault(value, now)
            time.sleep(0.01)
    finally:
        for process in [worker, *schedulers]:
            stop(process, 40)
    # Both schedulers enqueue every job every second; the leases let one run at a time.
    for name in once_a_second:
        assert 2 <= len(first_seen[name]) <= 5, (name, len(first_seen[name]))
    for name in looping:
        # (the first run may have begun before the watch: its token is seen late)
        times = sorted(first_seen[name].values())[1:]
        assert len(times) >= 2, name
        assert min(b - a for a, b in itertools.pairwise(times)) > 0.8, (name, times)


@pytest.mark.timeout(90)
def test_the_worker_rides_out_a_redis_restart(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    settings = Settings(redis_url=server.url)
    r = make_redis(settings)
    rq_r = make_redis(settings, decode_responses=False)
    worker = start("worker", server.url)
    scheduler = start("scheduler", server.url)
    try:
        wait_for(lambda: health(r, rq_r)["status"] == "ok", 20, "health to be ok")
        server.stop()
        with pytest.raises(Unavailable):
            health(r, rq_r)
        time.sleep(2)
        server.start()  # same port, no persistence: RQ's registrations are gone too
        wait_for(
            lambda: health(r, rq_r) == {
                "status": "ok", "redis": "ok", "workers": len(WORKER_GROUPS), "scheduler": "ok"
            },
            40,
            "health to recover",
        )  # fmt: skip
        assert worker.poll() is None and scheduler.poll() is None
    finally:
        worker_rc = stop(worker, 40)
        scheduler_rc = stop(scheduler, 40)
        server.stop()
    assert worker_rc == 0, worker.stderr.read().decode()[-2000:]
    assert scheduler_rc == 0, scheduler.stderr.read().decode()[-2000:]


def test_honcho_runs_the_whole_procfile_with_web_on_the_given_port(redis_url):
    """What `make run` does after seeding: honcho start -p PORT, the API answers on PORT."""
    port = free_port()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["REDIS_URL"] = redis_url
    env.pop("RQ_REDIS_URL", None)
    env.pop("PORT", None)
    honcho = subprocess.Popen(
        [str(Path(sys.executable).parent / "honcho"), "start", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api/v1/health"

    def healthy():
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.load(response)["status"] == "ok"
        except OSError:
            return False

    try:
        wait_for(healthy, 30, "GET /api/v1/health to say ok")
    finally:
        honcho.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            output = honcho.communicate(timeout=15)[0].decode()
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            raise
    for kind in ("web", "worker", "scheduler"):
        assert f"{kind}.1 stopped" in output, output[-3000:]
