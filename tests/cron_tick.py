"""The job the multi-host test's cron enqueues: count executions (and which worker ran them)."""
from __future__ import annotations

import os


def tick() -> int:
    from redis import Redis
    from rq import get_current_job

    job = get_current_job()
    redis = Redis.from_url(os.environ["HAZARDHUB_REDIS_URL"])
    redis.rpush("hazardhub:test:ticks", f"{job.id}|{job.worker_name}" if job else "?")
    return 1
