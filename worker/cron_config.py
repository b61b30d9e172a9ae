"""The periodic schedule: ``rq cron worker.cron_config`` (or ``python -m worker cron``).

Run exactly ONE cron process per deployment, however many workers run: two would enqueue every
job twice (rq's cron has no leader election). Times are UTC: 00:30 UTC is 08:30 in Beijing.
"""
from rq import cron

from worker.periodic import daily

cron.register(daily, "default", cron="30 0 * * *", name="daily", job_timeout=1800)
