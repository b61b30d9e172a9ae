"""What is due for a user this month (the home page's 待办 list and the daily notifications).

Computed from the same records as the compliance matrix, so it can never disagree with it: the
home page computes it live, and the daily job (``hazardhub.notifications.operations.refresh_due``)
stores the same list in each user's inbox, keyed so that a second run changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask import url_for

from hazardhub import clock
from hazardhub.campaigns.models import Campaign, Deliverable, DeliverableSpec
from hazardhub.compliance import operations as compliance
from hazardhub.directives.models import Directive
from hazardhub.directives.operations import open_directives_of
from hazardhub.extensions import db
from hazardhub.hazards.models import OPEN_STATUSES, Hazard
from hazardhub.orgs.operations import reading_roots
from hazardhub.policy import can


@dataclass
class Reminder:
    level: str  # danger, warning, info
    text: str
    url: str
    #: stable identity of the duty within its period (the notification's idempotency key)
    key: str = ""


def reminders_for(user, now: date | None = None) -> list[Reminder]:
    """Everything due for ``user`` in the month of ``now`` (Beijing today by default)."""
    roles = {m.role for m in user.active_memberships}
    if not roles or roles <= {"staff"}:
        return []
    now = now or clock.today()
    month = f"{now.year:04d}-{now.month:02d}"
    roots = reading_roots(user)
    result: list[Reminder] = []
    if roles & {"principal", "safety_officer", "township_supervisor", "bureau_leader", "bureau_admin",
                "bureau_viewer"}:
        matrix = compliance.build([r for r in roots if r.tenant_id == user.tenant_id], month, now)
        if roles & {"principal", "safety_officer"}:
            for row in matrix.schools:
                cell = row.self_check
                if cell.text == "本月待自查":
                    result.append(Reminder("warning", f"{row.unit.name}：本月校长带队重大事故隐患自查尚未开展",
                                           url_for("inspections.start", unit_id=row.unit.id, kind="self"),
                                           f"selfcheck:{month}:{row.unit.id}"))
                elif cell.text == "待校长签字" and cell.url_args:
                    result.append(Reminder("warning", f"{row.unit.name}：本月自查已完成，待校长签字",
                                           url_for("inspections.show", **cell.url_args),
                                           f"signoff:{month}:{row.unit.id}"))
        if "township_supervisor" in roles:
            for township in matrix.townships:
                missing = township.schools - township.checked
                if missing:
                    result.append(Reminder("warning", f"{township.unit.name}：本月还有 {missing} 所学校未检查",
                                           url_for("compliance.index", month=month),
                                           f"township:{month}:{township.unit.id}"))
        if "bureau_leader" in roles:
            for row in matrix.leaders:
                if row.leader.id == user.id and row.cell.text == "本月待暗访":
                    result.append(Reminder("warning", "本月分包单位的暗访暗查尚未开展",
                                           url_for("inspections.start", kind="unannounced"),
                                           f"visit:{month}:{user.id}"))
        if roles & {"bureau_admin", "bureau_viewer"}:
            pending = sum(1 for r in matrix.schools if r.self_check.text == "本月待自查")
            if pending:
                result.append(Reminder("info", f"本月还有 {pending} 所学校未开展校长带队自查",
                                       url_for("compliance.index", month=month), f"selfcheck-all:{month}"))
    scope = sa.or_(*[(Hazard.tenant_id == r.tenant_id) & Hazard.school_path.startswith(r.path, autoescape=True)
                     for r in roots]) if roots else sa.false()
    overdue = db.session.execute(sa.select(sa.func.count()).select_from(Hazard).where(
        scope, Hazard.status.in_(OPEN_STATUSES), Hazard.deadline < now)).scalar_one()
    if overdue:
        result.append(Reminder("danger", f"有 {overdue} 项隐患已超过整改期限",
                               url_for("hazards.index", status="overdue"), f"overdue:{month}"))
    awaiting = db.session.execute(sa.select(Hazard).where(scope, Hazard.status == "awaiting_acceptance")
                                  .limit(200)).scalars().all()
    directed = open_directives_of(h.id for h in awaiting)  # accepted through their directive (its reminder)
    mine = [h for h in awaiting if h.rectified_by_id != user.id and h.id not in directed
            and can(user, "hazard.accept", h)]
    if mine:
        result.append(Reminder("info", f"有 {len(mine)} 项隐患整改完成，待您验收",
                               url_for("hazards.index", status="awaiting_acceptance"), f"accept:{month}"))
    pending = db.session.execute(sa.select(Hazard).where(scope, Hazard.downgrade_status == "pending")
                                 .limit(200)).scalars().all()
    decide = [h for h in pending if can(user, "hazard.downgrade_approve", h)]
    if decide:
        result.append(Reminder("info", f"有 {len(decide)} 项重大隐患的降级申请待您审批",
                               url_for("hazards.show", hazard_id=decide[0].id), f"downgrade:{month}"))
    result.extend(_deliverable_reminders(user, roles, now))
    result.extend(_directive_reminders(user, roles, now))
    return result


def _directive_reminders(user, roles: set[str], now: date) -> list[Reminder]:
    """整改指令: the school signs receipt and reports (returned ones again, before the deadline);
    the issuing unit verifies responses and decides extension requests."""
    result: list[Reminder] = []
    rows = db.session.execute(sa.select(Directive).where(
        sa.or_(*[(Directive.tenant_id == m.tenant_id) & Directive.school_path.startswith(m.unit.path, autoescape=True)
                 for m in user.active_memberships if m.unit is not None]) if user.active_memberships else sa.false(),
        Directive.status.in_(("issued", "acknowledged", "returned", "responded")))
        .order_by(Directive.deadline).limit(500)).scalars().all()
    if roles & {"principal", "safety_officer"}:
        for d in rows:
            if not can(user, "directive.respond", d):
                continue
            url = url_for("directives.show", directive_id=d.id)
            if d.status == "issued":
                result.append(Reminder("danger", f"{d.school_name}：收到整改指令 {d.number}，请签收", url,
                                       f"directive-receipt:{d.id}"))
            elif d.status in ("acknowledged", "returned"):
                late = d.deadline < now
                what = "已退回，请重新整改并报告" if d.status == "returned" else "请按期整改并报告"
                result.append(Reminder("danger" if late or d.status == "returned" else "warning",
                                       f"{d.school_name}：整改指令 {d.number}{what}（期限 {d.deadline:%Y-%m-%d}"
                                       f"{'，已逾期' if late else ''}）", url,
                                       f"directive-{d.status}:{d.id}:{d.return_count}"))
    if roles & {"township_supervisor", "bureau_admin", "bureau_leader"}:
        verify = [d for d in rows if d.status == "responded" and can(user, "directive.verify", d)]
        if verify:
            result.append(Reminder("info", f"有 {len(verify)} 份整改指令的整改报告待您验收",
                                   url_for("directives.show", directive_id=verify[0].id),
                                   f"directive-verify:{now.isoformat()}"))
        extension = [d for d in rows if d.extension_status == "pending" and can(user, "directive.extension_decide", d)]
        if extension:
            result.append(Reminder("warning", f"有 {len(extension)} 份整改指令的延期申请待您审批",
                                   url_for("directives.show", directive_id=extension[0].id),
                                   f"directive-extension:{now.isoformat()}"))
    return result


def _deliverable_reminders(user, roles: set[str], now: date) -> list[Reminder]:
    """Campaign deliverables: due this month or already late and not submitted, returned for
    rework (the reporting unit's head), and submitted ones awaiting review (the safety section)."""
    result: list[Reminder] = []
    month_last = clock.month_end(clock.month_of(now))
    active = (sa.select(Deliverable).join(Campaign, Campaign.id == Deliverable.campaign_id)
              .join(DeliverableSpec, DeliverableSpec.id == Deliverable.spec_id)
              .where(Campaign.status == "active", Campaign.tenant_id == user.tenant_id))
    if roles & {"township_supervisor", "principal"}:
        unit_ids = [m.unit_id for m in user.active_memberships if m.role in {"township_supervisor", "principal"}]
        own = db.session.execute(active.where(
            Deliverable.unit_id.in_(unit_ids), Deliverable.status.in_(("draft", "returned")))
            .order_by(DeliverableSpec.due_on)).scalars().all()
        for d in own:
            if not can(user, "deliverable.edit", d):
                continue
            url = url_for("campaigns.deliverable", deliverable_id=d.id)
            if d.status == "returned":
                result.append(Reminder("danger", f"{d.unit.name}：《{d.spec.name}》被退回，请修改后重新报送",
                                       url, f"deliverable-returned:{d.id}:{d.version_id}"))
            elif d.spec.due_on < now:
                result.append(Reminder("danger", f"{d.unit.name}：《{d.spec.name}》已逾期未报送（截止 {d.spec.due_on:%m-%d}）",
                                       url, f"deliverable-late:{d.id}"))
            elif d.spec.due_on <= month_last:
                result.append(Reminder("warning", f"{d.unit.name}：《{d.spec.name}》须于 {d.spec.due_on:%m-%d} 前报送",
                                       url, f"deliverable-due:{d.id}"))
    if roles & {"bureau_admin", "bureau_leader"}:
        waiting = db.session.execute(active.where(Deliverable.status == "submitted")).scalars().all()
        waiting = [d for d in waiting if can(user, "deliverable.review", d)]
        if waiting:
            result.append(Reminder("info", f"有 {len(waiting)} 份专项行动报送材料待审核",
                                   url_for("campaigns.show", campaign_id=waiting[0].campaign_id),
                                   f"deliverable-review:{now.isoformat()[:7]}"))
    return result
