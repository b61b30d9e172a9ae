"""Pages of 随手拍, in two blueprints.

``public`` (``/p/…``) is the only part of HazardHub a stranger reaches without login (DESIGN §9):
the report form behind a poster's QR code, the receipt, the status page. It takes tokens (a code's
token, a receipt), never ids; its tenant is bound from the row the token names
(:func:`_bind_from`), after which the same scoping floor, operations and audit chain apply as
everywhere else; its POSTs are rate-limited per client address and per code
(:mod:`hazardhub.publicreports.throttle`), size-limited, and carry a honeypot field.

``staff`` (``/publicreports/…``) is the school's side: codes and posters, the reports to triage,
and the township's and bureau's per-school counts; login and policy as usual.
"""
from __future__ import annotations

from urllib.parse import quote

import sqlalchemy as sa
from flask import Blueprint, abort, g, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from hazardhub.audit import history
from hazardhub.evidence import storage
from hazardhub.extensions import db
from hazardhub.formtokens import one_shot
from hazardhub.forms import errors_text
from hazardhub.httprequest import MB, upload_limit
from hazardhub.orgs.models import OrgUnit
from hazardhub.orgs.operations import reading_roots_or_403
from hazardhub.pagination import paginate
from hazardhub.policy import can, load_or_404, requires
from hazardhub.publicreports import operations as ops
from hazardhub.publicreports.forms import CodeForm, RegisterForm, RejectForm, ReportForm, RetireForm
from hazardhub.publicreports.models import KIND_CATEGORY, STATUSES, SUGGESTED_PLACES, PublicReport, ReportCode
from hazardhub.publicreports.poster import public_url, render_poster
from hazardhub.publicreports.throttle import init_public_throttle, public_throttle
from hazardhub.requestflow import act, perform
from hazardhub.standards import operations as catalogue
from hazardhub.tenancy import TenantScope, bind_scope

public = Blueprint("publicreports_public", __name__, url_prefix="/p")
bp = Blueprint("publicreports", __name__, url_prefix="/publicreports")


def init_publicreports(app) -> None:
    init_public_throttle(app)
    app.register_blueprint(public)
    app.register_blueprint(bp)


# ---------------------------------------------------------------------------------------------
# public: no login


def _bind_from(row) -> None:
    """Bind the tenant of the row a token named, read and write, for this request only (the app's
    teardown restores the request's original binding)."""
    bind_scope(TenantScope.single(row.tenant_id))
    g.public_tenant_id = row.tenant_id


def _code_or_404(token: str) -> ReportCode:
    code = ops.find_code(token)
    if code is None:
        abort(404)
    _bind_from(code)
    return code


def _report_or_404(receipt: str) -> PublicReport:
    report = ops.find_report(receipt)
    if report is None:
        abort(404)
    _bind_from(report)
    return report


def _public_upload_limit() -> int:
    return ops.MAX_PHOTOS * storage.max_bytes() + MB


