"""Background runs: enqueued by dotted name with ids only, run in their own app context with the
requester's tenant and identity, tracked on a run row, atomic files, retry, and Redis outages."""
from __future__ import annotations

import hashlib
import io

import sqlalchemy as sa
from flask import g
from openpyxl import load_workbook
from sqlalchemy_continuum import versioning_manager

from hazardhub.orgs.models import OrgUnit
from hazardhub.runs import operations as run_ops
from hazardhub.runs.models import ReportRun
from hazardhub.tenancy import current_scope, tenant_bound
from tests.fixtures.factories import login


def _run(db, tenant_id, run_id) -> ReportRun:
    with tenant_bound(tenant_id):
        return db.session.execute(
            sa.select(ReportRun).where(ReportRun.id == run_id).execution_options(populate_existing=True)
        ).scalar_one()


def _latest_run_id(db, tenant_id):
    with tenant_bound(tenant_id):
        return db.session.execute(sa.select(sa.func.max(ReportRun.id))).scalar_one()


def test_unit_tree_export_end_to_end(app, db, client, world, drain_jobs):
    admin = world.users["bureau_admin"]
    login(client, admin)
    response = client.submit(f"/runs/unit-tree/{world.a_root.id}", page=f"/units/{world.a_root.id}")
    assert response.status_code == 302 and "/runs/" in response.headers["Location"]
    drain_jobs()
    run = _run(db, world.a.id, _latest_run_id(db, world.a.id))
    assert run.status == "finished", run.error
    assert run.progress == 100 and run.attempts == 1
    assert run.requested_by_id == admin.id and run.job_id
    seq, head = run.chain_head.split(":")
    assert int(seq) > 0 and len(head) == 64
    download = client.get(f"/runs/{run.id}/download")
    assert download.status_code == 200
    data = download.data
    assert hashlib.sha256(data).hexdigest() == run.sha256
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("单位代码", "上级单位代码", "单位名称", "类别")
    names = {r[2] for r in rows[1:]}
    assert {"一镇第一小学", "二镇初级中学", "区实验中学"} <= names
    assert "乙镇小学" not in names, "another tenant's unit in an export"
    page = client.get(f"/runs/{run.id}").get_data(as_text=True)
    assert "已完成" in page and run.sha256 in page
    status = client.get(f"/runs/{run.id}/status.json").get_json()
    assert status["status"] == "finished" and status["progress"] == 100


def touch_unit(unit_id: int) -> dict:
    """A test job: records what the worker context gave it and makes one versioned change."""
    unit = run_ops.db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == unit_id)).scalar_one()
    seen = sorted(run_ops.db.session.execute(sa.select(OrgUnit.tenant_id).distinct()).scalars())
    unit.contact_name = "后台任务"
    run_ops.db.session.commit()
    return {"scope": list(current_scope().read_tenant_ids), "seen": seen, "actor": g.get("actor_id")}


def test_job_runs_with_requester_scope_and_actor(app, db, world, drain_jobs):
    principal = world.users["principal"]
    with app.test_request_context():
        queue = run_ops.job_queue()
        job = queue.enqueue("tests.test_jobs.touch_unit", world.s1.id,
                            meta={"tenant_id": world.a.id, "actor_id": principal.id})
    drain_jobs()
    with tenant_bound(world.a.id):
        unit = db.session.execute(
            sa.select(OrgUnit).where(OrgUnit.id == world.s1.id).execution_options(populate_existing=True)
        ).scalar_one()
    assert unit.contact_name == "后台任务"
    tx_cls = versioning_manager.transaction_cls
    tx = db.session.execute(sa.select(tx_cls).order_by(tx_cls.id.desc()).limit(1)).scalar_one()
    assert tx.user_id == principal.id
    assert dict(tx.meta)["source"] == "job"
    if app.config.get("HAZARDHUB_REDIS_URL"):
        job.refresh()
    result = job.return_value()
    assert result["scope"] == [world.a.id] and result["seen"] == [world.a.id]


def test_failed_run_shows_error_and_can_be_retried(app, db, client, world, drain_jobs):
    admin = world.users["bureau_admin"]
    with tenant_bound(world.a.id):
        run = ReportRun(kind="unit_tree_xlsx", unit_id=None, requested_by_id=admin.id,
                        job_name="worker.jobs.export_unit_tree", status="queued")
        db.session.add(run)
        db.session.commit()
        run_id = run.id
    with app.test_request_context():
        with tenant_bound(world.a.id):
            run_ops.enqueue(db.session.get(ReportRun, run_id))
    drain_jobs()
    failed = _run(db, world.a.id, run_id)
    assert failed.status == "failed" and failed.error
    login(client, admin)
    assert "生成失败" in client.get(f"/runs/{run_id}").get_data(as_text=True)
    with tenant_bound(world.a.id):
        failed.unit_id = world.t1.id
        db.session.commit()
    response = client.submit(f"/runs/{run_id}/retry", page=f"/runs/{run_id}")
    assert response.status_code == 302
    drain_jobs()
    retried = _run(db, world.a.id, run_id)
    assert retried.status == "finished" and retried.attempts == 2
    assert client.get(f"/runs/{run_id}/download").status_code == 200


def test_redis_down_keeps_pages_working(app, db, client, world):
    admin = world.users["bureau_admin"]
    login(client, admin)
    saved = app.config.get("HAZARDHUB_REDIS_URL")
    app.config["HAZARDHUB_REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        response = client.submit(f"/runs/unit-tree/{world.a_root.id}", page=f"/units/{world.a_root.id}",
                                 follow_redirects=True)
    finally:
        app.config["HAZARDHUB_REDIS_URL"] = saved
    assert response.status_code == 200
    assert "任务无法排队" in response.get_data(as_text=True)
    run = _run(db, world.a.id, _latest_run_id(db, world.a.id))
    assert run.status == "failed" and "队列不可用" in run.error
    assert client.get(f"/units/{world.a_root.id}").status_code == 200


def test_a_run_is_visible_only_to_its_requester_and_the_bureau_admin(app, db, client, world, drain_jobs):
    principal = world.users["principal"]
    login(client, principal)
    client.submit(f"/runs/unit-tree/{world.s1.id}", page=f"/units/{world.s1.id}")
    drain_jobs()
    run_id = _latest_run_id(db, world.a.id)
    assert client.get(f"/runs/{run_id}").status_code == 200
    login(client, world.users["staff"])
    assert client.get(f"/runs/{run_id}").status_code in (403, 404)
    assert client.get(f"/runs/{run_id}/download").status_code in (403, 404)
    login(client, world.users["bureau_admin"])
    assert client.get(f"/runs/{run_id}/download").status_code == 200


def test_store_file_is_atomic(app, db, world, tmp_path):
    admin = world.users["bureau_admin"]
    with app.test_request_context():
        with tenant_bound(world.a.id):
            run = ReportRun(kind="unit_tree_xlsx", unit_id=world.a_root.id, requested_by_id=admin.id,
                            job_name="worker.jobs.export_unit_tree", status="running")
            db.session.add(run)
            db.session.commit()
            run_ops.store_file(run, b"PK-data", "x.xlsx", "1:" + "0" * 64)
            folder = run_ops.storage_root() / "runs" / str(world.a.id)
            assert not list(folder.glob("*.tmp"))
            assert (run_ops.storage_root() / run.file_path).read_bytes() == b"PK-data"
            assert run.sha256 == hashlib.sha256(b"PK-data").hexdigest() and run.status == "finished"
