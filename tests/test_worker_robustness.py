"""Worker robustness: a failed or abandoned job shows as failed with its error and only its requester
retries it; a killed write leaves no finished-looking file; jobs rewrite the same path; Redis down
is a message, not a 500. The PostgreSQL pass also kills a real worker mid-report and retries."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import fakeredis
import pytest
import sqlalchemy as sa
from rq import Queue, Worker
from rq.job import JobStatus

from hazardhub import ROOT, clock
from hazardhub.clock import utcnow
from hazardhub.runs import operations as run_ops
from hazardhub.runs.models import ReportRun
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _started_job(conn, *, pid: int | None = None, heartbeat=None):
    """A job RQ believes is running, on a registered worker (optionally with another pid)."""
    queue = Queue("default", connection=conn)
    job = queue.enqueue("os.getcwd")
    worker = Worker([queue], connection=conn)
    worker.register_birth()
    if pid is not None:
        conn.hset(worker.key, "pid", pid)
    job.worker_name = worker.name
    job.last_heartbeat = heartbeat or utcnow()
    job.set_status(JobStatus.STARTED)
    job.save()
    return job, worker


def test_job_verdicts_follow_rqs_records():
    conn = fakeredis.FakeStrictRedis()
    queue = Queue("default", connection=conn)
    assert run_ops.job_verdict(conn, None) is None
    assert run_ops.job_verdict(conn, "no-such-job") == run_ops.INTERRUPTED
    queued = queue.enqueue("os.getcwd")
    assert run_ops.job_verdict(conn, queued.id) is None
    alive, _w = _started_job(conn, pid=os.getpid())
    assert run_ops.job_verdict(conn, alive.id) is None
    dead, _w = _started_job(conn, pid=_dead_pid())
    assert run_ops.job_verdict(conn, dead.id) == run_ops.INTERRUPTED
    stale, _w = _started_job(conn, pid=os.getpid(), heartbeat=utcnow() - timedelta(minutes=10))
    assert run_ops.job_verdict(conn, stale.id) == run_ops.INTERRUPTED
    gone, worker = _started_job(conn, pid=os.getpid())
    conn.delete(worker.key)
    assert run_ops.job_verdict(conn, gone.id) == run_ops.INTERRUPTED
    failed = queue.enqueue("os.getcwd")
    failed.set_status(JobStatus.FAILED)
    assert run_ops.job_verdict(conn, failed.id).startswith(run_ops.INTERRUPTED)
    # the work horse noted its pid: it decides, even when its worker is gone
    orphan, worker = _started_job(conn, pid=_dead_pid())
    orphan.meta.update(pid=os.getpid(), hostname=socket.gethostname())
    orphan.save_meta()
    assert run_ops.job_verdict(conn, orphan.id) is None
    orphan.meta["pid"] = _dead_pid()
    orphan.save_meta()
    assert run_ops.job_verdict(conn, orphan.id) == run_ops.INTERRUPTED


def _run(db, tenant_id, user, unit, **values) -> ReportRun:
    with tenant_bound(tenant_id):
        run = ReportRun(kind="unit_tree_xlsx", unit_id=unit.id, requested_by_id=user.id,
                        job_name="worker.jobs.export_unit_tree", **values)
        db.session.add(run)
        db.session.commit()
        return run


def _fresh(db, tenant_id, run_id) -> ReportRun:
    with tenant_bound(tenant_id):
        return db.session.execute(sa.select(ReportRun).where(ReportRun.id == run_id)
                                  .execution_options(populate_existing=True)).scalar_one()


def test_a_dead_workers_run_fails_on_the_run_page_and_only_its_requester_retries(
        app, db, client, world, drain_jobs, monkeypatch):
    conn = fakeredis.FakeStrictRedis()
    job, _worker = _started_job(conn, pid=_dead_pid())
    principal = world.users["principal"]
    run = _run(db, world.a.id, principal, world.s1, status="running", job_id=job.id, attempts=1,
               started_at=utcnow())
    monkeypatch.setattr(run_ops, "_redis", lambda: conn)
    login(client, world.users["bureau_admin"])  # sees every run of the bureau, may not retry it
    page = client.get(f"/runs/{run.id}").get_data(as_text=True)
    assert run_ops.INTERRUPTED in page and "只有提交该任务的人可以重试" in page
    assert client.submit(f"/runs/{run.id}/retry", page=f"/runs/{run.id}").status_code == 403
    failed = _fresh(db, world.a.id, run.id)
    assert failed.status == "failed" and failed.error == run_ops.INTERRUPTED and failed.file_path is None
    login(client, principal)
    status = client.get(f"/runs/{run.id}/status.json").get_json()
    assert status["status"] == "failed" and status["error"] == run_ops.INTERRUPTED
    assert 'action="/runs/%d/retry"' % run.id in client.get(f"/runs/{run.id}").get_data(as_text=True)
    monkeypatch.undo()
    response = client.submit(f"/runs/{run.id}/retry", page=f"/runs/{run.id}")
    assert response.status_code == 302
    drain_jobs()
    done = _fresh(db, world.a.id, run.id)
    assert done.status == "finished" and done.attempts == 2 and done.job_id != job.id
    assert client.get(f"/runs/{run.id}/download").status_code == 200


def test_a_live_job_is_left_alone(app, db, world, monkeypatch):
    conn = fakeredis.FakeStrictRedis()
    job, _worker = _started_job(conn, pid=os.getpid())
    run = _run(db, world.a.id, world.users["bureau_admin"], world.a_root, status="running", job_id=job.id)
    monkeypatch.setattr(run_ops, "_redis", lambda: conn)
    with app.test_request_context(), tenant_bound(world.a.id):
        assert run_ops.reconcile(run) is False
        assert run_ops.reconcile_open_runs() == 0
    assert _fresh(db, world.a.id, run.id).status == "running"


def test_in_process_run_left_running_fails_after_the_timeout(app, db, client, world):
    """Without Redis a job runs inside the web process; a run still open long after the timeout
    belongs to a process that died."""
    admin = world.users["bureau_admin"]
    old = _run(db, world.a.id, admin, world.a_root, status="running",
               started_at=utcnow() - timedelta(seconds=run_ops.JOB_TIMEOUT + 120))
    recent = _run(db, world.a.id, admin, world.a_root, status="running", started_at=utcnow())
    saved = app.config.get("HAZARDHUB_REDIS_URL")
    app.config["HAZARDHUB_REDIS_URL"] = None
    try:
        login(client, admin)
        assert client.get(f"/runs/{old.id}/status.json").get_json()["status"] == "failed"
        assert client.get(f"/runs/{recent.id}/status.json").get_json()["status"] == "running"
    finally:
        app.config["HAZARDHUB_REDIS_URL"] = saved
    assert _fresh(db, world.a.id, old.id).error == run_ops.INTERRUPTED


def test_a_write_killed_midway_leaves_no_finished_file(app, db, world, monkeypatch):
    admin = world.users["bureau_admin"]
    run = _run(db, world.a.id, admin, world.a_root, status="running")
    with app.test_request_context(), tenant_bound(world.a.id):
        # run ids repeat across tests (each rolls back) while the storage folder is shared: a
        # suffix of its own keeps this test's file apart
        folder = run_ops.storage_root() / "runs" / str(world.a.id)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{run.id}-*.tmp"):
            old.unlink()
        leftover = folder / f"{run.id}-killed.tmp"
        leftover.write_bytes(b"half")

        def killed(*_args):
            raise SystemExit("worker killed")

        monkeypatch.setattr(run_ops.os, "replace", killed)
        with pytest.raises(SystemExit):
            run_ops.store_file(run, b"%PDF-1.4 complete", "x.killtest", "1:" + "0" * 64)
        monkeypatch.undo()
        assert not (folder / f"{run.id}.killtest").exists()
        assert sorted(p.name for p in folder.glob(f"{run.id}-*.tmp")) == [leftover.name]  # only the old one
        fresh = _fresh(db, world.a.id, run.id)
        assert fresh.status == "running" and fresh.file_path is None and fresh.sha256 is None
        run_ops.mark_running(fresh)  # the retry's first step clears what the dead attempt left
        assert not list(folder.glob(f"{run.id}-*.tmp"))
        run_ops.store_file(fresh, b"one", "x.killtest", "1:" + "0" * 64)
        first = fresh.file_path
        run_ops.store_file(fresh, b"two", "x.killtest", "1:" + "0" * 64)
        assert fresh.file_path == first and (run_ops.storage_root() / first).read_bytes() == b"two"


def test_redis_down_report_request_says_it_could_not_be_queued(app, db, client, world):
    from tests.test_reports import build_phase_world

    ns = build_phase_world(db, world)
    admin = world.users["bureau_admin"]
    login(client, admin)
    saved = app.config.get("HAZARDHUB_REDIS_URL")
    app.config["HAZARDHUB_REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        response = client.submit("/reports/request", {"phase_id": ns.phase.id, "scope_unit_id": world.a_root.id},
                                 page="/reports/")
        assert response.status_code == 302
        page = client.get(response.headers["Location"])
        assert page.status_code == 200 and "任务无法排队" in page.get_data(as_text=True)
        with tenant_bound(world.a.id):
            run = db.session.execute(sa.select(ReportRun).where(ReportRun.kind == "phase_report")
                                     .order_by(ReportRun.id.desc()).limit(1)).scalar_one()
        assert run.status == "failed" and "队列不可用" in run.error
        # with Redis still down the run page and the reports page answer (nothing to reconcile: failed)
        assert client.get(f"/runs/{run.id}").status_code == 200
        assert client.get(f"/runs/{run.id}/status.json").get_json()["status"] == "failed"
        assert client.get("/reports/").status_code == 200
    finally:
        app.config["HAZARDHUB_REDIS_URL"] = saved


def test_reconcile_with_redis_down_decides_nothing(app, db, client, world):
    admin = world.users["bureau_admin"]
    run = _run(db, world.a.id, admin, world.a_root, status="running", job_id="run-x", started_at=utcnow())
    saved = app.config.get("HAZARDHUB_REDIS_URL")
    app.config["HAZARDHUB_REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        login(client, admin)
        response = client.get(f"/runs/{run.id}")
        assert response.status_code == 200 and "生成中" in response.get_data(as_text=True)
    finally:
        app.config["HAZARDHUB_REDIS_URL"] = saved
    assert _fresh(db, world.a.id, run.id).status == "running"


# ---------------------------------------------------------------------------------------------
# a real worker, killed mid-report (PostgreSQL pass: the worker process shares the database)


def _bulk_schools(db, district_id: int, townships: list, count: int) -> None:
    """Insert ``count`` schools under the townships directly (fast test set-up, not versioned)."""
    from hazardhub.orgs.models import OrgUnit

    table = OrgUnit.__table__
    ids = db.session.execute(sa.text(
        "SELECT nextval(pg_get_serial_sequence('org_units', 'id')) FROM generate_series(1, :n)"), {"n": count}
    ).scalars().all()
    now = utcnow()
    rows = []
    for n, unit_id in enumerate(ids):
        parent = townships[n % len(townships)]
        rows.append({"id": unit_id, "tenant_id": district_id, "parent_id": parent.id, "code": f"BULK{n:04d}",
                     "name": f"{parent.name[:-4]}第{n + 1}小学", "kind": "school", "path": f"{parent.path}{unit_id}/",
                     "depth": parent.depth + 1, "school_type": "小学", "is_boarding": False, "is_demo": False,
                     "is_active": True, "version_id": 1, "staff_count": 30 + n % 20, "created_at": now})
    db.session.execute(table.insert(), rows)
    db.session.commit()


def _start_worker(app, tmp_path: Path, name: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.update({
        "HAZARDHUB_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "HAZARDHUB_REDIS_URL": app.config["HAZARDHUB_REDIS_URL"],
        "HAZARDHUB_STORAGE_PATH": app.config["HAZARDHUB_STORAGE_PATH"],
        "HAZARDHUB_INSTANCE_PATH": str(tmp_path / "instance"),
        "HAZARDHUB_SECRET_KEY": "worker-test",
        "HAZARDHUB_ENV": "test",
    })
    log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "worker"], cwd=str(ROOT), env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _diagnose(app, run) -> str:
    from redis import Redis
    from rq.job import Job

    with Redis.from_url(app.config["HAZARDHUB_REDIS_URL"]) as conn:
        job = Job.fetch(run.job_id, connection=conn)
        return f"status={job.get_status()} meta={job.meta} worker={job.worker_name} beat={job.last_heartbeat}"


def _stop(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
    proc.log.close()  # type: ignore[attr-defined]


def _poll(db, tenant_id, run_id, until, timeout: float, seen: list | None = None) -> ReportRun:
    deadline = time.monotonic() + timeout
    while True:
        db.session.remove()
        run = _fresh(db, tenant_id, run_id)
        if seen is not None and (not seen or seen[-1] != (run.status, run.progress)):
            seen.append((run.status, run.progress))
        if until(run) or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


@pytest.mark.postgres_only
def test_killed_worker_leaves_no_file_and_the_report_can_be_retried(app, committed_db, tmp_path):
    """~300 schools in one district: the report renders in a real worker with progress; a worker
    killed (SIGKILL, worker and horse) mid-run leaves no finished file, the run becomes failed and
    retryable, and the retry finishes."""
    # postgres_only: the SQLite pass deselects it; here a missing Redis is a setup error, not a skip
    assert str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"), "runs in the PostgreSQL pass"
    assert app.config["HAZARDHUB_REDIS_URL"], "the PostgreSQL pass runs with real Redis (HAZARDHUB_TEST_REDIS_URL)"
    from hazardhub.accounts.auth import load_user_for_job
    from hazardhub.campaigns import operations as campaign_ops
    from hazardhub.hazards import operations as hazard_ops
    from hazardhub.orgs.models import OrgUnit
    from hazardhub.orgs.operations import root_unit
    from hazardhub.reports import operations as report_ops
    from hazardhub.standards.operations import load_shipped
    from tests.fixtures.factories import make_tenant, make_unit, make_user

    db, created = committed_db
    city = make_tenant(db, "kill-city", kind="city")
    district = make_tenant(db, "kill-district", parent=city, name="压力测试区教育局")
    created.extend([district.id, city.id])
    district_id = district.id
    with tenant_bound(city.id):
        load_shipped(city.id, log=lambda m: None)
        db.session.commit()
    with tenant_bound(district_id):
        root = root_unit(district_id)
        townships = [make_unit(db, root, kind="township_center", name=f"第{n}镇中心学校") for n in range(1, 16)]
        admin = make_user(db, root, "bureau_admin")
        admin_id = admin.id
        _bulk_schools(db, district_id, townships, 300)
        schools = db.session.execute(sa.select(OrgUnit).where(OrgUnit.kind == "school").order_by(OrgUnit.id)
                                     .limit(40)).scalars().all()
        today = clock.today()
        for n, school in enumerate(schools):
            hazard_ops.register(school=school, actor=admin, item_ids=[], data={
                "found_on": today - timedelta(days=n % 20), "found_by_name": "压力测试", "source": "self",
                "category": "其他", "location": f"位置{n}", "description": "批量登记的测试隐患",
                "deadline": today + timedelta(days=5 - n % 10)})
        campaign = campaign_ops._build(district_id, title="压力测试专项行动", year=today.year, source="custom",
                                       actor=admin, phases=[{"name": "集中整治", "starts_on": today - timedelta(days=30),
                                                             "ends_on": today, "specs": []}])
        db.session.commit()
        phase = campaign_ops.phases_of(campaign)[0]
        user = load_user_for_job(admin_id)
        with app.test_request_context():
            run = report_ops.request_phase_report(user=user, phase=phase, scope_unit=root, as_of=None)
        run_id = run.id
    final = Path(app.config["HAZARDHUB_STORAGE_PATH"]) / "runs" / str(district_id) / f"{run_id}.pdf"

    first = _start_worker(app, tmp_path, "worker1")
    try:
        running = _poll(db, district_id, run_id, lambda r: r.status != "queued" and r.progress >= 5, 120)
        assert running.status == "running", (running.status, running.error,
                                             (tmp_path / "worker1.log").read_text(errors="replace")[-2000:])
        from redis import Redis
        from rq.job import Job

        with Redis.from_url(app.config["HAZARDHUB_REDIS_URL"]) as conn:
            horse = Job.fetch(running.job_id, connection=conn).meta["pid"]
        os.kill(horse, signal.SIGKILL)  # the work horse runs in its own process group
    finally:
        _stop(first)  # SIGKILL to the worker's process group
    killed = _fresh(db, district_id, run_id)
    assert killed.status == "running" and killed.file_path is None
    assert not final.exists(), "a killed worker left a finished-looking file"
    with app.test_request_context(), tenant_bound(district_id):
        run = db.session.execute(sa.select(ReportRun).where(ReportRun.id == run_id)).scalar_one()
        assert run_ops.reconcile(run) is True, _diagnose(app, run)
    failed = _fresh(db, district_id, run_id)
    assert failed.status == "failed" and failed.error == run_ops.INTERRUPTED and failed.attempts == 1

    with app.test_request_context(), tenant_bound(district_id):
        run = db.session.execute(sa.select(ReportRun).where(ReportRun.id == run_id)).scalar_one()
        run_ops.retry(run)
    second = _start_worker(app, tmp_path, "worker2")
    seen: list = []
    try:
        done = _poll(db, district_id, run_id, lambda r: r.status in ("finished", "failed"), 300, seen)
    finally:
        _stop(second, signal.SIGTERM)
    assert done.status == "finished", (done.error, (tmp_path / "worker2.log").read_text(errors="replace")[-3000:])
    assert done.attempts == 2 and final.exists() and done.file_path.endswith(f"{run_id}.pdf")
    progress = [p for status, p in seen if status == "running"]
    assert len(set(progress)) >= 4 and progress == sorted(progress), seen  # the bar moves forward
    import hashlib

    data = final.read_bytes()
    assert hashlib.sha256(data).hexdigest() == done.sha256
    text = subprocess.run(["pdftotext", str(final), "-"], capture_output=True, check=True, text=True).stdout
    flat = "".join(text.split())
    assert "压力测试区教育局" in flat and "集中整治阶段报告" in flat and done.chain_head in flat
    assert "第15镇第300小学" in flat and "第1镇第1小学" in flat  # the per-school table lists all 300
