"""The RQ job class: each job runs in its own app context, tenant bound, requester as actor.

Run workers as ``rq worker -j worker.context.FlaskJob --with-scheduler --maintenance-interval 60``
or simply ``python -m worker`` / ``flask --app wsgi worker``. In-process (no Redis configured) the
web app enqueues with the same class, and the job reuses the current app object.
"""
from __future__ import annotations

from flask import current_app, g, has_app_context
from rq.job import Job
from hazardhub import create_app
from hazardhub.accounts.auth import load_user_for_job
from hazardhub.extensions import db
from hazardhub.tenancy import TenantScope, scope_for, tenant_bound

_app = None


def worker_app():
    """The app of a worker process, created once per process (never at import time)."""
    global _app
    if _app is None:
        _app = create_app()
    return _app


class FlaskJob(Job):
    """Push an app context, bind the requester's tenant scope and actor, clean up after."""

    def perform(self):
        app = current_app._get_current_object() if has_app_context() else worker_app()
        with app.app_context():
            meta = self.meta or {}
            g.actor_id = meta.get("actor_id")
            g.audit_source = "job"
            g.job_id = self.id
            user = load_user_for_job(meta.get("actor_id")) if meta.get("actor_id") else None
            try:
                if user is None and meta.get("tenant_id") is None:
                    # A periodic job (rq cron): no requester; it binds each tenant itself.
                    g.audit_source = "schedule"
                    return super().perform()
                scope = scope_for(user) if user is not None else TenantScope.single(meta["tenant_id"])
                with tenant_bound(scope):
                    return super().perform()
            finally:
                db.session.remove()
