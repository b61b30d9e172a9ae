"""Pages of the 三查: the list, starting an inspection, the checklist, the sign-off, 分包 assignments."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from hazardhub import clock
from hazardhub.accounts.models import Membership, User
from hazardhub.directives import operations as directive_ops
from hazardhub.auditlog.timeline import timeline
from hazardhub.extensions import db
from hazardhub.formtokens import one_shot
from hazardhub.forms import HazardForm, choices
from hazardhub.hazards.models import Hazard
from hazardhub.inspections import operations as ops
from hazardhub.inspections.forms import AssignForm, FinishForm, SignForm, StartForm
from hazardhub.inspections.models import (
    KINDS, RESULTS, STATUSES, Inspection, LeaderAssignment, SignOff,
)
from hazardhub.orgs.models import OrgUnit
from hazardhub.orgs.operations import reading_roots
from hazardhub.pagination import paginate
from hazardhub.policy import InspectionStart, can, load_or_404, requires
from hazardhub.requestflow import act, perform, submit

bp = Blueprint("inspections", __name__, url_prefix="/inspections")

def _visible_stmt():
    roots = reading_roots(current_user)
    if not roots:
        abort(403)
    stmt = sa.select(Inspection).where(sa.or_(*[
        (Inspection.tenant_id == r.tenant_id) & Inspection.unit_path.startswith(r.path, autoescape=True)
        for r in roots]))
    if not can(current_user, "inspection.view_drafts"):
        stmt = stmt.where(sa.or_(Inspection.kind != "unannounced", Inspection.status != "draft",
                                 Inspection.recorded_by_id == current_user.id))
    return stmt


@bp.route("/")
@login_required
@requires("inspection.view")
def index():
    stmt = _visible_stmt()
    month = (request.args.get("month") or "").strip()
    kind = request.args.get("kind") or ""
    if len(month) == 7 and month[4] == "-" and month.replace("-", "").isdigit():
        stmt = stmt.where(Inspection.month == month)
    else:
        month = ""
    if kind in KINDS:
        stmt = stmt.where(Inspection.kind == kind)
    page = paginate(stmt.order_by(Inspection.inspected_on.desc(), Inspection.id.desc()), per_page=30)
    signoffs = {}
    if page.items:
        signoffs = {s.inspection_id: s for s in db.session.execute(
            sa.select(SignOff).where(SignOff.inspection_id.in_([i.id for i in page.items]))).scalars()}
    return render_template("inspections/index.html", page=page, month=month, kind=kind, KINDS=KINDS,
                           STATUSES=STATUSES, signoffs=signoffs)


def _startable() -> list[tuple[OrgUnit, list[str]]]:
    roots = reading_roots(current_user)
    units = db.session.execute(
        sa.select(OrgUnit).where(sa.or_(*[OrgUnit.path.startswith(r.path, autoescape=True) for r in roots]),
                                 OrgUnit.kind.in_(("school", "affiliated_school")), OrgUnit.is_active.is_(True))
        .order_by(OrgUnit.path)).scalars().all()
    result = []
    for unit in units:
        kinds = [k for k in KINDS if can(current_user, "inspection.start", InspectionStart(unit, k))]
        if kinds:
            result.append((unit, kinds))
    return result


def _inspection_url(inspection_id: int) -> str:
    return url_for("inspections.show", inspection_id=inspection_id)


def _inspection_page(inspection: Inspection) -> str:
    return _inspection_url(inspection.id)


@bp.route("/new", methods=["GET", "POST"])
@login_required
@requires("inspection.start")
@one_shot(creates=(Inspection, _inspection_page))
def start():
    startable = _startable()
    if not startable:
        flash("您目前没有可以检查的学校（分包领导须先由安全股分配分包单位）。", "warning")
        return redirect(url_for("inspections.index"))
    form = StartForm()
    all_kinds = sorted({k for _, kinds in startable for k in kinds}, key=list(KINDS).index)
    # the kind is chosen first and the schools offered are those the user may inspect that way
    # (a leader's 暗访 lists only the units assigned to the leader)
    kind = request.values.get("kind") if request.values.get("kind") in all_kinds else all_kinds[0]
    startable = [(u, k) for u, k in startable if kind in k]
    form.unit_id.choices = choices((u.id, u.name) for u, _ in startable)
    form.kind.choices = choices((k, KINDS[k]) for k in all_kinds)
    if request.method == "GET":
        form.inspected_on.data = clock.today()
        form.inspectors.data = current_user.display_name.split("·")[-1]
        if request.args.get("unit_id", "").isdigit():
            form.unit_id.data = int(request.args["unit_id"])
        form.kind.data = kind

    def apply() -> Inspection:
        unit, kinds = next((u, k) for u, k in startable if u.id == form.unit_id.data)
        if form.kind.data not in kinds:
            raise ops.InspectionError(f"您不能对“{unit.name}”开展{KINDS[form.kind.data]}。")
        return ops.start(unit=unit, kind=form.kind.data, actor=current_user, inspected_on=form.inspected_on.data,
                         inspectors=form.inspectors.data, agencies=form.agencies.data)

    response = submit(form, apply, done="", to=_inspection_page)
    if response is not None:
        return response
    return render_template("inspections/start.html", form=form, kind=kind, kinds=all_kinds)


@bp.route("/<int:inspection_id>", methods=["GET", "POST"])
@login_required
@one_shot(_inspection_url)
def show(inspection_id: int):
    inspection = load_or_404(Inspection, inspection_id, "inspection.view")
    editable = can(current_user, "inspection.edit", inspection)
    if request.method == "POST":
        if inspection.status == "signed":
            return _sealed(inspection)
        if not editable:
            abort(403)
        return act(HazardForm(), lambda: _record_checklist(inspection), done=_checklist_saved,
                   back=_inspection_url(inspection_id), prefix="")
    lines = ops.lines_of(inspection)
    hazards = {h.id: h for h in db.session.execute(
        sa.select(Hazard).where(Hazard.id.in_([ln.hazard_id for ln in lines if ln.hazard_id]))).scalars()} \
        if any(ln.hazard_id for ln in lines) else {}
    signoff = db.session.execute(sa.select(SignOff).where(SignOff.inspection_id == inspection.id)).scalar_one_or_none()
    check = ops.verify_signoff(signoff, inspection) if signoff else None
    signer = db.session.get(User, signoff.signed_by_id) if signoff else None
    amendments = db.session.execute(sa.select(Inspection).where(Inspection.amends_id == inspection.id)).scalars().all()
    return render_template("inspections/show.html", inspection=inspection, lines=lines, hazards=hazards,
                           to_direct=_hazards_to_direct(inspection, hazards),
                           editable=editable, RESULTS=RESULTS, signoff=signoff, check=check, signer=signer,
                           finish_form=FinishForm(version_id=inspection.version_id), form=HazardForm(),
                           amendments=amendments, STATUSES=STATUSES)


def _record_checklist(inspection: Inspection) -> list[Hazard]:
    """Save the posted checklist lines (one ``result-<line id>`` and its note, location and
    description per line) → the hazards the failed lines registered."""
    results, findings = {}, {}
    for line in ops.lines_of(inspection):
        value = request.form.get(f"result-{line.id}")
        if value is None:
            continue
        results[line.id] = (value, request.form.get(f"note-{line.id}", "")[:500])
        findings[line.id] = (request.form.get(f"location-{line.id}", "")[:200],
                             request.form.get(f"description-{line.id}", "")[:4000])
    version = request.form.get("version_id", "")
    return ops.record_results(inspection, actor=current_user, results=results, findings=findings,
                              version_id=int(version) if version.isdigit() else -1)


def _checklist_saved(created: list[Hazard]) -> str:
    return "检查表已保存。" + (f"新登记隐患 {len(created)} 项：" + "、".join(h.number for h in created) if created else "")


def _hazards_to_direct(inspection: Inspection, hazards: dict[int, Hazard]) -> list[Hazard]:
    """The open hazards of the failed lines that a directive may still list, when the user may
    issue one to this school (the page's "下达整改指令")."""
    unit = inspection.unit
    if not hazards or not can(current_user, "directive.issue", unit):
        return []
    candidates = [h for h in hazards.values() if h.is_open]
    taken = directive_ops.open_directives_of(h.id for h in candidates)
    return [h for h in candidates if h.id not in taken]


def _sealed(inspection: Inspection):
    """A change sent to a signed inspection: say it is sealed and where a correction starts
    (not "无权操作": the user may have every right, the record is what is closed)."""
    link = ""
    if can(current_user, "inspection.amend", inspection):
        link = Markup('如需更正，请<a href="{}#amend">发起更正</a>并重新签字。').format(
            url_for("inspections.show", inspection_id=inspection.id))
    flash(Markup("该检查已签字封存，不能再修改。") + link, "warning")
    return redirect(url_for("inspections.show", inspection_id=inspection.id))


@bp.route("/<int:inspection_id>/finish", methods=["POST"])
@login_required
@one_shot(_inspection_url)
def finish(inspection_id: int):
    inspection = load_or_404(Inspection, inspection_id, "inspection.view")
    if inspection.status == "signed":
        return _sealed(inspection)
    if not can(current_user, "inspection.edit", inspection):
        abort(403)
    form = FinishForm()
    done = "检查已完成。" + ("请校长签字。" if inspection.kind == "self" else "")
    return act(form, lambda: ops.finish(inspection, actor=current_user, summary=form.summary.data or "",
                                        version_id=int(form.version_id.data)),
               done=done, back=_inspection_url(inspection_id), prefix="",
               invalid=lambda _: "表单已失效，请刷新。", bad_token_is_400=False)


@bp.route("/<int:inspection_id>/sign", methods=["GET", "POST"])
@login_required
@one_shot(_inspection_url)
def sign(inspection_id: int):
    inspection = load_or_404(Inspection, inspection_id, "inspection.sign")
    form = SignForm()
    if request.method == "GET":
        form.version_id.data = str(inspection.version_id)
    summary = ops.snapshot(inspection)

    def beside_password(exc: Exception) -> None:
        form.password.errors = list(form.password.errors) + [str(exc)]

    response = submit(form, lambda: ops.sign(inspection, actor=current_user, password=form.password.data,
                                             version_id=int(form.version_id.data)),
                      done="已签字。本次自查已封存，如需更正请发起更正记录。", to=_inspection_url(inspection_id),
                      on_error=beside_password, show=False, invalid="请输入密码后签字。")
    if response is not None:
        return response
    return render_template("inspections/sign.html", inspection=inspection, form=form, summary=summary)


@bp.route("/<int:inspection_id>/amend", methods=["POST"])
@login_required
@one_shot(creates=(Inspection, _inspection_page))
def amend(inspection_id: int):
    inspection = load_or_404(Inspection, inspection_id, "inspection.amend")
    unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == inspection.unit_id)).scalar_one()
    return act(HazardForm(), lambda: ops.start(unit=unit, kind="self", actor=current_user, inspected_on=clock.today(),
                                               inspectors=inspection.inspectors, amends=inspection),
               done=[("已发起更正记录：修改后须重新签字。原签字记录保持不变。", "info")], prefix="",
               back=lambda correction: _inspection_url(correction.id if correction is not None else inspection_id))


