"""Redis unreachable: every endpoint answers fast, and the workers wait and resume.

The web: every operation of the OpenAPI document (and /metrics), against a Redis that
refuses connections and against one that accepts them and never answers, answers within
2 s: a 503 in the documented shape with Retry-After (GET /health with its own keys, saying
Redis is unreachable), never a 500 or a hang. Only the OpenAPI document, which needs no
Redis, answers 200.

The worker and the scheduler (real processes): the redis-server (AOF) is killed while jobs
are queued and running, stays dead for a few seconds and comes back; both processes are the
same ones after, did not crash-loop, and every job queued before the kill ran.
"""

from __future__ import annotations

import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from rq import Queue

from app import create_app
from engine.api.openapi import API_PREFIX, openapi_document
from engine.queues import ENGINE_QUEUE
from tests.stack import DurableRedis, Process, stop_all, wait_until

KEY = "te_1_" + "a" * 43  # well formed: authentication has to ask Redis
ORDER = {"symbol": "BTC-USD", "side": "buy", "price": "100.00", "quantity": "1"}
BODIES = {
    "/orders": ORDER,
    "/orders/batch": {"orders": [ORDER]},
    "/account/webhook": {"url": "https://example.com/hook"},
}
QUERY = {"symbol": "BTC-USD"}  # values for required query parameters (others: "1")
LIMIT = 2.0  # seconds: the contract's bound for a 503


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def silent_port():
    """A server that accepts connections and never answers (a hung or overloaded Redis)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(128)
        yield server.getsockname()[1]


def every_request() -> list[tuple[str, str, dict]]:
    """(method, url, kwargs) for every operation of the OpenAPI document, and /metrics."""
    out = []
    for path, ops in openapi_document()["paths"].items():
        url = path.replace("{order_id}", "BTC-USD:1").replace("{symbol}", "BTC-USD")
        for method, op in ops.items():
            kwargs: dict = {"headers": {"X-API-Key": KEY} if op.get("security") else {}}
            required = [p["name"] for p in op.get("parameters", ())
                        if p["in"] == "query" and p.get("required")]  # fmt: skip
            if required:
                kwargs["query_string"] = {name: QUERY.get(name, "1") for name in required}
            if "requestBody" in op:
                kwargs["json"] = BODIES[path.removeprefix(API_PREFIX)]
            out.append((method.upper(), url, kwargs))
    return [*out, ("GET", "/metrics", {"headers": {}})]


REQUESTS = every_request()


def sweep(app) -> list[tuple[str, str, object, float]]:
    """Every request at once (each on its own test client): (method, url, response, seconds)."""

    def one(item):
        method, url, kwargs = item
        if url == "/metrics" and not any(r.rule == "/metrics" for r in app.url_map.iter_rules()):
            return None
        started = time.monotonic()
        response = app.test_client().open(url, method=method, **kwargs)
        return method, url, response, time.monotonic() - started

    with ThreadPoolExecutor(len(REQUESTS)) as pool:
        return [x for x in pool.map(one, REQUESTS) if x is not None]


@pytest.mark.parametrize("redis", ["refused", "silent"])
def test_every_endpoint_answers_503_with_retry_after_within_2_seconds(redis, silent_port):
    port = closed_port() if redis == "refused" else silent_port
    app = create_app({"REDIS_URL": f"redis://127.0.0.1:{port}/0", "TESTING": True})
    results = sweep(app)
    assert len(results) >= len(openapi_document()["paths"])
    for method, url, response, seconds in results:
        where = f"{method} {url}"
        assert seconds < LIMIT, f"{where} took {seconds:.2f} s"
        if url.endswith("/openapi.json"):
            assert response.status_code == 200, where  # needs no Redis
            continue
        assert response.status_code == 503, (where, response.status_code, response.get_data())
        assert response.headers.get("Retry-After") == "1", where
        if url.endswith("/health"):
            assert response.get_json() == {"status": "unavailable", "redis": "unreachable",
                                           "workers": 0, "scheduler": "missing"}  # fmt: skip
        elif url == "/metrics":
            assert response.get_data()  # Prometheus text or the error shape: not empty
        else:
            assert response.get_json()["error"]["code"] == "unavailable", where


def sleep_job_ids(queue: Queue, count: int, seconds: float) -> list[str]:
    """Jobs that take a while (time.sleep), so some are still queued when Redis dies."""
    return [queue.enqueue(time.sleep, seconds, result_ttl=600).id for _ in range(count)]


@pytest.mark.timeout(120)
def test_worker_and_scheduler_wait_out_a_dead_redis_and_lose_no_job(tmp_path):
    server = DurableRedis(tmp_path / "redis")
    server.start()
    env = {"REDIS_URL": server.url}
    worker = Process("worker", env, tmp_path / "worker.log")
    scheduler = Process("scheduler", env, tmp_path / "scheduler.log")
    rq_r = server.client(decode_responses=False)
    try:
        queue = Queue(ENGINE_QUEUE, connection=rq_r)
        wait_until(lambda: rq_r.scard("rq:workers") >= 1, 20, "the worker to register")
        ids = sleep_job_ids(queue, 8, 0.3)  # 2.4 s of work
        wait_until(lambda: queue.fetch_job(ids[0]).get_status() == "finished", 10,
                   "the first job to finish")  # fmt: skip
        server.kill()  # mid-queue: a job runs, others wait in the (persisted) queue
        time.sleep(4)
        assert worker.alive() and scheduler.alive()  # waiting, not exiting
        server.start()
        restarted = time.monotonic()
        wait_until(
            lambda: all(queue.fetch_job(i).get_status() == "finished" for i in ids), 30,
            "every job queued before the kill to finish",
        )  # fmt: skip
        resumed = time.monotonic() - restarted
        assert worker.alive() and scheduler.alive()
        # The scheduler's periodic jobs run again too.
        wait_until(lambda: int(rq_r.exists(b"te:scheduler:heartbeat")) == 1, 10,
                   "the scheduler's heartbeat")  # fmt: skip
        print(f"\nworker and scheduler: 8 jobs, Redis dead 4 s; all done {resumed:.2f} s "
              "after the restart")  # fmt: skip
    finally:
        worker_rc, scheduler_rc = stop_all(worker, scheduler)
        rq_r.close()
        server.stop()
    # One restart of the work loop at most, no traceback: no crash loop.
    restarts = len(re.findall("starting over", worker.text()))
    assert restarts <= 1, worker.text()[-3000:]
    assert "Traceback" not in scheduler.text(), scheduler.text()[-3000:]
    assert worker_rc == 0 and scheduler_rc == 0
