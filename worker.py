"""Starts an RQ worker on the engine's queues (and nothing else): ``python worker.py``.

Reads REDIS_URL (the books, for the jobs) and RQ_REDIS_URL (RQ's queues; default REDIS_URL).
Run more copies for more workers. If Redis goes away the worker waits and starts over rather
than exiting (honcho would stop every process when one exits); SIGTERM or Ctrl-C stops it
after the job at hand.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
import uuid

from redis.exceptions import RedisError
from rq import Queue, SimpleWorker, worker_registration

from engine import jobs
from engine.config import Settings
from engine.context import EngineContext
from engine.queues import QUEUES, WORKER_TTL, rq_connection

log = logging.getLogger("worker")

MAX_BACKOFF = 10.0


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


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # RQ logs two lines per job at INFO: with jobs every second that drowns everything else.
    rq_level = os.environ.get("LOG_LEVEL", "WARNING").upper()
    settings = Settings.from_env()
    jobs.use_context(EngineContext(settings))
    connection = rq_connection(settings)
    backoff = 1.0
    while True:
        # Between two runs of the work loop, a signal ends the process at once.
        signal.signal(signal.SIGTERM, _stop_now)
        signal.signal(signal.SIGINT, _stop_now)
        started = time.monotonic()
        try:
            worker = EngineWorker(
                [Queue(name, connection=connection) for name in QUEUES],
                connection=connection,
                worker_ttl=WORKER_TTL,
                name=f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}",
            )
            log.info("worker %s listening on %s", worker.name, ", ".join(QUEUES))
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


if __name__ == "__main__":
    sys.exit(main())
