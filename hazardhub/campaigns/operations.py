"""Every state change of a campaign: from the seed plan's template, phase dates, a unit's report
(write, attach files, submit), the safety section's review, the city's publication and a
district's adoption of a published city campaign.
"""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime

import sqlalchemy as sa

from hazardhub.audit import tx_meta
from hazardhub.campaigns import files
from hazardhub.campaigns.models import (
    BADGES, DELIVERABLE_LIFECYCLE, REPORTING_KINDS, Campaign, Deliverable, DeliverableFile, DeliverableSpec, Phase,
)
from hazardhub.clock import utcnow
from hazardhub.extensions import commit_or_raise
from hazardhub.evidence.storage import clean_original_name
from hazardhub.extensions import db
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.errors import DomainError


class CampaignError(DomainError):
    """A rule of the campaigns was broken; the message is shown to the user (Chinese)."""


STALE = "该记录已被他人修改，请刷新页面后重试。"
CONFLICT = "数据冲突，操作未生效。"
TITLE = "{year}年“学标准 促提升”重大事故隐患排查整治专项行动"


def template(year: int) -> list[dict]:
    """The seed plan's calendar (建安区 2025 方案) for ``year``: phases and what each unit reports."""
    return [
        {"name": "动员部署", "starts_on": date(year, 3, 1), "ends_on": date(year, 3, 31),
         "description": "主要负责同志亲自召开专题会议进行动员部署，结合本地本校实际制定有针对性的活动实施方案，报教体局安全股。",
         "specs": [{"name": "实施方案", "due_on": date(year, 3, 31), "kind": "any",
                    "description": "动员部署会议情况及本单位活动实施方案"}]},
        {"name": "学习排查", "starts_on": date(year, 4, 1), "ends_on": date(year, 5, 31),
         "description": "集中学习培训与学校自主学习；自查自改、专项检查，建立隐患排查治理台账。", "specs": []},
        {"name": "总结验收", "starts_on": date(year, 6, 1), "ends_on": date(year, 6, 30),
         "description": "梳理总结动员部署、集中培训、隐患排查治理、督导检查等工作，形成图片、文字或视频资料。",
         "specs": [{"name": "总结报告", "due_on": date(year, 6, 25), "kind": "any",
                    "description": "总结报告及图片、文字或视频资料"}]},
    ]


def reporting_units(tenant_id: int) -> list[OrgUnit]:
    """Who reports: every active township central school and bureau-affiliated school."""
    return list(db.session.execute(
        sa.select(OrgUnit).where(OrgUnit.tenant_id == tenant_id, OrgUnit.kind.in_(REPORTING_KINDS),
                                 OrgUnit.is_active.is_(True)).order_by(OrgUnit.path)).scalars())


def _build(tenant_id: int, *, title: str, year: int, source: str, actor, phases: list[dict],
           adopted_from: Campaign | None = None, status: str = "active") -> Campaign:
    campaign = Campaign(tenant_id=tenant_id, title=title, year=year, source=source, status=status,
                        created_by_id=actor.id if actor is not None else None,
                        adopted_from_id=adopted_from.id if adopted_from else None,
                        adopted_from_title=adopted_from.title if adopted_from else None)
    db.session.add(campaign)
    db.session.flush()
    units = reporting_units(tenant_id)
    for sort, spec_phase in enumerate(phases, start=1):
        phase = Phase(tenant_id=tenant_id, campaign_id=campaign.id, name=spec_phase["name"], sort=sort,
                      description=spec_phase.get("description"), starts_on=spec_phase["starts_on"],
                      ends_on=spec_phase["ends_on"])
        db.session.add(phase)
        db.session.flush()
        for n, s in enumerate(spec_phase["specs"], start=1):
            spec = DeliverableSpec(tenant_id=tenant_id, phase_id=phase.id, name=s["name"], due_on=s["due_on"],
                                   kind=s.get("kind", "any"), description=s.get("description"), sort=n,
                                   who=s.get("who", "township_center+affiliated_school"))
            db.session.add(spec)
            db.session.flush()
            for unit in units:
                db.session.add(Deliverable(tenant_id=tenant_id, spec_id=spec.id, campaign_id=campaign.id,
                                           unit_id=unit.id, status="draft"))
    return campaign


