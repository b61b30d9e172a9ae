"""The ledger as Excel: download the filtered ledger, import a school's existing ledger.

Endpoints (blueprint ``ledger_excel``):

- ``ledger_excel.export`` GET ``/hazards/export.xlsx`` with the ledger page's query string
  (unit_id, status, level, category, source, overdue, listed, date_from, date_to, q). Up to
  :data:`excel.SYNC_EXPORT_LIMIT` rows the file is written at once; beyond, a page offers a
  background export of the whole unit (POST ``ledger_excel.export_run``), so no GET writes.
- ``ledger_excel.import_upload`` GET/POST ``/hazards/import``: upload an .xlsx, pick the school.
- ``ledger_excel.import_map`` GET/POST ``/hazards/import/map``: map columns, check, import.
"""
from __future__ import annotations

import hashlib
import io
import re
import secrets
import time
from datetime import date
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from flask import (Blueprint, abort, current_app, flash, redirect, render_template, render_template_string, request,
                   send_file, session, url_for)
from flask_login import current_user, login_required

from hazardhub import clock
from hazardhub.extensions import db
from hazardhub.formtokens import one_shot
from hazardhub.errors import DomainError
from hazardhub.forms import choices
from hazardhub.hazards import bulk_import, excel
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.forms import (  # noqa: F401  (AUTO_SCHOOL, value_field_name: read by the tests here)
    AUTO_SCHOOL, ExportRunForm, UploadForm, chosen_values, mapping_form, value_field_name,
)
from hazardhub.hazards.models import CATEGORIES, LEVELS, SOURCES, STATUSES, Hazard
from hazardhub.orgs.models import OrgUnit
from hazardhub.orgs.operations import reading_roots, subtree_query, user_roots
from hazardhub.policy import can, load_or_404
from hazardhub.requestflow import perform, submit
from hazardhub.runs import operations as run_ops
from hazardhub.runs.models import ReportRun

bp = Blueprint("ledger_excel", __name__, url_prefix="/hazards")

_SESSION_KEY = "ledger_import"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
_STALE_SECONDS = 24 * 3600
_TRUE = {"1", "true", "on", "yes", "y"}
_STATUS_FILTERS = set(STATUSES) | {"open", "overdue"}


# ---------------------------------------------------------------------------------------------
# export


def filters_from_args(args) -> hazard_ops.LedgerFilters:
    """The ledger page's query string as filters; anything malformed is ignored, never a 500."""

    def one(name: str) -> str:
        return (args.get(name) or "").strip()

    def as_date(name: str) -> date | None:
        try:
            return date.fromisoformat(one(name)[:10]) if one(name) else None
        except ValueError:
            return None

    unit_id = one("unit_id")
    status = one("status")
    return hazard_ops.LedgerFilters(
        unit_id=int(unit_id) if unit_id.isdigit() and 0 < int(unit_id) < 2**63 else None,
        status=status if status in _STATUS_FILTERS else None,
        level=one("level") if one("level") in LEVELS else None,
        category=one("category") if one("category") in CATEGORIES else None,
        source=one("source") if one("source") in SOURCES else None,
        overdue=one("overdue").lower() in _TRUE,
        listed=one("listed").lower() in _TRUE,
        date_from=as_date("date_from"),
        date_to=as_date("date_to"),
        q=one("q")[:50] or None,
    )


def describe_filters(filters: hazard_ops.LedgerFilters, unit: OrgUnit | None) -> str:
    parts = []
    if unit is not None:
        parts.append(f"单位：{unit.name}")
    if filters.status:
        parts.append("状态：" + {"open": "未销号", "overdue": "已超期"}.get(filters.status, STATUSES.get(filters.status, "")))
    if filters.overdue and filters.status != "overdue":
        parts.append("仅超期")
    if filters.listed:
        parts.append("仅挂牌督办")
    if filters.level:
        parts.append(f"等级：{LEVELS[filters.level]}")
    if filters.category:
        parts.append(f"类别：{filters.category}")
    if filters.source:
        parts.append(f"检查类型：{SOURCES[filters.source]}")
    if filters.date_from or filters.date_to:
        parts.append(f"排查日期：{filters.date_from or '不限'} 至 {filters.date_to or '不限'}")
    if filters.q:
        parts.append(f"关键词：{filters.q}")
    return "；".join(parts) or "无（全部未作废隐患）"


