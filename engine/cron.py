"""The periodic jobs, for ``rq cron engine.cron`` (the Procfile's scheduler).

Intervals are whole seconds. Each job takes a lease first (engine/jobs.py), so a second
scheduler doubles nothing. Results are not kept; a run still queued after ``ttl`` seconds
(no worker alive) is dropped rather than piling up, since the next period brings a fresh one.

Each kind of work has its own queue (engine/queues.py) and worker process (worker.py), so
the expiry sweep never waits behind the fan-out or a slow webhook receiver.
"""

from __future__ import annotations

from rq import cron

from engine import jobs, marketdata
from engine.queues import ENGINE_QUEUE, EVENTS_QUEUE, EXPIRY_QUEUE, WEBHOOKS_QUEUE

JOB_OPTIONS = {"result_ttl": 0, "ttl": 10, "failure_ttl": 86400, "job_timeout": 60}

# (function, queue, interval in seconds)
PERIODIC_JOBS = [
    (jobs.scheduler_heartbeat, ENGINE_QUEUE, 1),
    (jobs.housekeeping, ENGINE_QUEUE, 1),
    (jobs.snapshots, ENGINE_QUEUE, jobs.SNAPSHOT_PERIOD_S),
    (jobs.expiry_sweep, EXPIRY_QUEUE, 1),
    (jobs.fan_out, EVENTS_QUEUE, 1),
    (jobs.deliver_webhooks, WEBHOOKS_QUEUE, 1),
    (marketdata.fold_job, ENGINE_QUEUE, 1),
]

for func, queue, interval in PERIODIC_JOBS:
    cron.register(func, queue, interval=interval, **JOB_OPTIONS)
