"""Faults: the database dropping every connection, two editors of one hazard at the same moment,
Redis gone, and a backup restored elsewhere whose audit chains still verify.

The PostgreSQL-only ones run in CI's PostgreSQL pass (``postgres_only``; the SQLite pass
deselects them, see tests/conftest.py).
"""
from __future__ import annotations

import subprocess
from pathlib import Path
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy_continuum import version_class

from hazardhub import clock
from hazardhub.hazards.models import Hazard
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import PASSWORD, login, make_tenant, make_unit, make_user
from tests.fixtures.servers import Client, server_env, start_web


def _district_with_school(db, created, slug):
    """A committed city + district + township + school + principal (purged after the test)."""
    from hazardhub.orgs.operations import root_unit
    from hazardhub.standards.operations import load_shipped

    city = make_tenant(db, f"{slug}-city", kind="city")
    district = make_tenant(db, f"{slug}-d", parent=city)
    created.extend([district.id, city.id])
    with tenant_bound(city.id):
        load_shipped(city.id, log=lambda m: None)
        db.session.commit()
    district_id = district.id
    with tenant_bound(district_id):
        root = root_unit(district_id)
        township = make_unit(db, root, kind="township_center", name=f"{slug}镇中心学校")
        school = make_unit(db, township, name=f"{slug}小学")
        principal = make_user(db, school, "principal")
        supervisor = make_user(db, township, "township_supervisor")
        for obj in (school, principal, supervisor):
            db.session.refresh(obj)
        db.session.expunge_all()
    return district_id, school, principal, supervisor


def _register(school, actor, n=0):
    from hazardhub.hazards import operations as hazard_ops

    return hazard_ops.register(school=school, actor=actor, item_ids=[], data={
        "found_on": clock.today(), "found_by_name": "测试", "source": "self", "category": "其他",
        "location": f"教学楼{n}层", "description": "楼梯扶手松动", "deadline": clock.today() + timedelta(days=5)})


def test_two_editors_of_one_hazard_lose_no_update(app, committed_db):
    """Two editors submit the form of version v at the same moment: one wins, the other is told
    the record changed (nothing of the winner's is overwritten), and exactly one version is added.
    On PostgreSQL both may read v concurrently; ``UPDATE … WHERE version_id = v`` decides."""
    from hazardhub.accounts.models import User
    from hazardhub.hazards import operations as hazard_ops

    db, created = committed_db
    district_id, school, principal, supervisor = _district_with_school(db, created, "并发编辑")
    with tenant_bound(district_id):
        hazard = _register(school, principal)
        hazard_id, version = hazard.id, hazard.version_id
        versions_before = db.session.execute(sa.select(sa.func.count()).select_from(version_class(Hazard))
                                             .where(version_class(Hazard).id == hazard_id)).scalar_one()
    db.session.remove()
    barrier = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def edit(n: int, actor_id: int) -> None:
        try:
            with app.app_context(), tenant_bound(district_id):
                # both hold the form of version v; released together before any query (a SQLite
                # writer takes the database lock at its first statement)
                barrier.wait(timeout=30)
                h = db.session.execute(sa.select(Hazard).where(Hazard.id == hazard_id)).scalar_one()
                actor = db.session.execute(sa.select(User).where(User.id == actor_id)).scalar_one()
                data = {c: getattr(h, c) for c in ("found_on", "found_by_name", "source", "category", "location",
                                                   "responsible_person", "measures", "deadline")}
                data["description"] = f"编辑者{n}的描述"
                try:
                    hazard_ops.update(h, actor=actor, data=data, item_ids=[], level="general", version_id=version)
                    outcomes[n] = "saved"
                except hazard_ops.HazardError as exc:
                    outcomes[n] = str(exc)
                finally:
                    db.session.remove()
        except BaseException as exc:  # noqa: BLE001
            import traceback

            Path("/tmp/tb.txt").write_text(traceback.format_exc())
            outcomes[n] = f"crash: {exc!r}"

    threads = [threading.Thread(target=edit, args=(n, uid)) for n, uid in ((1, principal.id), (2, principal.id))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes.values()).count("saved") == 1, outcomes
    loser = next(v for v in outcomes.values() if v != "saved")
    assert "已被他人修改" in loser, outcomes
    winner = next(n for n, v in outcomes.items() if v == "saved")
    with tenant_bound(district_id):
        h = db.session.execute(sa.select(Hazard).where(Hazard.id == hazard_id)
                               .execution_options(populate_existing=True)).scalar_one()
        versions_after = db.session.execute(sa.select(sa.func.count()).select_from(version_class(Hazard))
                                            .where(version_class(Hazard).id == hazard_id)).scalar_one()
    assert h.description == f"编辑者{winner}的描述" and h.version_id == version + 1
    assert versions_after == versions_before + 1


