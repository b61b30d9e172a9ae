"""Pages of the 三学 learning records: list, record, show, edit, history, monthly coverage."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, render_template, request, url_for
from flask_login import current_user, login_required

from hazardhub import clock
from hazardhub.accounts.models import ROLES, User
from hazardhub.auditlog.timeline import timeline
from hazardhub.extensions import db
from hazardhub.formtokens import one_shot
from hazardhub.forms import choices
from hazardhub.learning import operations as ops
from hazardhub.learning.forms import SessionCreateForm, SessionEditForm
from hazardhub.learning.models import (
    FORMS, LEVELS, LearningAttendee, LearningSession, LearningStandard,
)
from hazardhub.orgs.models import OrgUnit
from hazardhub.orgs.operations import reading_roots_or_403
from hazardhub.pagination import paginate
from hazardhub.policy import authorize, can, load_or_404, requires
from hazardhub.requestflow import submit
from hazardhub.standards import operations as catalogue

bp = Blueprint("learning", __name__, url_prefix="/learning")

#: who records each level, said when the chosen unit may not (the level list offers only what the
#: user may record on some unit, not on every one)
LEVEL_RECORDED_BY = {
    "bureau_staff": "监管人员学习由教育局安全管理员登记。",
    "principals": "学校主要负责人学习由教育局或乡镇中心学校登记。",
    "all_staff": "全体教职工学习由学校校长或安全管理员登记。",
}


def _filter_units(roots) -> list[OrgUnit]:
    return list(db.session.execute(
        sa.select(OrgUnit).where(ops.scope_clause(roots, OrgUnit.path, OrgUnit.tenant_id))
        .order_by(OrgUnit.tenant_id, OrgUnit.path).limit(500)).scalars())


def filters_from_request() -> ops.SessionFilters:
    args = request.args
    unit_id = args.get("unit_id", "")
    month = args.get("month", "")
    return ops.SessionFilters(
        level=args.get("level") if args.get("level") in LEVELS else None,
        form=args.get("form") if args.get("form") in FORMS else None,
        month=month if ops.parse_month(month) else None,
        unit_id=int(unit_id) if unit_id.isdigit() and len(unit_id) < 10 else None,
    )


@bp.route("/")
@login_required
@requires("learning.view")
def index():
    """Sessions in the user's scope, newest first, filtered by level, form, month and unit."""
    roots = reading_roots_or_403(current_user)
    filters = filters_from_request()
    stmt = ops.session_query(roots, filters).order_by(LearningSession.held_on.desc(), LearningSession.id.desc())
    page = paginate(stmt, per_page=30)
    present = ops.attendance([s.id for s in page.items])
    return render_template("learning/index.html", page=page, filters=filters, present=present,
                           units=_filter_units(roots), LEVELS=LEVELS, FORMS=FORMS, month_now=clock.today().strftime("%Y-%m"))


def _organising_units() -> list[OrgUnit]:
    units = {m.unit.id: m.unit for m in current_user.active_memberships}
    return [u for u in sorted(units.values(), key=lambda u: u.path) if can(current_user, "learning.create", u)]


def _candidates(units: list[OrgUnit]):
    """Attendee choices: memberships in the organising units' subtrees (membership id → label)."""
    seen = {}
    for unit in units:
        for m in ops.attendee_candidates(unit):
            seen.setdefault(m.id, m)
    members = list(seen.values())
    names = dict(db.session.execute(
        sa.select(User.id, User.display_name).where(User.id.in_({m.user_id for m in members}))).all()) if members else {}
    return [(m.id, f"{names.get(m.user_id, '')}（{m.unit.name} · {ROLES.get(m.role, (m.role,))[0]}）", m)
            for m in members]


def _levels_for(units: list[OrgUnit]) -> list[str]:
    """Levels the user may record on any of ``units`` (the level list offers only these)."""
    return [level for level in LEVELS if any(
        can(current_user, "learning.create", LearningSession(unit_id=u.id, tenant_id=u.tenant_id, level=level))
        for u in units)]


def _standard_choices(tenant_id: int):
    return [(s.id, s.title) for s in catalogue.standards_for(tenant_id)]