@public.after_request
def _no_store(response):
    """Public pages name a school and a receipt: never kept by shared caches."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@public.route("/<token>", methods=["GET", "POST"])
@upload_limit(_public_upload_limit, lambda: ops.MAX_PHOTOS * storage.max_bytes() / MB)
def report(token: str):
    code = _code_or_404(token)
    school = db.session.get(OrgUnit, code.school_id)
    if not code.is_active:
        return render_template("publicreports/public_retired.html", school=school), 410
    form = ReportForm(place=code.place or "")
    if request.method == "POST":
        wait = public_throttle().hit(request.remote_addr, code.token)
        if wait is not None:
            return render_template("publicreports/public_form.html", form=form, code=code, school=school,
                                   error=f"提交过于频繁，请 {max(1, wait // 60)} 分钟后再试。", max_photos=ops.MAX_PHOTOS), 429
        if form.website.data:  # the honeypot: a person never sees the field; store nothing
            return render_template("publicreports/public_thanks.html", school=school)
        if form.validate_on_submit():
            files = [f for f in (form.photos.data or []) if f and (f.filename or "").strip()]
            # the public page shows a refusal in its own words and layout, never as a flash
            sent, created = perform(lambda: ops.submit(code, ops.Submission(
                kind=form.kind.data, place=form.place.data, description=form.description.data,
                phone=form.phone.data, photos=[f.stream for f in files])), show=False)
            if not sent and isinstance(created, ops.DuplicateReport):
                return render_template("publicreports/public_thanks.html", school=school, message=str(created))
            if not sent:  # PublicReportError, FileRefused
                return render_template("publicreports/public_form.html", form=form, code=code, school=school,
                                       error=str(created), max_photos=ops.MAX_PHOTOS), 400
            return redirect(url_for("publicreports_public.status", receipt=created.receipt, new=1))
        return render_template("publicreports/public_form.html", form=form, code=code, school=school,
                               error=errors_text(form), max_photos=ops.MAX_PHOTOS), 400
    return render_template("publicreports/public_form.html", form=form, code=code, school=school,
                           error=None, max_photos=ops.MAX_PHOTOS)


@public.route("/status")
def lookup():
    """Type a receipt code (from paper, or another phone)."""
    receipt = ops.normalise_receipt(request.args.get("receipt"))
    if receipt:
        if ops.find_report(receipt) is not None:
            return redirect(url_for("publicreports_public.status", receipt=receipt))
        return render_template("publicreports/public_lookup.html", error="没有找到该回执码，请核对后重新输入。"), 404
    return render_template("publicreports/public_lookup.html", error=None)


@public.route("/r/<receipt>")
def status(receipt: str):
    found = _report_or_404(receipt)
    return render_template("publicreports/public_status.html", s=ops.public_status(found),
                           just_sent=request.args.get("new") == "1")


@public.route("/r/<receipt>/after/<int:n>")
def after_photo(receipt: str, n: int):
    """The n-th after-photo of a rectified report, where the school allowed it (receipt, never an id)."""
    found = _report_or_404(receipt)
    photos = ops.public_status(found).after_photos
    if not 0 <= n < len(photos):
        abort(404)
    a = photos[n]
    return storage.send_stored(storage.path_for(a.tenant_id, a.stored_name), a.content_type,
                               f"整改后照片{n + 1}{storage.EXTENSIONS.get(a.content_type, '')}", a.sha256)


# ---------------------------------------------------------------------------------------------
# staff: the school, the township, the bureau


def _school_or_404(unit_id: int, action: str) -> OrgUnit:
    unit = load_or_404(OrgUnit, unit_id, action)
    if not unit.is_school:
        abort(404)
    return unit


@bp.route("/")
@login_required
@requires("publicreport.view")
def index():
    """New reports first; per-school counts and median time to triage for townships and the bureau."""
    roots = reading_roots_or_403(current_user)
    paths = [r.path for r in roots]
    status = request.args.get("status", "")
    page = paginate(ops.reports_query(paths, status or None), per_page=30)
    schools = [u for u in roots if u.is_school and can(current_user, "publicreport.codes", u)]
    return render_template("publicreports/index.html", page=page, status=status, STATUSES=STATUSES,
                           counts=ops.per_school(paths), schools=schools,
                           names=_school_names({r.school_id for r in page.items}))


def _school_names(ids) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(sorted(ids)))).all())


@bp.route("/<int:report_id>", methods=["GET"])
@login_required
def show(report_id: int):
    found = load_or_404(PublicReport, report_id, "publicreport.view")
    school = db.session.get(OrgUnit, found.school_id)
    hazard_number = ops.public_status(found).hazard_number
    reveal = request.args.get("phone") == "1" and can(current_user, "publicreport.triage", found)
    return render_template(
        "publicreports/show.html", r=found, school=school, photos=ops.photos_of(found.id), hazard_number=hazard_number,
        phone_hint=ops.phone_hint(found), phone=ops.reveal_phone(found) if reveal else None,
        register_form=_register_form(found, school, location=found.place, description=found.description,
                                     category=KIND_CATEGORY.get(found.kind, "其他")),
        groups=catalogue.citable_groups(found.tenant_id, school), reject_form=RejectForm(), history=history(found))


def _register_form(report: PublicReport, school: OrgUnit | None, **defaults) -> RegisterForm:
    """The triage form with the school's citable items as the choices of ``items``."""
    form = RegisterForm(**defaults)
    form.items.choices = [(i.id, i.number) for _, _, items in catalogue.citable_groups(report.tenant_id, school)
                          for i in items]
    return form


