"""The daily overdue sweep: mark directives overdue, record overdue hazards, escalate major ones.

Run once a day by the daily pass (``hazardhub.platform.daily``, scheduled by ``worker.cron_config``),
one tenant at a time through :func:`sweep_tenant` (the only daily orchestrator is that pass). For
every tenant, in one audited transaction per tenant:

1. A directive whose deadline has passed while the school still owes the rectification is marked
   ``is_overdue`` (overdue is also derived live; the mark records *when* it was found).
2. Every open hazard past its deadline — its own deadline, or that of a running directive listing
   it — gets an :class:`Escalation` of kind ``overdue`` addressed to the school's supervising level
   (the township central school, or the bureau for a bureau-affiliated school). Hazards have no
   stored overdue flag (overdue is derived in the ledger), so this row is the record.
3. An overdue MAJOR hazard is escalated one level up (升级督办): township → bureau, or bureau →
   city for an affiliated school. If it is still overdue ``ESCALATE_AGAIN_WORKING_DAYS`` working
   days after reaching the bureau, it goes on to the city.

The school and its supervisor (and the receiving level) are notified through
``hazardhub.notifications.operations.notify``, keyed per event so a repeat is not a new message.

Idempotent: each escalation is unique per (hazard, kind, receiving level, missed deadline) — a
database constraint and a check before insert — so running the sweep twice on one day creates
nothing the second time; an extended deadline that is missed again is a new event.
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from hazardhub.audit import tx_meta
from hazardhub.directives.models import LEVELS, RUNNING_STATUSES, Directive, DirectiveHazard, Escalation
from hazardhub.directives.notices import directive_overdue_text, hazard_overdue_text
from hazardhub.extensions import db
from hazardhub.hazards.models import OPEN_STATUSES, Hazard
from hazardhub.notifications.operations import notify
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.tenancy import tenant_bound
from hazardhub.workdays import add_working_days


#: an overdue major hazard escalated to the bureau goes on to the city after this many working days
ESCALATE_AGAIN_WORKING_DAYS = 5
#: who is told at each level (roles on that level's unit)
LEVEL_ROLES = {
    "school": ("principal", "safety_officer"),
    "township": ("township_supervisor",),
    "bureau": ("bureau_admin", "bureau_leader"),
    "city": ("city_admin", "city_viewer"),
}
NEXT_LEVEL = {"township": "bureau", "bureau": "city"}


def notify_overdue(tenant_id: int, *, unit_id: int, level: str, key: str, text: str, url: str) -> int:
    """Tell the holders of ``level``'s roles on ``unit_id`` about an overdue item; returns how many
    messages were created (keyed, so a second sweep on the same day creates none)."""
    return notify(tenant_id, kind="overdue", key=key, text=text, url=url, level="danger",
                  unit_id=unit_id, roles=LEVEL_ROLES[level])


def supervising_level(school: OrgUnit, units: dict[int, OrgUnit]) -> tuple[str, OrgUnit | None]:
    """The level that supervises ``school`` and its unit: its township central school or the bureau."""
    parent = units.get(school.parent_id) if school.parent_id else None
    if parent is not None and parent.kind == "township_center":
        return "township", parent
    return "bureau", _root_of(school, units)


def _root_of(unit: OrgUnit, units: dict[int, OrgUnit]) -> OrgUnit | None:
    root_id = int(unit.path.strip("/").split("/")[0])
    return units.get(root_id)


def _city_root(tenant_id: int) -> tuple[int, int] | None:
    """(city tenant id, city bureau unit id) of a district, or None for a city or a lone tenant."""
    parent_id = db.session.execute(sa.select(Tenant.parent_id).where(Tenant.id == tenant_id)).scalar_one_or_none()
    if parent_id is None:
        return None
    with tenant_bound(parent_id):
        unit_id = db.session.execute(
            sa.select(OrgUnit.id).where(OrgUnit.tenant_id == parent_id, OrgUnit.parent_id.is_(None))
        ).scalar_one_or_none()
    return (parent_id, unit_id) if unit_id is not None else None


def sweep_tenant(tenant_id: int, today: date) -> dict[str, int]:
    """One tenant's sweep (the tenant must be bound); commits once when anything changed."""
    counts = {"directives_marked": 0, "overdue_recorded": 0, "escalated": 0, "notified": 0}
    notices: list[tuple[int, int, str, str, str, str]] = []  # (tenant, unit, level, key, text, url)

    # 1. directives past their deadline
    directives = db.session.execute(
        sa.select(Directive).where(Directive.tenant_id == tenant_id, Directive.status.in_(RUNNING_STATUSES),
                                   Directive.deadline < today).order_by(Directive.id)
    ).scalars().all()
    for d in directives:
        if not d.is_overdue:
            d.is_overdue = True
            d.overdue_marked_on = today
            counts["directives_marked"] += 1
        text = directive_overdue_text(d)
        key = f"directive-overdue:{d.id}:{d.deadline.isoformat()}"
        notices.append((tenant_id, d.school_id, "school", key, text, f"/directives/{d.id}"))
        notices.append((tenant_id, d.issuer_unit_id, "township", key, text, f"/directives/{d.id}"))
        notices.append((tenant_id, d.issuer_unit_id, "bureau", key, text, f"/directives/{d.id}"))

    # 2. open hazards past a deadline: their own, or that of a running directive listing them
    missed: dict[int, tuple[date, int | None]] = {}
    hazard_directive: dict[int, Directive] = {}  # the directive whose (earlier) deadline a hazard missed
    for hazard_id, deadline in db.session.execute(
        sa.select(Hazard.id, Hazard.deadline).where(Hazard.tenant_id == tenant_id, Hazard.status.in_(OPEN_STATUSES),
                                                    Hazard.deadline < today)
    ).all():
        missed[hazard_id] = (deadline, None)
    for d in directives:
        for item in d.items:
            current = missed.get(item.hazard_id)
            if current is None or d.deadline < current[0]:
                missed[item.hazard_id] = (d.deadline, d.id)
                hazard_directive[item.hazard_id] = d
    if not missed and not counts["directives_marked"] and not notices:
        return counts
    hazards = {h.id: h for h in db.session.execute(
        sa.select(Hazard).where(Hazard.id.in_(list(missed)), Hazard.status.in_(OPEN_STATUSES))).scalars()} \
        if missed else {}
    # the directive an overdue hazard is on, for the link on the list
    on_directive = dict(db.session.execute(
        sa.select(DirectiveHazard.hazard_id, sa.func.max(DirectiveHazard.directive_id))
        .join(Directive, Directive.id == DirectiveHazard.directive_id)
        .where(DirectiveHazard.hazard_id.in_(list(hazards)), Directive.status.in_(RUNNING_STATUSES))
        .group_by(DirectiveHazard.hazard_id)
    ).all()) if hazards else {}
    units = {u.id: u for u in db.session.execute(
        sa.select(OrgUnit).where(OrgUnit.tenant_id == tenant_id)).scalars()}
    existing = {
        (e.hazard_id, e.kind, e.to_level, e.deadline): e
        for e in db.session.execute(
            sa.select(Escalation).where(Escalation.tenant_id == tenant_id, Escalation.hazard_id.in_(list(hazards)))
        ).scalars()
    } if hazards else {}
    city = None
    for hazard_id in sorted(hazards):
        hazard = hazards[hazard_id]
        deadline, directive_id = missed[hazard_id]
        directive_id = directive_id or on_directive.get(hazard_id)
        school = units.get(hazard.school_id)
        if school is None:
            continue
        level, sup_unit = supervising_level(school, units)

        def record(kind: str, from_level: str, to_level: str, note: str) -> Escalation | None:
            key = (hazard.id, kind, to_level, deadline)
            if key in existing:
                return None
            row = Escalation(tenant_id=tenant_id, hazard_id=hazard.id, directive_id=directive_id, kind=kind,
                             from_level=from_level, to_level=to_level, deadline=deadline, escalated_on=today,
                             school_id=school.id, school_path=school.path, hazard_number=hazard.number,
                             hazard_level=hazard.level, note=note)
            db.session.add(row)
            existing[key] = row
            return row

        days = (today - deadline).days
        text = hazard_overdue_text(hazard, school.name, deadline, hazard_directive.get(hazard_id), today)
        if record("overdue", "school", level, f"逾期 {days} 天未整改完成") is not None:
            counts["overdue_recorded"] += 1
        key = f"hazard-overdue:{hazard.id}:{deadline.isoformat()}"
        notices.append((tenant_id, school.id, "school", key, text, f"/hazards/{hazard.id}"))
        if sup_unit is not None:
            notices.append((tenant_id, sup_unit.id, level, key, text, f"/hazards/{hazard.id}"))
        if hazard.level != "major":
            continue
        # 3. major: one level up, and on to the city when it stays overdue at the bureau
        target = NEXT_LEVEL[level]
        first = existing.get((hazard.id, "escalated", target, deadline))
        if first is None:
            record("escalated", level, target, f"重大事故隐患逾期未整改，由{_label(level)}升级至{_label(target)}督办")
            counts["escalated"] += 1
            first = existing[(hazard.id, "escalated", target, deadline)]
        if target == "bureau" and add_working_days(first.escalated_on, ESCALATE_AGAIN_WORKING_DAYS) <= today:
            if record("escalated", "bureau", "city",
                      f"升级至县（市、区）教育局后仍逾期 {ESCALATE_AGAIN_WORKING_DAYS} 个工作日以上，升级至市教育局督办"):
                counts["escalated"] += 1
        reached = [lvl for lvl in ("bureau", "city") if (hazard.id, "escalated", lvl, deadline) in existing]
        etext = f"重大事故隐患 {hazard.number}（{school.name}）逾期未整改，已升级督办。"
        for lvl in reached:
            ekey = f"hazard-escalated:{hazard.id}:{lvl}:{deadline.isoformat()}"
            if lvl == "bureau":
                root = _root_of(school, units)
                if root is not None:
                    notices.append((tenant_id, root.id, "bureau", ekey, etext, "/directives/escalations"))
            else:
                city = city if city is not None else (_city_root(tenant_id) or False)
                if city:
                    notices.append((city[0], city[1], "city", ekey, etext, "/directives/escalations"))

    if counts["directives_marked"] or counts["overdue_recorded"] or counts["escalated"]:
        tx_meta(reason=f"每日逾期检查 {today.isoformat()}：标记逾期指令 {counts['directives_marked']} 件，"
                       f"记录逾期隐患 {counts['overdue_recorded']} 项，升级督办 {counts['escalated']} 项")
    for n_tenant, unit_id, level, key, text, url in notices:
        counts["notified"] += notify_overdue(n_tenant, unit_id=unit_id, level=level, key=key, text=text, url=url)
    db.session.commit()
    return counts


def _label(level: str) -> str:
    return LEVELS.get(level, level)


def escalations_query(roots: list[OrgUnit], *, to_level: str | None = None, kind: str | None = None) -> sa.Select:
    """Escalations at schools under the user's roots (scoped to the bound tenants by the hooks)."""
    stmt = sa.select(Escalation).where(sa.or_(*[
        (Escalation.tenant_id == r.tenant_id) & Escalation.school_path.startswith(r.path, autoescape=True)
        for r in roots
    ]))
    if to_level:
        stmt = stmt.where(Escalation.to_level == to_level)
    if kind:
        stmt = stmt.where(Escalation.kind == kind)
    return stmt
