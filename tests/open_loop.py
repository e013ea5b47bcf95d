"""An open-loop HTTP load generator: requests leave on a fixed schedule, whatever the answers.

A closed loop (send, wait, send) slows down with the server and hides its queueing; here
each request has a planned departure time and its latency is counted from that time, so
a server (or a client) that falls behind shows as latency, not as fewer requests. asyncio,
HTTP/1.1 keep-alive, a small pool of connections per stream of requests.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Answer:
    stream: int
    due: float  # the planned departure (time.monotonic())
    status: int
    headers: dict[str, str]
    body: Any
    latency: float  # seconds from the planned departure to the whole answer read
    service: float  # seconds from the actual send to the answer (without client queueing)


@dataclass
class Stream:
    """`rate` requests a second; `make(n)` builds the n-th: (method, path, headers, body)."""

    rate: float
    make: Callable[[int], tuple[str, str, dict[str, str], Any]]
    phase: float = 0.0  # seconds after the start of the first departure
    answers: list[Answer] = field(default_factory=list)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        self.writer.write(raw)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed by the server")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body

    def close(self) -> None:
        self.writer.close()


async def _run(port: int, streams: list[Stream], seconds: float, pool_size: int,
               timeout: float) -> None:  # fmt: skip
    start = time.monotonic() + 0.2
    errors: list[BaseException] = []

    async def one(i: int, stream: Stream, n: int, due: float, pool: asyncio.Queue) -> None:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        method, path, headers, body = stream.make(n)
        data = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        raw = head.encode() + b"\r\n" + data
        conn = await pool.get()
        try:
            if conn is None:
                conn = _Connection(*await asyncio.open_connection("127.0.0.1", port))
            sent = time.monotonic()
            status, got, payload = await asyncio.wait_for(conn.exchange(raw), timeout)
            done = time.monotonic()
        except BaseException as exc:
            if conn is not None:
                conn.close()
            conn = None
            errors.append(exc)
            return
        finally:
            pool.put_nowait(conn)
        parsed = json.loads(payload) if payload else None
        stream.answers.append(Answer(i, due, status, got, parsed, done - due, done - sent))

    tasks = []
    for i, stream in enumerate(streams):
        pool: asyncio.Queue = asyncio.Queue()
        for _ in range(pool_size):
            pool.put_nowait(None)  # opened on first use
        count = int(stream.rate * seconds)
        for n in range(count):
            due = start + stream.phase + n / stream.rate
            tasks.append(asyncio.ensure_future(one(i, stream, n, due, pool)))
    await asyncio.gather(*tasks)
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]!r}")


def run(port: int, streams: list[Stream], seconds: float, pool_size: int = 8,
        timeout: float = 10.0) -> list[Answer]:  # fmt: skip
    """Send every stream's requests on schedule; every answer, in no particular order."""
    asyncio.run(_run(port, streams, seconds, pool_size, timeout))
    return [a for s in streams for a in s.answers]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