def create_from_template(tenant: Tenant, year: int, actor, title: str | None = None) -> Campaign:
    """A campaign with the seed plan's phases and dates for ``year`` and a deliverable row per
    township central school and affiliated school. A city campaign starts as a draft (to publish)."""
    if not 2000 <= int(year) <= 2100:
        raise CampaignError("年度无效。")
    campaign = _build(tenant.id, title=(title or "").strip()[:200] or TITLE.format(year=year), year=int(year),
                      source="template", actor=actor, phases=template(int(year)),
                      status="draft" if tenant.kind == "city" else "active")
    tx_meta(reason=f"按方案模板创建 {year} 年专项行动")
    commit_or_raise(CampaignError(STALE), CampaignError("数据冲突，专项行动未创建。"))
    return campaign


def periods(campaign_ids) -> dict[int, tuple[date, date]]:
    """Campaign id → (first phase's start, last phase's end), one query for a page of campaigns."""
    ids = list(campaign_ids)
    if not ids:
        return {}
    rows = db.session.execute(sa.select(Phase.campaign_id, sa.func.min(Phase.starts_on), sa.func.max(Phase.ends_on))
                              .where(Phase.campaign_id.in_(ids)).group_by(Phase.campaign_id)).all()
    return {cid: (start, end) for cid, start, end in rows}


def phases_of(campaign: Campaign) -> list[Phase]:
    return list(db.session.execute(sa.select(Phase).where(Phase.campaign_id == campaign.id)
                                   .order_by(Phase.sort, Phase.id)).scalars())


def specs_of(phase_ids: list[int]) -> list[DeliverableSpec]:
    if not phase_ids:
        return []
    return list(db.session.execute(sa.select(DeliverableSpec).where(DeliverableSpec.phase_id.in_(phase_ids))
                                   .order_by(DeliverableSpec.due_on, DeliverableSpec.sort)).scalars())


def deliverables_of(campaign: Campaign) -> list[Deliverable]:
    return list(db.session.execute(sa.select(Deliverable).where(Deliverable.campaign_id == campaign.id)
                                   .order_by(Deliverable.spec_id, Deliverable.unit_id)).unique().scalars())


def counts(deliverables: list[Deliverable], today: date) -> dict[str, int]:
    """How many deliverables carry each badge (every key of ``BADGES``, zeros included)."""
    found = Counter(d.badge(today) for d in deliverables)
    return {key: found.get(key, 0) for key in BADGES}


def files_of(deliverable: Deliverable) -> list[DeliverableFile]:
    return list(db.session.execute(sa.select(DeliverableFile).where(DeliverableFile.deliverable_id == deliverable.id)
                                   .order_by(DeliverableFile.id)).scalars())


def set_status(campaign: Campaign, *, status: str, actor, version_id: int) -> None:
    """Close a campaign (reports are then frozen) or reopen it."""
    if status not in ("active", "closed") or campaign.status == status:
        raise CampaignError("状态无效。")
    if campaign.version_id != version_id:
        raise CampaignError(STALE)
    campaign.status = status
    tx_meta(reason="结束专项行动" if status == "closed" else "重新开启专项行动")
    commit_or_raise(CampaignError(STALE), CampaignError(CONFLICT))


