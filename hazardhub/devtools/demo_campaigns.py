"""Demo 专项行动 for 建安区: the 2025 campaign (created from the seed plan's template) completed with
late and missing reports, and the 2026 campaign published by 许昌市教育局 and adopted by 建安区.

Submissions and reviews of 2025 are back-dated through the operations' explicit ``submitted_at`` /
``reviewed_at`` parameters (naive UTC), so lateness is judged as it would have been at the time.
Units with a demo account report as that account; for the others the safety section's account
records the report (the demo has no account for every township).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import g

from hazardhub.accounts.models import Membership, User
from hazardhub.campaigns import operations as ops
from hazardhub.campaigns.models import Campaign
from hazardhub.extensions import db
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.devtools.demo_past import past
from hazardhub.tenancy import tenant_bound

#: township without any report in 2025
MISSING = "JA-T18"
#: 实施方案 submitted after 03-31 (Beijing), naive UTC
LATE_PLANS = {"JA-T09": datetime(2025, 4, 3, 2, 30), "JA-T14": datetime(2025, 4, 8, 7, 10)}
#: 总结报告 returned with a comment
RETURNED = ("JA-T07", "总结报告缺少隐患排查治理台账和督导检查的图片资料，请补充后重新报送。")
CITY_TITLE = "2026年许昌市教育系统“学标准 促提升”重大事故隐患排查整治专项行动"


def _tenant(slug: str) -> Tenant:
    return db.session.execute(
        sa.select(Tenant).where(Tenant.slug == slug).execution_options(all_tenants=True)).scalar_one()


def _reporters(admin: User) -> dict[int, User]:
    """unit id → the account that reports for it (its supervisor/principal, else the safety section)."""
    rows = db.session.execute(
        sa.select(Membership.unit_id, User).join(User, User.id == Membership.user_id)
        .where(Membership.is_active.is_(True), Membership.role.in_(("township_supervisor", "principal")))).all()
    return {unit_id: user for unit_id, user in rows}


def _submit(item, actor: User, text: str, when: datetime) -> None:
    """Write and submit ``item`` at ``when`` (naive UTC), as its reporter."""
    g.actor_id = actor.id
    with past(when):
        ops.save_text(item, text=text, actor=actor, version_id=item.version_id)
        ops.submit(item, actor=actor, version_id=item.version_id, submitted_at=when)


def _seed_2025(tenant: Tenant, admin: User, log) -> None:
    g.actor_id = admin.id
    with past(date(2025, 2, 20)):
        campaign = ops.create_from_template(tenant, 2025, admin)
    reporters = _reporters(admin)
    codes = {u.id: u.code for u in db.session.execute(sa.select(OrgUnit)).scalars()}
    count = 0
    for n, item in enumerate(ops.deliverables_of(campaign)):
        code = codes[item.unit_id]
        if code == MISSING:
            continue
        actor = reporters.get(item.unit_id, admin)
        unit_name = item.unit.name
        g.actor_id = actor.id
        if item.spec.name == "实施方案":
            when = LATE_PLANS.get(code) or datetime(2025, 3, 10 + n % 20, 1 + n % 8, 15)
            text = (f"{unit_name}于{when.month}月{when.day}日召开“学标准 促提升”专项行动动员部署专题会议，"
                    "主要负责同志亲自部署，结合本单位实际制定了活动实施方案，明确了学习培训、排查整治、督导检查的任务、责任人和时间节点。")
            reviewed = datetime(when.year, when.month, min(when.day + 2, 28), 3, 0)
        else:
            when = datetime(2025, 6, 10 + n % 15, 2 + n % 6, 40)
            text = (f"{unit_name}专项行动总结：组织集中学习培训和全员自主学习，开展自查自改和专项检查，"
                    "建立隐患排查治理台账，排查出的隐患均已明确整改责任人、措施和时限。附图片、文字资料。")
            reviewed = datetime(2025, 6, 27, 2, 0)
        reviewed = max(reviewed, when + timedelta(hours=1))
        _submit(item, actor, text, when)
        g.actor_id = admin.id
        with past(reviewed):
            if item.spec.name == "总结报告" and code == RETURNED[0]:
                ops.review(item, actor=admin, decision="return", comment=RETURNED[1], version_id=item.version_id,
                           reviewed_at=reviewed)
            else:
                ops.review(item, actor=admin, decision="accept", comment="", version_id=item.version_id,
                           reviewed_at=reviewed)
        count += 1
    g.actor_id = admin.id
    with past(date(2025, 7, 3)):  # the safety section closes the campaign after its last review
        ops.set_status(campaign, status="closed", actor=admin, version_id=campaign.version_id)
    log(f"  2025 年专项行动：{count} 份报送材料（逾期提交 {len(LATE_PLANS)} 份，未报送 1 个单位，退回 1 份）")


def _seed_2026(campaign: Campaign, admin: User) -> None:
    """The adopted 2026 campaign: plans in on time and accepted (two units still missing), about
    half of the summary reports in and waiting for the safety section's review."""
    reporters = _reporters(admin)
    for n, item in enumerate(ops.deliverables_of(campaign)):
        if n % 11 == 5 or (item.spec.name == "总结报告" and n % 2):
            continue
        actor = reporters.get(item.unit_id, admin)
        g.actor_id = actor.id
        day = datetime(2026, 3, 12 + n % 18, 2, 0) if item.spec.name == "实施方案" else datetime(2026, 6, 10 + n % 14, 3, 0)
        _submit(item, actor, f"{item.unit.name}{item.spec.name}（2026 年）", day)
        if item.spec.name == "实施方案":
            g.actor_id = admin.id
            with past(datetime(2026, 4, 2, 2, 0)):
                ops.review(item, actor=admin, decision="accept", comment="", version_id=item.version_id,
                           reviewed_at=datetime(2026, 4, 2, 2, 0))


def seed_campaigns(log) -> None:
    """Idempotent: each part is skipped when it exists."""
    jianan, city = _tenant("jianan"), _tenant("xuchang")
    with tenant_bound(jianan.id):
        admin = db.session.execute(sa.select(User).where(User.username == "demo_ja_admin")).scalar_one()
        if db.session.execute(sa.select(Campaign.id).where(Campaign.year == 2025)).first() is None:
            _seed_2025(jianan, admin, log)
    with tenant_bound(city.id):
        city_admin = db.session.execute(sa.select(User).where(User.username == "demo_city_admin")).scalar_one()
        city_campaign = db.session.execute(sa.select(Campaign).where(Campaign.year == 2026)).scalar_one_or_none()
        if city_campaign is None:
            g.actor_id = city_admin.id
            with past(date(2026, 2, 16)):
                city_campaign = ops.create_from_template(city, 2026, city_admin, title=CITY_TITLE)
                ops.publish(city_campaign, actor=city_admin, version_id=city_campaign.version_id)
            log("  许昌市教育局发布 2026 年专项行动")
        city_campaign_id = city_campaign.id
    with tenant_bound(jianan.id):
        adopted = db.session.execute(sa.select(Campaign.id).where(Campaign.adopted_from_id == city_campaign_id)).first()
        if adopted is None:
            g.actor_id = admin.id
            with past(date(2026, 2, 20)):
                campaign = ops.adopt(jianan, city_campaign_id, actor=admin)
            _seed_2026(campaign, admin)
            log("  建安区采用市教育局 2026 年专项行动")
    g.pop("actor_id", None)
