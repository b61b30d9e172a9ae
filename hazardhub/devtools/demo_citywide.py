"""Demo data that makes the city's comparison worth reading: the five districts besides 建安区 get
more demo schools, four months of 三查 and 三学 and a ledger each, with different habits — 魏都区
signs on time and finds its own hazards, 禹州市 signs late and lets supervision find them, 长葛市
sits in the middle, 襄城县 signs diligently but finds almost nothing, 鄢陵县 stays at three schools
(too small a sample to rank). Two more districts adopt the city's 2026 campaign. Finally the city
verifies every district's audit chain once (a recorded verification for the page).

Idempotent: each district is seeded only when its extra schools do not exist yet; the verification
only when the city holds none.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import g

from hazardhub import clock
from hazardhub.accounts import operations as account_ops
from hazardhub.accounts.models import Membership, User
from hazardhub.extensions import db
from hazardhub.orgs import operations as org_ops
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.orgs.unit_rows import UnitRow
from hazardhub.devtools.demo_past import EPOCH, PastInspections, day_after, past
from hazardhub.tenancy import tenant_bound
from hazardhub.campaigns import operations as ops
from hazardhub.campaigns.models import Campaign
from hazardhub.citywide.models import ChainVerification
from hazardhub.citywide.witness import record_outcome, verify_tenant
from hazardhub.devtools.demo_checks import SELF, TOWNSHIP, _run, sign_at
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import Hazard
from hazardhub.inspections import operations as inspection_ops
from hazardhub.inspections.models import Inspection
from hazardhub.learning import operations as learning_ops
from hazardhub.orgs.operations import root_unit
from hazardhub.runs import operations as run_ops
from hazardhub.runs.models import ReportRun
from hazardhub.standards.operations import items_for

DEMO_PASSWORD = "Demo2025"
#: months of 三学三查 seeded for the other districts: the 2026 campaign's 学习排查 and 总结验收
#: phases, then the autumn term; July and August are the summer holidays (kept short: every
#: signature re-checks a scrypt password, as on a phone)
MONTHS = ["2026-04", "2026-05", "2026-06", "2026-09", "2026-10", "2026-11"]
#: 建安区's own demo checks cover the last six months (demo_checks); the 学习排查 months of the 2025
#: and the 2026 campaign are added here
JIANAN_SPRING = ["2025-04", "2025-05", "2026-04", "2026-05"]
#: failed checklist lines of those months: (month, school, kind, line, note, location, description,
#: days from finding to 销号 — None: still open)
JIANAN_FINDINGS = [
    ("2025-04", "JA-D01", "self", "区域-2", "灭火器过期", "教学楼一楼走廊", "走廊 3 具灭火器超过有效期，压力指针在红区。", 12),
    ("2025-04", "JA-D02", "township", "区域-1", None, "学校南门", "校门口减速带损坏，上下学时段无护导人员。", 20),
    ("2025-04", "JA-D05", "township", "区域-4", None, "学校东侧围墙外", "围墙外废品收购点堆放大量纸箱等可燃物。", None),
    ("2025-05", "JA-D03", "self", "区域-2", "滑梯松动", "幼儿园户外活动场地", "大型滑梯连接螺栓松动，平台护栏缺失一段。", 6),
    ("2025-05", "JA-D04", "township", "区域-3", None, "校内改造工地", "施工区域未封闭隔离，学生课间可进入。", 35),
    ("2025-05", "JA-D06", "township", "区域-2", None, "学生宿舍楼", "宿舍楼应急照明灯 4 处不亮。", 9),
    ("2026-04", "JA-D02", "self", "区域-2", "插线板串接", "教师办公室", "办公室插线板串接使用，电暖器长时间通电。", 5),
    ("2026-05", "JA-D07", "township", "区域-1", None, "幼儿园大门", "门卫未配备防刺背心、钢叉等安保器械。", 14),
]


class Profile:
    """How a district works, as shares (0..1) applied deterministically school by school."""

    def __init__(self, *, extra: int, self_done: float, on_time: float, township: float, staff: float,
                 principals: float, self_found: int, supervision_found: int, major: int, closed: float,
                 on_time_close: float, visits: int, adopt: bool):
        self.extra, self.self_done, self.on_time, self.township = extra, self_done, on_time, township
        self.staff, self.principals = staff, principals
        self.self_found, self.supervision_found, self.major = self_found, supervision_found, major
        self.closed, self.on_time_close, self.visits, self.adopt = closed, on_time_close, visits, adopt


#: slug → (unit code prefix, township names to add, profile)
DISTRICTS = {
    "weidu": ("WD", ["南关街道", "高桥营街道"],
              Profile(extra=8, self_done=1.0, on_time=0.92, township=0.85, staff=0.9, principals=0.8,
                      self_found=18, supervision_found=4, major=1, closed=0.8, on_time_close=0.85, visits=3,
                      adopt=True)),
    "yuzhou": ("YZ", ["褚河镇", "花石镇", "方山镇"],
               Profile(extra=10, self_done=0.75, on_time=0.5, township=0.4, staff=0.55, principals=0.4,
                       self_found=5, supervision_found=16, major=3, closed=0.45, on_time_close=0.4, visits=1,
                       adopt=True)),
    "changge": ("CG", ["后河镇"],
                Profile(extra=6, self_done=0.9, on_time=0.75, township=0.65, staff=0.7, principals=0.6,
                        self_found=9, supervision_found=8, major=1, closed=0.6, on_time_close=0.7, visits=2,
                        adopt=False)),
    "xiangcheng": ("XCX", ["库庄镇"],
                   Profile(extra=4, self_done=1.0, on_time=0.95, township=0.9, staff=0.85, principals=0.85,
                           self_found=2, supervision_found=5, major=1, closed=0.5, on_time_close=0.5, visits=2,
                           adopt=False)),
    "yanling": ("YL", [], Profile(extra=0, self_done=0.67, on_time=0.5, township=0.5, staff=0.5, principals=0.5,
                                  self_found=1, supervision_found=1, major=0, closed=0.5, on_time_close=1.0,
                                  visits=0, adopt=False)),
}
SCHOOL_TYPES = ["小学", "幼儿园", "初中", "小学", "九年一贯制", "小学", "幼儿园"]
HAZARD_SPECS = [
    ("校园消防", "教学楼楼梯间", "楼梯间堆放杂物，疏散通道宽度不足。"),
    ("设备设施", "操场看台", "看台栏杆锈蚀松动，局部焊点开裂。"),
    ("食品安全", "学校食堂", "食品留样记录不全，留样冰箱温度未记录。"),
    ("校门口", "学校正门", "上下学时段校门口无护导人员，家长车辆占道。"),
    ("周边环境", "围墙外侧", "围墙外堆放废旧纸箱等易燃物。"),
    ("校舍安全", "平房教室", "屋面渗水，墙体出现细小裂缝。"),
]
MAJOR_SPEC = ("校园消防", "学生宿舍楼", "宿舍楼内电动自行车停放充电，私拉电线。", "3.1.6")


def _tenant(slug: str) -> Tenant:
    return db.session.execute(
        sa.select(Tenant).where(Tenant.slug == slug).execution_options(all_tenants=True)).scalar_one()


def _share(n: int, i: int, share: float) -> bool:
    """Deterministic: is item ``i`` of ``n`` among the first ``share`` of a spread-out order?"""
    return ((i * 7 + 3) % max(n, 1)) < round(share * n)


def _day(month: str, day: int) -> date:
    year, mon = (int(p) for p in month.split("-"))
    return min(date(year, mon, day), clock.today())


def _user(username: str, display: str, unit: OrgUnit, role: str) -> User:
    user = db.session.execute(sa.select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        user, _ = account_ops.create_user(username=username, display_name=display, phone=None, unit=unit, role=role,
                                          password=DEMO_PASSWORD, must_change=False, is_demo=True)
    return user


def _rows(specs) -> list[UnitRow]:
    return [UnitRow(line=i, code=code, parent_code=parent, name=name, kind=kind, school_type=school_type,
                    ownership="public", is_boarding=False, enrolment=enrolment, staff_count=staff, address=None,
                    contact_name=None, contact_phone=None)
            for i, (code, parent, name, kind, school_type, enrolment, staff) in enumerate(specs, start=2)]


def _grow(tenant: Tenant, prefix: str, townships: list[str], extra: int) -> bool:
    """Add townships and schools; False when they are already there (idempotent)."""
    if extra == 0:
        return True
    code = f"{prefix}-E01"
    if db.session.execute(sa.select(OrgUnit.id).where(OrgUnit.code == code)).first():
        return False
    root = org_ops.root_unit(tenant.id)
    existing_townships = [u.code for u in db.session.execute(
        sa.select(OrgUnit).where(OrgUnit.kind == "township_center").order_by(OrgUnit.code)).scalars()]
    specs = []
    for i, name in enumerate(townships, start=1):
        specs.append((f"{prefix}-TE{i}", prefix, f"{name}中心学校（演示）", "township_center", None, None, None))
    parents = [f"{prefix}-TE{i}" for i in range(1, len(townships) + 1)] + existing_townships
    names = townships + ["城区"] * len(existing_townships)
    for n in range(1, extra + 1):
        parent = parents[n % len(parents)]
        place = names[n % len(parents)]
        school_type = SCHOOL_TYPES[n % len(SCHOOL_TYPES)]
        suffix = {"幼儿园": "幼儿园", "初中": "初级中学", "九年一贯制": "九年一贯制学校"}.get(school_type, "小学")
        specs.append((f"{prefix}-E{n:02d}", parent, f"{place}第{n + 1}{suffix}（演示）", "school", school_type,
                      300 + 53 * n, 20 + 3 * n))
    result = org_ops.apply_unit_rows(_rows(specs), root, is_demo=True, reason="演示数据：县区对比", update_existing=False)
    if result.errors:
        raise RuntimeError(result.errors)
    return True


def _seed_district(slug: str, log) -> None:
    prefix, townships, p = DISTRICTS[slug]
    tenant = _tenant(slug)
    with tenant_bound(tenant.id):
        with past(EPOCH):  # the district's schools and people exist from before the campaign
            if not _grow(tenant, prefix, townships, p.extra):
                return
            if p.extra == 0 and db.session.execute(
                    sa.select(User.id).where(User.username == f"demo_{prefix.lower()}_leader")).first():
                return
            units = db.session.execute(sa.select(OrgUnit).where(OrgUnit.is_active.is_(True))
                                       .order_by(OrgUnit.path)).scalars().all()
            root = next(u for u in units if u.kind == "bureau")
            schools = [u for u in units if u.kind in ("school", "affiliated_school")]
            town_units = [u for u in units if u.kind == "township_center"]
            short = tenant.short_name
            admin = db.session.execute(sa.select(User).where(User.username == f"{slug}_admin")).scalar_one()
            leader = _user(f"demo_{prefix.lower()}_leader", f"{short}分包领导（演示）", root, "bureau_leader")
            supervisor = _user(f"demo_{prefix.lower()}_township",
                               f"{town_units[0].name.replace('（演示）', '')}督导（演示）", town_units[0],
                               "township_supervisor")
            principals = {s.id: _user(f"demo_{s.code.lower().replace('-', '_')}_principal",
                                      f"{s.name.replace('（演示）', '')}·校长", s, "principal") for s in schools}
        n = len(schools)
        # 三查: self-inspections signed (on time / late / unsigned / missing), township checks, visits,
        # written at their dates through the audit module's bulk path (demo_past.PastInspections)
        checks = PastInspections(tenant.id)
        for m, month in enumerate(MONTHS):
            for i, school in enumerate(schools):
                if not _share(n, i + m, p.self_done):
                    continue
                actor = principals[school.id]
                record = checks.add(school, "self", actor, _day(month, 6 + (i % 12)))
                late = not _share(n, i + 2 * m, p.on_time)
                if month == MONTHS[-1] and (late or i % 3 == 0):
                    continue  # the current month: not signed yet
                end = clock.month_end(month)
                when = end + timedelta(days=3 + i % 5) if late else _day(month, 12 + i % 10)
                checks.sign(record, actor, datetime.combine(when, datetime.min.time()).replace(hour=3))
            if month in MONTHS[1:]:
                for i, school in enumerate(s for s in schools if s.parent_id in {t.id for t in town_units}):
                    if _share(n, i + m, p.township):
                        checks.add(school, "township", supervisor, _day(month, 18 + i % 8))
        g.actor_id = admin.id
        if p.visits:
            with past(_day(MONTHS[0], 1)):
                inspection_ops.assign_leader(leader=leader, unit=town_units[0], actor=admin)
            below = [s for s in schools if s.parent_id == town_units[0].id] or schools
            for v in range(p.visits):
                checks.add(below[v % len(below)], "unannounced", leader, _day(MONTHS[v % len(MONTHS)], 21))
        checks.write()
        # 三学: all-staff sessions at schools, principals at township sessions, the bureau's own staff
        memberships = {m.unit_id: m.id for m in db.session.execute(
            sa.select(Membership).where(Membership.role == "principal", Membership.is_active.is_(True))).scalars()}
        def learn(unit, actor, held_on, membership_ids, **data):
            g.actor_id = actor.id
            with past(held_on, hour=16):
                learning_ops.record(unit=unit, actor=actor, standard_ids=[], membership_ids=membership_ids,
                                    data={"held_on": held_on, **data})

        for m, month in enumerate(MONTHS):
            learn(root, admin, _day(month, 5), [], level="bureau_staff", form="expert_lecture",
                  title="重大事故隐患判定标准专题学习", hours=2, headcount=12)
            for t in town_units:
                present = [memberships[s.id] for i, s in enumerate(schools)
                           if s.parent_id == t.id and s.id in memberships and _share(n, i + m, p.principals)]
                if present:
                    learn(t, admin, _day(month, 14), present, level="principals", form="case_study",
                          title="学校主要负责人安全职责学习", hours=2, headcount=None)
            for i, school in enumerate(schools):
                if _share(n, i + 3 * m, p.staff):
                    learn(school, principals[school.id], _day(month, 20), [], level="all_staff", form="video",
                          title="校园消防安全全员学习", hours=1.5, headcount=school.staff_count or 20)
        # the ledger: found by the schools or by supervision, closed on time, late, or still open
        items = {i.number: i.id for i in items_for(tenant.id)}
        today = clock.today()
        plan = [("self", k) for k in range(p.self_found)] + [("supervision", k) for k in range(p.supervision_found)]
        sources = ["township", "unannounced", "bureau", "joint"]
        total = len(plan) + p.major
        for k, (who, j) in enumerate(plan + [("major", k) for k in range(p.major)]):
            school = schools[(k * 5 + 1) % n]
            found_on = _day(MONTHS[k % len(MONTHS)], 3 + (k * 3) % 20)
            if who == "major":
                category, location, description, item = MAJOR_SPEC
                source, reporter, cited = "township", supervisor, [items[item]] if item in items else []
            else:
                category, location, description = HAZARD_SPECS[k % len(HAZARD_SPECS)]
                source = "self" if who == "self" else sources[j % len(sources)]
                reporter = principals[school.id] if who == "self" else (leader if source == "unannounced" else admin)
                cited = []
            g.actor_id = reporter.id
            with past(found_on, hour=11):
                hazard = hazard_ops.register(school=school, actor=reporter, item_ids=cited, level="general", data={
                    "found_on": found_on, "found_by_name": reporter.display_name.split("·")[-1][:60],
                    "source": source, "category": category, "location": location, "description": description,
                    "responsible_person": "分管副校长", "responsible_dept": "总务处", "measures": "限期整改到位",
                    "funds": 1500 + 100 * k, "deadline": found_on + timedelta(days=15),
                    "interim_controls": "设置警示标志，专人值守", "contingency_plan": "按学校应急预案处置"})
            rectifier = principals[school.id]
            if not _share(total, k, p.closed) or hazard.level == "major" and k % 2 == 0:
                if k % 3 == 0:
                    g.actor_id = rectifier.id
                    with past(day_after(found_on, 1)):
                        hazard_ops.start_rectification(hazard, actor=rectifier, version_id=hazard.version_id)
                continue
            in_time = _share(total, k + 1, p.on_time_close)
            done = min(today, found_on + timedelta(days=10 if in_time else 24))
            _close(hazard, rectifier, admin, found_on, done)
        g.actor_id = None
    log(f"{tenant.short_name}：县区对比演示数据（学校 {n} 所，{len(MONTHS)} 个月的三学三查，隐患 {total} 条）")


def _close(hazard, rectifier: User, accepter: User, found_on: date, done: date) -> None:
    """Started the day after it was found, reported on ``done`` and accepted the same afternoon."""
    g.actor_id = rectifier.id
    with past(min(day_after(found_on, 1), done), hour=9):
        hazard_ops.start_rectification(hazard, actor=rectifier, version_id=hazard.version_id)
    with past(done, hour=11):
        hazard_ops.report_rectification(hazard, actor=rectifier, rectified_on=done, note="已整改，照片留档。",
                                        version_id=hazard.version_id)
    g.actor_id = accepter.id
    with past(done, hour=16):
        hazard_ops.accept(hazard, actor=accepter, accepted_on=done, note="复查合格，同意销号。",
                          version_id=hazard.version_id)


def _seed_jianan_spring(log) -> None:
    """建安区's self-inspections and township checks of April and May 2025 and 2026 (the 学习排查
    phases of both campaigns), with the same habits as its later months in ``demo_checks``; the
    lines that failed (``JIANAN_FINDINGS``) became hazards, planned the next day and mostly closed."""
    tenant = _tenant("jianan")
    with tenant_bound(tenant.id):
        if db.session.execute(sa.select(Inspection.id).where(Inspection.month.in_(JIANAN_SPRING))).first():
            return
        users = {u.username: u for u in db.session.execute(sa.select(User)).scalars()}
        units = {u.code: u for u in db.session.execute(sa.select(OrgUnit)).scalars()}
        findings = {(month, code, kind): rest for month, code, kind, *rest in JIANAN_FINDINGS}
        found: list[tuple[Inspection, User, int | None]] = []

        def inspect(code, kind, actor, month, day):
            finding = findings.get((month, code, kind))
            fail = finding[:4] if finding else None
            inspection = _run(units[code], kind, actor, month, day, actor.display_name.split("·")[-1], fail)
            if finding:
                found.append((inspection, actor, finding[4]))
            return inspection

        count = 0
        for i, (code, (principal, _missing, _late, _unsigned)) in enumerate(SELF.items()):
            actor = users[principal]
            for m, month in enumerate(JIANAN_SPRING):
                if (i + m) % 5 == 4 and (month, code, "self") not in findings:
                    continue  # a month without a self-inspection
                inspection = inspect(code, "self", actor, month, 8 + i % 10)
                count += 1
                end = clock.month_end(month)
                when = end + timedelta(days=2 + i % 4) if (i + m) % 3 == 0 else _day(month, 14 + i % 10)
                sign_at(inspection, actor, datetime.combine(when, datetime.min.time()).replace(hour=3))
        for supervisor, codes in TOWNSHIP.items():
            for m, month in enumerate(JIANAN_SPRING):
                for n, code in enumerate(codes):
                    if (n + m) % 3 != 2 or (month, code, "township") in findings:
                        inspect(code, "township", users[supervisor], month, 18 + n)
        # the findings' rectification, after the month's records (each hazard's steps in its order)
        admin = users["demo_ja_admin"]
        for inspection, actor, days in found:
            hazard = db.session.execute(sa.select(Hazard).where(Hazard.inspection_id == inspection.id)).scalar_one()
            principal = users[SELF[next(c for c, u in units.items() if u.id == hazard.school_id)][0]]
            _plan(hazard, principal)
            if days is None:
                continue
            accepter = admin if actor.id == principal.id else actor
            _close(hazard, principal, accepter, hazard.found_on, day_after(hazard.found_on, days))
        g.actor_id = None
    log(f"建安区：补充 2025、2026 年 4—5 月三查记录（自查 {count} 次，发现隐患 {len(found)} 项）")


def _plan(hazard, principal: User) -> None:
    """The school fills in the rectification plan the day after the finding (五落实)."""
    g.actor_id = principal.id
    with past(day_after(hazard.found_on, 1), hour=8):
        hazard_ops.update(hazard, actor=principal, item_ids=[c.item_id for c in hazard.citations if c.is_active],
                          level=hazard.level,
                          version_id=hazard.version_id, reason="制定整改方案",
                          data={"responsible_person": principal.display_name.split("·")[-1],
                                "responsible_dept": "总务处", "measures": "按检查意见限期整改，整改后拍照留档。",
                                "funds": 800, "deadline": hazard.found_on + timedelta(days=15),
                                "interim_controls": "设置警示标志，专人看护。",
                                "contingency_plan": "发现险情立即疏散师生并报告。"})


def _adopt_city_campaign(log) -> None:
    """魏都区 and 禹州市 adopt the city's 2026 campaign too; 魏都 reports on time, 禹州 late or not."""
    city = _tenant("xuchang")
    with tenant_bound(city.id):
        city_campaign = db.session.execute(sa.select(Campaign).where(
            Campaign.year == 2026, Campaign.published_by_city.is_(True))).scalars().first()
    if city_campaign is None:
        return
    for slug, (prefix, _t, profile) in DISTRICTS.items():
        if not profile.adopt:
            continue
        tenant = _tenant(slug)
        with tenant_bound(tenant.id):
            if db.session.execute(sa.select(Campaign.id).where(Campaign.adopted_from_id == city_campaign.id)).first():
                continue
            admin = db.session.execute(sa.select(User).where(User.username == f"{slug}_admin")).scalar_one()
            g.actor_id = admin.id
            with past(date(2026, 2, 24)):
                campaign = ops.adopt(tenant, city_campaign.id, actor=admin)
            for n, item in enumerate(ops.deliverables_of(campaign)):
                if slug == "yuzhou" and n % 3 == 2:
                    continue  # never reported
                due = item.spec.due_on
                late = slug == "yuzhou" and n % 3 == 1
                when = datetime.combine(due + timedelta(days=4) if late else due - timedelta(days=3),
                                        datetime.min.time()).replace(hour=2)
                with past(when):
                    ops.save_text(item, text=f"{item.unit.name}{item.spec.name}（演示）", actor=admin,
                                  version_id=item.version_id)
                    ops.submit(item, actor=admin, version_id=item.version_id, submitted_at=when)
                if not late:
                    with past(when + timedelta(days=2)):
                        ops.review(item, actor=admin, decision="accept", comment="", version_id=item.version_id,
                                   reviewed_at=when + timedelta(days=2))
            g.actor_id = None
            log(f"{tenant.short_name}：采用市教育局 2026 年专项行动并报送材料")


