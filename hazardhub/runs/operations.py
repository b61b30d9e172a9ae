"""Requesting, tracking and retrying background runs.

Web code enqueues by dotted name (``"worker.jobs.export_unit_tree"``) with ids only, so
``hazardhub`` never imports ``worker``. With ``HAZARDHUB_REDIS_URL`` unset the same enqueue runs
the job in-process through RQ's synchronous mode (fakeredis as the store), which is what the
first-run demo and the default test run use; CI also runs the suite against real Redis.
"""
from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from hazardhub.citywide.witness import record_head
from hazardhub.clock import naive_utc, utcnow
from hazardhub.extensions import db
from hazardhub.runs.models import ReportRun

#: kind -> (dotted job name, Chinese title, file suffix)
RUN_KINDS = {
    "unit_tree_xlsx": ("worker.jobs.export_unit_tree", "单位名录（Excel）", ".xlsx"),
    "ledger_xlsx": ("worker.jobs.export_ledger", "隐患排查治理台账（Excel）", ".xlsx"),
    "city_comparison_pdf": ("worker.citywide.render_comparison", "县区对比报告（PDF）", ".pdf"),
    "directive_pdf": ("worker.directive_pdf.render_directive", "整改通知书（PDF）", ".pdf"),
    "phase_report": ("worker.reports.render_phase_report", "专项行动阶段报告（PDF）", ".pdf"),
}

JOB_CLASS = "worker.context.FlaskJob"
#: seconds a job may run before RQ stops it
JOB_TIMEOUT = 600
#: the message of a run whose worker died under it (killed, out of memory, host restarted)
INTERRUPTED = "生成中断（后台进程退出），可重试"
#: a started job whose heartbeat is older than this has lost its worker (RQ beats every 30 s and
#: lets the beat expire after interval + 60 s)
HEARTBEAT_STALE = timedelta(seconds=150)


class QueueUnavailable(RuntimeError):
    """Redis could not take the job; the run is marked failed with a Chinese message."""


def job_queue():
    """The RQ queue for background work: Redis when configured, else in-process (the demo)."""
    from rq import Queue

    url = current_app.config.get("HAZARDHUB_REDIS_URL")
    if url:
        from redis import Redis

        return Queue("default", connection=Redis.from_url(url), job_class=JOB_CLASS)
    import fakeredis

    return Queue("default", connection=fakeredis.FakeStrictRedis(), is_async=False, job_class=JOB_CLASS)


def request_run(kind: str, *, user, unit, params: dict | None = None) -> ReportRun:
    """Create the run row, commit it, then enqueue (the worker must see the committed row).

    :param params: what the job needs besides the unit (JSON: ids, ISO dates), kept on the row
        so a retry reproduces the same output.
    """
    job_name, _title, _suffix = RUN_KINDS[kind]
    run = ReportRun(kind=kind, unit_id=unit.id if unit is not None else None,
                    requested_by_id=user.id, job_name=job_name, status="queued")
    if params is not None:
        run.params = params
    db.session.add(run)
    db.session.commit()
    enqueue(run)
    return run


def enqueue(run: ReportRun) -> None:
    """Hand the run to RQ (or run it now, in-process); failures are recorded on the row.

    The job id is chosen here and committed on the row *before* the job is enqueued, so a worker
    that starts at once, and :func:`reconcile`, always find the id of the current attempt.
    """
    job_id = f"run-{run.id}-{uuid.uuid4().hex[:12]}"
    run.job_id = job_id
    run_id, tenant_id, actor, job_name = run.id, run.tenant_id, run.requested_by_id, run.job_name
    # End this session's transaction first: an in-process job writes from its own session, and on
    # SQLite it needs the write lock this session would otherwise still hold.
    db.session.commit()
    try:
        queue = job_queue()
        queue.enqueue(
            job_name, run_id,
            job_id=job_id, job_timeout=JOB_TIMEOUT, result_ttl=3600, failure_ttl=7 * 24 * 3600,
            meta={"tenant_id": tenant_id, "actor_id": actor, "run_id": run_id},
            description=f"run {run_id}",
        )
    except Exception as exc:  # noqa: BLE001 - redis down, connection refused, etc.
        db.session.rollback()
        run = db.session.get(ReportRun, run_id)
        run.status = "failed"
        run.error = f"任务无法排队（后台队列不可用），请稍后重试：{type(exc).__name__}"
        db.session.commit()
        raise QueueUnavailable(run.error) from exc


