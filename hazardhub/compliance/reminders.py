"""What is due for a user this month (the home page's 待办 list and the daily notifications).

Computed from the same records as the compliance matrix, so it can never disagree with it: the
home page computes it live, and the daily job (``hazardhub.notifications.operations.refresh_due``)
stores the same list in each user's inbox, keyed so that a second run changes nothing.

A reminder is data: a kind (a key of :data:`TEXTS`), the values its sentence names, the page it
points to as a :class:`~hazardhub.channels.links.Target` (endpoint and ids) and its key. What is due
is decided by the matrix cells' codes, never by their words. Whoever shows a reminder builds its
link (the home page through the ``link_to`` template helper, the daily job with
:func:`hazardhub.channels.links.path`), so this module runs the same in a page and in a job.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa

from hazardhub import clock
from hazardhub.campaigns.models import Campaign, Deliverable, DeliverableSpec
from hazardhub.channels.links import Target, to
from hazardhub.compliance import operations as compliance
from hazardhub.directives.models import Directive, open_directives_of
from hazardhub.extensions import db
from hazardhub.hazards.models import OPEN_STATUSES, Hazard
from hazardhub.orgs.operations import reading_roots
from hazardhub.policy import can, memberships_allowed


#: the sentence of every reminder kind, the one place their Chinese lives; the fields are the
#: reminder's ``params`` (names, counts, numbers, dates with their format)
TEXTS: dict[str, str] = {
    "selfcheck": "{unit}：本月校长带队重大事故隐患自查尚未开展",
    "signoff": "{unit}：本月自查已完成，待校长签字",
    "township": "{unit}：本月还有 {missing} 所学校未检查",
    "visit": "本月分包单位的暗访暗查尚未开展",
    "selfcheck_all": "本月还有 {pending} 所学校未开展校长带队自查",
    "overdue": "有 {count} 项隐患已超过整改期限",
    "accept": "有 {count} 项隐患整改完成，待您验收",
    "downgrade": "有 {count} 项重大隐患的降级申请待您审批",
    "directive_receipt": "{school}：收到整改指令 {number}，请签收",
    "directive_report": "{school}：整改指令 {number}请按期整改并报告（期限 {deadline:%Y-%m-%d}）",
    "directive_report_late": "{school}：整改指令 {number}请按期整改并报告（期限 {deadline:%Y-%m-%d}，已逾期）",
    "directive_rework": "{school}：整改指令 {number}已退回，请重新整改并报告（期限 {deadline:%Y-%m-%d}）",
    "directive_rework_late": "{school}：整改指令 {number}已退回，请重新整改并报告（期限 {deadline:%Y-%m-%d}，已逾期）",
    "directive_verify": "有 {count} 份整改指令的整改报告待您验收",
    "directive_extension": "有 {count} 份整改指令的延期申请待您审批",
    "deliverable_returned": "{unit}：《{name}》被退回，请修改后重新报送",
    "deliverable_late": "{unit}：《{name}》已逾期未报送（截止 {due_on:%m-%d}）",
    "deliverable_due": "{unit}：《{name}》须于 {due_on:%m-%d} 前报送",
    "deliverable_review": "有 {count} 份专项行动报送材料待审核",
}


@dataclass(frozen=True)
class Reminder:
    level: str  # danger, warning, info
    #: what is due, a key of :data:`TEXTS`
    kind: str
    #: the page that does it (endpoint and ids; the shower builds the link)
    target: Target
    #: stable identity of the duty within its period (the notification's idempotency key)
    key: str = ""
    #: the values the kind's sentence names
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The reminder in words (the home page shows it, the daily job stores it)."""
        return TEXTS[self.kind].format(**self.params)


def reminders_for(user, now: date | None = None) -> list[Reminder]:
    """Everything due for ``user`` in the month of ``now`` (Beijing today by default)."""
    if not can(user, "reminder.view"):
        return []
    now = now or clock.today()
    month = f"{now.year:04d}-{now.month:02d}"
    roots = reading_roots(user)
    result: list[Reminder] = []
    duties = {duty: can(user, f"reminder.{duty}")
              for duty in ("self_check", "township_check", "visit", "self_check_overview")}
    if any(duties.values()):
        matrix = compliance.build([r for r in roots if r.tenant_id == user.tenant_id], month, now)
        if duties["self_check"]:
            for row in matrix.schools:
                cell = row.self_check
                if cell.code == "self_due":
                    result.append(Reminder("warning", "selfcheck",
                                           to("inspections.start", unit_id=row.unit.id, kind="self"),
                                           f"selfcheck:{month}:{row.unit.id}", {"unit": row.unit.name}))
                elif cell.code == "self_awaiting_signature" and cell.url_args:
                    result.append(Reminder("warning", "signoff", to("inspections.show", **cell.url_args),
                                           f"signoff:{month}:{row.unit.id}", {"unit": row.unit.name}))
        if duties["township_check"]:
            for township in matrix.townships:
                missing = township.schools - township.checked
                if missing:
                    result.append(Reminder("warning", "township", to("compliance.index", month=month),
                                           f"township:{month}:{township.unit.id}",
                                           {"unit": township.unit.name, "missing": missing}))
        if duties["visit"]:
            for row in matrix.leaders:
                if row.leader.id == user.id and row.cell.code == "visit_due":
                    result.append(Reminder("warning", "visit", to("inspections.start", kind="unannounced"),
                                           f"visit:{month}:{user.id}"))
        if duties["self_check_overview"]:
            pending = sum(1 for r in matrix.schools if r.self_check.code == "self_due")
            if pending:
                result.append(Reminder("info", "selfcheck_all", to("compliance.index", month=month),
                                       f"selfcheck-all:{month}", {"pending": pending}))
    scope = sa.or_(*[(Hazard.tenant_id == r.tenant_id) & Hazard.school_path.startswith(r.path, autoescape=True)
                     for r in roots]) if roots else sa.false()
    overdue = db.session.execute(sa.select(sa.func.count()).select_from(Hazard).where(
        scope, Hazard.status.in_(OPEN_STATUSES), Hazard.deadline < now)).scalar_one()
    if overdue:
        result.append(Reminder("danger", "overdue", to("hazards.index", status="overdue"), f"overdue:{month}",
                               {"count": overdue}))
    awaiting = db.session.execute(sa.select(Hazard).where(scope, Hazard.status == "awaiting_acceptance")
                                  .limit(200)).scalars().all()
    directed = open_directives_of(h.id for h in awaiting)  # accepted through their directive (its reminder)
    mine = [h for h in awaiting if h.rectified_by_id != user.id and h.id not in directed
            and can(user, "hazard.accept", h)]
    if mine:
        result.append(Reminder("info", "accept", to("hazards.index", status="awaiting_acceptance"),
                               f"accept:{month}", {"count": len(mine)}))
    pending = db.session.execute(sa.select(Hazard).where(scope, Hazard.downgrade_status == "pending")
                                 .limit(200)).scalars().all()
    decide = [h for h in pending if can(user, "hazard.downgrade_approve", h)]
    if decide:
        result.append(Reminder("info", "downgrade", to("hazards.show", hazard_id=decide[0].id),
                               f"downgrade:{month}", {"count": len(decide)}))
    result.extend(_deliverable_reminders(user, now))
    result.extend(_directive_reminders(user, now))
    return result


