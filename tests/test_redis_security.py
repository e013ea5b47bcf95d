"""Redis is reached on loopback only, with a password when it has one, and secrets stay out
of answers and logs.

The whole stack (gunicorn web, worker, scheduler) runs against a redis-server started with
`--requirepass`, the password given in REDIS_URL only. It works (orders, health ok); the
password and the API keys used appear in no answer and in no process's log, gunicorn's
access log and debug level included. A wrong password is a fast 503, and says nothing.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.stack import Client, DurableRedis, Process, seed, start_web, stop_all, wait_until

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "s3cr3t-Redis-pw-7f1c"
WRONG = "not-the-password-91ab"
ORDER = {"symbol": "BTC-USD", "side": "buy", "price": "100.00", "quantity": "1"}
# The most a log can say: gunicorn at debug level with its access log on.
VERBOSE = {"GUNICORN_CMD_ARGS": "--log-level debug --access-logfile -", "LOG_LEVEL": "DEBUG"}


def test_the_projects_redis_listens_on_loopback_only_and_persists():
    conf = {}
    for line in (ROOT / "redis.conf").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.strip().partition(" ")
            conf[name] = value
    assert conf["bind"].split() == ["127.0.0.1"] or set(conf["bind"].split()) <= {
        "127.0.0.1", "-::1", "::1"}  # fmt: skip
    assert conf["protected-mode"] == "yes"
    assert conf["appendonly"] == "yes" and conf["appendfsync"] == "everysec"


@pytest.mark.timeout(120)
def test_a_password_in_redis_url_works_and_never_shows(tmp_path):
    server = DurableRedis(tmp_path / "redis", password=PASSWORD)
    server.start()
    keys = seed(server.url, {"BTC-USD": ("0.01", "0.0001")}, ["alice", "bob"])
    env = {"REDIS_URL": server.url, "ORDER_RATE_LIMIT": "0", **VERBOSE}
    web, port = start_web(env, tmp_path / "web.log")
    worker = Process("worker", env, tmp_path / "worker.log")
    scheduler = Process("scheduler", env, tmp_path / "scheduler.log")
    wrong_web = None
    answers: list[str] = []
    try:
        alice = Client(port, keys[0])
        wait_until(lambda: alice.request("GET", "/health").body["status"] == "ok", 30,
                   "health ok with the password")  # fmt: skip
        placed = alice.request("POST", "/orders", ORDER)
        assert placed.status == 201, placed.body
        for method, path, key in [
            ("GET", f"/orders/{placed.body['id']}", keys[0]),
            ("GET", f"/orders/{placed.body['id']}", keys[1]),  # 404
            ("DELETE", f"/orders/{placed.body['id']}", keys[0] + "x"),  # 401
            ("GET", "/orders?limit=0", keys[0]),  # 422
            ("GET", "/health", None),
        ]:
            reply = alice.request(method, path, key=key)
            answers.append(repr(reply.body) + repr(reply.headers))
        # The same stack with a wrong password: a fast 503 that names nothing.
        wrong_env = {**env, "REDIS_URL": server.url.replace(PASSWORD, WRONG)}
        wrong_web, wrong_port = start_web(wrong_env, tmp_path / "wrong-web.log")
        wrong = Client(wrong_port, keys[0])
        for path in ("/health", "/orders"):
            started = time.monotonic()
            reply = wrong.request("GET", path)
            assert time.monotonic() - started < 2.0
            assert reply.status == 503 and reply.headers["Retry-After"] == "1"
            answers.append(repr(reply.body) + repr(reply.headers))
        assert wrong.request("GET", "/health").body["redis"] == "unreachable"
    finally:
        stop_all(web, worker, scheduler, wrong_web)
        server.stop()
    logs = {p.kind + p.log.name: p.text() for p in (web, worker, scheduler, wrong_web)}
    assert re.search(r'"GET /api/v1/health', logs["webweb.log"])  # the access log was on
    for secret in (PASSWORD, WRONG, *keys, *(k.split("_", 2)[2] for k in keys)):
        for where, text in [*logs.items(), *(("answer", a) for a in answers)]:
            assert secret not in text, f"{secret[:6]}... appears in {where}"
