"""Pages of the directives area: list, issue, show with the actions of each side, history, photos,
the PDF request, and the 升级督办 list of escalated overdue hazards."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user, login_required

from hazardhub import clock
from hazardhub.accounts.models import User
from hazardhub.auditlog.timeline import timeline
from hazardhub.directives import escalation as esc
from hazardhub.directives import operations as ops
from hazardhub.directives.forms import (
    PLAN_INPUTS, AcceptForm, AcknowledgeForm, ExtensionDecisionForm, ExtensionForm, IssueForm, RespondForm,
    ReturnForm, parse_plans,
)
from hazardhub.directives.models import (
    ESCALATION_KINDS, EXTENSION_STATUSES, LEVELS, STATUSES, Directive, DirectivePhoto,
    Escalation,
)
from hazardhub.evidence import storage
from hazardhub.extensions import db
from hazardhub.formtokens import one_shot
from hazardhub.forms import HazardForm, choices
from hazardhub.hazards.models import Hazard
from hazardhub.orgs.models import OrgUnit
from hazardhub.orgs.operations import reading_roots_or_403
from hazardhub.pagination import paginate
from hazardhub.policy import authorize, can, load_or_404, requires
from hazardhub.requestflow import act, submit
from hazardhub.runs import operations as runs
from hazardhub.runs.models import ReportRun
from hazardhub.tenancy import is_city_user

bp = Blueprint("directives", __name__, url_prefix="/directives")

PERSON_FIELDS = ("issued_by_id", "acknowledged_by_id", "responded_by_id", "verified_by_id",
                 "extension_requested_by_id", "extension_decided_by_id")
PDF_KIND = "directive_pdf"


@bp.route("/")
@login_required
@requires("directive.view")
def index():
    roots = reading_roots_or_403(current_user)
    args = request.args
    school_id = args.get("school_id", "")
    filters = ops.DirectiveFilters(
        status=args.get("status") if args.get("status") in (*STATUSES, "open") else None,
        overdue=args.get("overdue") == "1",
        q=(args.get("q") or "").strip()[:40] or None,
        school_id=int(school_id) if school_id.isdigit() and len(school_id) < 10 else None,
    )
    stmt = ops.directives_query(roots, filters)
    page = paginate(stmt.order_by(Directive.issued_on.desc(), Directive.id.desc()), per_page=30)
    counts = _status_counts(roots)
    overdue = db.session.execute(sa.select(sa.func.count()).select_from(
        ops.directives_query(roots, ops.DirectiveFilters(overdue=True)).order_by(None).subquery())).scalar_one()
    return render_template("directives/index.html", page=page, filters=filters, STATUSES=STATUSES, counts=counts,
                           overdue=overdue, today=clock.today(), can_issue=bool(ops.issuer_units(current_user))
                           and can(current_user, "directive.issue"))


def _status_counts(roots) -> dict[str, int]:
    sub = ops.directives_query(roots, ops.DirectiveFilters()).order_by(None).subquery()
    return dict(db.session.execute(sa.select(sub.c.status, sa.func.count()).group_by(sub.c.status)).all())


def _issuers_or_403() -> list[OrgUnit]:
    units = ops.issuer_units(current_user)
    if not units:
        abort(403)
    return units


@bp.route("/new", methods=["GET", "POST"])
@login_required
@requires("directive.issue")
@one_shot(creates=(Directive, lambda d: url_for("directives.show", directive_id=d.id)))
def create():
    """Issue a directive: pick the issuing unit and a school in its reach, then the school's hazards."""
    issuers = _issuers_or_403()
    form = IssueForm()
    form.issuer_id.choices = choices((u.id, u.name) for u in issuers)
    issuer_arg = request.values.get("issuer_id", "")
    issuer = next((u for u in issuers if str(u.id) == issuer_arg), issuers[0])
    schools = [s for s in ops.schools_for(issuer) if can(current_user, "directive.issue", s)]
    form.school_id.choices = choices([(0, "请选择学校")] + [(s.id, s.name) for s in schools])
    school_arg = request.values.get("school_id", "")
    school = next((s for s in schools if str(s.id) == school_arg), None)
    preset = [int(a) for a in request.args.getlist("hazard_id") if a.isdigit() and len(a) < 10]
    if school is None and preset:
        hazard = db.session.execute(sa.select(Hazard).where(Hazard.id == preset[0])).scalar_one_or_none()
        school = next((s for s in schools if hazard is not None and s.id == hazard.school_id), None)
    hazards = ops.open_hazards(school) if school is not None else []
    # a hazard under an open directive is rectified through it: shown marked and not selectable
    # (still a valid choice, so a forged POST gets the operation's message naming the directive)
    taken = ops.open_directives_of(h.id for h in hazards)
    form.hazard_ids.choices = choices((h.id, h.number) for h in hazards)
    if request.method == "GET":
        form.issuer_id.data = issuer.id
        form.school_id.data = school.id if school else 0
        form.signer_name.data = current_user.display_name
        form.working_days.data = 10 if form.deadline.data is None else None
        if preset:
            form.hazard_ids.data = [h.id for h in hazards if h.id in preset and h.id not in taken]
    elif request.form.get("refresh"):
        form.hazard_ids.data = [i for i in (form.hazard_ids.data or []) if any(h.id == i for h in hazards)
                                and i not in taken]
        form.hazard_ids.errors = []
    else:
        valid = form.validate_on_submit()
        if valid and school is None:
            form.school_id.errors = ["请选择学校。"]
            valid = False
        if valid:
            authorize("directive.issue", school)
        response = submit(
            form, lambda: ops.issue(
                issuer=issuer, school=school, actor=current_user, hazard_ids=form.hazard_ids.data or [],
                requirements=form.requirements.data, signer_name=form.signer_name.data,
                deadline=form.deadline.data, working_days=form.working_days.data, doc_title=form.doc_title.data),
            done=lambda d: f"已下达{d.doc_title} {d.number}，整改期限 {d.deadline.isoformat()}。",
            to=lambda d: _directive_url(d.id), validated=valid)
        if response is not None:
            return response
    return render_template("directives/new.html", form=form, issuer=issuer, school=school, hazards=hazards,
                           issuers=issuers, schools=schools, taken=taken)


