"""Pages of the hazard ledger: the ledger, 挂牌督办, register, show, edit, lifecycle, history."""
from __future__ import annotations

import functools
from datetime import date
from typing import NamedTuple

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy_continuum import version_class, versioning_manager

from hazardhub import clock, datacache
from hazardhub.accounts.models import User
from hazardhub.directives.operations import directives_for_hazard
from hazardhub.auditlog.timeline import timeline
from hazardhub.extensions import db
from hazardhub.evidence import operations as evidence_ops
from hazardhub.formtokens import one_shot
from hazardhub.forms import choices, errors_text
from hazardhub.hazards import counts as hazard_counts
from hazardhub.hazards import operations as ops
from hazardhub.hazards.forms import (
    AcceptForm, DecisionForm, HazardCreateForm, HazardEditForm, ReasonForm, ReportForm, VersionForm,
)
from hazardhub.hazards.models import (
    CATEGORIES, LEVELS, OPEN_STATUSES, SOURCES, STATUSES, Hazard, HazardCitation,
)
from hazardhub.orgs.models import OrgUnit
from hazardhub.orgs.operations import reading_roots_or_403
from hazardhub.pagination import paginate
from hazardhub.policy import can, load_or_404, requires
from hazardhub.requestflow import act, submit
from hazardhub.standards import operations as catalogue

bp = Blueprint("hazards", __name__, url_prefix="/hazards")


SORTS = {
    "found": (Hazard.found_on.desc(), Hazard.id.desc()),
    "deadline": (Hazard.deadline.asc().nulls_last(), Hazard.id),
    "number": (Hazard.number.desc(),),
    "level": (Hazard.level.desc(), Hazard.found_on.desc()),
}


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def filters_from_request() -> ops.LedgerFilters:
    args = request.args
    unit_id = args.get("unit_id", "")
    return ops.LedgerFilters(
        unit_id=int(unit_id) if unit_id.isdigit() and len(unit_id) < 10 else None,
        status=args.get("status") if args.get("status") in (*STATUSES, "open", "overdue") else None,
        level=args.get("level") if args.get("level") in LEVELS else None,
        category=args.get("category") if args.get("category") in CATEGORIES else None,
        source=args.get("source") if args.get("source") in SOURCES else None,
        overdue=args.get("overdue") == "1",
        listed=args.get("listed") == "1",
        date_from=_date_arg("date_from"),
        date_to=_date_arg("date_to"),
        q=(args.get("q") or "").strip()[:50] or None,
    )



class UnitChoice(NamedTuple):
    id: int
    name: str


def _filter_units(roots) -> tuple[tuple, list[UnitChoice]]:
    """The unit filter's choices (townships first, then up to 300 schools by name), and the key
    of that state: kept per tenant until a unit changes, because a district's 300 schools cost more
    than its ledger page."""
    parts = {tid: datacache.tenant_part(("ledger_filter_units", tuple(sorted(r.path for r in roots if r.tenant_id == tid))),
                                        tid, lambda tid=tid: _load_filter_units([r for r in roots if r.tenant_id == tid]))
             for tid in sorted({r.tenant_id for r in roots})}
    key = tuple((tid, generation) for tid, (generation, _units) in parts.items())
    if len(parts) == 1:
        return key, next(iter(parts.values()))[1]
    return key, datacache.built_from_pieces(("ledger_filter_units", key), lambda: _load_filter_units(roots))


def _load_filter_units(roots) -> list[UnitChoice]:
    in_scope = sa.or_(*[OrgUnit.path.startswith(r.path, autoescape=True) for r in roots])
    columns = (OrgUnit.id, OrgUnit.name)
    return [UnitChoice(*row) for row in db.session.execute(
        sa.select(*columns).where(in_scope, OrgUnit.kind != "school").order_by(OrgUnit.path))] + \
        [UnitChoice(*row) for row in db.session.execute(
            sa.select(*columns).where(in_scope, OrgUnit.kind == "school").order_by(OrgUnit.name).limit(300))]


