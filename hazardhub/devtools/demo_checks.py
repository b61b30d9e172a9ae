"""Demo 三查 records for 建安区: monthly self-inspections with signatures (some late, some
missing), township checks and the leaders' unannounced visits, over the six months up to the
current one (a demo seeded in any month shows that month in progress)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import g

from hazardhub import clock
from hazardhub.accounts.models import User
from hazardhub.extensions import db
from hazardhub.inspections import operations as ops
from hazardhub.inspections.models import Inspection
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.devtools.demo_past import PastInspections, moment, past
from hazardhub.tenancy import tenant_bound

#: six months of records ending with the current Beijing month, so the demo always has a month in
#: progress (self-inspections awaiting the principal's signature, schools not yet checked): the
#: months below are counted back from it, 0 = this month, 1 = last month, … 5
SPAN = 6
#: school → (principal, months without a self-inspection, months signed late, month left unsigned)
SELF = {
    "JA-D01": ("demo_ja_principal", set(), {3}, 0),
    "JA-D02": ("demo_ja_principal2", {2}, {1}, None),
    "JA-D03": ("demo_ja_principal3", {1, 0}, set(), None),
    "JA-D05": ("demo_ja_principal5", set(), set(), 0),
    "JA-D12": ("demo_ja_principal12", {4}, set(), None),
    "JA-D04": ("demo_ja_principal4", {3, 0}, {5}, None),
    "JA-D06": ("demo_ja_principal6", set(), set(), 0),
    "JA-D07": ("demo_ja_principal7", {4, 3}, set(), None),
    "JA-D08": ("demo_ja_principal8", set(), {2, 1}, None),
    "JA-D10": ("demo_ja_principal10", {0}, set(), None),
    "JA-D11": ("demo_ja_principal11", set(), set(), None),
    "JA-D13": ("demo_ja_principal13", {5, 1}, set(), 0),
}
TOWNSHIP = {"demo_ja_township": ["JA-D01", "JA-D02", "JA-D03", "JA-D04"],
            "demo_ja_township6": ["JA-D05", "JA-D06", "JA-D07"]}
#: (leader, assigned unit code, visits: (school code, months back))
LEADER = ("demo_ja_leader", ["JA-T05", "JA-D06"], [("JA-D01", 1), ("JA-D03", 0), ("JA-D06", 0)])
DEMO_PASSWORD = "Demo2025"


def months_ago(back: int) -> str:
    """The ``YYYY-MM`` month ``back`` months before the current Beijing month."""
    today = clock.today()
    index = today.year * 12 + today.month - 1 - back
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _day(month: str, day: int) -> date:
    year, mon = (int(p) for p in month.split("-"))
    return min(date(year, mon, day), clock.today())


def _run(unit, kind, actor, month, day, inspectors, fail=None):
    """One inspection recorded on its day (start, checklist and finish as one sitting)."""
    g.actor_id = actor.id
    on = _day(month, day)
    with past(on, hour=9):
        inspection = ops.start(unit=unit, kind=kind, actor=actor, inspected_on=on, inspectors=inspectors)
        lines = ops.lines_of(inspection)
        results = {line.id: ("pass", None) for line in lines}
        findings = {}
        if fail:
            line = next(line for line in lines if line.number == fail[0])
            results[line.id] = ("fail", fail[1])
            findings[line.id] = (fail[2], fail[3])
        ops.record_results(inspection, actor=actor, results=results, findings=findings,
                           version_id=inspection.version_id)
        ops.finish(inspection, actor=actor,
                   summary="按检查表逐项检查，" + ("发现问题已登记台账。" if fail else "未发现重大事故隐患。"),
                   version_id=inspection.version_id)
    return inspection


def sign_at(inspection, actor, signed_at: datetime) -> None:
    """The principal's signature at ``signed_at`` (naive UTC): not before the inspection was
    recorded (09:00 Beijing on its day), never later than now."""
    recorded = clock.naive_utc(moment(inspection.inspected_on, 9))
    signed_at = min(max(signed_at, recorded + timedelta(hours=2)), clock.utcnow())
    g.actor_id = actor.id
    with past(signed_at):
        ops.sign(inspection, actor=actor, password=DEMO_PASSWORD, version_id=inspection.version_id,
                 signed_at=signed_at)


def seed_inspections(log) -> None:
    tenant = db.session.execute(
        sa.select(Tenant).where(Tenant.slug == "jianan").execution_options(all_tenants=True)).scalar_one()
    with tenant_bound(tenant.id):
        if db.session.execute(sa.select(Inspection.id).limit(1)).first():
            return
        users = {u.username: u for u in db.session.execute(sa.select(User)).scalars()}
        units = {u.code: u for u in db.session.execute(sa.select(OrgUnit)).scalars()}
        leader_name, assigned, visits = LEADER
        for code in assigned:
            g.actor_id = users["demo_ja_admin"].id
            with past(clock.month_end(months_ago(SPAN)), hour=9):  # before the first month seeded
                ops.assign_leader(leader=users[leader_name], unit=units[code], actor=users["demo_ja_admin"])
        count = 0
        # all-pass checks through the audit module's bulk path at their dates; a failed line goes
        # through the operations (it becomes a hazard there)
        checks = PastInspections(tenant.id)
        for code, (principal, missing, late, unsigned) in SELF.items():
            actor = users[principal]
            for back in range(SPAN - 1, -1, -1):
                if back in missing:
                    continue
                month = months_ago(back)
                fail = ("区域-2", "灭火器压力不足", "教学楼二楼走廊", "两具灭火器压力指针在红区") \
                    if (code, back) == ("JA-D01", 2) else None
                day, inspectors = 8 + count % 10, f"{actor.display_name.split('·')[-1]}、安全专干"
                if fail:
                    record = _run(units[code], "self", actor, month, day, inspectors, fail)
                else:
                    record = checks.add(units[code], "self", actor, _day(month, day), inspectors)
                count += 1
                if back == unsigned:
                    continue
                end = clock.month_end(month)
                when = end + timedelta(days=4) if back in late else min(_day(month, 12), end)
                signed_at = datetime.combine(when, datetime.min.time()).replace(hour=2)
                if fail:
                    sign_at(record, actor, signed_at)
                else:
                    checks.sign(record, actor, signed_at)
        for supervisor, codes in TOWNSHIP.items():
            actor = users[supervisor]
            for back in range(SPAN - 3, -1, -1):
                month = months_ago(back)
                for n, code in enumerate(codes):
                    if (back, n) in ((0, 2), (1, 3)):
                        continue  # not every school was checked every month
                    fail = ("区域-4", None, "学校北侧围墙外", "围墙外有废品收购点堆放纸箱") \
                        if (code, back) == ("JA-D04", 2) else None
                    if fail:
                        _run(units[code], "township", actor, month, 18 + n, actor.display_name.split("·")[-1], fail)
                    else:
                        checks.add(units[code], "township", actor, _day(month, 18 + n))
        for code, back in visits:
            checks.add(units[code], "unannounced", users[leader_name], _day(months_ago(back), 21), "孙国强（分包领导）")
        checks.write()
        g.actor_id = None
        log(f"建安区：写入三查记录（自查 {count} 次，含签字、逾期与缺失）")