def _verify_all(log) -> None:
    """The city verifies each district's chain once (the page shows when and whether it held)."""
    city = _tenant("xuchang")
    with tenant_bound(city.id):
        if db.session.execute(sa.select(ChainVerification.id).limit(1)).first():
            return
    districts = db.session.execute(sa.select(Tenant).where(Tenant.parent_id == city.id)
                                   .order_by(Tenant.region_code)).scalars().all()
    outcomes = [verify_tenant(db.session.connection(), t) for t in districts]
    db.session.rollback()
    for outcome in outcomes:
        record_outcome(outcome, triggered_by="cli")
    log(f"市教育局：核验 {len(outcomes)} 个县区的审计链并留存链头")


def _seed_report(log) -> None:
    """One comparison PDF requested by the city's admin (the runs page and its download)."""
    city = _tenant("xuchang")
    with tenant_bound(city.id):
        if db.session.execute(sa.select(ReportRun.id).where(ReportRun.kind == "city_comparison_pdf")).first():
            return
        admin = db.session.execute(sa.select(User).where(User.username == "demo_city_admin")).scalar_one()
    with tenant_bound(city.id):
        g.actor_id = admin.id
        try:
            run_ops.request_run("city_comparison_pdf", user=admin, unit=root_unit(city.id), params={"month": "2026-10"})
        except run_ops.QueueUnavailable:
            log("市教育局：对比报告任务未能排队（后台队列不可用）")
        g.actor_id = None
    log("市教育局：生成 2026 年 10 月县区对比报告（PDF）")


def seed_citywide(log) -> None:
    for slug in DISTRICTS:
        _seed_district(slug, log)
    _seed_jianan_spring(log)
    _adopt_city_campaign(log)
    _verify_all(log)
    _seed_report(log)