def _counts(roots, unit_id: int | None, today: date) -> tuple[tuple, hazard_counts.LedgerCounts]:
    """The counters of the user's scope (or of the filtered unit's subtree), with their key."""
    prefixes = [(r.tenant_id, r.path) for r in roots]
    unit_path = None
    if unit_id:
        unit = db.session.execute(sa.select(OrgUnit.path).where(OrgUnit.id == unit_id)).scalar_one_or_none()
        if unit is None:
            return ("no_unit",), hazard_counts.LedgerCounts({}, {}, 0)
        unit_path = unit
    return hazard_counts.ledger_counts(prefixes, unit_path, today)


@bp.route("/")
@login_required
@requires("hazard.view")
def index():
    """The ledger of the user's scope, filtered, sorted, paginated; or as of a past date."""
    roots = reading_roots_or_403(current_user)
    filters = filters_from_request()
    as_of = _date_arg("as_of")
    if as_of is not None:
        return _ledger_as_of(roots, filters, as_of)
    sort = request.args.get("sort", "found")
    now = clock.today()
    # What the body shows is the scope's hazards (their rows, and the counters), the unit choices,
    # the units' names and today: the key names each. The counters' key names the state of every
    # school's hazards (their pieces carry the rows' versions), so the body is kept until a hazard
    # of the district changes, not until anything of it does; a unit renamed moves the ``wide`` mark.
    counts_key, counts = _counts(roots, filters.unit_id, now)
    units_key, units = _filter_units(roots)
    wides = tuple((tid, datacache.wide_mark(tid)) for tid in sorted({r.tenant_id for r in roots}))

    def render_body() -> Markup:
        page = paginate(ops.ledger_query(roots, filters).order_by(*SORTS.get(sort, SORTS["found"])), per_page=50)
        return Markup(render_template(
            "hazards/_ledger_body.html", page=page, filters=filters, sort=sort, today=now,
            units=units, by_status=counts.by_status, by_level=counts.by_level, overdue=counts.overdue,
            STATUSES=STATUSES, LEVELS=LEVELS, SOURCES=SOURCES, CATEGORIES=CATEGORIES, as_of=None))

    key = ("ledger_body", tuple(sorted(request.args.items(multi=True))), now, counts_key, units_key, wides)
    return render_template("hazards/index.html", body=datacache.built_from_pieces(key, render_body), as_of=None)


def _ledger_as_of(roots, filters: ops.LedgerFilters, as_of: date):
    """The ledger as it stood at the end of ``as_of`` (Beijing time), rebuilt from versions."""
    vcls = version_class(Hazard)
    tx = versioning_manager.transaction_cls
    cutoff = clock.cutoff(as_of)
    latest = (
        sa.select(vcls.id, sa.func.max(vcls.transaction_id).label("tx_id"))
        .join(tx, tx.id == vcls.transaction_id)
        .where(tx.issued_at < cutoff)
        .group_by(vcls.id)
        .subquery()
    )
    stmt = sa.select(vcls).join(latest, (latest.c.id == vcls.id) & (latest.c.tx_id == vcls.transaction_id)).where(
        vcls.operation_type != 2,
        sa.or_(*[(vcls.tenant_id == r.tenant_id) & vcls.school_path.startswith(r.path, autoescape=True) for r in roots]),
    )
    if filters.status in STATUSES:
        stmt = stmt.where(vcls.status == filters.status)
    elif filters.status == "open":
        stmt = stmt.where(vcls.status.in_(OPEN_STATUSES))
    else:
        stmt = stmt.where(vcls.status != "voided")
    if filters.level:
        stmt = stmt.where(vcls.level == filters.level)
    if filters.category:
        stmt = stmt.where(vcls.category == filters.category)
    if filters.source:
        stmt = stmt.where(vcls.source == filters.source)
    page = paginate(stmt.order_by(vcls.found_on.desc(), vcls.id.desc()), per_page=50)
    schools = {u.id: u for u in db.session.execute(
        sa.select(OrgUnit).where(OrgUnit.id.in_({v.school_id for v in page.items}))).scalars()} if page.items else {}
    body = Markup(render_template(
        "hazards/_ledger_body.html", page=page, filters=filters, sort="found", today=as_of,
        units=_filter_units(roots), by_status={}, by_level={}, overdue=0, schools=schools,
        STATUSES=STATUSES, LEVELS=LEVELS, SOURCES=SOURCES, CATEGORIES=CATEGORIES, as_of=as_of))
    return render_template("hazards/index.html", body=body, as_of=as_of)


