"""The first-run demo: tenants/ plus demo schools and one account per role (idempotent).

Every demo school carries "（演示）" in its name and ``is_demo``; demo accounts too. Running it
twice changes nothing: existing units are matched by code and existing accounts by username.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app, g

from hazardhub import clock
from hazardhub.config import ROOT
from hazardhub.accounts import operations as account_ops
from hazardhub.accounts.models import ROLES, Membership, User
from hazardhub.extensions import db
from hazardhub.orgs import operations as org_ops
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.orgs.unit_rows import UnitRow
from hazardhub.devtools.demo_past import EPOCH, day_after, past
from hazardhub.devtools.demo_photos import demo_photo
from hazardhub.platform.provisioning import apply_all
from hazardhub.tenancy import tenant_bound
from hazardhub.audit import history
from hazardhub.clock import today
from hazardhub.devtools.demo_campaigns import seed_campaigns
from hazardhub.devtools.demo_channels import seed_channels
from hazardhub.devtools.demo_checks import seed_inspections
from hazardhub.devtools.demo_citywide import seed_citywide
from hazardhub.devtools.demo_directives import seed_directives
from hazardhub.devtools.demo_publicreports import seed_public_reports
from hazardhub.devtools.demo_reports import seed_reports
from hazardhub.evidence.operations import add_attachment
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import Hazard
from hazardhub.learning import operations as learning_ops
from hazardhub.learning.models import LearningSession
from hazardhub.platform.daily import run_daily
from hazardhub.runs import operations as run_ops
from hazardhub.runs.models import ReportRun
from hazardhub.standards.operations import items_for, standards_for

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
    ("demo_ja_principal4", "principal", "JA-D04", "jianan", "将官池镇岗朱小学·朱校长"),
    ("demo_ja_principal6", "principal", "JA-D06", "jianan", "五女店镇九年一贯制学校·秦校长"),
    ("demo_ja_principal7", "principal", "JA-D07", "jianan", "五女店镇阳光幼儿园·尤园长"),
    ("demo_ja_principal8", "principal", "JA-D08", "jianan", "灵井镇第一初级中学·许校长"),
    ("demo_ja_principal10", "principal", "JA-D10", "jianan", "许由街道实验幼儿园·何园长"),
    ("demo_ja_principal11", "principal", "JA-D11", "jianan", "许由街道第二小学·吕校长"),
    ("demo_ja_principal13", "principal", "JA-D13", "jianan", "建安区职业中等专业学校·施校长"),
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
    jianan = _tenant("jianan")
    with tenant_bound(jianan.id):
        admin = db.session.execute(sa.select(User).where(User.username == "demo_ja_admin")).scalar_one()
        township = db.session.execute(sa.select(User).where(User.username == "demo_ja_township")).scalar_one()
        school = db.session.execute(sa.select(OrgUnit).where(OrgUnit.code == "JA-D01")).scalar_one()
        if len(history(school)) > 1:
            return
        # in the order (and at the dates) they claim: the address in spring, the head count in autumn
        with past(date(2025, 3, 3)):
            g.actor_id = admin.id
            org_ops.update_unit(school, {"address": "许昌市建安区将官池镇府前路12号"},
                                version_id=school.version_id, reason="补充学校地址")
        with past(date(2025, 9, 5)):
            g.actor_id = township.id
            org_ops.update_unit(school, {"enrolment": 598, "contact_name": "郑校长", "contact_phone": "0374-5123456"},
                                version_id=school.version_id, reason="2025年秋季学期学生数核减")
        g.actor_id = None
        log("建安区：写入演示修改记录")


def _seed_export(log) -> None:
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


#: demo hazards of 建安区: (school code, reporter, days ago found, source, category, location, description,
#: cited items, final stage, days until deadline from found) — stages: registered, rectifying,
#: awaiting, rejected, closed, voided
DEMO_HAZARDS = [
    ("JA-D01", "demo_ja_principal", 230, "self", "校园消防", "学生宿舍楼一楼楼梯间",
     "楼梯间停放电动自行车 3 辆，并从宿管室私拉电线飞线充电。", ["3.1.6"], "closed", 10),
    ("JA-D01", "demo_ja_safety", 40, "self", "校门口", "学校南大门",
     "上下学时段校门口护栏缺失一段，家长车辆临时停放占用通道。", [], "rectifying", 20),
    ("JA-D01", "demo_ja_safety", 12, "self", "设备设施", "教学楼二楼东侧走廊",
     "两处疏散指示标志不亮，应急照明灯蓄电池失效。", [], "registered", 15),
    ("JA-D01", "demo_ja_principal", 60, "self", "食品安全", "学校食堂后厨",
     "食品留样冰箱温度记录缺失 5 天，留样标签不全。", [], "awaiting", 14),
    ("JA-D02", "demo_ja_township", 95, "township", "校园消防", "男生宿舍楼三楼",
     "宿舍外窗加装铁栅栏封闭，影响逃生和灭火救援。", ["3.1.9"], "rectifying", 30),
    ("JA-D02", "demo_ja_principal2", 150, "self", "校内施工", "校内新建风雨操场工地",
     "电焊作业未办理动火审批，现场无专人监护和灭火器材。", ["3.1.5"], "closed", 5),
    ("JA-D02", "demo_ja_principal2", 20, "self", "周边环境", "学校西侧围墙外",
     "围墙外堆放大量废旧木料，距宿舍楼不足 10 米。", [], "registered", 10),
    ("JA-D03", "demo_ja_leader", 75, "unannounced", "校园消防", "幼儿园综合楼四楼",
     "大班活动室设在四层，属儿童用房设置在四层及以上。", ["3.1.2"], "rectifying", 30),
    ("JA-D03", "demo_ja_principal3", 35, "self", "设备设施", "幼儿园户外活动场地",
     "滑梯扶手一处螺丝松动，攀爬网绳索磨损。", [], "closed", 7),
    ("JA-D04", "demo_ja_township", 50, "township", "校园消防", "教学楼一楼配电室",
     "配电室堆放杂物，灭火器压力不足。", [], "awaiting", 10),
    ("JA-D05", "demo_ja_principal5", 110, "self", "校舍安全", "北侧平房教室",
     "屋面防水层破损漏雨，墙体有裂缝，待鉴定。", [], "rectifying", 40),
    ("JA-D05", "demo_ja_township6", 28, "township", "校门口", "学校东门",
     "校门口未设置减速带和警示标志，紧邻县道。", [], "registered", 30),
    ("JA-D06", "demo_ja_leader", 18, "unannounced", "校园消防", "学生宿舍楼各层",
     "宿舍未安装火灾自动报警系统，也未安装联网独立式火灾探测报警器。", ["3.1.4"], "registered", 25),
    ("JA-D06", "demo_ja_township6", 70, "joint", "校车校园交通", "校车停车场",
     "联合交警检查：一辆校车灭火器过期，安全锤缺失。", [], "closed", 3),
    ("JA-D07", "demo_ja_township6", 45, "township", "食品安全", "幼儿园厨房",
     "燃气管道软管老化，未安装燃气泄漏报警装置。", [], "rejected", 10),
    ("JA-D08", "demo_ja_admin", 200, "bureau", "实验实训", "化学实验室药品柜",
     "危险化学品未双人双锁管理，台账与实物不符。", [], "closed", 15),
    ("JA-D08", "demo_ja_admin", 8, "bureau", "预防拥挤踩踏", "教学楼西侧楼梯",
     "课间操上下楼未错峰，楼梯口无教师值守。", [], "registered", 7),
    ("JA-D09", "demo_ja_township", 25, "report", "周边环境", "学校门前道路",
     "群众举报：校门口流动摊贩占道经营，学生放学拥堵。", [], "voided", 10),
    ("JA-D10", "demo_ja_admin", 130, "bureau", "校园消防", "幼儿园午休室",
     "午休室使用电暖器，插线板串接使用。", [], "closed", 5),
    ("JA-D11", "demo_ja_admin", 33, "bureau", "校园消防", "多功能报告厅",
     "报告厅安全出口两处上锁，另一处被演出器材堵塞。", ["3.1.8"], "awaiting", 10),
    ("JA-D12", "demo_ja_principal12", 16, "self", "特种设备使用", "实验楼电梯",
     "电梯年检合格标志过期 20 天，仍在使用。", [], "rectifying", 10),
    ("JA-D12", "demo_ja_principal12", 300, "self", "水电气热运行", "锅炉房",
     "锅炉房未配备持证司炉工，安全阀校验过期。", [], "closed", 20),
]


#: who reports the rectification at each demo school, and who accepts it (one level up)
RECTIFIERS = {"JA-D01": "demo_ja_safety", "JA-D02": "demo_ja_principal2", "JA-D03": "demo_ja_principal3",
              "JA-D04": "demo_ja_township", "JA-D05": "demo_ja_principal5", "JA-D06": "demo_ja_township6",
              "JA-D07": "demo_ja_township6", "JA-D12": "demo_ja_principal12"}
ACCEPTERS = {"JA-D01": "demo_ja_township", "JA-D02": "demo_ja_township", "JA-D03": "demo_ja_township",
             "JA-D04": "demo_ja_admin", "JA-D05": "demo_ja_township6", "JA-D06": "demo_ja_admin",
             "JA-D07": "demo_ja_admin"}


#: demo hazards that get photos (school codes whose first hazard is photographed)
PHOTOGRAPHED = {"JA-D01", "JA-D02", "JA-D03", "JA-D06", "JA-D11"}


def _seed_hazards(log) -> None:
    """Hazards at every stage of the lifecycle, found and handled by the demo people."""
    jianan = _tenant("jianan")
    with tenant_bound(jianan.id):
        if db.session.execute(sa.select(Hazard.id).limit(1)).first():
            return
        users = {u.username: u for u in db.session.execute(sa.select(User)).scalars()}
        items = {i.number: i.id for i in items_for(jianan.id)}
        today = clock.today()
        for code, reporter, ago, source, category, location, description, cited, stage, days in DEMO_HAZARDS:
            school = db.session.execute(sa.select(OrgUnit).where(OrgUnit.code == code)).scalar_one()
            actor = users[reporter]
            found_on = today - timedelta(days=ago)
            data = {
                "found_on": found_on, "found_by_name": actor.display_name.split("·")[-1], "source": source,
                "category": category, "location": location, "description": description,
                "responsible_person": "分管副校长", "responsible_dept": "总务处",
                "measures": "制定整改方案，限期整改到位；整改前落实临时管控。", "funds": 2000 + 500 * len(location),
                "deadline": found_on + timedelta(days=days), "interim_controls": "设置警示标志，专人值守，每日巡查。",
                "contingency_plan": "按学校突发事件应急预案处置，发现险情立即疏散并报告。",
            }
            # each step at the day it claims: found, started the next day, reported when done,
            # accepted two days later (hazard_ops validate those days against the frozen clock)
            done = min(today, found_on + timedelta(days=max(1, days - 2)))
            g.actor_id = actor.id
            with past(found_on):
                hazard = hazard_ops.register(school=school, actor=actor, data=data,
                                             item_ids=[items[n] for n in cited], level="general")
                photographed = code in PHOTOGRAPHED and cited
                if photographed:
                    add_attachment(hazard, actor, demo_photo(location, after=False), "before", caption="排查时拍摄")
            rectifier = users[RECTIFIERS.get(code, "demo_ja_admin")]
            accepter = users[ACCEPTERS.get(code, "demo_ja_admin")]
            if accepter.id == rectifier.id:
                accepter = users["demo_ja_leader"]
            if stage == "registered":
                continue
            g.actor_id = rectifier.id
            if stage == "voided":
                with past(day_after(found_on, 2)):
                    hazard_ops.void(hazard, actor=rectifier, reason="与 JA 镇综治办登记重复，且不属校内隐患",
                                    version_id=hazard.version_id)
                continue
            with past(day_after(found_on, 1), hour=9):
                hazard_ops.start_rectification(hazard, actor=rectifier, version_id=hazard.version_id)
            if stage == "rectifying":
                continue
            with past(done, hour=16):
                if photographed:
                    add_attachment(hazard, rectifier, demo_photo(location, after=True), "after", caption="整改完成后拍摄")
                hazard_ops.report_rectification(hazard, actor=rectifier, rectified_on=done,
                                                note="已按方案完成整改，整改前后照片留档。", version_id=hazard.version_id)
            if stage == "awaiting":
                continue
            g.actor_id = accepter.id
            checked = day_after(done, 2)
            if stage == "rejected":
                with past(checked, hour=15):
                    hazard_ops.reject(hazard, actor=accepter, reason="复查发现报警装置仍未安装，整改不到位，继续挂账。",
                                      version_id=hazard.version_id)
                continue
            with past(checked, hour=15):
                hazard_ops.accept(hazard, actor=accepter, accepted_on=checked,
                                  note="现场复查合格，同意销号。", version_id=hazard.version_id)
        g.actor_id = None
        log(f"建安区：登记演示隐患 {len(DEMO_HAZARDS)} 条（各个整改阶段）")
    for slug in OTHER_DISTRICTS:
        tenant = _tenant(slug)
        with tenant_bound(tenant.id):
            if db.session.execute(sa.select(Hazard.id).limit(1)).first():
                continue
            admin = db.session.execute(sa.select(User).where(User.username == f"{slug}_admin")).scalar_one()
            items = {i.number: i.id for i in items_for(tenant.id)}
            schools = db.session.execute(sa.select(OrgUnit).where(OrgUnit.is_demo.is_(True),
                                                                  OrgUnit.kind != "township_center")).scalars().all()
            g.actor_id = admin.id
            for n, school in enumerate(schools):
                found_on = clock.today() - timedelta(days=20 + 15 * n)
                with past(found_on):
                    hazard = hazard_ops.register(
                        school=school, actor=admin, level="general",
                        item_ids=[items["3.1.6"]] if n == 0 else [],
                        data={"found_on": found_on, "found_by_name": "县区督导组", "source": "bureau",
                              "category": "校园消防" if n == 0 else "设备设施",
                              "location": "教学楼楼梯间" if n == 0 else "操场看台",
                              "description": "电动车楼内充电" if n == 0 else "看台栏杆锈蚀松动",
                              "responsible_person": "校长", "measures": "限期整改", "funds": 1000,
                              "deadline": found_on + timedelta(days=20), "interim_controls": "禁止使用",
                              "contingency_plan": "按应急预案处置"})
                if n == 1:
                    with past(day_after(found_on, 2)):
                        hazard_ops.start_rectification(hazard, actor=admin, version_id=hazard.version_id)
            g.actor_id = None


#: 三学 titles by level, used in turn
LEARNING_TITLES = {
    "bureau_staff": ["学习《教育系统重大事故隐患判定指南》", "重大事故隐患排查治理工作规范专题学习",
                     "安全生产法及校园安全监管职责学习", "暗访暗查方法与典型问题通报"],
    "principals": ["学校主要负责人安全生产第一责任人职责学习", "重大事故隐患直接判定情形逐条解读",
                   "典型校园安全事故案例警示教育", "“学标准 促提升”活动部署与隐患整改要求"],
    "all_staff": ["校园消防安全与电动车充电管理", "学生宿舍、食堂重大事故隐患判定标准学习",
                  "校车与上下学交通安全知识学习", "实验室危险化学品管理规定学习",
                  "防溺水、防踩踏应急疏散演练要点", "安全知识竞赛（全体教职工）"],
}
LEARNING_FORMS = {
    "bureau_staff": ["expert_lecture", "case_study", "group_discussion", "video"],
    "principals": ["expert_lecture", "case_study", "video", "group_discussion"],
    "all_staff": ["video", "case_study", "self_study", "group_discussion", "knowledge_contest", "speech_contest",
                  "expert_lecture"],
}
#: schools that record all-staff learning, with the account that records it
LEARNING_SCHOOLS = [("JA-D01", "demo_ja_safety"), ("JA-D02", "demo_ja_principal2"), ("JA-D03", "demo_ja_principal3"),
                    ("JA-D04", "demo_ja_township"), ("JA-D05", "demo_ja_principal5"), ("JA-D06", "demo_ja_township6"),
                    ("JA-D11", "demo_ja_admin"), ("JA-D12", "demo_ja_principal12")]


def _seed_learning(log) -> None:
    """三学 sessions for 建安区 from 2025-03 to 2026-11, with gaps so the coverage page shows them."""
    jianan = _tenant("jianan")
    with tenant_bound(jianan.id):
        if db.session.execute(sa.select(LearningSession.id).limit(1)).first():
            return
        users = {u.username: u for u in db.session.execute(sa.select(User)).scalars()}
        units = {u.code: u for u in db.session.execute(sa.select(OrgUnit)).scalars()}
        memberships = {(m.user_id, m.unit_id): m.id for m in db.session.execute(
            sa.select(Membership).where(Membership.is_active.is_(True))).scalars()}
        standards = [s.id for s in standards_for(jianan.id)]
        today = clock.today()
        counter = {"n": 0}

        def member(username, code):
            return memberships[(users[username].id, units[code].id)]

        def add(code, organiser, level, held_on, attendees=(), headcount=None, speaker=None):
            if held_on > today:
                return
            n = counter["n"]
            titles, forms = LEARNING_TITLES[level], LEARNING_FORMS[level]
            g.actor_id = users[organiser].id
            with past(held_on, hour=16):
                learning_ops.record(
                    unit=units[code], actor=users[organiser], membership_ids=list(attendees),
                    standard_ids=[standards[n % len(standards)]] if standards else [],
                    data={"level": level, "form": forms[n % len(forms)], "held_on": held_on,
                          "title": titles[n % len(titles)], "hours": 2 if level != "all_staff" else 1.5,
                          "speaker": speaker, "headcount": headcount,
                          "summary": "对照判定标准逐条学习，结合本单位实际查找问题，形成学习记录。",
                          "materials_note": "学习课件及签到表存档于安全办公室"})
            counter["n"] += 1

        months = [(2025, m) for m in range(3, 13)] + [(2026, m) for m in range(1, 12)]
        bureau_staff = [member(u, "JA") for u in ("demo_ja_admin", "demo_ja_leader", "demo_ja_viewer")]
        bureau_staff += [member("demo_ja_township", "JA-T05"), member("demo_ja_township6", "JA-T06")]
        t05_principals = [member("demo_ja_principal", "JA-D01"), member("demo_ja_principal2", "JA-D02"),
                          member("demo_ja_principal3", "JA-D03")]
        t06_principals = [member("demo_ja_principal5", "JA-D05")]
        d01_people = [member("demo_ja_principal", "JA-D01"), member("demo_ja_safety", "JA-D01"),
                      member("demo_ja_staff", "JA-D01")]
        for i, (year, month) in enumerate(months):
            if month in (3, 6, 9) or (month == 12 and year == 2025) or (year, month) == (2026, 11):
                add("JA", "demo_ja_admin", "bureau_staff", date(year, month, 6), bureau_staff, speaker="区教体局安全股")
            if month in (5, 11):
                add("JA", "demo_ja_admin", "principals", date(year, month, 12),
                    t05_principals + t06_principals + [member("demo_ja_principal12", "JA-D12")],
                    speaker="区应急管理局专家")
            if month not in (2, 7, 8) and (year, month) != (2025, 10):
                add("JA-T05", "demo_ja_township", "principals", date(year, month, 15), t05_principals,
                    speaker="将官池镇中心学校")
            if month % 2 == 1 and month != 7:
                add("JA-T06", "demo_ja_township6", "principals", date(year, month, 16), t06_principals,
                    speaker="五女店镇中心学校")
            if month in (2, 8):
                continue  # winter and summer holidays
            for j, (code, organiser) in enumerate(LEARNING_SCHOOLS):
                if (i * 3 + j) % 7 == 0:
                    continue  # a missed month: the coverage page shows the gap
                staff = units[code].staff_count or 20
                add(code, organiser, "all_staff", date(year, month, 20 + j % 8),
                    d01_people if code == "JA-D01" else (), headcount=staff - (i + j) % 4)
        g.actor_id = None
        log(f"建安区：登记三学学习记录 {counter['n']} 条（2025年3月至2026年11月）")


#: hash method for the demo accounts only (their password is printed in the README)
DEMO_PASSWORD_HASH = "pbkdf2:sha256:1000"


@contextmanager
def _seeding_session():
    """Seed with ``expire_on_commit=False`` (the setting the test suite runs every operation with)
    and, on SQLite, without waiting for the disk at every commit.

    Why: the seeders commit thousands of times (every operation commits) and keep their users and
    units in dicts; with the default every commit expired all of them and each next access reloaded
    one row by primary key -- 6,700 single-row SELECTs, a third of the seeding's time (cProfile,
    README "Performance"). Nothing else writes to the database while the demo is seeded, so the
    objects in the session stay true; sessions made meanwhile (jobs run in-process) get the same.
    Each SQLite commit also waited for an fsync (3,400 of them); the demo's file is written with
    ``synchronous=OFF`` meanwhile (a machine crash mid-seeding means seeding again), and the
    connections are closed afterwards so the served demo uses the default.
    """
    factory = db.session.session_factory
    saved = factory.kw.get("expire_on_commit", True)
    session = db.session()
    factory.configure(expire_on_commit=False)
    session.expire_on_commit = False
    engine = db.engine
    sqlite = engine.dialect.name == "sqlite"

    def no_fsync(dbapi_connection, _record, _proxy):
        dbapi_connection.execute("PRAGMA synchronous=OFF")

    if sqlite:
        sa.event.listen(engine, "checkout", no_fsync)
    try:
        yield
    finally:
        factory.configure(expire_on_commit=saved)
        db.session().expire_on_commit = saved
        if sqlite:
            sa.event.remove(engine, "checkout", no_fsync)
            engine.pool.dispose()  # pooled connections go; the ones checked out keep their own setting


def seed_demo(log=print, admins: list | None = None) -> list[dict]:
    """Provision tenants/, add demo units, accounts and history; return the printed logins.

    :param admins: when given, receives ``(tenant slug, username, one-time password, role)`` of the
        real administrators ``tenants apply`` created just now (printed apart from the demo logins:
        they are not demo accounts and their password is shown this once)
    """
    with _seeding_session():
        return _seed_all(log, admins)


def _seed_all(log, admins: list | None) -> list[dict]:
    # the bureaus, their units and people exist from before the 2025 campaign (demo_past.EPOCH)
    with past(EPOCH):
        created = apply_all(ROOT / "tenants", log=log)
        _seed_units(log)
    if admins is not None:
        admins.extend(created)
    # Demo accounts share one published password, so a slow hash protects nothing there; a cheap
    # one keeps seeding (hundreds of back-dated signatures re-check it) to minutes. The real
    # administrators created by ``apply_all`` above keep scrypt.
    previous_hash = current_app.config.get("HAZARDHUB_PASSWORD_HASH")
    current_app.config["HAZARDHUB_PASSWORD_HASH"] = DEMO_PASSWORD_HASH
    try:
        with past(EPOCH):
            logins = [_ensure_account(*spec) for spec in DEMO_ACCOUNTS]
            for spec in EXTRA_ACCOUNTS:
                _ensure_account(*spec)
        _seed_history(log)
        _seed_hazards(log)
        seed_inspections(log)
        seed_campaigns(log)
        seed_directives(log)
        _seed_learning(log)
        seed_citywide(log)
        _seed_export(log)
        seed_public_reports(log)  # 随手拍 (before the daily pass escalates)
        # last: the daily pass fills every demo user's inbox from everything seeded above
        run_daily(today(), log=log)
        seed_reports(log)  # after the daily pass: findings exist
        seed_channels(log)  # last: the notices above fill the outbox
    finally:
        if previous_hash is None:
            current_app.config.pop("HAZARDHUB_PASSWORD_HASH", None)
        else:
            current_app.config["HAZARDHUB_PASSWORD_HASH"] = previous_hash
    return logins