def set_phase_dates(phase: Phase, *, starts_on: date, ends_on: date, due: dict[int, date], actor,
                    version_id: int) -> None:
    """Adjust a phase's dates and the due dates of its deliverables (the bureau's safety section)."""
    if phase.version_id != version_id:
        raise CampaignError(STALE)
    if ends_on < starts_on:
        raise CampaignError("结束日期不能早于开始日期。")
    phase.starts_on, phase.ends_on = starts_on, ends_on
    for spec in specs_of([phase.id]):
        if spec.id in due:
            if not starts_on <= due[spec.id] <= ends_on:
                raise CampaignError(f"“{spec.name}”的报送截止日期须在本阶段起止日期之内。")
            spec.due_on = due[spec.id]
    tx_meta(reason=f"调整阶段日期：{phase.name}")
    commit_or_raise(CampaignError(STALE), CampaignError(CONFLICT))


def _open(deliverable: Deliverable) -> Campaign:
    campaign = db.session.execute(sa.select(Campaign).where(Campaign.id == deliverable.campaign_id)).scalar_one()
    if campaign.status == "closed":
        raise CampaignError("专项行动已结束，不能再修改报送材料。")
    DELIVERABLE_LIFECYCLE.check(deliverable, "submit", CampaignError)  # the unit changes it only until it submits
    return campaign


def save_text(deliverable: Deliverable, *, text: str, actor, version_id: int) -> None:
    _open(deliverable)
    if deliverable.version_id != version_id:
        raise CampaignError(STALE)
    deliverable.text = (text or "").strip()[:20000] or None
    tx_meta(reason=f"填写{deliverable.spec.name}")
    commit_or_raise(CampaignError(STALE), CampaignError(CONFLICT))


def add_file(deliverable: Deliverable, *, actor, stream, original_name: str | None) -> DeliverableFile:
    """Store one upload (photo/PDF via the evidence storage, MP4 streamed) and record it."""
    _open(deliverable)
    stored = files.store(deliverable.tenant_id, stream)
    record = DeliverableFile(tenant_id=deliverable.tenant_id, deliverable_id=deliverable.id, kind=stored.kind,
                             stored_name=stored.stored_name, thumb_name=stored.thumb_name,
                             content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
                             original_name=clean_original_name(original_name), uploaded_by_id=actor.id)
    db.session.add(record)
    tx_meta(reason=f"上传{deliverable.spec.name}附件：{record.original_name}")
    try:
        commit_or_raise(CampaignError(STALE), CampaignError(CONFLICT))
    except BaseException:
        files.remove(stored)
        raise
    return record


def submit(deliverable: Deliverable, *, actor, version_id: int, submitted_at: datetime | None = None) -> None:
    """Submit to the safety section.

    :param submitted_at: naive UTC; only the demo seeder back-dates submissions of a past campaign.
    """
    _open(deliverable)
    if deliverable.version_id != version_id:
        raise CampaignError(STALE)
    spec = deliverable.spec
    has_files = bool(files_of(deliverable))
    if spec.kind == "text" and not deliverable.text:
        raise CampaignError("请先填写报送内容再提交。")
    if spec.kind == "file" and not has_files:
        raise CampaignError("请先上传材料文件再提交。")
    if not deliverable.text and not has_files:
        raise CampaignError("请先填写报送内容或上传材料（图片、PDF 或视频）再提交。")
    DELIVERABLE_LIFECYCLE.move(deliverable, "submit", CampaignError)
    deliverable.submitted_at = submitted_at or utcnow()
    deliverable.submitted_by_id = actor.id
    tx_meta(reason=f"提交{spec.name}")
    commit_or_raise(CampaignError(STALE), CampaignError(CONFLICT))


def review(deliverable: Deliverable, *, actor, decision: str, comment: str, version_id: int,
           reviewed_at: datetime | None = None) -> None:
    """The safety section returns (with a reason) or accepts a submitted report."""
    DELIVERABLE_LIFECYCLE.check(deliverable, "accept", CampaignError)  # accept and return share the state
    if deliverable.version_id != version_id:
        raise CampaignError(STALE)
    comment = (comment or "").strip()[:1000]
    if decision == "return" and not comment:
        raise CampaignError("退回时请填写退回意见。")
    if decision not in ("return", "accept"):
        raise CampaignError("审核结果无效。")
    DELIVERABLE_LIFECYCLE.move(deliverable, decision, CampaignError)
    deliverable.reviewed_by_id = actor.id
    deliverable.reviewed_at = reviewed_at or utcnow()
    deliverable.review_comment = comment or None
    tx_meta(reason=("退回" if decision == "return" else "审核通过") + deliverable.spec.name)
    commit_or_raise(CampaignError(STALE), CampaignError(CONFLICT))