def _people(directive: Directive, photos) -> dict[int, str]:
    ids = {getattr(directive, f) for f in PERSON_FIELDS} | {p.uploaded_by_id for p in photos}
    ids.discard(None)
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.display_name).where(User.id.in_(ids))).all())


def _pdf_runs(directive: Directive):
    runs = db.session.execute(
        sa.select(ReportRun).where(ReportRun.kind == PDF_KIND, ReportRun.requested_by_id == current_user.id)
        .order_by(ReportRun.id.desc()).limit(20)
    ).scalars().all()
    return [r for r in runs if (r.params or {}).get("directive_id") == directive.id][:3]


@bp.route("/<int:directive_id>")
@login_required
def show(directive_id: int):
    directive = load_or_404(Directive, directive_id, "directive.view")
    photos = ops.photos_of(directive)
    v = str(directive.version_id)
    today = clock.today()
    listed = {h.id: h for h in ops.listed_hazards(directive)}
    # major hazards still without their five-item plan: the response form asks for it, prefilled
    plans = {h.id: ops.plan_defaults(directive, h) for h in listed.values()
             if h.level == "major" and h.status in ("registered", "rectifying") and h.plan_missing()}
    return render_template(
        "directives/show.html", d=directive, items=directive.items, photos=photos, listed=listed, plans=plans,
        PLAN_INPUTS=PLAN_INPUTS,
        people=_people(directive, photos), today=today, overdue=directive.overdue_on(today),
        EXTENSION_STATUSES=EXTENSION_STATUSES, pdf_runs=_pdf_runs(directive),
        ack_form=AcknowledgeForm(version_id=v, signer_name=current_user.display_name),
        respond_form=RespondForm(version_id=v), accept_form=AcceptForm(version_id=v),
        return_form=ReturnForm(version_id=v), extension_form=ExtensionForm(version_id=v),
        decision_form=ExtensionDecisionForm(version_id=v), pdf_form=HazardForm(),
    )


def _directive_url(directive_id: int) -> str:
    return url_for("directives.show", directive_id=directive_id)


@bp.route("/<int:directive_id>/acknowledge", methods=["POST"])
@login_required
@one_shot(_directive_url)
def acknowledge(directive_id: int):
    d, f = load_or_404(Directive, directive_id, "directive.acknowledge"), AcknowledgeForm()
    return act(f, lambda: ops.acknowledge(
        d, actor=current_user, signer_name=f.signer_name.data, version_id=int(f.version_id.data)),
               done="已签收（回执已登记）。", back=_directive_url(directive_id))


@bp.route("/<int:directive_id>/respond", methods=["POST"])
@login_required
@one_shot(_directive_url)
def respond(directive_id: int):
    d, f = load_or_404(Directive, directive_id, "directive.respond"), RespondForm()
    return act(f, lambda: ops.respond(
        d, actor=current_user, note=f.note.data, photos=request.files.getlist("photos"),
        version_id=int(f.version_id.data), plans=parse_plans(request.form, [i.hazard_id for i in d.items])),
               done="整改情况已报告，所列隐患已转为待验收。", back=_directive_url(directive_id))


@bp.route("/<int:directive_id>/accept", methods=["POST"])
@login_required
@one_shot(_directive_url)
def accept(directive_id: int):
    d, f = load_or_404(Directive, directive_id, "directive.verify"), AcceptForm()
    return act(f, lambda: ops.accept(
        d, actor=current_user, note=f.note.data, version_id=int(f.version_id.data)),
               done="验收合格，所列隐患已销号。", back=_directive_url(directive_id))