@bp.route("/<int:inspection_id>/history")
@login_required
def inspection_history(inspection_id: int):
    inspection = load_or_404(Inspection, inspection_id, "inspection.view")
    entries = timeline(inspection)
    return render_template("history.html", title=f"{inspection.kind_label}（{inspection.month}）的记录",
                           entries=entries, back_url=url_for("inspections.show", inspection_id=inspection_id))


@bp.route("/assignments", methods=["GET", "POST"])
@login_required
@requires("inspection.assign")
def assignments():
    tenant_id = current_user.tenant_id
    leaders = db.session.execute(
        sa.select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.role == "bureau_leader", Membership.is_active.is_(True)).order_by(User.display_name)
    ).unique().scalars().all()
    units = db.session.execute(
        sa.select(OrgUnit).where(OrgUnit.tenant_id == tenant_id, OrgUnit.parent_id.is_not(None),
                                 OrgUnit.is_active.is_(True)).order_by(OrgUnit.path)).scalars().all()
    form = AssignForm()
    form.leader_id.choices = choices((u.id, u.display_name) for u in leaders)
    form.unit_id.choices = choices((u.id, ("　" * max(0, u.depth - 1)) + u.name) for u in units)
    if form.validate_on_submit():
        leader = next(u for u in leaders if u.id == form.leader_id.data)
        unit = next(u for u in units if u.id == form.unit_id.data)
        # refused or not, back to the list (the refusal flashed)
        assigned, _ = perform(lambda: ops.assign_leader(leader=leader, unit=unit, actor=current_user))
        if assigned:
            flash(f"已分包：{leader.display_name} → {unit.name}", "success")
        return redirect(url_for("inspections.assignments"))
    elif request.method == "POST":
        flash("请选择分包领导和单位。", "danger")
    rows = db.session.execute(
        sa.select(LeaderAssignment, User, OrgUnit).join(User, User.id == LeaderAssignment.leader_id)
        .join(OrgUnit, OrgUnit.id == LeaderAssignment.unit_id).where(LeaderAssignment.is_active.is_(True))
        .order_by(User.display_name, OrgUnit.path)).all()
    return render_template("inspections/assignments.html", form=form, rows=rows)


@bp.route("/assignments/<int:assignment_id>/end", methods=["POST"])
@login_required
def end_assignment(assignment_id: int):
    assignment = load_or_404(LeaderAssignment, assignment_id, "inspection.assign")
    return act(HazardForm(), lambda: ops.end_assignment(assignment, actor=current_user), done="已取消分包。",
               back=url_for("inspections.assignments"), prefix="")