def retry(run: ReportRun) -> None:
    """Queue a failed run again; the job rewrites the same file path (jobs are idempotent)."""
    run.status = "queued"
    run.progress = 0
    run.error = None
    run.finished_at = None
    db.session.commit()
    enqueue(run)


def storage_root() -> Path:
    return Path(current_app.config["HAZARDHUB_STORAGE_PATH"])


def mark_running(run: ReportRun) -> None:
    """The job has started: count the attempt and clear what an earlier attempt left behind."""
    _remove_temporary_files(run)
    _record_process()
    run.status = "running"
    run.progress = 0
    run.attempts += 1
    run.started_at = utcnow()
    run.error = None
    db.session.commit()


def set_progress(run: ReportRun, percent: int) -> None:
    run.progress = max(0, min(100, int(percent)))
    db.session.commit()


def write_atomic(folder: Path, name: str, data: bytes, *, tmp_prefix: str = "") -> Path:
    """Write ``data`` to ``folder/name`` through a fsynced temporary file and a rename, so that a
    process killed mid-write leaves at most a ``.tmp`` file, never a half file under the name."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=tmp_prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return final


def store_file(run: ReportRun, data: bytes, file_name: str, chain_head: str) -> None:
    """Write the file to a temporary name and rename it into place, then mark the run done.

    A worker killed mid-write leaves only a ``.tmp`` file and a run that is not ``finished``.
    """
    final = write_atomic(storage_root() / "runs" / str(run.tenant_id), f"{run.id}{Path(file_name).suffix}", data,
                         tmp_prefix=f"{run.id}-")
    run.file_path = str(final.relative_to(storage_root()))
    run.file_name = file_name
    run.sha256 = hashlib.sha256(data).hexdigest()
    run.chain_head = chain_head
    run.status = "finished"
    run.progress = 100
    run.finished_at = utcnow()
    db.session.commit()
    # a district's report: the city keeps its head
    record_head(run.tenant_id, chain_head, source_kind="report", source_id=run.id)


def mark_failed(run_id: int, message: str) -> None:
    db.session.rollback()
    run = db.session.get(ReportRun, run_id)
    if run is None:
        return
    run.status = "failed"
    run.error = message[:2000]
    run.finished_at = utcnow()
    db.session.commit()


def _record_process() -> None:
    """Note the process doing the job (RQ's work horse) in the job's meta, so :func:`job_verdict`
    can tell a horse still working after its worker died from one that died with it."""
    from rq import get_current_job

    job = get_current_job()
    if job is None or not job.connection:
        return
    try:
        job.meta["pid"] = os.getpid()
        job.meta["hostname"] = socket.gethostname()
        job.save_meta()
    except Exception:  # noqa: BLE001 - bookkeeping only; the job itself must go on
        current_app.logger.warning("could not record the process of job %s", job.id, exc_info=True)


def _remove_temporary_files(run: ReportRun) -> None:
    """Delete the ``<run id>-*.tmp`` files a killed attempt of this run may have left."""
    folder = storage_root() / "runs" / str(run.tenant_id)
    if folder.is_dir():
        for leftover in folder.glob(f"{run.id}-*.tmp"):
            try:
                leftover.unlink()
            except FileNotFoundError:
                pass


def _redis():
    from redis import Redis

    url = current_app.config.get("HAZARDHUB_REDIS_URL")
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=3) if url else None


def _pid_alive(pid: int) -> bool:
    """Is process ``pid`` running on this host? A zombie (killed, not yet reaped — e.g. a horse
    whose worker was killed too, under an init that does not reap) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def job_verdict(connection, job_id: str | None) -> str | None:
    """Why the job behind an open run will never finish it (Chinese), or ``None`` while it may.

    Looks at RQ's own records: the job gone from Redis, failed (a killed work horse lands in the
    failed registry without our job code running its ``except``), stopped or cancelled, or
    started but its process gone — the work horse's pid (noted by :func:`mark_running`) dead on
    this host, or, for a job on another host, its worker's Redis key gone or its heartbeat stale
    (a worker killed together with its horse leaves the job ``started`` until RQ's maintenance
    pass, minutes later).
    """
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus
    from rq.worker import Worker

    if not job_id:
        return None
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return INTERRUPTED
    status = job.get_status(refresh=False)
    if status == JobStatus.FAILED:
        detail = ""
        exc = job.exc_info or ""
        if exc:
            detail = exc.strip().splitlines()[-1][:300]
        return f"{INTERRUPTED}（{detail}）" if detail else INTERRUPTED
    if status in (JobStatus.STOPPED, JobStatus.CANCELED):
        return "任务已被停止或取消，可重试"
    if status == JobStatus.FINISHED:
        return INTERRUPTED  # the job returned but never recorded the file: treat as interrupted
    if status != JobStatus.STARTED:
        return None
    meta = job.meta or {}
    if meta.get("pid") and meta.get("hostname") == socket.gethostname():
        # the work horse runs on this host: it alone decides (it may outlive a killed worker)
        return None if _pid_alive(int(meta["pid"])) else INTERRUPTED
    if job.worker_name:
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + job.worker_name,
                                    connection=connection)
        if worker is None:
            return INTERRUPTED
        if worker.hostname == socket.gethostname() and worker.pid and not _pid_alive(worker.pid):
            return INTERRUPTED
    if job.last_heartbeat is not None and utcnow() - naive_utc(job.last_heartbeat) > HEARTBEAT_STALE:
        return INTERRUPTED
    return None


