"""Starts the RQ workers (and nothing else): ``python worker.py``.

With no arguments it starts one worker process per queue group of engine/queues.py
(``WORKER_GROUPS``: expiry, events, webhooks, and engine+default), so the expiry sweep never
waits behind the fan-out or a slow webhook receiver, and restarts any that dies (a worker
killed with SIGKILL is back within a second or two; its periodic work is picked up by the
next run). ``python worker.py --queues expiry,events`` runs one worker on those queues
instead (to add capacity by hand). Every worker process is stateless.

Reads REDIS_URL (the books, for the jobs) and RQ_REDIS_URL (RQ's queues; default REDIS_URL).
If Redis goes away a worker waits and starts over rather than exiting (honcho would stop
every process when one exits); SIGTERM or Ctrl-C stops the workers after the job at hand.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from redis.exceptions import RedisError
from rq import Queue, SimpleWorker, worker_registration

from engine import jobs
from engine.config import Settings
from engine.context import EngineContext
from engine.queues import QUEUES, WORKER_GROUPS, WORKER_TTL, require_standalone, rq_connection

log = logging.getLogger("worker")

MAX_BACKOFF = 10.0
STOP_GRACE = 30.0  # seconds the workers get to finish their job when asked to stop


class EngineWorker(SimpleWorker):
    """Runs jobs in the worker process itself: they are short, and forking one per job costs
    more than the job."""

    stop_requested = False  # a SIGTERM/SIGINT arrived: do not start over

    def handle_warm_shutdown_request(self) -> None:
        EngineWorker.stop_requested = True
        super().handle_warm_shutdown_request()

    def heartbeat(self, timeout=None, pipeline=None) -> None:
        super().heartbeat(timeout, pipeline)
        if pipeline is None and self.birth_date is not None:
            self._ensure_registered()

    def _ensure_registered(self) -> None:
        # A Redis that lost its data (restarted without persistence, flushed, failed over)
        # has forgotten this worker, which would go on working unseen by GET /health.
        if not self.connection.sismember(self.redis_workers_keys, self.key):
            self.log.warning("Worker %s: not registered in Redis any more; registering", self.name)
            with self.connection.pipeline() as pipe:
                pipe.hset(self.key, mapping=self.serialize())
                worker_registration.register(self, pipe)
                pipe.expire(self.key, self.worker_ttl + 60)
                pipe.execute()


def _stop_now(signum, frame) -> None:
    EngineWorker.stop_requested = True
    raise SystemExit(0)


def run_worker(queue_names: list[str], parent: int | None = None) -> int:
    """One RQ worker on these queues, started over whenever its work loop gives up."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # RQ logs two lines per job at INFO: with jobs every second that drowns everything else.
    rq_level = os.environ.get("LOG_LEVEL", "WARNING").upper()
    settings = Settings.from_env()
    jobs.use_context(EngineContext(settings))
    connection = rq_connection(settings)
    if parent is not None:
        _watch_parent(parent)
    backoff = 1.0
    while True:
        # Between two runs of the work loop, a signal ends the process at once.
        signal.signal(signal.SIGTERM, _stop_now)
        signal.signal(signal.SIGINT, _stop_now)
        started = time.monotonic()
        try:
            worker = EngineWorker(
                [Queue(name, connection=connection) for name in queue_names],
                connection=connection,
                worker_ttl=WORKER_TTL,
                name=f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}",
            )
            log.info("worker %s listening on %s", worker.name, ", ".join(queue_names))
            worker.work(logging_level=rq_level)
        except RedisError as exc:
            log.warning("Redis is unreachable: %s", exc)
        if EngineWorker.stop_requested:
            return 0
        # The work loop gave up (it quits on a Redis error it cannot ride out): start over.
        if time.monotonic() - started > 60:
            backoff = 1.0
        signal.signal(signal.SIGTERM, _stop_now)
        signal.signal(signal.SIGINT, _stop_now)
        log.warning("worker stopped unexpectedly; starting over in %.0f s", backoff)
        time.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF)


def _watch_parent(parent: int) -> None:
    """Stop (as on SIGTERM) if the supervising process goes away without stopping us."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        log.warning("the supervising worker process is gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class Supervisor:
    """Runs one worker process per queue group and restarts those that die."""

    def __init__(self, groups: tuple[tuple[str, ...], ...] = WORKER_GROUPS) -> None:
        self.groups = groups
        self.children: dict[tuple[str, ...], subprocess.Popen] = {}
        self.started: dict[tuple[str, ...], float] = {}
        self.backoff: dict[tuple[str, ...], float] = {g: 0.5 for g in groups}
        self.due: dict[tuple[str, ...], float] = {}
        self.stopping = False

    def spawn(self, group: tuple[str, ...]) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--queues", ",".join(group),
                   "--parent", str(os.getpid())]  # fmt: skip
        self.children[group] = subprocess.Popen(command)
        self.started[group] = time.monotonic()

    def _stop(self, signum, frame) -> None:
        self.stopping = True

    def run(self) -> int:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
        )
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for group in self.groups:
            self.spawn(group)
        while not self.stopping:
            now = time.monotonic()
            for group, child in list(self.children.items()):
                if child.poll() is None or self.stopping:
                    continue
                if group not in self.due:
                    lived = now - self.started[group]
                    if lived > 60:
                        self.backoff[group] = 0.5
                    self.due[group] = now + self.backoff[group]
                    log.warning("worker for %s exited with %s; restarting in %.1f s",
                                ",".join(group), child.returncode, self.backoff[group])  # fmt: skip
                    self.backoff[group] = min(self.backoff[group] * 2, MAX_BACKOFF)
                elif now >= self.due[group]:
                    del self.due[group]
                    self.spawn(group)
            time.sleep(0.1)
        return self.shutdown()

    def shutdown(self) -> int:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for child in self.children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start the engine's RQ workers.")
    parser.add_argument(
        "--queues",
        help=f"run one worker on these comma-separated queues ({', '.join(QUEUES)}) "
        "instead of one process per queue group",
    )
    parser.add_argument("--parent", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.queues:
        names = [q for q in args.queues.split(",") if q]
        unknown = sorted(set(names) - set(QUEUES))
        if unknown or not names:
            parser.error(f"unknown queue(s): {', '.join(unknown) or '(none)'}")
        return run_worker(names, args.parent)
    # Refuse a Redis Cluster here, once, rather than restart children that each refuse it.
    require_standalone(Settings.from_env().rq_url, "RQ_REDIS_URL (or REDIS_URL, its default)")
    return Supervisor().run()


if __name__ == "__main__":
    sys.exit(main())
