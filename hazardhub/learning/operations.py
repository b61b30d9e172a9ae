"""Every change to a learning session, in one place, each one audited transaction; and coverage.

Views parse and authorise; these functions check the 三学 rules (which unit organises which level,
attendees from the organising unit's subtree, a standard the tenant can see), change ORM objects
and commit. :func:`coverage` answers "was each level of 三学 held this month" for a scope.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy_continuum import version_class

from hazardhub import clock
from hazardhub.accounts.models import Membership, User
from hazardhub.audit import tx_meta
from hazardhub.extensions import commit_or_raise
from hazardhub.extensions import db
from hazardhub.learning.models import (
    FORMS, LEARNING_LABELS, LEVEL_UNIT_KINDS, LEVELS, LearningAttendee, LearningSession, LearningStandard,
)
from hazardhub.orgs.models import OrgUnit
from hazardhub.standards import operations as catalogue
from hazardhub.errors import DomainError

#: fields a session form sets
FIELDS = ("level", "form", "held_on", "title", "hours", "speaker", "summary", "headcount", "materials_note")


class LearningError(DomainError):
    """A 三学 rule was broken; the message is shown to the user (Chinese)."""


class StaleLearning(LearningError):
    """Someone saved the session after this form was loaded; ``changes`` says what they changed."""

    def __init__(self, message: str, changes: list[tuple[str, Any, Any]]):
        super().__init__(message)
        self.changes = changes


def parse_month(text: str | None) -> tuple[date, date] | None:
    """``2026-11`` → (first day, first day of the next month); anything else → None."""
    text = (text or "").strip()
    if len(text) != 7 or text[4] != "-" or not (text[:4].isdigit() and text[5:].isdigit()):
        return None
    year, month = int(text[:4]), int(text[5:])
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        return None
    start = date(year, month, 1)
    end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return start, end


def attendee_candidates(unit: OrgUnit, limit: int = 1000) -> list[Membership]:
    """Active memberships in the unit's subtree: the people who may be recorded as attending."""
    return list(db.session.execute(
        sa.select(Membership).join(OrgUnit, OrgUnit.id == Membership.unit_id)
        .where(Membership.is_active.is_(True), OrgUnit.tenant_id == unit.tenant_id,
               OrgUnit.path.startswith(unit.path, autoescape=True))
        .order_by(OrgUnit.path, Membership.role, Membership.id).limit(limit)
    ).unique().scalars())


def _apply_fields(session: LearningSession, data: dict[str, Any]) -> None:
    for key in FIELDS:
        if key in data:
            value = data[key]
            if isinstance(value, str):
                value = value.strip() or None
            setattr(session, key, value)
    if session.level not in LEVELS:
        raise LearningError("学习层级无效。")
    if session.form not in FORMS:
        raise LearningError("学习形式无效。")
    if not session.title:
        raise LearningError("请填写学习主题。")
    if session.held_on is None:
        raise LearningError("请填写学习日期。")
    if session.held_on > clock.today():
        raise LearningError("学习日期不能晚于今天。")
    if session.hours is None or Decimal(session.hours) <= 0:
        raise LearningError("学时应大于 0。")
    if session.headcount is not None and session.headcount < 0:
        raise LearningError("参加人数不能为负数。")


def _check_unit(unit: OrgUnit, level: str) -> None:
    if unit.kind not in LEVEL_UNIT_KINDS.get(level, ()):
        raise LearningError(
            {"bureau_staff": "监管人员学习由教育局组织。", "principals": "学校主要负责人学习由教育局或乡镇中心学校组织。",
             "all_staff": "全体教职工学习由学校组织。"}.get(level, "学习层级无效。"))


def _standards(tenant_id: int, standard_ids: list[int]):
    visible = {s.id: s for s in catalogue.standards_for(tenant_id)}
    chosen = []
    for standard_id in dict.fromkeys(standard_ids):
        if standard_id not in visible:
            raise LearningError("所选标准不存在或已停用，请刷新页面后重新选择。")
        chosen.append(visible[standard_id])
    return chosen