def _directive_reminders(user, now: date) -> list[Reminder]:
    """整改指令: the school signs receipt and reports (returned ones again, before the deadline);
    the issuing unit verifies responses and decides extension requests."""
    result: list[Reminder] = []
    rows = db.session.execute(sa.select(Directive).where(
        sa.or_(*[(Directive.tenant_id == m.tenant_id) & Directive.school_path.startswith(m.unit.path, autoescape=True)
                 for m in user.active_memberships if m.unit is not None]) if user.active_memberships else sa.false(),
        Directive.status.in_(("issued", "acknowledged", "returned", "responded")))
        .order_by(Directive.deadline).limit(500)).scalars().all()
    if can(user, "directive.respond"):
        for d in rows:
            if not can(user, "directive.respond", d):
                continue
            target = to("directives.show", directive_id=d.id)
            if d.status == "issued":
                result.append(Reminder("danger", "directive_receipt", target, f"directive-receipt:{d.id}",
                                       {"school": d.school_name, "number": d.number}))
            elif d.status in ("acknowledged", "returned"):
                late = d.deadline < now
                kind = "directive_rework" if d.status == "returned" else "directive_report"
                result.append(Reminder("danger" if late or d.status == "returned" else "warning",
                                       f"{kind}_late" if late else kind, target,
                                       f"directive-{d.status}:{d.id}:{d.return_count}",
                                       {"school": d.school_name, "number": d.number, "deadline": d.deadline}))
    if can(user, "directive.verify"):
        verify = [d for d in rows if d.status == "responded" and can(user, "directive.verify", d)]
        if verify:
            result.append(Reminder("info", "directive_verify", to("directives.show", directive_id=verify[0].id),
                                   f"directive-verify:{now.isoformat()}", {"count": len(verify)}))
        extension = [d for d in rows if d.extension_status == "pending" and can(user, "directive.extension_decide", d)]
        if extension:
            result.append(Reminder("warning", "directive_extension",
                                   to("directives.show", directive_id=extension[0].id),
                                   f"directive-extension:{now.isoformat()}", {"count": len(extension)}))
    return result


def _deliverable_reminders(user, now: date) -> list[Reminder]:
    """Campaign deliverables: due this month or already late and not submitted, returned for
    rework (the reporting unit's head), and submitted ones awaiting review (the safety section)."""
    result: list[Reminder] = []
    month_last = clock.month_end(clock.month_of(now))
    active = (sa.select(Deliverable).join(Campaign, Campaign.id == Deliverable.campaign_id)
              .join(DeliverableSpec, DeliverableSpec.id == Deliverable.spec_id)
              .where(Campaign.status == "active", Campaign.tenant_id == user.tenant_id))
    if can(user, "deliverable.edit"):
        unit_ids = [m.unit_id for m in memberships_allowed(user, "deliverable.edit")]
        own = db.session.execute(active.where(
            Deliverable.unit_id.in_(unit_ids), Deliverable.status.in_(("draft", "returned")))
            .order_by(DeliverableSpec.due_on)).scalars().all()
        for d in own:
            if not can(user, "deliverable.edit", d):
                continue
            target = to("campaigns.deliverable", deliverable_id=d.id)
            params = {"unit": d.unit.name, "name": d.spec.name, "due_on": d.spec.due_on}
            if d.status == "returned":
                result.append(Reminder("danger", "deliverable_returned", target,
                                       f"deliverable-returned:{d.id}:{d.version_id}", params))
            elif d.spec.due_on < now:
                result.append(Reminder("danger", "deliverable_late", target, f"deliverable-late:{d.id}", params))
            elif d.spec.due_on <= month_last:
                result.append(Reminder("warning", "deliverable_due", target, f"deliverable-due:{d.id}", params))
    if can(user, "deliverable.review"):
        waiting = db.session.execute(active.where(Deliverable.status == "submitted")).scalars().all()
        waiting = [d for d in waiting if can(user, "deliverable.review", d)]
        if waiting:
            result.append(Reminder("info", "deliverable_review",
                                   to("campaigns.show", campaign_id=waiting[0].campaign_id),
                                   f"deliverable-review:{now.isoformat()[:7]}", {"count": len(waiting)}))
    return result