@bp.route("/new", methods=["GET", "POST"])
@login_required
@requires("learning.create")
@one_shot(creates=(LearningSession, lambda s: url_for("learning.show", session_id=s.id)))
def create():
    units = _organising_units()
    if not units:
        abort(403)
    form = SessionCreateForm()
    form.unit_id.choices = choices((u.id, u.name) for u in units)
    form.level.choices = choices((level, LEVELS[level]) for level in _levels_for(units))
    standard_choices = _standard_choices(current_user.tenant_id)
    form.standards.choices = choices(standard_choices)
    candidates = _candidates(units)
    form.attendees.choices = choices((mid, label) for mid, label, _ in candidates)
    if request.method == "GET":
        form.held_on.data = clock.today()
        form.unit_id.data = units[0].id
        form.hours.data = 2
        form.level.data = form.level.choices[0].value if form.level.choices else None

    def apply() -> LearningSession:
        unit = next(u for u in units if u.id == form.unit_id.data)
        if not can(current_user, "learning.create", LearningSession(unit_id=unit.id, tenant_id=unit.tenant_id,
                                                                     level=form.level.data)):
            raise ops.LearningError(LEVEL_RECORDED_BY[form.level.data] + "所选组织单位不能登记该层级的学习。")
        return ops.record(unit=unit, actor=current_user, data=form.data_dict(),
                          standard_ids=form.standards.data or [], membership_ids=form.attendees.data or [])

    response = submit(form, apply, done=lambda session: f"已登记学习记录：{session.title}。",
                      to=lambda session: url_for("learning.show", session_id=session.id))
    if response is not None:
        return response
    return render_template("learning/form.html", form=form, session=None, candidates=candidates, conflict=None)


def _load(session_id: int, action: str) -> LearningSession:
    """``load_or_404``, after refusing ids beyond the INTEGER key (PostgreSQL would raise, not miss)."""
    if session_id >= 2**31:
        abort(404)
    return load_or_404(LearningSession, session_id, action)


def _details(session: LearningSession):
    standards = db.session.execute(sa.select(LearningStandard).where(LearningStandard.session_id == session.id,
                                                                     LearningStandard.is_active.is_(True))
                                   .order_by(LearningStandard.id)).scalars().all()
    attendees = db.session.execute(
        sa.select(LearningAttendee, OrgUnit.name).join(OrgUnit, OrgUnit.id == LearningAttendee.unit_id)
        .where(LearningAttendee.session_id == session.id, LearningAttendee.is_active.is_(True)).order_by(OrgUnit.path, LearningAttendee.id)).all()
    return standards, attendees


@bp.route("/<int:session_id>")
@login_required
def show(session_id: int):
    session = _load(session_id, "learning.view")
    standards, attendees = _details(session)
    return render_template("learning/show.html", session=session, standards=standards, attendees=attendees,
                           present=ops.attendance([session.id]).get(session.id, 0), ROLES=ROLES)


@bp.route("/<int:session_id>/edit", methods=["GET", "POST"])
@login_required
def edit(session_id: int):
    session = _load(session_id, "learning.view")
    authorize("learning.edit", session)
    unit = session.unit
    form = SessionEditForm(obj=session)
    form.level.choices = choices((level, LEVELS[level]) for level in _levels_for([unit]))
    form.standards.choices = choices(_standard_choices(session.tenant_id))
    candidates = _candidates([unit])
    form.attendees.choices = choices((mid, label) for mid, label, _ in candidates)
    if request.method == "GET":
        standards, attendees = _details(session)
        form.standards.data = [s.standard_id for s in standards]
        present = {(a.user_id, a.unit_id, a.role) for a, _ in attendees}
        form.attendees.data = [mid for mid, _, m in candidates if (m.user_id, m.unit_id, m.role) in present]
        form.version_id.data = str(session.version_id)
    conflict: list = []
    response = submit(
        form, lambda: ops.update(session, actor=current_user, data=form.data_dict(),
                                 standard_ids=form.standards.data or [], membership_ids=form.attendees.data or [],
                                 version_id=int(form.version_id.data), reason=form.reason.data),
        done=lambda changed: [("已保存。", "success")] if changed else [("没有需要保存的修改。", "info")],
        to=url_for("learning.show", session_id=session.id),
        on_error=lambda exc: conflict.extend(exc.changes) if isinstance(exc, ops.StaleLearning) else None)
    if response is not None:
        return response
    return render_template("learning/form.html", form=form, session=session, candidates=candidates,
                           conflict=conflict or None)


@bp.route("/<int:session_id>/history")
@login_required
def session_history(session_id: int):
    session = _load(session_id, "learning.view")
    return render_template("history.html", title=f"学习记录“{session.title}”的全部记录", entries=timeline(session),
                           back_url=url_for("learning.show", session_id=session.id))


@bp.route("/coverage")
@login_required
@requires("learning.view")
def coverage():
    """Per month: did the bureau, each township and each school hold its level of 三学?"""
    roots = reading_roots_or_403(current_user)
    month = request.args.get("month", "")
    span = ops.parse_month(month)
    if span is None:
        if month:
            flash("月份格式应为 YYYY-MM，如 2026-11；已显示本月。", "warning")
        month = clock.today().strftime("%Y-%m")
        span = ops.parse_month(month)
    units = [u for u in _filter_units(roots) if u.kind in ("bureau", "township_center")]
    unit_id = request.args.get("unit_id", "")
    unit = next((u for u in units if unit_id.isdigit() and u.id == int(unit_id)), None)
    scope = [unit] if unit is not None else roots
    page = paginate(ops.school_query(scope), per_page=100)
    result = ops.coverage(scope, span[0], span[1], schools=page.items)
    return render_template("learning/coverage.html", month=month, result=result, page=page, units=units, unit=unit)
