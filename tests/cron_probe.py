"""A cron config for the multi-host test: ``rq cron tests/cron_probe.py`` enqueues ``tick`` every
second; each executed tick increments a Redis counter, so duplicates would show."""
from rq import cron

from tests.cron_tick import tick

cron.register(tick, "default", interval=1, name="probe-tick")