@bp.route("/listed")
@login_required
@requires("hazard.listed")
def listed():
    """挂牌督办: every open major hazard of the scope, overdue first."""
    roots = reading_roots_or_403(current_user)
    stmt = ops.ledger_query(roots, ops.LedgerFilters(status="open", listed=True))
    page = paginate(stmt.order_by(Hazard.deadline.asc().nulls_last(), Hazard.id), per_page=50)
    return render_template("hazards/listed.html", page=page, today=clock.today())


def _creatable_units() -> list[OrgUnit]:
    roots = reading_roots_or_403(current_user)
    units = db.session.execute(
        sa.select(OrgUnit).where(sa.or_(*[OrgUnit.path.startswith(r.path, autoescape=True) for r in roots]),
                                 OrgUnit.is_active.is_(True), OrgUnit.kind != "bureau").order_by(OrgUnit.path)
    ).scalars().all()
    return [u for u in units if can(current_user, "hazard.create", u)]


@bp.route("/new", methods=["GET", "POST"])
@login_required
@requires("hazard.create")
@one_shot(creates=(Hazard, lambda h: url_for("hazards.show", hazard_id=h.id)))
def create():
    units = _creatable_units()
    if not units:
        abort(403)
    form = HazardCreateForm()
    form.school_id.choices = choices((u.id, ("　" * max(0, u.depth - 1)) + u.name) for u in units)
    groups = catalogue.citable_groups(current_user.tenant_id)
    form.items.choices = choices((i.id, i.number) for _, _, items in groups for i in items)
    if request.method == "GET":
        form.found_on.data = clock.today()
        form.found_by_name.data = current_user.display_name
        preset = request.args.get("unit_id", "")
        if preset.isdigit():
            form.school_id.data = int(preset)
        if len(units) == 1:
            form.school_id.data = units[0].id
        form.source.data = ("self" if can(current_user, "hazard.found_by_school") else
                            "township" if can(current_user, "hazard.found_by_township") else "bureau")

    def apply() -> Hazard:
        school = next(u for u in units if u.id == form.school_id.data)
        return ops.register(school=school, actor=current_user, data=form.data_dict(), item_ids=form.items.data or [],
                            level=form.level.data, photos=request.files.getlist("photos"))

    def registered(hazard: Hazard) -> list[tuple[str, str]]:
        photos = len([f for f in request.files.getlist("photos") if f.filename])
        said = [(f"已登记隐患 {hazard.number}（{hazard.level_label}）" + (f"，照片 {photos} 张" if photos else "") + "。",
                 "success")]
        if hazard.level == "major":
            said.append(("该隐患为重大事故隐患，已列入挂牌督办。", "warning"))
        return said

    response = submit(form, apply, done=registered, to=lambda hazard: _hazard_url(hazard.id),
                      on_error=lambda exc: _mark_plan_errors(form, exc))
    if response is not None:
        return response
    return render_template("hazards/form.html", form=form, groups=groups, hazard=None)


def _mark_plan_errors(form, exc: Exception) -> None:
    """After a refusal: a major hazard's missing plan parts are marked on their fields."""
    if not isinstance(exc, ops.PlanIncomplete):
        return
    missing = exc.missing
    fields = {"责任": form.responsible_person, "措施": form.measures, "资金": form.funds, "时限": form.deadline,
              "预案": form.contingency_plan}
    for name in missing:
        field = fields.get(name[:2])
        if field is not None:
            field.errors = list(field.errors) + ["重大事故隐患必须填写此项。"]
    if any(m.startswith("预案") for m in missing):
        form.interim_controls.errors = list(form.interim_controls.errors) + ["重大事故隐患必须填写临时管控措施。"]