def publish(campaign: Campaign, *, actor, version_id: int) -> None:
    """The city bureau publishes its campaign as reference for its districts."""
    if campaign.published_by_city:
        raise CampaignError("该专项行动已发布。")
    if campaign.version_id != version_id:
        raise CampaignError(STALE)
    campaign.published_by_city = True
    campaign.status = "active"
    tx_meta(reason="市教育局发布专项行动")
    commit_or_raise(CampaignError(STALE), CampaignError(CONFLICT))


def published_city_campaigns(tenant: Tenant, campaign_id: int | None = None) -> list[Campaign]:
    """The campaigns the parent city has published.

    Deliberate, read-only cross-tenant read of published reference data: ``all_tenants`` lifts the
    tenant criteria for this one query, which is limited explicitly to Campaign rows of the
    district's parent city with ``published_by_city`` true. Nothing read here is ever written.
    """
    if tenant.kind != "district" or tenant.parent_id is None:
        return []
    stmt = (sa.select(Campaign).where(Campaign.tenant_id == tenant.parent_id, Campaign.published_by_city.is_(True))
            .order_by(Campaign.year.desc(), Campaign.id.desc()).execution_options(all_tenants=True))
    if campaign_id is not None:
        stmt = stmt.where(Campaign.id == campaign_id)
    return list(db.session.execute(stmt).scalars())


def _city_phases(city_campaign: Campaign) -> list[dict]:
    """The published campaign's phases and specs (same deliberate read-only cross-tenant read,
    limited to the parent city's rows of a campaign ``published_city_campaigns`` returned)."""
    phases = db.session.execute(
        sa.select(Phase).where(Phase.tenant_id == city_campaign.tenant_id, Phase.campaign_id == city_campaign.id)
        .order_by(Phase.sort, Phase.id).execution_options(all_tenants=True)).scalars().all()
    specs = db.session.execute(
        sa.select(DeliverableSpec).where(DeliverableSpec.tenant_id == city_campaign.tenant_id,
                                         DeliverableSpec.phase_id.in_([p.id for p in phases] or [-1]))
        .order_by(DeliverableSpec.sort, DeliverableSpec.id).execution_options(all_tenants=True)).scalars().all()
    return [{"name": p.name, "description": p.description, "starts_on": p.starts_on, "ends_on": p.ends_on,
             "specs": [{"name": s.name, "due_on": s.due_on, "kind": s.kind, "description": s.description,
                        "who": s.who} for s in specs if s.phase_id == p.id]} for p in phases]


def adopt(tenant: Tenant, city_campaign_id: int, *, actor) -> Campaign:
    """Copy a published city campaign into the district (phases, specs, a deliverable per unit)."""
    found = published_city_campaigns(tenant, city_campaign_id)
    if not found:
        raise CampaignError("未找到市教育局发布的该专项行动。")
    city_campaign = found[0]
    already = db.session.execute(sa.select(Campaign.id).where(Campaign.tenant_id == tenant.id,
                                                              Campaign.adopted_from_id == city_campaign.id)).first()
    if already:
        raise CampaignError("本局已采用该专项行动。")
    campaign = _build(tenant.id, title=city_campaign.title, year=city_campaign.year, source=city_campaign.source, actor=actor,
                      phases=_city_phases(city_campaign), adopted_from=city_campaign)
    tx_meta(reason=f"采用市教育局专项行动：{city_campaign.title}")
    commit_or_raise(CampaignError(STALE), CampaignError("数据冲突，未能采用。"))
    return campaign
