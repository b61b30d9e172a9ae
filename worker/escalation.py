"""The daily escalation job: ``worker.escalation.run_daily(today_iso=None)``.

Thin on purpose: the rules live in ``hazardhub.directives.escalation`` (testable without RQ).
The lead registers the daily schedule; running it twice on one day changes nothing.
"""
from __future__ import annotations

from datetime import date


def run_daily(today_iso: str | None = None) -> dict[str, int]:
    """Sweep every tenant for ``today_iso`` (default: today in Beijing)."""
    from flask import current_app, g, has_app_context

    from hazardhub.directives import escalation
    from hazardhub.hazards.operations import today

    def sweep() -> dict[str, int]:
        g.audit_source = g.get("audit_source") or "job"
        day = date.fromisoformat(today_iso) if today_iso else today()
        return escalation.run_daily(day, log_line=current_app.logger.info)

    if has_app_context():
        return sweep()
    from worker.context import worker_app

    with worker_app().app_context():
        try:
            return sweep()
        finally:
            from hazardhub.extensions import db

            db.session.remove()
