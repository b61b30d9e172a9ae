"""The periodic schedule: ``rq cron worker.cron_config`` (or ``python -m worker cron``).

Run exactly ONE cron process per deployment, however many workers run: two would enqueue every
job twice (rq's cron has no leader election). Times are UTC: 00:30 UTC is 08:30 in Beijing.
"""
from rq import cron

from worker.channels import digests, dispatch
from worker.periodic import daily

cron.register(daily, "default", cron="30 0 * * *", name="daily", job_timeout=1800)

# deliveries due (new, retries after their backoff, abandoned sends); then each bureau's digest hour
cron.register(dispatch, "default", cron="* * * * *", name="channel-dispatch", job_timeout=600)
cron.register(digests, "default", cron="*/15 * * * *", name="channel-digests", job_timeout=1800)
