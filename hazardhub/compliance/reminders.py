"""What is due for the current user this month (the home page's 待办 list).

Computed when the home page is shown, from the same records as the compliance matrix, so it can
never disagree with it.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import url_for

from hazardhub.compliance import operations as compliance
from hazardhub.extensions import db
from hazardhub.hazards.models import OPEN_STATUSES, Hazard
from hazardhub.hazards.operations import today
from hazardhub.orgs.operations import reading_roots
from hazardhub.policy import can


@dataclass
class Reminder:
    level: str  # danger, warning, info
    text: str
    url: str


def reminders_for(user) -> list[Reminder]:
    roles = {m.role for m in user.active_memberships}
    if not roles or roles <= {"staff"}:
        return []
    now = today()
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
                                           url_for("inspections.start", unit_id=row.unit.id, kind="self")))
                elif cell.text == "待校长签字" and cell.url_args:
                    result.append(Reminder("warning", f"{row.unit.name}：本月自查已完成，待校长签字",
                                           url_for("inspections.show", **cell.url_args)))
        if "township_supervisor" in roles:
            for township in matrix.townships:
                missing = township.schools - township.checked
                if missing:
                    result.append(Reminder("warning", f"{township.unit.name}：本月还有 {missing} 所学校未检查",
                                           url_for("compliance.index", month=month)))
        if "bureau_leader" in roles:
            for row in matrix.leaders:
                if row.leader.id == user.id and row.cell.text == "本月待暗访":
                    result.append(Reminder("warning", "本月分包单位的暗访暗查尚未开展",
                                           url_for("inspections.start", kind="unannounced")))
        if roles & {"bureau_admin", "bureau_viewer"}:
            pending = sum(1 for r in matrix.schools if r.self_check.text == "本月待自查")
            if pending:
                result.append(Reminder("info", f"本月还有 {pending} 所学校未开展校长带队自查",
                                       url_for("compliance.index", month=month)))
    scope = sa.or_(*[(Hazard.tenant_id == r.tenant_id) & Hazard.school_path.startswith(r.path, autoescape=True)
                     for r in roots]) if roots else sa.false()
    overdue = db.session.execute(sa.select(sa.func.count()).select_from(Hazard).where(
        scope, Hazard.status.in_(OPEN_STATUSES), Hazard.deadline < now)).scalar_one()
    if overdue:
        result.append(Reminder("danger", f"有 {overdue} 项隐患已超过整改期限",
                               url_for("hazards.index", status="overdue")))
    awaiting = db.session.execute(sa.select(Hazard).where(scope, Hazard.status == "awaiting_acceptance")
                                  .limit(200)).scalars().all()
    mine = [h for h in awaiting if h.rectified_by_id != user.id and can(user, "hazard.accept", h)]
    if mine:
        result.append(Reminder("info", f"有 {len(mine)} 项隐患整改完成，待您验收",
                               url_for("hazards.index", status="awaiting_acceptance")))
    pending = db.session.execute(sa.select(Hazard).where(scope, Hazard.downgrade_status == "pending")
                                 .limit(200)).scalars().all()
    decide = [h for h in pending if can(user, "hazard.downgrade_approve", h)]
    if decide:
        result.append(Reminder("info", f"有 {len(decide)} 项重大隐患的降级申请待您审批",
                               url_for("hazards.show", hazard_id=decide[0].id)))
    return result