def _export_roots() -> list[OrgUnit]:
    roots = [r for r in reading_roots(current_user) if can(current_user, "hazard.export", r)]
    if not roots:
        abort(403)
    return roots


_LARGE_EXPORT = """{% extends "base.html" %}
{% block title %}导出隐患台账{% endblock %}
{% block content %}
<h1 class="h5">导出隐患台账（Excel）</h1>
<div class="alert alert-info">符合条件的隐患共 {{ count }} 条，超过 {{ limit }} 条，不能立即生成。
可以提交后台任务，导出“{{ unit.name }}”范围内全部未作废的隐患（后台导出不应用其他筛选条件），生成后在“后台任务”中下载。</div>
<p class="small text-muted">当前筛选条件：{{ filters }}</p>
<form method="post" action="{{ url_for('ledger_excel.export_run') }}">
  {{ form.csrf_token }}{{ form_token() }}{{ form.unit_id() }}
  <button class="btn btn-primary" type="submit">提交后台导出</button>
  <a class="btn btn-link" href="javascript:history.back()">返回</a>
</form>
{% endblock %}"""


def download_disposition(name: str, ascii_name: str) -> str:
    """An attachment header with the readable Chinese name (RFC 5987 ``filename*``) and a
    meaningful ASCII fallback (Werkzeug's would strip every Chinese character: “()--20261202.xlsx”)."""
    safe_ascii = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_name).strip("-") or "download.xlsx"
    clean = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", name)
    return f"attachment; filename=\"{safe_ascii}\"; filename*=UTF-8''{quote(clean, safe='')}"


