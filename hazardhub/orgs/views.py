"""Pages of the unit tree: browse, edit, create, (de)activate, history, import, districts."""
from __future__ import annotations

import io
import re
import secrets

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from hazardhub import spreadsheets
from hazardhub.accounts.models import Membership, User
from hazardhub.auditlog.timeline import timeline
from hazardhub.clock import today
from hazardhub.compliance.operations import recent_months, school_months
from hazardhub.extensions import db
from hazardhub.forms import choices
from hazardhub.orgs import onboarding
from hazardhub.orgs import operations as ops
from hazardhub.orgs.forms import ActiveForm, ImportForm, UnitCreateForm, UnitForm
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.orgs.unit_rows import HEADER_LABELS, UnreadableFile, parse_unit_rows, read_unit_table
from hazardhub.pagination import paginate
from hazardhub.policy import authorize, can, load_or_404, requires
from hazardhub.requestflow import act, perform, submit
from hazardhub.runs.operations import storage_root
from hazardhub.tenancy import current_scope

bp = Blueprint("orgs", __name__, url_prefix="/units")

SORTS = {
    "path": OrgUnit.path,
    "name": OrgUnit.name,
    "code": OrgUnit.code,
    "enrolment": OrgUnit.enrolment.desc(),
}


@bp.route("/")
@login_required
def index():
    """Every unit the user reaches, filtered, sorted and paginated."""
    roots = ops.user_roots(current_user)
    if not roots:
        abort(403)
    q = (request.args.get("q") or "").strip()[:50]
    kind = request.args.get("kind") or ""
    school_type = request.args.get("school_type") or ""
    stmt = sa.select(OrgUnit).where(
        sa.or_(*[OrgUnit.path.startswith(r.path, autoescape=True) & (OrgUnit.tenant_id == r.tenant_id) for r in roots])
    )
    if q:
        stmt = stmt.where(sa.or_(OrgUnit.name.contains(q, autoescape=True), OrgUnit.code.contains(q, autoescape=True)))
    if kind in ("bureau", "township_center", "affiliated_school", "school"):
        stmt = stmt.where(OrgUnit.kind == kind)
    if school_type:
        stmt = stmt.where(OrgUnit.school_type == school_type)
    sort = request.args.get("sort", "path")
    stmt = stmt.order_by(SORTS.get(sort, OrgUnit.path), OrgUnit.id)
    page = paginate(stmt)
    return render_template("orgs/index.html", page=page, q=q, kind=kind, school_type=school_type, sort=sort)


@bp.route("/<int:unit_id>")
@login_required
def show(unit_id: int):
    unit = load_or_404(OrgUnit, unit_id, "unit.view")
    q = (request.args.get("q") or "").strip()[:50]
    stmt = sa.select(OrgUnit).where(OrgUnit.parent_id == unit.id)
    if q:
        stmt = stmt.where(OrgUnit.name.contains(q, autoescape=True))
    children = paginate(stmt.order_by(OrgUnit.kind, OrgUnit.name, OrgUnit.id), per_page=30)
    ancestors = _ancestors(unit)
    members = []
    if can(current_user, "user.view", unit):
        members = db.session.execute(
            sa.select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.unit_id == unit.id, Membership.is_active.is_(True))
            .order_by(Membership.role, User.display_name)
        ).all()
    counts = dict(
        db.session.execute(
            sa.select(OrgUnit.kind, sa.func.count())
            .where(OrgUnit.path.startswith(unit.path, autoescape=True), OrgUnit.id != unit.id)
            .group_by(OrgUnit.kind)
        ).all()
    )
    months = []
    if unit.is_school and can(current_user, "compliance.view"):
        months = school_months(unit, recent_months(today(), 6), today())
    return render_template("orgs/show.html", unit=unit, children=children, ancestors=ancestors, months=months,
                           members=members, counts=counts, q=q,
                           active_form=ActiveForm(version_id=unit.version_id))