@bp.route("/<int:report_id>/photos/<int:n>")
@login_required
def photo(report_id: int, n: int):
    found = load_or_404(PublicReport, report_id, "publicreport.view")
    photos = ops.photos_of(found.id)
    if not 0 <= n < len(photos):
        abort(404)
    p = photos[n]
    return storage.send_stored(storage.path_for(p.tenant_id, p.stored_name), p.content_type,
                               f"随手拍-{found.receipt}-{n + 1}{storage.EXTENSIONS.get(p.content_type, '')}", p.sha256)


@bp.route("/<int:report_id>/register", methods=["POST"])
@login_required
@one_shot(lambda report_id: url_for("publicreports.show", report_id=report_id))
def register(report_id: int):
    found = load_or_404(PublicReport, report_id, "publicreport.triage")
    form = _register_form(found, db.session.get(OrgUnit, found.school_id))
    return act(form, lambda: ops.register_hazard(found, current_user, category=form.category.data, level=form.level.data,
                                                 location=form.location.data, description=form.description.data,
                                                 item_ids=form.items.data or [],
                                                 show_after_photos=form.show_after_photos.data),
               done=lambda hazard: f"已登记为隐患 {hazard.number}，照片已转为整改前照片。举报人凭回执码可看到隐患编号。",
               back=lambda hazard: url_for("hazards.show", hazard_id=hazard.id) if hazard is not None
               else url_for("publicreports.show", report_id=report_id),
               prefix="", invalid=errors_text)


@bp.route("/<int:report_id>/reject", methods=["POST"])
@login_required
def reject(report_id: int):
    found = load_or_404(PublicReport, report_id, "publicreport.triage")
    form = RejectForm()
    return act(form, lambda: ops.reject(found, current_user, form.reason.data),
               done="已作不予受理处理，举报人凭回执码可看到原因。",
               back=url_for("publicreports.show", report_id=report_id), prefix="", invalid=errors_text)


@bp.route("/schools/<int:unit_id>/codes", methods=["GET", "POST"])
@login_required
def codes(unit_id: int):
    school = _school_or_404(unit_id, "publicreport.codes")
    form = CodeForm()
    if request.method == "POST":
        return act(form, lambda: ops.create_code(school, current_user.id, form.place.data),
                   done="二维码已生成，请下载海报打印张贴。", back=url_for("publicreports.codes", unit_id=unit_id),
                   prefix="", invalid=errors_text)
    return render_template("publicreports/codes.html", school=school, codes=ops.codes_of(school.id, include_retired=True),
                           form=form, retire_form=RetireForm(), suggested=SUGGESTED_PLACES, public_url=public_url)


@bp.route("/codes/<int:code_id>/poster.pdf")
@login_required
def poster(code_id: int):
    code = load_or_404(ReportCode, code_id, "publicreport.codes")
    if not code.is_active:
        abort(404)
    school = db.session.get(OrgUnit, code.school_id)
    pdf = render_poster(code, school.name)
    response = make_response(pdf)
    response.headers["Content-Type"] = "application/pdf"
    name = f"随手拍海报-{code.place or '全校'}.pdf"
    response.headers["Content-Disposition"] = f"attachment; filename=poster.pdf; filename*=UTF-8''{quote(name)}"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/codes/<int:code_id>/retire", methods=["POST"])
@login_required
def retire(code_id: int):
    code = load_or_404(ReportCode, code_id, "publicreport.codes")
    form = RetireForm()
    return act(form, lambda: ops.retire_code(code, reprint=form.reprint.data),
               done=lambda successor: "旧二维码已停用，扫码将提示已停用。" + ("新码已生成，请下载新海报替换。" if successor else ""),
               back=url_for("publicreports.codes", unit_id=code.school_id), prefix="", invalid=errors_text)