@bp.route("/<int:directive_id>/return", methods=["POST"])
@login_required
@one_shot(_directive_url)
def return_(directive_id: int):
    d, f = load_or_404(Directive, directive_id, "directive.verify"), ReturnForm()
    return act(f, lambda: ops.return_(
        d, actor=current_user, comments=f.comments.data, version_id=int(f.version_id.data)),
               done="已退回学校继续整改，所列隐患回到整改中。", back=_directive_url(directive_id))


@bp.route("/<int:directive_id>/extension", methods=["POST"])
@login_required
@one_shot(_directive_url)
def extension(directive_id: int):
    d, f = load_or_404(Directive, directive_id, "directive.extension_request"), ExtensionForm()
    return act(f, lambda: ops.request_extension(
        d, actor=current_user, until=f.until.data, reason=f.reason.data, version_id=int(f.version_id.data)),
               done="延期申请已提交，等待签发单位审批。", back=_directive_url(directive_id))


@bp.route("/<int:directive_id>/extension/decide", methods=["POST"])
@login_required
@one_shot(_directive_url)
def decide_extension(directive_id: int):
    d, f = load_or_404(Directive, directive_id, "directive.extension_decide"), ExtensionDecisionForm()
    return act(f, lambda: ops.decide_extension(
        d, actor=current_user, approve=f.decision.data == "approve", note=f.note.data,
        version_id=int(f.version_id.data)),
               done="审批结果已记录。", back=_directive_url(directive_id))


@bp.route("/<int:directive_id>/pdf", methods=["POST"])
@login_required
@one_shot(creates=(ReportRun, lambda run: url_for("runs.show", run_id=run.id)))
def request_pdf(directive_id: int):
    """Ask the worker for the directive PDF; the run page shows progress and the download (a
    queue that cannot take the job is told in words, back on the directive)."""
    directive = load_or_404(Directive, directive_id, "directive.pdf")
    form = HazardForm()
    school = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == directive.school_id)).scalar_one()
    return act(form, lambda: runs.request_run(PDF_KIND, user=current_user, unit=school,
                                              params={"directive_id": directive.id}),
               done="已提交 PDF 生成任务。", prefix="", refusals=(runs.QueueUnavailable,),
               back=lambda run: url_for("runs.show", run_id=run.id) if run is not None else _directive_url(directive_id))


@bp.route("/<int:directive_id>/history")
@login_required
def directive_history(directive_id: int):
    directive = load_or_404(Directive, directive_id, "directive.view")
    return render_template("history.html", title=f"整改指令 {directive.number} 的全部记录",
                           entries=timeline(directive), back_url=url_for("directives.show", directive_id=directive.id))


@bp.route("/photos/<int:photo_id>")
@login_required
def photo(photo_id: int):
    row = load_or_404(DirectivePhoto, photo_id, "directive.view")
    name = storage.download_name(row.original_name, row.content_type, f"整改照片{row.id}")
    path = storage.path_for(row.tenant_id, row.stored_name)
    return storage.send_stored(path, row.content_type, name, row.sha256)


@bp.route("/photos/<int:photo_id>/thumb")
@login_required
def photo_thumb(photo_id: int):
    row = load_or_404(DirectivePhoto, photo_id, "directive.view")
    if not row.thumb_name:
        abort(404)
    name = storage.download_name(row.original_name, "image/jpeg", f"整改照片{row.id}")
    path = storage.path_for(row.tenant_id, row.thumb_name)
    return storage.send_stored(path, "image/jpeg", f"缩略图-{name}", f"{row.sha256}-t")


@bp.route("/escalations")
@login_required
@requires("escalation.view")
def escalations():
    """挂牌督办/升级督办: overdue hazards put before the user's level (city users: every district, read-only)."""
    roots = reading_roots_or_403(current_user)
    is_city = is_city_user(current_user)
    level_arg = request.args.get("to_level")
    kind_arg = request.args.get("kind")
    default_level = "city" if is_city else None
    to_level = level_arg if level_arg in LEVELS else (None if level_arg == "all" else default_level)
    kind = kind_arg if kind_arg in ESCALATION_KINDS else None
    stmt = esc.escalations_query(roots, to_level=to_level, kind=kind)
    page = paginate(stmt.order_by(Escalation.escalated_on.desc(), Escalation.id.desc()), per_page=50)
    hazard_ids = {e.hazard_id for e in page.items}
    hazards = {h.id: h for h in db.session.execute(
        sa.select(Hazard).where(Hazard.id.in_(hazard_ids))).scalars()} if hazard_ids else {}
    school_ids = {e.school_id for e in page.items}
    schools = {u.id: u for u in db.session.execute(
        sa.select(OrgUnit).where(OrgUnit.id.in_(school_ids))).scalars()} if school_ids else {}
    return render_template("directives/escalations.html", page=page, hazards=hazards, schools=schools,
                           to_level=to_level or "all", kind=kind, LEVELS=LEVELS, KINDS=ESCALATION_KINDS,
                           today=clock.today(), is_city=is_city)
