"""Demo 整改指令 for 建安区: directives at every step of their lifecycle, an overdue one with a
pending extension, and overdue major hazards escalated to the bureau and to the city.

Each scenario registers its own hazards (so it does not depend on the ledger demo's stages) and
walks the directive through the real operations as the demo people. Idempotent: nothing is done
when the district already has a directive.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import g

from hazardhub import clock
from hazardhub.accounts.models import User
from hazardhub.extensions import db
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.devtools.demo_photos import demo_photo
from hazardhub.devtools.demo_past import day_after, past
from hazardhub.tenancy import tenant_bound
from hazardhub.directives import escalation, operations as ops
from hazardhub.directives.models import Directive
from hazardhub.hazards import operations as hazard_ops
from hazardhub.standards.operations import items_for

#: (school code, issuer code, issuer account, days ago issued, working days, hazards, requirements, steps)
#: hazards: (location, description, category, cited items); steps: what happens after issue
SCENARIOS = [
    ("JA-D01", "JA-T05", "demo_ja_township", 2, 10,
     [("教学楼三楼东侧消防通道", "消防通道堆放课桌椅等杂物，疏散宽度不足 1 米", "校园消防", [])],
     "1. 立即清理消防通道内堆放的课桌椅等杂物，保持通道畅通；\n2. 明确专人每日巡查消防通道；\n3. 整改完成后报送整改后照片。",
     []),
    ("JA-D01", "JA-T05", "demo_ja_township", 24, 10,
     [("学生宿舍楼一楼楼梯间", "电动自行车在楼梯间停放充电，私拉电线", "校园消防", ["3.1.6"]),
      ("学生宿舍楼二楼走廊", "应急照明灯 3 处不亮", "校园消防", [])],
     "1. 立即清理楼梯间停放的电动自行车，拆除私拉电线；\n2. 在校园东侧设置集中停放充电区；\n3. 更换损坏的应急照明灯；\n4. 整改完成前落实专人看守。",
     [("acknowledge", "demo_ja_principal", "郑校长"),
      ("respond", "demo_ja_safety", "已清理楼梯间电动自行车并拆除私拉电线，应急照明灯已更换。"),
      ("return", "demo_ja_township", "集中充电区尚未建成，电动车仍停放在宿舍楼门口，请继续整改并补报照片。")]),
    ("JA-D02", "JA-T05", "demo_ja_township", 12, 10,
     [("食堂操作间", "燃气管道未安装可燃气体报警装置", "食品安全", [])],
     "1. 安装可燃气体报警装置并与紧急切断阀联动；\n2. 组织食堂从业人员燃气安全培训。",
     [("acknowledge", "demo_ja_principal2", "卫校长"),
      ("respond", "demo_ja_principal2", "已安装可燃气体报警装置 2 台并完成联动测试，已组织食堂人员培训。")]),
    ("JA-D03", "JA-T05", "demo_ja_township", 30, 10,
     [("幼儿园大门口", "门卫室未配备防刺背心、钢叉等安保器械", "校门口", [])],
     "1. 按标准配齐门卫安保器械；\n2. 上下学时段落实“护学岗”。",
     [("acknowledge", "demo_ja_principal3", "蒋园长"),
      ("respond", "demo_ja_principal3", "已配齐防刺背心、钢叉、防暴盾牌，护学岗排班表已公示。"),
      ("accept", "demo_ja_township", "现场复查，安保器械配备到位，护学岗落实，验收合格。")]),
    ("JA-D04", "JA-T05", "demo_ja_township", 26, 10,
     [("学校北侧围墙", "围墙局部开裂倾斜，紧邻学生活动区", "设备设施", [])],
     "1. 立即设置警戒隔离，禁止学生靠近；\n2. 委托有资质单位鉴定并加固或拆除重建。",
     [("acknowledge", "demo_ja_principal4", "朱校长"),
      ("extension", "demo_ja_principal4", "围墙重建需区财政资金审批，已报送申请，请求延期 20 天。")]),
    ("JA-D05", "JA-T06", "demo_ja_township6", 28, 10,
     [("学生宿舍楼", "宿舍楼安全出口被铁栅栏封闭，仅一个出口可用", "校园消防", ["3.1.6"])],
     "1. 立即拆除封闭安全出口的铁栅栏；\n2. 确保宿舍楼两个安全出口畅通；\n3. 夜间落实宿管人员值守。",
     [("acknowledge", "demo_ja_principal5", "沈校长")]),
    ("JA-D12", "JA", "demo_ja_admin", 35, 15,
     [("实验楼化学药品室", "危险化学品未按规定分类存放，无双人双锁管理", "实验室安全", ["3.1.6"])],
     "1. 危险化学品按性质分类存放；\n2. 落实双人保管、双人领取、双把锁、双本账；\n3. 建立出入库台账。",
     [("acknowledge", "demo_ja_principal12", "杨校长")]),
]


def seed_directives(log) -> None:
    tenant = db.session.execute(
        sa.select(Tenant).where(Tenant.slug == "jianan").execution_options(all_tenants=True)).scalar_one()
    with tenant_bound(tenant.id):
        if db.session.execute(sa.select(Directive.id).limit(1)).first():
            return
        users = {u.username: u for u in db.session.execute(sa.select(User)).scalars()}
        units = {u.code: u for u in db.session.execute(sa.select(OrgUnit)).scalars()}
        items = {i.number: i.id for i in items_for(tenant.id)}
        today = clock.today()
        for school_code, issuer_code, issuer_name, ago, working_days, hazards, requirements, steps in SCENARIOS:
            school, issuer, actor = units[school_code], units[issuer_code], users[issuer_name]
            issued_on = today - timedelta(days=ago)
            hazard_ids = []
            for location, description, category, cited in hazards:
                g.actor_id = actor.id
                found_on = issued_on - timedelta(days=1)
                with past(found_on, hour=15):
                    hazard = hazard_ops.register(
                        school=school, actor=actor, level="general", item_ids=[items[n] for n in cited], data={
                            "found_on": found_on, "found_by_name": actor.display_name.split("·")[-1],
                            "source": "bureau" if issuer.kind == "bureau" else "township", "category": category,
                            "location": location, "description": description, "responsible_person": "分管副校长",
                            "responsible_dept": "总务处", "measures": "按整改指令要求限期整改。", "funds": 3000,
                            "deadline": found_on + timedelta(days=21), "interim_controls": "设置警示标志，专人值守。",
                            "contingency_plan": "按学校突发事件应急预案处置。"})
                hazard_ids.append(hazard.id)
            g.actor_id = actor.id
            with past(issued_on):
                directive = ops.issue(issuer=issuer, school=school, actor=actor, hazard_ids=hazard_ids,
                                      requirements=requirements, signer_name=actor.display_name.split("·")[-1],
                                      working_days=working_days, issued_on=issued_on,
                                      doc_title="限期整改指令书" if issuer.kind == "bureau" else "隐患整改通知书")
            for n, (step, username, text) in enumerate(steps, start=1):
                user = users[username]
                g.actor_id = user.id
                # the steps spread over the days since issue: signed the next day, reported, reviewed
                with past(day_after(issued_on, max(1, ago * n // (len(steps) + 1))), hour=10 + n):
                    if step == "acknowledge":
                        ops.acknowledge(directive, actor=user, signer_name=text)
                    elif step == "respond":
                        photo = demo_photo(hazards[0][0], after=True)
                        ops.respond(directive, actor=user, note=text, photos=[photo])
                    elif step == "return":
                        ops.return_(directive, actor=user, comments=text)
                    elif step == "accept":
                        ops.accept(directive, actor=user, note=text)  # closes its hazards (销号) too
                    elif step == "extension":
                        ops.request_extension(directive, actor=user, until=directive.deadline + timedelta(days=20),
                                              reason=text)
        g.actor_id = None
        result = escalation.sweep_tenant(tenant.id, today)
        log(f"建安区：下达演示整改指令 {len(SCENARIOS)} 件（待签收、整改中、退回、待验收、已验收、逾期、延期待批），"
            f"逾期隐患 {result['overdue_recorded']} 项，升级督办 {result['escalated']} 项")