def _ancestors(unit: OrgUnit) -> list[OrgUnit]:
    ids = [int(p) for p in unit.path.strip("/").split("/")[:-1] if p]
    if not ids:
        return []
    found = {u.id: u for u in db.session.execute(sa.select(OrgUnit).where(OrgUnit.id.in_(ids))).scalars()}
    return [found[i] for i in ids if i in found and can(current_user, "unit.view", found[i])]


@bp.route("/<int:unit_id>/edit", methods=["GET", "POST"])
@login_required
def edit(unit_id: int):
    unit = load_or_404(OrgUnit, unit_id, "unit.edit")
    form = UnitForm(obj=unit)
    if request.method == "GET":
        form.school_type.data = unit.school_type or ""
        form.ownership.data = unit.ownership or ""
        form.version_id.data = str(unit.version_id)
    else:
        # the version comes from the page the user saw, never from the row (obj=unit would fill a
        # missing field with the current version and silently defeat the optimistic lock)
        form.version_id.data = request.form.get("version_id", "")
    valid = form.validate_on_submit()
    response = submit(
        form, lambda: ops.update_unit(unit, form.values(), version_id=int(form.version_id.data), reason=form.reason.data),
        validated=valid, invalid=None if valid else _stale_or_invalid(form),
        done=lambda changed: [("已保存。", "success")] if changed else [("没有需要保存的修改。", "info")],
        to=url_for("orgs.show", unit_id=unit.id))
    if response is not None:
        return response
    return render_template("orgs/edit.html", unit=unit, form=form)


def _stale_or_invalid(form) -> str:
    """An edit form's flash: the stale page first (the version field), else the fields' errors."""
    return form.version_id.errors[0] if form.version_id.errors else "请更正表单中的错误。"


@bp.route("/<int:unit_id>/new", methods=["GET", "POST"])
@login_required
def create(unit_id: int):
    parent = load_or_404(OrgUnit, unit_id, "unit.create")
    if parent.is_school:
        flash("学校下面不能再设下级单位。", "warning")
        return redirect(url_for("orgs.show", unit_id=parent.id))
    form = UnitCreateForm()
    if parent.kind == "township_center":
        form.kind.choices = choices([("school", "学校/幼儿园")])
    valid = form.validate_on_submit()
    taken = valid and db.session.execute(sa.select(OrgUnit.id).where(OrgUnit.code == form.code.data.strip())).first()
    if taken:
        form.code.errors.append("该单位代码已存在。")  # shown at the field, not flashed
    response = submit(
        form, lambda: ops.create_unit(parent, code=form.code.data.strip(), kind=form.kind.data, **form.values()),
        validated=valid and not taken, invalid=None if taken else "请更正表单中的错误。",
        done=lambda unit: f"已新建单位：{unit.name}", to=lambda unit: url_for("orgs.show", unit_id=unit.id))
    if response is not None:
        return response
    return render_template("orgs/create.html", parent=parent, form=form)


@bp.route("/<int:unit_id>/active", methods=["POST"])
@login_required
def toggle_active(unit_id: int):
    unit = load_or_404(OrgUnit, unit_id, "unit.edit")
    form = ActiveForm()
    return act(form, lambda: ops.set_active(unit, not unit.is_active, version_id=int(form.version_id.data),
                                            reason=form.reason.data),
               done=lambda _: "已启用。" if unit.is_active else "已停用（历史记录保留）。",
               back=url_for("orgs.show", unit_id=unit.id), prefix="", invalid=_active_invalid)


def _active_invalid(form) -> str:
    if form.version_id.errors:
        return form.version_id.errors[0]
    if form.reason.data and form.reason.errors:
        return form.reason.errors[0]
    return "停用或启用须填写原因。"


@bp.route("/<int:unit_id>/history")
@login_required
def unit_history(unit_id: int):
    unit = load_or_404(OrgUnit, unit_id, "unit.history")
    entries = timeline(unit)
    return render_template("history.html", title=f"{unit.name} 的变更历史", entries=entries,
                           back_url=url_for("orgs.show", unit_id=unit.id))


