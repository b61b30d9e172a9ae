"""The accountability list (追责线索): filter, open the evidence, mark handled with a note."""
from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user, login_required

from hazardhub.accountability import operations as ops
from hazardhub.accountability.forms import FindingForm
from hazardhub.accountability.models import FINDING_KINDS, FINDING_STATUSES, AccountabilityFinding
from hazardhub.auditlog.timeline import timeline
from hazardhub.campaigns.models import Deliverable
from hazardhub.clock import today
from hazardhub.directives.models import Directive
from hazardhub.extensions import db
from hazardhub.hazards.models import Hazard
from hazardhub.inspections.models import KINDS as INSPECTION_KINDS, Inspection
from hazardhub.orgs.operations import reading_roots_or_403
from hazardhub.pagination import paginate
from hazardhub.policy import authorize, can, load_or_404, requires
from hazardhub.requestflow import act, submit

bp = Blueprint("accountability", __name__, url_prefix="/accountability")

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _filters() -> dict[str, str]:
    args = request.args
    out = {
        "kind": args.get("kind", "") if args.get("kind", "") in FINDING_KINDS else "",
        "status": args.get("status", "") if args.get("status", "") in FINDING_STATUSES else "",
        "start": args.get("start", "") if MONTH_RE.match(args.get("start", "")) else "",
        "end": args.get("end", "") if MONTH_RE.match(args.get("end", "")) else "",
    }
    return out


@bp.route("/")
@login_required
@requires("accountability.view")
def index():
    roots = reading_roots_or_403(current_user)
    filters = _filters()
    stmt = ops.findings_query(roots, kind=filters["kind"] or None, status=filters["status"] or None,
                              start=filters["start"] or None, end=filters["end"] or None)
    page = paginate(stmt, per_page=40)
    counts = dict(db.session.execute(
        sa.select(AccountabilityFinding.kind, sa.func.count())
        .where(AccountabilityFinding.id.in_(stmt.with_only_columns(AccountabilityFinding.id).order_by(None)))
        .group_by(AccountabilityFinding.kind)).all())
    may_refresh = can(current_user, "accountability.refresh")
    return render_template("accountability/index.html", page=page, filters=filters, counts=counts,
                           KINDS=FINDING_KINDS, STATUSES=FINDING_STATUSES, form=FindingForm(),
                           may_refresh=may_refresh)


@bp.route("/refresh", methods=["POST"])
@login_required
@requires("accountability.refresh")
def refresh():
    """Derive findings now instead of waiting for the daily pass (adds; never removes)."""
    return act(FindingForm(), lambda: ops.sync(current_user.tenant_id, today()),
               done=lambda added: f"已更新追责线索：新增 {added} 条。" if added else "已更新追责线索：没有新增。",
               back=url_for("accountability.index"), prefix="")


@bp.route("/<int:finding_id>", methods=["GET", "POST"])
@login_required
def show(finding_id: int):
    finding = load_or_404(AccountabilityFinding, finding_id, "accountability.view")
    form = FindingForm()
    if request.method == "POST":
        authorize("accountability.handle", finding)
        if not form.validate_on_submit():
            abort(400)
        note = request.form.get("note", "")
        try:
            version_id = int(request.form.get("version_id", ""))
        except ValueError:
            version_id = -1
        if request.form.get("action", "handle") == "reopen":
            apply, done = (lambda: ops.reopen(finding, actor=current_user, note=note, version_id=version_id),
                           "线索已重新打开。")
        else:
            apply, done = (lambda: ops.handle(finding, actor=current_user, note=note, version_id=version_id),
                           "已记录处理意见。")
        response = submit(form, apply, done=done, to=url_for("accountability.show", finding_id=finding.id),
                          validated=True)
        if response is not None:
            return response
        # refused: the page again, with the note the user typed
        finding = load_or_404(AccountabilityFinding, finding_id, "accountability.view")
        return render_template("accountability/show.html", finding=finding, form=form, evidence=_evidence(finding),
                               note=note)
    return render_template("accountability/show.html", finding=finding, form=form, evidence=_evidence(finding),
                           note="")


@bp.route("/<int:finding_id>/history")
@login_required
def finding_history(finding_id: int):
    finding = load_or_404(AccountabilityFinding, finding_id, "accountability.view")
    entries = timeline(finding)
    return render_template("history.html", title=f"追责线索 #{finding.id} 的记录", entries=entries,
                           back_url=url_for("accountability.show", finding_id=finding.id))


def _evidence(finding: AccountabilityFinding) -> list[tuple[str, str, str]]:
    """(label, text, url) for each record behind the finding, each with its own history."""
    out = []
    if finding.hazard_id:
        hazard = db.session.execute(sa.select(Hazard).where(Hazard.id == finding.hazard_id)).scalar_one_or_none()
        if hazard is not None:
            out.append(("隐患", f"{hazard.number} {hazard.description[:40]}（{hazard.level_label}，{hazard.status_label}）",
                        url_for("hazards.show", hazard_id=hazard.id)))
            out.append(("隐患变更历史", f"{hazard.number} 的全部版本", url_for("hazards.hazard_history", hazard_id=hazard.id)))
    for label, inspection_id in (("发现该问题的检查", finding.inspection_id),
                                 ("学校自查（未记录该隐患）", finding.other_inspection_id)):
        if not inspection_id:
            continue
        inspection = db.session.execute(sa.select(Inspection).where(Inspection.id == inspection_id)).scalar_one_or_none()
        if inspection is not None:
            if finding.kind == "self_check_late":
                label = "逾期签字的自查"
            out.append((label, f"{INSPECTION_KINDS.get(inspection.kind, inspection.kind)} · {inspection.month} · "
                               f"{inspection.inspected_on:%Y-%m-%d}",
                        url_for("inspections.show", inspection_id=inspection.id)))
    if finding.deliverable_id:
        deliverable = db.session.execute(
            sa.select(Deliverable).where(Deliverable.id == finding.deliverable_id)).unique().scalar_one_or_none()
        if deliverable is not None:
            out.append(("报送材料", f"{deliverable.unit.name} · {deliverable.spec.name}",
                        url_for("campaigns.deliverable", deliverable_id=deliverable.id)))
            out.append(("报送记录", "全部版本", url_for("campaigns.deliverable_history", deliverable_id=deliverable.id)))
    if finding.kind in ("self_check_missing", "township_check_missing"):
        out.append(("当月落实情况", f"{finding.period} 落实情况表", url_for("compliance.index", month=finding.period)))
    if finding.directive_id:
        directive = db.session.execute(
            sa.select(Directive).where(Directive.id == finding.directive_id)).scalar_one_or_none()
        if directive is not None:
            out.append(("整改指令", f"{directive.number}（{directive.status_label}，期限 {directive.deadline:%Y-%m-%d}）",
                        url_for("directives.show", directive_id=directive.id)))
            out.append(("整改指令记录", "签收、整改报告、退回与验收的全部记录",
                        url_for("directives.directive_history", directive_id=directive.id)))
    return out
