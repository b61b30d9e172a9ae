"""The first-run demo: tenants/ plus demo schools and one account per role (idempotent).

Every demo school carries "（演示）" in its name and ``is_demo``; demo accounts too. Running it
twice changes nothing: existing units are matched by code and existing accounts by username.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import g

from hazardhub import ROOT
from hazardhub.accounts import operations as account_ops
from hazardhub.accounts.models import ROLES, Membership, User
from hazardhub.extensions import db
from hazardhub.orgs import operations as org_ops
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.orgs.unit_rows import UnitRow
from hazardhub.platform.provisioning import apply_all
from hazardhub.tenancy import tenant_bound

DEMO_PASSWORD = "Demo2025"

#: (code, parent code, name, kind, school type, boarding, enrolment, staff)
JIANAN_SCHOOLS = [
    ("JA-D01", "JA-T05", "将官池镇第一小学（演示）", "school", "小学", False, 612, 38),
    ("JA-D02", "JA-T05", "将官池镇初级中学（演示）", "school", "初中", True, 845, 67),
    ("JA-D03", "JA-T05", "将官池镇中心幼儿园（演示）", "school", "幼儿园", False, 210, 22),
    ("JA-D04", "JA-T05", "将官池镇岗朱小学（演示）", "school", "小学", False, 188, 14),
    ("JA-D05", "JA-T06", "五女店镇第一小学（演示）", "school", "小学", False, 534, 31),
    ("JA-D06", "JA-T06", "五女店镇九年一贯制学校（演示）", "school", "九年一贯制", True, 1120, 86),
    ("JA-D07", "JA-T06", "五女店镇阳光幼儿园（演示）", "school", "幼儿园", False, 156, 17),
    ("JA-D08", "JA-T11", "灵井镇第一初级中学（演示）", "school", "初中", True, 903, 72),
    ("JA-D09", "JA-T11", "灵井镇霍庄小学（演示）", "school", "小学", False, 276, 19),
    ("JA-D10", "JA-T01", "许由街道实验幼儿园（演示）", "school", "幼儿园", False, 320, 35),
    ("JA-D11", "JA-T01", "许由街道第二小学（演示）", "school", "小学", False, 1460, 92),
    ("JA-D12", "JA", "建安区实验中学（演示）", "affiliated_school", "初中", True, 2310, 186),
    ("JA-D13", "JA", "建安区职业中等专业学校（演示）", "affiliated_school", "职业学校", True, 1680, 140),
    ("JA-D14", "JA", "建安区特殊教育学校（演示）", "affiliated_school", "特殊教育", True, 126, 41),
]

#: a small tree for every other district, so the city sees data everywhere
OTHER_DISTRICTS = {
    "weidu": ("WD", [("西大街道", "小学"), ("五一路街道", "幼儿园")]),
    "yuzhou": ("YZ", [("钧台街道", "初中"), ("神垕镇", "九年一贯制")]),
    "changge": ("CG", [("建设路街道", "小学"), ("大周镇", "初中")]),
    "yanling": ("YL", [("安陵镇", "小学"), ("马栏镇", "幼儿园")]),
    "xiangcheng": ("XCX", [("城关镇", "初中"), ("姜庄乡", "小学")]),
}

#: (username, role, unit code, tenant slug, display name)
DEMO_ACCOUNTS = [
    ("demo_city_admin", "city_admin", "XC", "xuchang", "许昌市教育局·王安全"),
    ("demo_city_viewer", "city_viewer", "XC", "xuchang", "许昌市教育局·督查员李明"),
    ("demo_ja_admin", "bureau_admin", "JA", "jianan", "建安区安全股·赵静"),
    ("demo_ja_leader", "bureau_leader", "JA", "jianan", "建安区分包领导·孙国强"),
    ("demo_ja_viewer", "bureau_viewer", "JA", "jianan", "建安区教体局·周文"),
    ("demo_ja_township", "township_supervisor", "JA-T05", "jianan", "将官池镇中心学校·吴建华"),
    ("demo_ja_principal", "principal", "JA-D01", "jianan", "将官池镇第一小学·郑校长"),
    ("demo_ja_safety", "safety_officer", "JA-D01", "jianan", "将官池镇第一小学·冯安全"),
    ("demo_ja_staff", "staff", "JA-D01", "jianan", "将官池镇第一小学·陈老师"),
    ("demo_wd_admin", "bureau_admin", "WD", "weidu", "魏都区安全股·褚丽"),
]

#: more people, not printed, so lists are not empty
EXTRA_ACCOUNTS = [
    ("demo_ja_principal2", "principal", "JA-D02", "jianan", "将官池镇初级中学·卫校长"),
    ("demo_ja_principal3", "principal", "JA-D03", "jianan", "将官池镇中心幼儿园·蒋园长"),
    ("demo_ja_principal5", "principal", "JA-D05", "jianan", "五女店镇第一小学·沈校长"),
    ("demo_ja_township6", "township_supervisor", "JA-T06", "jianan", "五女店镇中心学校·韩主任"),
    ("demo_ja_principal12", "principal", "JA-D12", "jianan", "建安区实验中学·杨校长"),
]


def _tenant(slug: str) -> Tenant:
    return db.session.execute(
        sa.select(Tenant).where(Tenant.slug == slug).execution_options(all_tenants=True)
    ).scalar_one()


def _rows(specs) -> list[UnitRow]:
    rows = []
    for i, (code, parent, name, kind, school_type, boarding, enrolment, staff) in enumerate(specs, start=2):
        rows.append(UnitRow(line=i, code=code, parent_code=parent, name=name, kind=kind,
                            school_type=school_type, ownership="public", is_boarding=boarding,
                            enrolment=enrolment, staff_count=staff, address=None,
                            contact_name=None, contact_phone=None))
    return rows


def _seed_units(log) -> None:
    jianan = _tenant("jianan")
    with tenant_bound(jianan.id):
        root = org_ops.root_unit(jianan.id)
        result = org_ops.apply_unit_rows(_rows(JIANAN_SCHOOLS), root, is_demo=True, reason="演示数据",
                                              update_existing=False)
        if result.errors:
            raise RuntimeError(result.errors)
        if result.created:
            log(f"建安区：新增演示学校 {len(result.created)} 所")
    for slug, (prefix, townships) in OTHER_DISTRICTS.items():
        tenant = _tenant(slug)
        specs = []
        for i, (township, school_type) in enumerate(townships, start=1):
            tcode = f"{prefix}-T{i:02d}"
            specs.append((tcode, prefix, f"{township}中心学校（演示）", "township_center", None, False, None, None))
            suffix = "幼儿园" if school_type == "幼儿园" else ("中学" if school_type == "初中" else "学校")
            specs.append((f"{prefix}-D{i:02d}", tcode, f"{township}第一{suffix}（演示）", "school",
                          school_type, False, 400 + 137 * i, 30 + 5 * i))
        specs.append((f"{prefix}-D90", prefix, f"{tenant.short_name}实验学校（演示）", "affiliated_school",
                      "九年一贯制", True, 1500, 110))
        with tenant_bound(tenant.id):
            root = org_ops.root_unit(tenant.id)
            result = org_ops.apply_unit_rows(_rows(specs), root, is_demo=True, reason="演示数据",
                                              update_existing=False)
            if result.errors:
                raise RuntimeError(result.errors)
            if result.created:
                log(f"{tenant.short_name}：新增演示单位 {len(result.created)} 个")


def _ensure_account(username, role, unit_code, slug, display_name) -> dict:
    tenant = _tenant(slug)
    with tenant_bound(tenant.id):
        unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.code == unit_code)).scalar_one()
        user = db.session.execute(sa.select(User).where(User.username == username)).scalar_one_or_none()
        if user is None:
            user, _ = account_ops.create_user(
                username=username, display_name=display_name, phone=None, unit=unit, role=role,
                password=DEMO_PASSWORD, must_change=False, is_demo=True,
            )
        elif not user.check_password(DEMO_PASSWORD) or user.must_change_password:
            user.set_password(DEMO_PASSWORD, must_change=False)
            db.session.commit()
        has_role = db.session.execute(
            sa.select(Membership.id).where(Membership.user_id == user.id, Membership.unit_id == unit.id,
                                           Membership.role == role, Membership.is_active.is_(True))
        ).first()
        if not has_role:
            account_ops.grant_membership(user, unit, role)
        return {"username": username, "password": DEMO_PASSWORD, "role": role,
                "role_label": ROLES[role][0], "unit": unit.name, "tenant": tenant.name}


def _seed_history(log) -> None:
    """A few real edits so history pages show who changed what (only once)."""
    from hazardhub.audit import history

    jianan = _tenant("jianan")
    with tenant_bound(jianan.id):
        admin = db.session.execute(sa.select(User).where(User.username == "demo_ja_admin")).scalar_one()
        township = db.session.execute(sa.select(User).where(User.username == "demo_ja_township")).scalar_one()
        school = db.session.execute(sa.select(OrgUnit).where(OrgUnit.code == "JA-D01")).scalar_one()
        if len(history(school)) > 1:
            return
        g.actor_id = township.id
        org_ops.update_unit(school, {"enrolment": 598, "contact_name": "郑校长", "contact_phone": "0374-5123456"},
                            version_id=school.version_id, reason="2025年秋季学期学生数核减")
        g.actor_id = admin.id
        org_ops.update_unit(school, {"address": "许昌市建安区将官池镇府前路12号"},
                            version_id=school.version_id, reason="补充学校地址")
        g.actor_id = None
        log("建安区：写入演示修改记录")


def _seed_export(log) -> None:
    from hazardhub.runs import operations as run_ops
    from hazardhub.runs.models import ReportRun

    jianan = _tenant("jianan")
    with tenant_bound(jianan.id):
        admin = db.session.execute(sa.select(User).where(User.username == "demo_ja_admin")).scalar_one()
        exists = db.session.execute(sa.select(ReportRun.id).where(ReportRun.requested_by_id == admin.id)).first()
        if exists:
            return
        root = org_ops.root_unit(jianan.id)
        g.actor_id = admin.id
        run_ops.request_run("unit_tree_xlsx", user=admin, unit=root)
        g.actor_id = None
        log("建安区：生成演示导出任务")


def seed_demo(log=print) -> list[dict]:
    """Provision tenants/, add demo units, accounts and history; return the printed logins."""
    created = apply_all(ROOT / "tenants", log=log)
    for slug, username, password, role in created:
        log(f"  （正式管理员账号）{slug} {username} 一次性密码：{password}")
    _seed_units(log)
    logins = [_ensure_account(*spec) for spec in DEMO_ACCOUNTS]
    for spec in EXTRA_ACCOUNTS:
        _ensure_account(*spec)
    _seed_history(log)
    _seed_export(log)
    return logins