def _people(hazard: Hazard) -> dict[int, str]:
    ids = {hazard.found_by_id, hazard.rectified_by_id, hazard.accepted_by_id, hazard.downgrade_requested_by_id,
           hazard.downgrade_decided_by_id} - {None}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.display_name).where(User.id.in_(ids))).all())


@bp.route("/<int:hazard_id>")
@login_required
def show(hazard_id: int):
    hazard = load_or_404(Hazard, hazard_id, "hazard.view")
    citations = db.session.execute(
        sa.select(HazardCitation).where(HazardCitation.hazard_id == hazard.id, HazardCitation.is_active.is_(True))
        .order_by(HazardCitation.id)
    ).scalars().all()
    v = str(hazard.version_id)
    directives = directives_for_hazard(hazard)
    under = next((d for d in directives if d.is_open), None)
    return render_template(
        "hazards/show.html", hazard=hazard, citations=citations, people=_people(hazard),
        directives=directives, under_directive=under,
        **evidence_ops.panel_context(hazard),
        today=clock.today(), version_form=VersionForm(version_id=v), report_form=ReportForm(version_id=v, rectified_on=clock.today()),
        accept_form=AcceptForm(version_id=v, accepted_on=clock.today()), reason_form=ReasonForm(version_id=v),
        decision_form=DecisionForm(version_id=v),
    )


@bp.route("/<int:hazard_id>/edit", methods=["GET", "POST"])
@login_required
def edit(hazard_id: int):
    hazard = load_or_404(Hazard, hazard_id, "hazard.edit")
    if hazard.status in ("closed", "voided"):
        flash("已销号或已作废的隐患不能修改。", "warning")
        return redirect(url_for("hazards.show", hazard_id=hazard.id))
    form = HazardEditForm(obj=hazard)
    groups = catalogue.citable_groups(hazard.tenant_id)
    cited = db.session.execute(
        sa.select(HazardCitation.item_id).where(HazardCitation.hazard_id == hazard.id, HazardCitation.is_active.is_(True))
    ).scalars().all()
    form.items.choices = choices((i.id, i.number) for _, _, items in groups for i in items)
    if request.method == "GET":
        form.items.data = list(cited)
        form.version_id.data = str(hazard.version_id)
    conflict: list = []

    def refused_edit(exc: Exception) -> None:
        if isinstance(exc, ops.StaleHazard):
            conflict.extend(exc.changes)
        _mark_plan_errors(form, exc)

    response = submit(
        form, lambda: ops.update(hazard, actor=current_user, data=form.data_dict(), item_ids=form.items.data or [],
                                 level=form.level.data, version_id=int(form.version_id.data), reason=form.reason.data),
        done=lambda changed: [("已保存。", "success")] if changed else [("没有需要保存的修改。", "info")],
        to=_hazard_url(hazard.id), on_error=refused_edit)
    if response is not None:
        return response
    return render_template("hazards/form.html", form=form, groups=groups, hazard=hazard, conflict=conflict or None)


def _hazard_url(hazard_id: int) -> str:
    return url_for("hazards.show", hazard_id=hazard_id)


def _refusal_text(exc: Exception) -> str:
    """A stale button names what the other person changed (up to eight fields)."""
    if isinstance(exc, ops.StaleHazard):
        return str(exc) + " " + "；".join(f"{label}：{old} → {new}" for label, old, new in exc.changes[:8])
    return str(exc)


#: a button of the hazard page: an invalid form (a bad token too) is flashed "操作未执行：…" and
#: a refusal in the operation's own words (a stale one naming what changed), back to the hazard
_button = functools.partial(act, prefix="", invalid=lambda form: "操作未执行：" + errors_text(form),
                            bad_token_is_400=False, message=_refusal_text)


@bp.route("/<int:hazard_id>/start", methods=["POST"])
@login_required
@one_shot(_hazard_url)
def start(hazard_id: int):
    hazard, form = load_or_404(Hazard, hazard_id, "hazard.rectify"), VersionForm()
    return _button(form, lambda: ops.start_rectification(hazard, actor=current_user, version_id=int(form.version_id.data)),
                   done="已开始整改。", back=_hazard_url(hazard_id))


