"""The periodic jobs, for ``rq cron engine.cron`` (the Procfile's scheduler).

Intervals are whole seconds. Each job takes a lease first (engine/jobs.py), so a second
scheduler doubles nothing. Results are not kept; a run still queued after ``ttl`` seconds
(no worker alive) is dropped rather than piling up, since the next period brings a fresh one.
"""

from __future__ import annotations

from rq import cron

from engine import jobs
from engine.queues import ENGINE_QUEUE

JOB_OPTIONS = {"result_ttl": 0, "ttl": 10, "failure_ttl": 86400, "job_timeout": 30}

# (function, interval in seconds)
PERIODIC_JOBS = [
    (jobs.scheduler_heartbeat, 1),
    (jobs.housekeeping, 1),
]

for func, interval in PERIODIC_JOBS:
    cron.register(func, ENGINE_QUEUE, interval=interval, **JOB_OPTIONS)
