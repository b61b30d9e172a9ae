"""Versioning and tamper evidence: every change versioned with its actor, the chain holds, and
any edit behind the application's back is found and the transaction named."""
from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy_continuum import version_class, versioning_manager

from hazardhub.audit import AuditChainHead, AuditChainLink, history, verify_chain
from hazardhub.orgs import operations as org_ops
from hazardhub.orgs.models import OrgUnit
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, make_tenant, make_unit


def _verify(db, tenant):
    return verify_chain(db.session.connection(), tenant.id)


def _last_tx_of(db, unit):
    vcls = version_class(OrgUnit)
    with tenant_bound(unit.tenant_id):
        return db.session.execute(
            sa.select(sa.func.max(vcls.transaction_id)).where(vcls.id == unit.id)
        ).scalar_one()


def test_chain_holds_after_normal_work(db, world):
    for tenant in (world.city, world.a, world.b):
        report = _verify(db, tenant)
        assert report.ok, report.problems
        assert report.links > 0


def test_edit_through_the_web_records_actor_address_and_reason(db, client, world):
    admin = world.users["bureau_admin"]
    login(client, admin)
    page = f"/units/{world.s1.id}/edit"
    response = client.submit(page, {"name": "一镇第一小学（新）", "school_type": "小学", "ownership": "public",
                                     "enrolment": "520", "version_id": str(world.s1.version_id),
                                     "reason": "学期初核实"}, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert response.status_code == 302
    with tenant_bound(world.a.id):
        unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == world.s1.id)).scalar_one()
        entry = history(unit)[0]
    assert entry.actor == admin.display_name
    assert entry.remote_addr == "10.9.8.7"
    assert entry.reason == "学期初核实"
    assert entry.source == "web"
    changes = {label: (old, new) for label, old, new in entry.changes}
    assert changes["name"] == ("一镇第一小学", "一镇第一小学（新）")
    assert changes["enrolment"] == (500, 520)
    assert _verify(db, world.a).ok


def test_rolled_back_change_leaves_no_version(db, world):
    vcls = version_class(OrgUnit)
    with tenant_bound(world.a.id):
        before = db.session.execute(sa.select(sa.func.count()).select_from(vcls)).scalar()
        unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == world.s1.id)).scalar_one()
        unit.name = "不会保存"
        db.session.flush()
        db.session.rollback()
        after = db.session.execute(sa.select(sa.func.count()).select_from(vcls)).scalar()
    assert before == after


def test_unit_renamed_by_sql_is_caught_and_named(db, world):
    tx = _last_tx_of(db, world.s3)
    db.session.execute(sa.text("UPDATE org_units SET name = '暗改' WHERE id = :id"), {"id": world.s3.id})
    report = _verify(db, world.a)
    assert not report.ok
    assert report.first_bad_transaction == tx
    assert any("name" in p and str(tx) in p for p in report.problems)
    assert _verify(db, world.b).ok, "another tenant's chain is unaffected"


def test_version_row_rewritten_by_sql_is_caught(db, world):
    tx = _last_tx_of(db, world.s2)
    db.session.execute(
        sa.text("UPDATE org_units_version SET enrolment = 999 WHERE id = :id AND transaction_id = :tx"),
        {"id": world.s2.id, "tx": tx},
    )
    report = _verify(db, world.a)
    assert not report.ok
    assert report.first_bad_transaction == tx


def test_transaction_row_and_meta_rewrites_are_caught(db, world):
    tx = _last_tx_of(db, world.s1)
    db.session.execute(sa.text('UPDATE "transaction" SET remote_addr = :a WHERE id = :tx'),
                       {"a": "6.6.6.6", "tx": tx})
    assert _verify(db, world.a).first_bad_transaction == tx
    db.session.rollback()


def test_meta_rewrite_is_caught(db, world):
    tx = _last_tx_of(db, world.s1)
    db.session.execute(sa.text("UPDATE transaction_meta SET value = 'x' WHERE transaction_id = :tx"), {"tx": tx})
    assert _verify(db, world.a).first_bad_transaction == tx


def test_deleted_link_and_recomputed_chain_are_caught(db, world):
    links = db.session.execute(
        sa.select(AuditChainLink).where(AuditChainLink.tenant_id == world.a.id).order_by(AuditChainLink.seq)
    ).scalars().all()
    middle = links[len(links) // 2]
    db.session.execute(sa.text("DELETE FROM audit_chain_links WHERE transaction_id = :tx"),
                       {"tx": middle.transaction_id})
    report = _verify(db, world.a)
    assert not report.ok


def test_audit_verify_command_exit_codes(app, db, world):
    tx = _last_tx_of(db, world.t2)
    t2_id, slug = world.t2.id, world.a.slug
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify", "--tenant", slug])
    assert ok.exit_code == 0, ok.output
    assert "完好" in ok.output
    db.session.execute(sa.text("UPDATE org_units SET name = '暗改' WHERE id = :id"), {"id": t2_id})
    bad = runner.invoke(args=["audit", "verify", "--tenant", slug])
    assert bad.exit_code == 1
    assert f"第一个问题事务：{tx}" in bad.output
    missing = runner.invoke(args=["audit", "verify", "--tenant", "no-such-tenant"])
    assert missing.exit_code == 2


def test_password_hash_never_reaches_a_version_table(db, world):
    users_version = versioning_manager.version_class_map
    from hazardhub.accounts.models import User

    vtable = version_class(User).__table__
    assert "password_hash" not in vtable.c and "session_salt" not in vtable.c
    hashes = [u.password_hash for u in world.users.values()]
    with tenant_bound(world.a.id):
        rows = db.session.execute(sa.select(vtable)).all()
    text = repr(rows)
    assert rows and not any(h in text for h in hashes)
    assert users_version  # versioning is configured


def test_concurrent_commits_keep_the_chain_linear(app, committed_db):
    """Writers on several connections at once: the head row lock serialises the appends."""
    db, created = committed_db
    tenant = make_tenant(db, "concurrent-chain")
    tenant_id = tenant.id
    created.append(tenant_id)
    with tenant_bound(tenant.id):
        root = org_ops.root_unit(tenant.id)
        root_id = root.id
        units = []
        for i in range(6):
            unit = make_unit(db, root, kind="township_center", name=f"并发镇{i}", code=f"CC{i}")
            units.append(unit.id)
    db.session.remove()
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(units))

    def worker(unit_id: int, n: int) -> None:
        try:
            with app.app_context():
                with tenant_bound(tenant_id):
                    barrier.wait(timeout=30)
                    for round_ in range(3):
                        unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == unit_id)).scalar_one()
                        org_ops.update_unit(unit, {"address": f"地址{n}-{round_}"}, version_id=unit.version_id)
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(uid, n)) for n, uid in enumerate(units)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    with tenant_bound(tenant_id):
        links = db.session.execute(
            sa.select(AuditChainLink.seq, AuditChainLink.prev_hash, AuditChainLink.link_hash)
            .where(AuditChainLink.tenant_id == tenant_id).order_by(AuditChainLink.seq)
        ).all()
        head = db.session.execute(sa.select(AuditChainHead).where(AuditChainHead.tenant_id == tenant_id)).scalar_one()
        report = verify_chain(db.session.connection(), tenant_id)
    assert [l.seq for l in links] == list(range(1, len(links) + 1))
    assert len(links) == 1 + len(units) + len(units) * 3  # root, units, 3 edits each
    for previous, link in zip(links, links[1:]):
        assert link.prev_hash == previous.link_hash
    assert head.seq == len(links) and head.head_hash == links[-1].link_hash
    assert report.ok, report.problems
    assert root_id