def _memberships(unit: OrgUnit, membership_ids: list[int]) -> list[Membership]:
    chosen = []
    for membership_id in dict.fromkeys(membership_ids):
        m = db.session.execute(sa.select(Membership).where(Membership.id == membership_id)).scalar_one_or_none()
        if m is None or not m.is_active or m.tenant_id != unit.tenant_id or not unit.contains(m.unit):
            raise LearningError("参加人员须为组织单位及其下属单位的在岗人员，请刷新页面后重新选择。")
        chosen.append(m)
    return chosen


def _sync_standards(session: LearningSession, standards) -> bool:
    existing = {row.standard_id: row for row in db.session.execute(
        sa.select(LearningStandard).where(LearningStandard.session_id == session.id)).scalars()}
    wanted = {s.id: s for s in standards}
    changed = False
    for standard_id, standard in wanted.items():
        row = existing.get(standard_id)
        if row is None:
            db.session.add(LearningStandard(tenant_id=session.tenant_id, session_id=session.id,
                                            standard_id=standard_id, standard_title=standard.title))
            changed = True
        elif not row.is_active:
            row.is_active, row.standard_title = True, standard.title
            changed = True
    for standard_id, row in existing.items():
        if standard_id not in wanted and row.is_active:
            row.is_active = False
            changed = True
    return changed


def _sync_attendees(session: LearningSession, memberships: list[Membership]) -> bool:
    existing = {row.user_id: row for row in db.session.execute(
        sa.select(LearningAttendee).where(LearningAttendee.session_id == session.id)).scalars()}
    wanted: dict[int, Membership] = {}
    for m in memberships:
        if m.user_id in wanted:
            raise LearningError("同一人只能登记一次参加记录。")
        wanted[m.user_id] = m
    names = dict(db.session.execute(
        sa.select(User.id, User.display_name).where(User.id.in_(wanted))).all()) if wanted else {}
    changed = False
    for user_id, m in wanted.items():
        row = existing.get(user_id)
        if row is None:
            db.session.add(LearningAttendee(tenant_id=session.tenant_id, session_id=session.id, user_id=user_id,
                                            unit_id=m.unit_id, role=m.role, display_name=names[user_id][:60]))
            changed = True
        elif not row.is_active or (row.unit_id, row.role) != (m.unit_id, m.role):
            row.is_active, row.unit_id, row.role = True, m.unit_id, m.role
            changed = True
    for user_id, row in existing.items():
        if user_id not in wanted and row.is_active:
            row.is_active = False
            changed = True
    return changed


def _require_attendance(session: LearningSession, memberships: list[Membership]) -> None:
    if not memberships and session.headcount is None:
        raise LearningError("请勾选参加人员，或填写参加人数。")
    if session.headcount is not None and session.headcount < len(memberships):
        raise LearningError("参加人数不能少于勾选的参加人员数。")


def record(*, unit: OrgUnit, actor, data: dict[str, Any], standard_ids: list[int],
           membership_ids: list[int]) -> LearningSession:
    """Record a session held by ``unit``; one audited transaction."""
    session = LearningSession(tenant_id=unit.tenant_id, unit_id=unit.id, unit_path=unit.path,
                              created_by_id=getattr(actor, "id", None))
    _apply_fields(session, data)
    _check_unit(unit, session.level)
    standards = _standards(unit.tenant_id, standard_ids)
    memberships = _memberships(unit, membership_ids)
    _require_attendance(session, memberships)
    db.session.add(session)
    db.session.flush()
    _sync_standards(session, standards)
    _sync_attendees(session, memberships)
    tx_meta(reason="登记三学学习记录")
    commit()
    return session


