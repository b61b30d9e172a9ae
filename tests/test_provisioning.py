"""tenants/ provisioning and the demo: idempotent, never deleting, one transaction per tenant."""
from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy_continuum import version_class

from hazardhub import ROOT
from hazardhub.accounts.models import Membership, User
from hazardhub.audit import AuditChainHead, AuditChainLink, verify_chain
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.platform.provisioning import apply_all, read_specs
from hazardhub.tenancy import tenant_bound

JIANAN_TOWNSHIPS = ["许由街道", "新元街道", "邓庄街道", "长村张街道", "将官池镇", "五女店镇", "尚集镇", "苏桥镇",
                    "蒋李集镇", "张潘镇", "灵井镇", "陈曹乡", "小召乡", "河街乡", "桂村乡", "椹涧乡", "榆林乡",
                    "艾庄回族乡"]


def _counts(db):
    tables = ["org_units_version", "users_version", "memberships_version", "audit_chain_links", "transaction"]
    return {t: db.session.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar() for t in tables}


def _tenant(db, slug):
    return db.session.execute(sa.select(Tenant).where(Tenant.slug == slug)).scalar_one()


def test_shipped_tenants_are_the_city_and_its_six_districts():
    specs = {s.slug: s for s in read_specs(ROOT / "tenants")}
    assert specs["xuchang"].kind == "city" and specs["xuchang"].name == "许昌市教育局"
    districts = {s.name for s in specs.values() if s.kind == "district"}
    assert districts == {"魏都区教育体育局", "建安区教育体育局", "禹州市教育体育局", "长葛市教育体育局",
                         "鄢陵县教育体育局", "襄城县教育体育局"}
    assert all(s.parent == "xuchang" for s in specs.values() if s.kind == "district")


def test_apply_twice_changes_nothing_the_second_time(app, db):
    messages: list[str] = []
    created = apply_all(ROOT / "tenants", log=messages.append)
    assert {slug for slug, *_ in created} == {"xuchang", "weidu", "jianan", "yuzhou", "changge", "yanling",
                                              "xiangcheng"}
    assert all(len(password) >= 8 for *_, password, _role in created)
    jianan = _tenant(db, "jianan")
    with tenant_bound(jianan.id):
        townships = db.session.execute(
            sa.select(OrgUnit.name).where(OrgUnit.kind == "township_center")).scalars().all()
        admin = db.session.execute(sa.select(User).where(User.username == "jianan_admin")).scalar_one()
        assert admin.must_change_password
        role = db.session.execute(sa.select(Membership.role).where(Membership.user_id == admin.id)).scalar_one()
        assert role == "bureau_admin"
    assert sorted(townships) == sorted(f"{t}中心学校" for t in JIANAN_TOWNSHIPS)
    assert _tenant(db, "jianan").parent_id == _tenant(db, "xuchang").id
    before = _counts(db)
    heads = dict(db.session.execute(sa.select(AuditChainHead.tenant_id, AuditChainHead.head_hash)).all())
    second: list[str] = []
    again = apply_all(ROOT / "tenants", log=second.append)
    assert again == []
    assert not any("新建" in m or "更新" in m for m in second), second
    assert _counts(db) == before, "a second apply must not add version rows"
    assert dict(db.session.execute(sa.select(AuditChainHead.tenant_id, AuditChainHead.head_hash)).all()) == heads
    for tenant in db.session.execute(sa.select(Tenant)).scalars():
        assert verify_chain(db.session.connection(), tenant.id).ok


def test_apply_updates_and_never_deletes(app, db, tmp_path):
    import shutil

    folder = tmp_path / "tenants"
    shutil.copytree(ROOT / "tenants", folder)
    apply_all(folder, log=lambda m: None)
    csv_path = folder / "jianan" / "units.csv"
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0]] + [l.replace("许由街道中心学校", "许由街道中心校") for l in lines[1:] if not l.startswith("JA-T18")]
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    messages: list[str] = []
    apply_all(folder, log=messages.append)
    jianan = _tenant(db, "jianan")
    with tenant_bound(jianan.id):
        names = set(db.session.execute(sa.select(OrgUnit.name)).scalars())
        renamed = db.session.execute(sa.select(OrgUnit).where(OrgUnit.code == "JA-T01")).scalar_one()
        versions = db.session.execute(
            sa.select(version_class(OrgUnit)).where(version_class(OrgUnit).id == renamed.id)).scalars().all()
    assert "许由街道中心校" in names and "艾庄回族乡中心学校" in names  # missing row is not deleted
    assert len(versions) == 2
    assert any("JA-T01" in m for m in messages)


def test_one_transaction_per_tenant(app, db):
    apply_all(ROOT / "tenants", log=lambda m: None)
    per_tx = db.session.execute(
        sa.select(AuditChainLink.transaction_id, sa.func.count(sa.distinct(AuditChainLink.tenant_id)))
        .group_by(AuditChainLink.transaction_id)
    ).all()
    assert all(n == 1 for _, n in per_tx)


def test_demo_is_idempotent_writes_logins_json_and_its_logins_work(app, db, client, tmp_path):
    """One full seed (minutes: every capability's demo data), a second run that adds nothing, and
    every printed login reaching its home page."""
    from hazardhub.devtools.demo import seed_demo

    logins = seed_demo(log=lambda m: None)
    roles = {row["role"] for row in logins}
    assert roles == {"city_admin", "city_viewer", "bureau_admin", "bureau_leader", "bureau_viewer",
                     "township_supervisor", "principal", "safety_officer", "staff"}
    admin = next(r for r in logins if r["role"] == "bureau_admin" and r["username"] == "demo_ja_admin")
    assert admin["tenant"] == "建安区教育体育局"
    assert set(admin) >= {"username", "password", "role", "unit", "tenant"}
    before = _counts(db)
    assert seed_demo(log=lambda m: None) == logins
    assert _counts(db) == before
    jianan = _tenant(db, "jianan")
    with tenant_bound(jianan.id):
        demo_schools = db.session.execute(
            sa.select(OrgUnit).where(OrgUnit.is_demo.is_(True), OrgUnit.kind == "school")).scalars().all()
    assert len(demo_schools) >= 10 and all("演示" in s.name for s in demo_schools)
    assert len({s.parent_id for s in demo_schools}) >= 3, "schools under several townships"
    out = tmp_path / "logins.json"
    out.write_text(json.dumps(logins, ensure_ascii=False), encoding="utf-8")
    assert json.loads(out.read_text(encoding="utf-8"))[0]["username"]
    for row in logins:
        response = client.submit("/login", {"username": row["username"], "password": row["password"]})
        assert response.status_code == 302, row["username"]
        home = client.get("/")
        assert home.status_code == 200 and row["unit"] in home.get_data(as_text=True)
        client.post("/logout", data={"csrf_token": client.csrf_token("/")})
