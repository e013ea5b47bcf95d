"""GET /metrics: Prometheus text computed from Redis at scrape time.

The web, the workers and the scheduler are separate processes, so nothing is counted in a
process's memory: counters live in Redis (each symbol's ``stats`` hash, kept by the fan-out
together with its XACK, so each stream entry is counted once; the ``te:metrics`` hash for
expiry lateness and webhook deliveries) and gauges are read from Redis state when scraped.
"""

from __future__ import annotations

from typing import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from redis.exceptions import RedisError

from engine import retention
from engine.expiry import LATENESS_BUCKETS
from engine.keys import METRICS, SYMBOLS, symbol_keys
from engine.queues import QUEUES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RedisCollector:
    """A prometheus_client collector that reads everything from Redis when collected."""

    def __init__(self, redis, rq_redis) -> None:
        self.redis = redis
        self.rq_redis = rq_redis

    def collect(self) -> Iterable[Metric]:
        r = self.redis
        symbols = sorted(_text(s) for s in r.hkeys(SYMBOLS))
        pipe = r.pipeline(transaction=False)
        for s in symbols:
            k = symbol_keys(s)
            pipe.hgetall(k.stats)
            pipe.zcard(k.open)
            pipe.hget(k.meta, "seq")
            pipe.xlen(k.events)
        pipe.hgetall(METRICS)
        replies = pipe.execute()
        metrics = {_text(k): int(v) for k, v in replies[-1].items()}

        accepted = CounterMetricFamily(
            "te_orders_accepted", "Orders accepted (counted as the fan-out handles them).",
            labels=["symbol"],
        )  # fmt: skip
        final = CounterMetricFamily(
            "te_orders_final",
            'Orders that became final, by status and kill reason (filled: reason "").',
            labels=["symbol", "status", "reason"],
        )
        open_orders = GaugeMetricFamily(
            "te_orders_open", "Orders resting in the book now (enqueued or partially_filled).",
            labels=["symbol"],
        )  # fmt: skip
        trades = CounterMetricFamily("te_trades", "Trades.", labels=["symbol"])
        events = CounterMetricFamily(
            "te_events_delivered", "Order events appended to the accounts' feeds.",
            labels=["symbol"],
        )  # fmt: skip
        lag = GaugeMetricFamily(
            "te_event_lag",
            "Stream entries the fan-out has not handled yet (last sequence minus the group's "
            "position, pending entries included).",
            labels=["symbol"],
        )
        stream_len = GaugeMetricFamily(
            "te_stream_entries", "Entries kept in the symbol's event stream.", labels=["symbol"]
        )
        for i, s in enumerate(symbols):
            stats_raw, n_open, seq, xlen = replies[4 * i : 4 * i + 4]
            stats = {_text(k): int(v) for k, v in stats_raw.items()}
            accepted.add_metric([s], stats.get("accepted", 0))
            trades.add_metric([s], stats.get("trades", 0))
            events.add_metric([s], stats.get("events", 0))
            final.add_metric([s, "filled", ""], stats.get("filled", 0))
            for name, value in sorted(stats.items()):
                if name.startswith("killed:"):
                    final.add_metric([s, "killed", name.partition(":")[2]], value)
            open_orders.add_metric([s], int(n_open))
            stream_len.add_metric([s], int(xlen))
            lag.add_metric([s], self._lag(s, int(seq or 0)))
        yield from (accepted, final, open_orders, trades, events, lag, stream_len)

        buckets, cumulative = [], 0
        for bound in (*[repr(b) for b in LATENESS_BUCKETS], "+Inf"):
            cumulative += metrics.get(f"lateness_bucket:{bound}", 0)
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            "te_expiry_lateness_seconds",
            "Time from an order's deadline (expires_at, or acceptance + ORDER_MAX_AGE) to the "
            "sweep's kill.",
            buckets=buckets,
            sum_value=metrics.get("lateness_sum_us", 0) / 1e6,
        )
        for name, help_text in (
            ("webhook_delivered", "Webhook deliveries answered with a 2xx."),
            ("webhook_failures", "Webhook attempts that failed (not 2xx, error or timeout)."),
            ("webhook_given_up", "Webhook events given up after 24 h of retries."),
        ):
            yield CounterMetricFamily(f"te_{name}", help_text, value=metrics.get(name, 0))

        depth = GaugeMetricFamily(
            "te_queue_depth", "Jobs waiting in an RQ queue.", labels=["queue"]
        )
        try:
            pipe = self.rq_redis.pipeline(transaction=False)
            for q in QUEUES:
                pipe.llen(f"rq:queue:{q}")
            for q, n in zip(QUEUES, pipe.execute(), strict=True):
                depth.add_metric([q], int(n))
        except RedisError:
            pass  # RQ's Redis may be another server: leave the family empty
        yield depth

    def _lag(self, symbol: str, last_seq: int) -> int:
        position = retention.group_position(self.redis, symbol)
        if position.first_unhandled is None:
            return 0 if position.exists else last_seq
        return max(0, last_seq - int(position.first_unhandled.partition("-")[0]) + 1)


def render(redis, rq_redis) -> bytes:
    """The Prometheus text of every metric, read from Redis now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(redis, rq_redis))
    return generate_latest(registry)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


__all__ = ["CONTENT_TYPE", "RedisCollector", "render"]
