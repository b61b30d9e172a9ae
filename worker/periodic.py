"""Periodic jobs, enqueued by the one ``rq cron`` process (see ``worker/cron_config.py``).

They carry no requester: ``FlaskJob`` runs them unbound and the work binds each tenant in turn.
"""
from __future__ import annotations

from datetime import date
from hazardhub.clock import today
from hazardhub.platform.daily import run_daily


def daily(today_iso: str | None = None) -> dict[str, int]:
    """The daily pass for ``today_iso`` (default: today in Beijing)."""
    day = date.fromisoformat(today_iso) if today_iso else today()
    return run_daily(day, log=lambda message: None)