@bp.route("/import", methods=["GET", "POST"])
@login_required
@requires("unit.import")
def import_units():
    form = ImportForm()
    errors: list[tuple[int, str]] = []
    result = None
    roots = [r for r in ops.user_roots(current_user) if can(current_user, "unit.import", r)]
    if not roots:
        abort(403)
    scope_root = roots[0]
    principals = None
    passwords_token = None
    if form.validate_on_submit():
        upload = form.file.data
        try:
            table, lines = read_unit_table(upload.filename, upload.stream,
                                           current_app.config["HAZARDHUB_MAX_IMPORT_ROWS"])
        except UnreadableFile as exc:
            errors = [(0, str(exc))]
        else:
            parsed = parse_unit_rows(table, lines)
            errors = parsed.errors or onboarding.resolve_parent_names(parsed.rows, scope_root)
            if not errors:
                # a refusal is shown as the file's error (row 0) on the page, not flashed
                applied, outcome = perform(lambda: ops.apply_unit_rows(parsed.rows, scope_root,
                                                                       reason="Excel/CSV 导入单位"), show=False)
                if applied:
                    result, errors = outcome, outcome.errors
                else:
                    errors = [(0, str(outcome))]
                if not errors:
                    principals = onboarding.create_principals(parsed.rows, scope_root)
                    if principals.created:
                        passwords_token = _keep_passwords(onboarding.passwords_workbook(
                            principals, f"{scope_root.name}校长账号（一次性密码）"))
        if errors:
            flash(f"导入未执行：发现 {len(errors)} 处错误，请修改文件后重新上传。", "danger")
            result = None
        elif result is not None:
            flash(f"导入完成：新增 {len(result.created)} 个单位，更新 {len(result.updated)} 个单位。", "success")
    elif request.method == "POST":
        flash("请选择要导入的文件。", "danger")
    return render_template("orgs/import.html", form=form, errors=errors, result=result,
                           headers=HEADER_LABELS, scope_root=scope_root, principals=principals,
                           passwords_token=passwords_token)


def _passwords_folder():
    return storage_root() / "imports" / str(current_user.tenant_id) / "passwords"


def _keep_passwords(data: bytes) -> str:
    """Keep the one-time passwords file for one download by this user (deleted when fetched)."""
    token = secrets.token_urlsafe(24)
    folder = _passwords_folder()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{current_user.id}-{token}.xlsx").write_bytes(data)
    return token


@bp.route("/import/passwords.xlsx")
@login_required
@requires("unit.import")
def import_passwords():
    """The principals' one-time passwords as a spreadsheet, once (the file is deleted on download);
    the file is named by a random token (query string) and kept per user."""
    token = request.args.get("token", "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{20,64}", token):
        abort(404)
    path = _passwords_folder() / f"{current_user.id}-{token}.xlsx"
    if not path.is_file():
        abort(404)
    data = path.read_bytes()
    path.unlink(missing_ok=True)
    response = send_file(io.BytesIO(data), mimetype=spreadsheets.XLSX_MIME, as_attachment=True,
                         download_name="principal-passwords.xlsx")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/districts")
@login_required
def districts():
    """A city user's list of its districts (read-only links into each)."""
    authorize("tenant.view")
    tenants = db.session.execute(
        sa.select(Tenant).where(Tenant.id.in_(_readable_tenant_ids())).order_by(Tenant.kind, Tenant.region_code)
    ).scalars().all()
    rows = []
    for tenant in tenants:
        if not can(current_user, "tenant.view", tenant):
            continue
        root = ops.root_unit(tenant.id)
        count = db.session.execute(
            sa.select(sa.func.count()).select_from(OrgUnit).where(
                OrgUnit.tenant_id == tenant.id, OrgUnit.kind.in_(("school", "affiliated_school"))
            )
        ).scalar_one()
        rows.append((tenant, root, count))
    return render_template("orgs/districts.html", rows=rows)


def _readable_tenant_ids():
    return current_scope().read_tenant_ids