@bp.route("/<int:hazard_id>/report", methods=["POST"])
@login_required
@one_shot(_hazard_url)
def report(hazard_id: int):
    hazard, form = load_or_404(Hazard, hazard_id, "hazard.rectify"), ReportForm()
    return _button(form, lambda: ops.report_rectification(
        hazard, actor=current_user, rectified_on=form.rectified_on.data, note=form.note.data,
        version_id=int(form.version_id.data)), done="已报告整改完成，等待验收。", back=_hazard_url(hazard_id))


@bp.route("/<int:hazard_id>/accept", methods=["POST"])
@login_required
@one_shot(_hazard_url)
def accept(hazard_id: int):
    hazard, form = load_or_404(Hazard, hazard_id, "hazard.accept"), AcceptForm()
    return _button(form, lambda: ops.accept(
        hazard, actor=current_user, accepted_on=form.accepted_on.data, note=form.note.data,
        version_id=int(form.version_id.data)), done="验收合格，已销号。", back=_hazard_url(hazard_id))


@bp.route("/<int:hazard_id>/reject", methods=["POST"])
@login_required
@one_shot(_hazard_url)
def reject(hazard_id: int):
    hazard, form = load_or_404(Hazard, hazard_id, "hazard.accept"), ReasonForm()
    return _button(form, lambda: ops.reject(hazard, actor=current_user, reason=form.reason.data,
                                            version_id=int(form.version_id.data)),
                   done="验收不通过，已退回整改。", back=_hazard_url(hazard_id))


@bp.route("/<int:hazard_id>/void", methods=["POST"])
@login_required
@one_shot(_hazard_url)
def void(hazard_id: int):
    hazard, form = load_or_404(Hazard, hazard_id, "hazard.void"), ReasonForm()
    return _button(form, lambda: ops.void(hazard, actor=current_user, reason=form.reason.data,
                                          version_id=int(form.version_id.data)),
                   done="已作废（保留在台账中）。", back=_hazard_url(hazard_id))


@bp.route("/<int:hazard_id>/downgrade", methods=["POST"])
@login_required
@one_shot(_hazard_url)
def downgrade(hazard_id: int):
    hazard, form = load_or_404(Hazard, hazard_id, "hazard.downgrade_request"), ReasonForm()
    return _button(form, lambda: ops.request_downgrade(hazard, actor=current_user, reason=form.reason.data,
                                                       version_id=int(form.version_id.data)),
                   done="降级申请已提交，等待上级审批。", back=_hazard_url(hazard_id))


@bp.route("/<int:hazard_id>/downgrade/decide", methods=["POST"])
@login_required
@one_shot(_hazard_url)
def decide_downgrade(hazard_id: int):
    hazard, form = load_or_404(Hazard, hazard_id, "hazard.downgrade_approve"), DecisionForm()
    return _button(form, lambda: ops.decide_downgrade(
        hazard, actor=current_user, approve=form.decision.data == "approve", note=form.note.data,
        version_id=int(form.version_id.data)), done="审批结果已记录。", back=_hazard_url(hazard_id))


@bp.route("/<int:hazard_id>/history")
@login_required
def hazard_history(hazard_id: int):
    hazard = load_or_404(Hazard, hazard_id, "hazard.history")
    # A long-lived hazard has dozens of versions over three tables (the hazard, its citations, its
    # evidence: all its school's records); the timeline changes only when its school's records do,
    # or its tenant's or the city's as a whole (users' names, the catalogue's words).
    marks = (datacache.unit_mark(hazard.tenant_id, hazard.school_id),
             *(datacache.wide_mark(tid) for tid in catalogue.visible_tenant_ids(hazard.tenant_id)))
    entries_html = datacache.built_from_pieces(("hazard_history", hazard.id, marks), lambda: Markup(
        render_template("_history_entries.html", entries=timeline(hazard))))
    return render_template("history.html", title=f"隐患 {hazard.number} 的全部记录", entries=bool(entries_html.strip()),
                           entries_html=entries_html, back_url=url_for("hazards.show", hazard_id=hazard.id))