def stale_changes(session: LearningSession, loaded_version_id: int) -> list[tuple[str, Any, Any]]:
    vcls = version_class(LearningSession)
    loaded = db.session.execute(
        sa.select(vcls).where(vcls.id == session.id, vcls.version_id == loaded_version_id)
        .order_by(vcls.transaction_id.desc()).limit(1)
    ).scalar_one_or_none()
    if loaded is None:
        return []
    return [(label, getattr(loaded, key, None), getattr(session, key, None))
            for key, label in LEARNING_LABELS.items()
            if getattr(loaded, key, None) != getattr(session, key, None)]


def update(session: LearningSession, *, actor, data: dict[str, Any], standard_ids: list[int],
           membership_ids: list[int], version_id: int, reason: str | None = None) -> bool:
    """Edit a session; returns False when nothing changed."""
    if session.version_id != version_id:
        raise StaleLearning("保存失败：您打开页面后，该学习记录已被他人修改。请查看下列变化，刷新后重新填写。",
                            stale_changes(session, version_id))
    unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == session.unit_id)).scalar_one()
    standards = _standards(session.tenant_id, standard_ids)
    memberships = _memberships(unit, membership_ids)
    _apply_fields(session, data)
    _check_unit(unit, session.level)
    _require_attendance(session, memberships)
    fields_changed = db.session.is_modified(session)
    standards_changed = _sync_standards(session, standards)
    attendees_changed = _sync_attendees(session, memberships)
    if not (fields_changed or standards_changed or attendees_changed):
        db.session.rollback()
        return False
    if not fields_changed:
        session.updated_at = clock.utcnow()  # bump the revision: the optimistic lock covers the lists too
    tx_meta(reason=(reason or "").strip() or "修改学习记录")
    commit()
    return True


def commit() -> None:
    commit_or_raise(LearningError("保存失败：该学习记录已被他人修改，请刷新后重试。"),
                    LearningError("数据冲突，操作未生效，请刷新后重试。"))


# ---------------------------------------------------------------------------------------------
# lists and coverage


@dataclass
class SessionFilters:
    level: str | None = None
    form: str | None = None
    month: str | None = None
    unit_id: int | None = None


def scope_clause(roots: list[OrgUnit], column_path, column_tenant):
    return sa.or_(*[(column_tenant == r.tenant_id) & column_path.startswith(r.path, autoescape=True)
                    for r in roots])


def session_query(roots: list[OrgUnit], filters: SessionFilters) -> sa.Select:
    stmt = sa.select(LearningSession).where(
        scope_clause(roots, LearningSession.unit_path, LearningSession.tenant_id))
    if filters.level:
        stmt = stmt.where(LearningSession.level == filters.level)
    if filters.form:
        stmt = stmt.where(LearningSession.form == filters.form)
    span = parse_month(filters.month)
    if span:
        stmt = stmt.where(LearningSession.held_on >= span[0], LearningSession.held_on < span[1])
    if filters.unit_id:
        unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == filters.unit_id)).scalar_one_or_none()
        if unit is not None:
            stmt = stmt.where(LearningSession.tenant_id == unit.tenant_id,
                              LearningSession.unit_path.startswith(unit.path, autoescape=True))
        else:
            stmt = stmt.where(sa.false())
    return stmt


def attendance(session_ids: list[int]) -> dict[int, int]:
    """Number present per session: the headcount when given, else the attendee rows."""
    if not session_ids:
        return {}
    listed = dict(db.session.execute(
        sa.select(LearningAttendee.session_id, sa.func.count()).where(LearningAttendee.session_id.in_(session_ids),
                                                                  LearningAttendee.is_active.is_(True))
        .group_by(LearningAttendee.session_id)).all())
    heads = dict(db.session.execute(
        sa.select(LearningSession.id, LearningSession.headcount).where(LearningSession.id.in_(session_ids))).all())
    return {sid: heads[sid] if heads.get(sid) is not None else listed.get(sid, 0) for sid in heads}