@bp.route("/export.xlsx")
@login_required
def export():
    """The filtered ledger as .xlsx (scope: the user's units)."""
    roots = _export_roots()
    filters = filters_from_args(request.args)
    unit = None
    if filters.unit_id:
        unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == filters.unit_id)).scalar_one_or_none()
        if unit is None or not any(r.contains(unit) for r in roots):
            abort(404)
    stmt = hazard_ops.ledger_query(roots, filters)
    count = db.session.execute(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    scope_unit = unit or roots[0]
    if count > excel.SYNC_EXPORT_LIMIT:
        form = ExportRunForm(data={"unit_id": str(scope_unit.id)})
        return render_template_string(_LARGE_EXPORT, count=count, limit=excel.SYNC_EXPORT_LIMIT, unit=scope_unit,
                                      filters=describe_filters(filters, unit), form=form)
    hazards = db.session.execute(stmt.order_by(Hazard.found_on, Hazard.number)).scalars().all()
    scope = unit.name if unit else "、".join(r.name for r in roots)
    title = f"{scope}隐患排查治理台账"
    data = excel.write_ledger(hazards, title, tenant_id=current_user.tenant_id, scope=scope,
                              filters=describe_filters(filters, unit))
    response = send_file(io.BytesIO(data), mimetype=excel.XLSX_MIME, as_attachment=True,
                         download_name="ledger.xlsx")
    response.headers["Content-Disposition"] = download_disposition(
        f"{scope_unit.name}隐患台账{clock.today():%Y%m%d}.xlsx", f"hazard-ledger-{scope_unit.code}-{clock.today():%Y%m%d}.xlsx")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/export-run", methods=["POST"])
@login_required
@one_shot(creates=(ReportRun, lambda run: url_for("runs.show", run_id=run.id)))
def export_run():
    """Background export of every non-voided hazard under one unit (kind ``ledger_xlsx``)."""
    form = ExportRunForm()
    if not form.validate_on_submit():
        abort(400)
    unit = load_or_404(OrgUnit, form.unit_id.data, "hazard.export")
    if unit.tenant_id != current_user.tenant_id:
        abort(403)
    # a queue that cannot take the job is told in words, back on the task list
    queued, run = perform(lambda: run_ops.request_run("ledger_xlsx", user=current_user, unit=unit),
                          refusals=(run_ops.QueueUnavailable,))
    if not queued:
        return redirect(url_for("runs.index"))
    flash("已提交后台导出任务，完成后可在本页下载。", "success")
    return redirect(url_for("runs.show", run_id=run.id))


# ---------------------------------------------------------------------------------------------
# import


def importable_units() -> list[tuple[OrgUnit, str]]:
    """Active units (schools, affiliated schools, townships) the user may import hazards into."""
    units: dict[int, OrgUnit] = {}
    for root in user_roots(current_user):
        for unit in db.session.execute(subtree_query(root).order_by(OrgUnit.path)).scalars():
            units[unit.id] = unit
    names = {u.id: u for u in units.values()}
    out = []
    for unit in sorted(units.values(), key=lambda u: u.path):
        if unit.kind == "bureau" or not unit.is_active or not can(current_user, "hazard.import", unit):
            continue
        parent = names.get(unit.parent_id)
        label = f"{parent.name} / {unit.name}" if parent is not None and parent.kind == "township_center" else unit.name
        out.append((unit, label))
    return out


def _folder() -> Path:
    return run_ops.storage_root() / "imports" / str(current_user.tenant_id)


def _pending_path(pending: dict) -> Path | None:
    token = str(pending.get("token") or "")
    if not _TOKEN_RE.match(token):
        return None
    return _folder() / f"{token}.json"


def _drop_pending() -> None:
    pending = session.pop(_SESSION_KEY, None)
    if isinstance(pending, dict):
        path = _pending_path(pending)
        if path is not None:
            path.unlink(missing_ok=True)


def _sweep(folder: Path) -> None:
    """Remove uploads nobody finished within a day (and the .xlsx files older versions kept)."""
    cutoff = time.time() - _STALE_SECONDS
    for path in [*folder.glob("*.json"), *folder.glob("*.xlsx")]:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except OSError:
            pass


class UploadUnreadable(DomainError):
    """The uploaded ledger could not be read (the page lists why)."""


@bp.route("/import", methods=["GET", "POST"])
@login_required
def import_upload():
    """Step 1: upload the .xlsx and choose the school."""
    units = importable_units()
    if not units:
        abort(403)
    form = UploadForm()
    # with several units to choose from, the default is the file's own word (填报单位, the title or
    # the file's name, as the command line reads it); the next step shows it and lets it be changed
    auto = [("", AUTO_SCHOOL)] if len(units) > 1 else []
    form.school_id.choices = choices(auto + [(str(u.id), label) for u, label in units])
    upload_errors: list[str] = []

    def stage() -> None:
        """Read the upload once and keep its parsed rows for the mapping step (nothing in the
        database yet); an unreadable file is refused with its problems listed on the page."""
        school = load_or_404(OrgUnit, form.school_id.data, "hazard.import") if form.school_id.data else None
        found_by = None
        upload = form.file.data
        data = upload.read()
        sheets: list[excel.Sheet] = []
        try:
            sheets = excel.read_ledger(data, upload.filename or "", current_app.config["HAZARDHUB_MAX_IMPORT_ROWS"])
        except excel.UnreadableFile as exc:
            upload_errors.append(str(exc))
        else:
            if not any(s.rows for s in sheets if s.score):
                upload_errors.append("文件中没有找到台账表格的数据行（表头应含“排查日期”“隐患部位”“隐患描述”等列）。")
            elif school is None:
                school, found_by = school_of_file(sheets[excel.best_sheet(sheets)], upload.filename or "",
                                                  [u for u, _label in units])
                if school is None:
                    upload_errors.append("无法从文件确定学校：表头没有可识别的填报单位，标题和文件名中也没有您可导入的"
                                         "学校名称。请在“导入到单位”中选择。")
        if upload_errors:
            raise UploadUnreadable("文件未能读取，请检查后重新上传。")
        _drop_pending()
        folder = _folder()
        folder.mkdir(parents=True, exist_ok=True)
        _sweep(folder)
        token = secrets.token_urlsafe(24)
        # the file is read once, here: the mapping step works on these parsed rows, and the
        # upload itself is not kept (its SHA-256 goes into the import's audit meta)
        parsed = excel.dump_sheets(sheets)
        (folder / f"{token}.json").write_bytes(parsed)
        session[_SESSION_KEY] = {
            "token": token, "school_id": school.id, "found_by": found_by, "sha256": hashlib.sha256(data).hexdigest(),
            "sheet": excel.best_sheet(sheets),
            "parsed_sha256": hashlib.sha256(parsed).hexdigest(),
            "file_name": Path(upload.filename or "ledger.xlsx").name[:200],
        }

    response = submit(form, stage, done="", to=url_for("ledger_excel.import_map"), invalid="请检查表单中标出的问题。")
    if response is not None:
        return response
    return render_template("hazards/import.html", step=1, form=form, upload_errors=upload_errors,
                           columns=excel.LEDGER_COLUMNS)


def school_of_file(sheet: excel.Sheet, file_name: str, units: list[OrgUnit]) -> tuple[OrgUnit | None, str | None]:
    """The unit a ledger names, among ``units`` (those the user may import into), and where it was
    read: the title block's 填报单位 or the school named in the title, else the file's name."""
    for context_unit, name, found_by in ((sheet.context.get("unit"), "", "表头的填报单位或标题"),
                                         (None, file_name, "文件名")):
        school = bulk_import.find_school(current_user.tenant_id, code=None, name=None, context_unit=context_unit,
                                         file_name=name, schools=units)
        if school is not None:
            return school, found_by
    return None, None


def _mapping_errors(form, sheet: excel.Sheet) -> tuple[dict[int, str], list[str]]:
    column_map: dict[int, str] = {}
    seen: dict[str, str] = {}
    problems = []
    for i, header in enumerate(sheet.headers):
        key = getattr(form, f"col_{i}").data or ""
        if not key:
            continue
        if key in seen:
            problems.append(f"字段“{excel.FIELD_LABELS[key]}”同时对应了“{seen[key]}”和“{header}”两列，请只选一列。")
            continue
        seen[key] = header
        column_map[i] = key
    filled = {"found_by_name": form.fill_found_by_name.data, "found_on": form.fill_found_on.data}
    missing = [excel.FIELD_LABELS[k] for k in excel.REQUIRED_FIELDS if k not in seen and not (filled.get(k) or "").strip()]
    if missing:
        problems.append(f"请为必填字段选择对应的列：{'、'.join(missing)}。")
    return column_map, problems


@bp.route("/import/map", methods=["GET", "POST"])
@login_required
@one_shot(creates=(Hazard, lambda h: url_for("hazards.index", unit_id=h.school_id)))  # one file, imported once
def import_map():
    """Step 2 and 3: map the columns; check every row; import all of them or none."""
    pending = session.get(_SESSION_KEY)
    path = _pending_path(pending) if isinstance(pending, dict) else None
    if path is None or not path.is_file():
        session.pop(_SESSION_KEY, None)
        flash("请先上传要导入的台账文件（上次上传的文件已失效）。", "warning")
        return redirect(url_for("ledger_excel.import_upload"))
    picked_school = request.args.get("school", "")
    if picked_school.isdigit() and request.method == "GET":  # the clerk changes the school read from the file
        pending.update(school_id=load_or_404(OrgUnit, picked_school, "hazard.import").id, found_by=None)
        session[_SESSION_KEY] = pending
    school = load_or_404(OrgUnit, pending.get("school_id"), "hazard.import")
    parsed = path.read_bytes()
    sha256 = str(pending.get("sha256") or "")
    try:
        if hashlib.sha256(parsed).hexdigest() != pending.get("parsed_sha256"):
            raise ValueError("changed")
        sheets = excel.load_sheets(parsed)
    except (ValueError, KeyError, TypeError):
        _drop_pending()
        flash("上传的文件已变化，请重新上传。", "danger")
        return redirect(url_for("ledger_excel.import_upload"))
    picked = request.args.get("sheet", "")
    if picked.isdigit() and int(picked) < len(sheets) and sheets[int(picked)].score:
        pending["sheet"] = int(picked)
        session[_SESSION_KEY] = pending
    index = pending.get("sheet") if isinstance(pending.get("sheet"), int) and pending["sheet"] < len(sheets) else 0
    sheet = sheets[index]
    remembered = excel.remembered_values(school.tenant_id)
    form, value_rows = mapping_form(sheet, guesses=excel.guess_mapping(sheet.headers), remembered=remembered)
    mapping_problems: list[str] = []
    errors: list[tuple[int, str, str]] = []
    duplicate_rows: list[tuple[int, str]] = []
    if form.validate_on_submit():
        column_map, mapping_problems = _mapping_errors(form, sheet)
        values = chosen_values(form, value_rows)
        if not mapping_problems:
            parsed = excel.parse_ledger(sheet, column_map, tenant_id=school.tenant_id,
                                        default_source=form.default_source.data, values=values,
                                        fill={"found_by_name": (form.fill_found_by_name.data or "").strip(),
                                              "found_on": (form.fill_found_on.data or "").strip()})
            errors = parsed.errors
            rows = parsed.rows
            updates: dict = {}
            if not errors:
                duplicates = excel.find_duplicates(school, rows)
                same_file = excel.file_imported_before(school.tenant_id, sha256)
                choice = form.duplicates.data
                if (duplicates or same_file) and choice not in ("skip", "update"):
                    duplicate_rows = sorted((line, h.number) for line, h in duplicates.items())
                    mapping_problems.append(
                        ("这个文件（相同的 SHA-256）以前已导入过。" if same_file else "")
                        + (f"表中有 {len(duplicates)} 行已在该校台账中（排查日期、部位、描述相同）。" if duplicates else "")
                        + "请在下方“表中已在台账里的行”选择跳过或更新后再导入；不会重复登记。")
                elif choice == "skip":
                    rows = [r for r in rows if r.line not in duplicates]
                elif choice == "update":
                    updates = duplicates
            if not errors and not mapping_problems:
                excel.remember_values(school.tenant_id, values)
                result = excel.import_rows(school, current_user, rows, sha256,
                                           file_name=pending.get("file_name"), updates=updates)
                errors = result.errors
                if not errors:
                    _drop_pending()
                    flash(f"导入完成：已登记 {len(result.numbers)} 条隐患。", "success")
                    return render_template("hazards/import_done.html", school=school, numbers=result.numbers,
                                           pending_plans=result.pending_plans, updated=result.updated,
                                           sha256=sha256, file_name=pending.get("file_name"))
        if mapping_problems or errors:
            flash("未导入任何数据：请修改下列问题后重新上传或调整列对应关系。", "danger")
    elif request.method == "POST":
        flash("表单已失效，请重新提交。", "danger")
    columns = [(i, header, getattr(form, f"col_{i}"), sheet.samples(i)) for i, header in enumerate(sheet.headers)]
    return render_template("hazards/import.html", step=2, form=form, school=school, columns=columns,
                           units=importable_units(), found_by=pending.get("found_by"),
                           sheets=sheets, sheet_index=index, sheet=sheet,
                           row_count=len(sheet.rows), file_name=pending.get("file_name"), sha256=sha256,
                           mapping_problems=mapping_problems, errors=errors, value_rows=value_rows,
                           duplicate_rows=duplicate_rows,
                           value_labels={k: excel.FIELD_LABELS[k] for k in excel.VALUE_FIELDS})
