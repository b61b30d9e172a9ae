"""What an overdue notice says, and whether it still holds (read from the records as they are now).

Apart from the sweep (``escalation``), which writes the notices through
``notifications.operations.notify``, because the inbox (``notifications.operations.reconcile``)
re-reads each open notice from here: the sweep imports notifications, notifications imports this,
and this imports only models.
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from hazardhub.directives.models import RUNNING_STATUSES, Directive, DirectiveHazard
from hazardhub.extensions import db
from hazardhub.hazards.models import OPEN_STATUSES, Hazard
from hazardhub.orgs.models import OrgUnit


def hazard_overdue_text(hazard: Hazard, school_name: str, deadline: date, directive: Directive | None,
                        today: date) -> str:
    """The overdue notice of a hazard, naming whose deadline was missed (its own or a directive's)."""
    days = (today - deadline).days
    if directive is not None and directive.deadline == deadline and deadline != hazard.deadline:
        return (f"隐患 {hazard.number}（{school_name}，{hazard.level_label}）所列整改指令 {directive.number} "
                f"已逾期 {days} 天（指令整改期限 {deadline.isoformat()}）。")
    return f"隐患 {hazard.number}（{school_name}，{hazard.level_label}）已逾期 {days} 天（整改期限 {deadline.isoformat()}）。"


def directive_overdue_text(directive: Directive) -> str:
    return (f"整改指令 {directive.number}（{directive.school_name}）已超过整改期限 "
            f"{directive.deadline.isoformat()}，请督促整改。")


def overdue_notice_now(key: str, today: date) -> str | None:
    """The text an overdue notice keyed ``key`` has today, or None when it no longer holds.

    An overdue notice is an event of the daily sweep, but the inbox shows it until it is resolved:
    it must follow the records. A hazard closed, a directive accepted, or a deadline moved (by an
    edit or an approved extension) makes the notice about the old deadline untrue; the next sweep
    keys a new one to the new deadline if that one is missed too.
    """
    kind, _, rest = key.partition(":")
    parts = rest.split(":")
    try:
        object_id, deadline = int(parts[0]), date.fromisoformat(parts[-1])
    except (ValueError, IndexError):
        return None
    if deadline >= today:
        return None
    if kind == "directive-overdue":
        directive = db.session.get(Directive, object_id)
        if directive is None or directive.status not in RUNNING_STATUSES or directive.deadline != deadline:
            return None
        return directive_overdue_text(directive)
    if kind not in ("hazard-overdue", "hazard-escalated"):
        return None
    hazard = db.session.get(Hazard, object_id)
    if hazard is None or hazard.status not in OPEN_STATUSES:
        return None
    directive = db.session.execute(
        sa.select(Directive).join(DirectiveHazard, DirectiveHazard.directive_id == Directive.id)
        .where(DirectiveHazard.hazard_id == hazard.id, Directive.status.in_(RUNNING_STATUSES),
               Directive.deadline == deadline).limit(1)).scalar_one_or_none()
    if hazard.deadline != deadline and directive is None:
        return None  # the deadline this notice is about is no longer any deadline of the hazard
    school = db.session.get(OrgUnit, hazard.school_id)
    if kind == "hazard-escalated":
        return f"重大事故隐患 {hazard.number}（{school.name if school else ''}）逾期未整改，已升级督办。"
    return hazard_overdue_text(hazard, school.name if school else "", deadline, directive, today)