def test_with_redis_down_pages_work_and_jobs_say_they_could_not_be_queued(app, db, client, world, monkeypatch):
    monkeypatch.setitem(app.config, "HAZARDHUB_REDIS_URL", "redis://127.0.0.1:1/0")
    login(client, world.users["bureau_admin"])
    for path in ("/", "/hazards/", "/compliance/", "/runs/"):
        assert client.get(path).status_code == 200, path
    response = client.submit(f"/runs/unit-tree/{world.a_root.id}", {}, page="/runs/")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "任务无法排队（后台队列不可用）" in page


def _pg_url(app) -> sa.URL:
    return sa.make_url(str(app.config["SQLALCHEMY_DATABASE_URI"]))


@pytest.mark.postgres_only
def test_the_app_recovers_when_postgresql_drops_every_connection(app, committed_db, tmp_path):
    """A PostgreSQL restart kills every server connection. Without ``pool_pre_ping`` the next
    request on each pooled connection would fail with a 500; here every page answers."""
    db, created = committed_db
    district_id, school, principal, _sup = _district_with_school(db, created, "断线")
    with tenant_bound(district_id):
        _register(school, principal)
    url = _pg_url(app).update_query_dict({"application_name": "hh_fault_web"})
    env = server_env(database_url=url.render_as_string(hide_password=False), redis_url=None,
                     storage=tmp_path / "files", secret="fault-secret", instance=tmp_path)
    web, base = start_web(env, tmp_path, "web")
    try:
        client = Client(base)
        client.login(principal.username, PASSWORD)
        for _ in range(4):
            assert client.get("/hazards/")[0] == 200
        with db.engine.connect() as conn:
            killed = conn.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'hh_fault_web'")).scalar_one()
        assert killed >= 1, "the web host had pooled connections to kill"
        statuses = [client.get(path)[0] for path in ("/hazards/", "/", "/hazards/", "/inspections/") * 2]
        assert statuses == [200] * len(statuses), (statuses, web.text()[-3000:])
    finally:
        web.stop()


@pytest.mark.postgres_only
def test_backup_and_restore_round_trip_and_the_chains_still_verify(app, db, world, tmp_path):
    """``pg_dump -Fc`` then ``pg_restore`` into a new database: same rows, every audit chain
    verifies on the copy (the README's backup section documents these commands)."""
    from hazardhub.audit import verify_chain
    from hazardhub.orgs.models import Tenant

    source = _pg_url(app)
    dump = tmp_path / "hazardhub.dump"
    args = ["-h", source.host or "127.0.0.1", "-p", str(source.port or 5432), "-U", source.username or "postgres"]
    subprocess.run(["pg_dump", *args, "-Fc", "-f", str(dump), source.database], check=True, timeout=300)
    target = f"{source.database}_restore"
    admin = sa.create_engine(source, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{target}"')
    admin.dispose()
    restored = sa.create_engine(source.set(database=target))
    try:
        subprocess.run(["pg_restore", *args, "--no-owner", "-d", target, str(dump)], check=True, timeout=300)
        with restored.connect() as conn:
            tenant_ids = list(conn.execute(sa.text("SELECT id FROM tenants ORDER BY id")).scalars())
            assert set(world.__dict__[k].id for k in ("city", "a", "b")) <= set(tenant_ids)
            for tenant_id in tenant_ids:
                report = verify_chain(conn, tenant_id)
                assert report.ok, (tenant_id, report)
            copied = conn.execute(sa.text("SELECT count(*) FROM org_units")).scalar_one()
        with db.engine.connect() as conn:
            original = conn.execute(sa.text("SELECT count(*) FROM org_units")).scalar_one()
        assert copied == original
    finally:
        restored.dispose()
        admin = sa.create_engine(source, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        admin.dispose()


def test_a_lost_race_anywhere_is_a_409_page_not_a_500(app, db, client, world, monkeypatch):
    """Any operation whose versioned UPDATE matches no row (someone saved first) answers 409 in
    Chinese and leaves nothing half-written."""
    from sqlalchemy.orm.exc import StaleDataError

    from hazardhub.hazards import views as hazard_views

    def lose(*args, **kwargs):
        raise StaleDataError("UPDATE statement on table 'hazards' expected to update 1 row(s); 0 were matched.")

    monkeypatch.setattr(hazard_views.ops, "start_rectification", lose)
    from tests.fixtures.factories import make_hazard

    hazard = make_hazard(db, world.s1, world.users["principal"])
    login(client, world.users["principal"])
    response = client.submit(f"/hazards/{hazard.id}/start", {"version_id": hazard.version_id},
                             page=f"/hazards/{hazard.id}")
    assert response.status_code == 409
    assert "记录已被他人修改" in response.get_data(as_text=True)