def reconcile(run: ReportRun) -> bool:
    """Mark an open run failed when its job can no longer finish it; True when it did.

    Called when the run page or its status is viewed and by :func:`reconcile_open_runs`. With
    Redis unreachable nothing is decided (the page must not fail because the queue is down). In
    the in-process mode a run still open after the job timeout belongs to a process that died.
    """
    if run.status not in ("queued", "running"):
        return False
    connection = None
    try:
        connection = _redis()
        if connection is None:
            started = run.started_at or run.created_at
            verdict = INTERRUPTED if started and utcnow() - started > timedelta(seconds=JOB_TIMEOUT + 60) else None
        else:
            verdict = job_verdict(connection, run.job_id)
    except Exception:  # noqa: BLE001 - redis down or a corrupt job hash: decide nothing now
        current_app.logger.warning("could not check the job of run %s", run.id, exc_info=True)
        return False
    finally:
        if connection is not None:
            connection.close()
    if verdict is None:
        return False
    run_id = run.id
    db.session.commit()
    fresh = db.session.execute(
        sa.select(ReportRun).where(ReportRun.id == run_id).execution_options(populate_existing=True)
    ).scalar_one()
    if fresh.status not in ("queued", "running"):
        return False  # it finished (or failed on its own) meanwhile
    mark_failed(run_id, verdict)
    return True


def reconcile_open_runs(limit: int = 200) -> int:
    """The maintenance pass: check every queued or running run in the bound scope."""
    runs = db.session.execute(
        sa.select(ReportRun).where(ReportRun.status.in_(("queued", "running")))
        .order_by(ReportRun.id).limit(limit)
    ).scalars().all()
    return sum(1 for run in runs if reconcile(run))
