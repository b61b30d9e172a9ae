"""Demo 随手拍 at 将官池镇第一小学 (JA-D01) and 将官池镇初级中学 (JA-D02): posters for the school and
its places, and reports at every stage — new (one of them past two working days, which the daily
pass escalates to the township), registered as a hazard, rectified with an after-photo the
reporter can see, and refused with a reason. Reports are sent through the same operation as the
public page, at back-dated times (``clock.frozen``), so their versions and chain read as real.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

import sqlalchemy as sa
from flask import g

from hazardhub import clock
from hazardhub.accounts.models import User
from hazardhub.extensions import db
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.devtools.demo_photos import demo_photo
from hazardhub.publicreports import operations as ops
from hazardhub.publicreports.models import KIND_CATEGORY, PublicReport
from hazardhub.tenancy import tenant_bound
from hazardhub.evidence.operations import add_attachment
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import Hazard

PLACES = {"JA-D01": (None, "校门口", "食堂", "教学楼"), "JA-D02": (None, "宿舍楼", "食堂")}
#: (school, place, kind, description, phone, photo, days ago, outcome)
REPORTS = [
    ("JA-D01", "校门口", "校园周边", "放学时校门口东侧有流动摊贩使用液化气罐炸串，离学生排队处不到三米。", "13903741234", True, 0, "new"),
    ("JA-D01", "食堂", "消防安全", "食堂后门的安全出口用铁链锁住了，门口还堆着几箱土豆。", None, True, 6, "new"),
    ("JA-D01", "教学楼", "校舍设施", "教学楼三楼西头走廊的栏杆有一根松动，一推就晃。", "13700001111", True, 9, "register"),
    ("JA-D01", "校门口", "交通安全", "校门口斑马线的减速带被压坏了，早上车速很快。", "15800002222", True, 30, "rectify"),
    ("JA-D01", "食堂", "食品安全", "食堂的饭菜太咸了，孩子回家说不好吃。", None, False, 12, "reject"),
    ("JA-D02", "宿舍楼", "用电用气", "男生宿舍二楼有学生用插线板给电动车电池充电。", None, True, 4, "register"),
]
REJECT_REASON = "饭菜口味问题不属于安全隐患，已转学校膳食委员会研究改进。"


def _tenant() -> Tenant:
    return db.session.execute(
        sa.select(Tenant).where(Tenant.slug == "jianan").execution_options(all_tenants=True)).scalar_one()


def seed_public_reports(log) -> None:
    tenant = _tenant()
    with tenant_bound(tenant.id):
        if db.session.execute(sa.select(PublicReport.id).limit(1)).first():
            return
        units = {u.code: u for u in db.session.execute(sa.select(OrgUnit)).scalars()}
        users = {u.username: u for u in db.session.execute(sa.select(User)).scalars()}
        safety, principal = users["demo_ja_safety"], users["demo_ja_principal"]
        codes = {}
        for school_code, places in PLACES.items():
            g.actor_id = safety.id
            for code in ops.ensure_codes(units[school_code], places, safety.id):
                codes[(school_code, code.place)] = code
            db.session.commit()
        today = clock.today()
        for school_code, place, kind, text, phone, photo, ago, outcome in REPORTS:
            sent = datetime.combine(today - timedelta(days=ago), time(7, 40))
            g.actor_id = None
            with clock.frozen(sent):
                report = ops.submit(codes[(school_code, place)], ops.Submission(
                    kind=kind, place=place, description=text, phone=phone,
                    photos=[demo_photo(f"{place}·{text[:6]}", after=False).stream] if photo else []))
            actor = safety if school_code == "JA-D01" else users["demo_ja_principal2"]
            g.actor_id = actor.id
            if outcome == "reject":
                with clock.frozen(sent + timedelta(hours=5)):
                    ops.reject(report, actor, REJECT_REASON)
            elif outcome in ("register", "rectify"):
                with clock.frozen(sent + timedelta(hours=3)):
                    hazard = ops.register_hazard(
                        report, actor, category=KIND_CATEGORY.get(kind, "其他"), level="general",
                        location=place, description=text, item_ids=[], show_after_photos=True)
                if outcome == "rectify":
                    hazard = db.session.get(Hazard, hazard.id)
                    hazard_ops.start_rectification(hazard, actor=actor, version_id=hazard.version_id)
                    add_attachment(hazard, actor, demo_photo(place, after=True), "after", caption="减速带已更换")
                    hazard_ops.report_rectification(hazard, actor=actor, rectified_on=today - timedelta(days=20),
                                                    note="已更换减速带并重新施划斑马线。", version_id=hazard.version_id)
                    g.actor_id = principal.id
                    hazard_ops.accept(hazard, actor=principal, accepted_on=today - timedelta(days=19),
                                      note="现场复查合格。", version_id=hazard.version_id)
        g.actor_id = None
    log(f"建安区：随手拍二维码 {len(codes)} 个，群众反映 {len(REPORTS)} 条（待处理、超期升级、已登记、已整改、不予受理）")