@dataclass
class SchoolCoverage:
    unit: OrgUnit
    sessions: int = 0
    attendance: int = 0
    principal_attended: bool = False
    principal_sessions: list[int] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return self.sessions > 0

    @property
    def rate(self) -> float | None:
        if not self.unit.staff_count:
            return None
        return self.attendance / self.unit.staff_count


@dataclass
class UnitCoverage:
    unit: OrgUnit
    sessions: int = 0

    @property
    def held(self) -> bool:
        return self.sessions > 0


@dataclass
class Coverage:
    start: date
    end: date
    bureaus: list[UnitCoverage]
    townships: list[UnitCoverage]
    schools: list[SchoolCoverage]


def _month_sessions(start: date, end: date, level: str, unit_ids) -> sa.Select:
    return sa.select(LearningSession.unit_id, sa.func.count()).where(
        LearningSession.level == level, LearningSession.held_on >= start, LearningSession.held_on < end,
        LearningSession.unit_id.in_(unit_ids)).group_by(LearningSession.unit_id)


def coverage(roots: list[OrgUnit], start: date, end: date, schools: list[OrgUnit] | None = None) -> Coverage:
    """三学 held in [start, end) for every unit in the roots' subtrees (or the given schools)."""
    units = list(db.session.execute(
        sa.select(OrgUnit).where(scope_clause(roots, OrgUnit.path, OrgUnit.tenant_id), OrgUnit.is_active.is_(True),
                                 OrgUnit.kind.in_(("bureau", "township_center")))
        .order_by(OrgUnit.tenant_id, OrgUnit.path)).scalars())
    bureaus = [UnitCoverage(u) for u in units if u.kind == "bureau"]
    townships = [UnitCoverage(u) for u in units if u.kind == "township_center"]
    if bureaus:
        counts = dict(db.session.execute(_month_sessions(start, end, "bureau_staff", [c.unit.id for c in bureaus])).all())
        for c in bureaus:
            c.sessions = counts.get(c.unit.id, 0)
    if townships:
        counts = dict(db.session.execute(_month_sessions(start, end, "principals", [c.unit.id for c in townships])).all())
        for c in townships:
            c.sessions = counts.get(c.unit.id, 0)
    if schools is None:
        schools = list(db.session.execute(school_query(roots)).scalars())
    rows = [SchoolCoverage(u) for u in schools]
    ids = [r.unit.id for r in rows]
    if ids:
        held = list(db.session.execute(
            sa.select(LearningSession.id, LearningSession.unit_id).where(
                LearningSession.level == "all_staff", LearningSession.held_on >= start,
                LearningSession.held_on < end, LearningSession.unit_id.in_(ids))).all())
        present = attendance([sid for sid, _ in held])
        by_id = {r.unit.id: r for r in rows}
        for sid, unit_id in held:
            by_id[unit_id].sessions += 1
            by_id[unit_id].attendance += present.get(sid, 0)
        principal_rows = db.session.execute(
            sa.select(LearningAttendee.unit_id, LearningAttendee.session_id)
            .join(LearningSession, LearningSession.id == LearningAttendee.session_id)
            .where(LearningSession.level == "principals", LearningSession.held_on >= start,
                   LearningSession.held_on < end, LearningAttendee.unit_id.in_(ids),
                   LearningAttendee.role == "principal", LearningAttendee.is_active.is_(True))).all()
        for unit_id, sid in principal_rows:
            by_id[unit_id].principal_attended = True
            by_id[unit_id].principal_sessions.append(sid)
    return Coverage(start=start, end=end, bureaus=bureaus, townships=townships, schools=rows)


def school_query(roots: list[OrgUnit]) -> sa.Select:
    return sa.select(OrgUnit).where(
        scope_clause(roots, OrgUnit.path, OrgUnit.tenant_id), OrgUnit.is_active.is_(True),
        OrgUnit.kind.in_(LEVEL_UNIT_KINDS["all_staff"])).order_by(OrgUnit.tenant_id, OrgUnit.path)
