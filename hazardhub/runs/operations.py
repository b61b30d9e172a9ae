"""Requesting, tracking and retrying background runs.

Web code enqueues by dotted name (``"worker.jobs.export_unit_tree"``) with ids only, so
``hazardhub`` never imports ``worker``. With ``HAZARDHUB_REDIS_URL`` unset the same enqueue runs
the job in-process through RQ's synchronous mode (fakeredis as the store), which is what the
first-run demo and the default test run use; CI also runs the suite against real Redis.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from hazardhub.db import utcnow
from hazardhub.extensions import db
from hazardhub.runs.models import ReportRun

#: kind -> (dotted job name, Chinese title, file suffix)
RUN_KINDS = {
    "unit_tree_xlsx": ("worker.jobs.export_unit_tree", "单位名录（Excel）", ".xlsx"),
    "ledger_xlsx": ("worker.jobs.export_ledger", "隐患排查治理台账（Excel）", ".xlsx"),
}

JOB_CLASS = "worker.context.FlaskJob"


class QueueUnavailable(RuntimeError):
    """Redis could not take the job; the run is marked failed with a Chinese message."""


def _queue():
    from rq import Queue

    url = current_app.config.get("HAZARDHUB_REDIS_URL")
    if url:
        from redis import Redis

        return Queue("default", connection=Redis.from_url(url), job_class=JOB_CLASS)
    import fakeredis

    return Queue("default", connection=fakeredis.FakeStrictRedis(), is_async=False, job_class=JOB_CLASS)


def request_run(kind: str, *, user, unit) -> ReportRun:
    """Create the run row, commit it, then enqueue (the worker must see the committed row)."""
    job_name, _title, _suffix = RUN_KINDS[kind]
    run = ReportRun(kind=kind, unit_id=unit.id if unit is not None else None,
                    requested_by_id=user.id, job_name=job_name, status="queued")
    db.session.add(run)
    db.session.commit()
    enqueue(run)
    return run


def enqueue(run: ReportRun) -> None:
    """Hand the run to RQ (or run it now, in-process); failures are recorded on the row."""
    run_id, tenant_id, actor, job_name = run.id, run.tenant_id, run.requested_by_id, run.job_name
    # End this session's transaction first: an in-process job writes from its own session, and on
    # SQLite it needs the write lock this session would otherwise still hold.
    db.session.commit()
    try:
        queue = _queue()
        job = queue.enqueue(
            job_name, run_id,
            job_timeout=600, result_ttl=3600, failure_ttl=7 * 24 * 3600,
            meta={"tenant_id": tenant_id, "actor_id": actor, "run_id": run_id},
            description=f"run {run_id}",
        )
    except Exception as exc:  # noqa: BLE001 - redis down, connection refused, etc.
        db.session.rollback()
        run = db.session.get(ReportRun, run_id)
        run.status = "failed"
        run.error = f"任务无法排队（后台队列不可用）：{type(exc).__name__}"
        db.session.commit()
        raise QueueUnavailable(run.error) from exc
    run = db.session.execute(
        sa.select(ReportRun).where(ReportRun.id == run_id).execution_options(populate_existing=True)
    ).scalar_one()
    if run.job_id is None:
        run.job_id = job.id
        db.session.commit()


def retry(run: ReportRun) -> None:
    run.status = "queued"
    run.progress = 0
    run.error = None
    db.session.commit()
    enqueue(run)


def storage_root() -> Path:
    return Path(current_app.config["HAZARDHUB_STORAGE_PATH"])


def mark_running(run: ReportRun) -> None:
    run.status = "running"
    run.progress = 0
    run.attempts += 1
    run.started_at = utcnow()
    run.error = None
    db.session.commit()


def set_progress(run: ReportRun, percent: int) -> None:
    run.progress = max(0, min(100, int(percent)))
    db.session.commit()


def store_file(run: ReportRun, data: bytes, file_name: str, chain_head: str) -> None:
    """Write the file to a temporary name and rename it into place, then mark the run done.

    A worker killed mid-write leaves only a ``.tmp`` file and a run that is not ``finished``.
    """
    folder = storage_root() / "runs" / str(run.tenant_id)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{run.id}{Path(file_name).suffix}"
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    run.file_path = str(final.relative_to(storage_root()))
    run.file_name = file_name
    run.sha256 = hashlib.sha256(data).hexdigest()
    run.chain_head = chain_head
    run.status = "finished"
    run.progress = 100
    run.finished_at = utcnow()
    db.session.commit()


def mark_failed(run_id: int, message: str) -> None:
    db.session.rollback()
    run = db.session.get(ReportRun, run_id)
    if run is None:
        return
    run.status = "failed"
    run.error = message[:2000]
    run.finished_at = utcnow()
    db.session.commit()
