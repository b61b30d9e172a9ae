"""Background runs: request an export, watch its progress, download it, retry a failure."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, send_file, url_for
from flask_login import current_user, login_required

from hazardhub.extensions import db
from hazardhub.formtokens import one_shot
from hazardhub.orgs.models import OrgUnit
from hazardhub.pagination import paginate
from hazardhub.policy import can, load_or_404
from hazardhub.reports.operations import describe
from hazardhub.requestflow import act
from hazardhub.runs import operations as ops
from hazardhub.runs.forms import RunForm
from hazardhub.runs.models import ReportRun

bp = Blueprint("runs", __name__, url_prefix="/runs")


@bp.route("/")
@login_required
def index():
    stmt = sa.select(ReportRun)
    if not can(current_user, "run.view_all"):
        stmt = stmt.where(ReportRun.requested_by_id == current_user.id)
    stmt = stmt.where(ReportRun.tenant_id == current_user.tenant_id)
    page = paginate(stmt.order_by(ReportRun.created_at.desc(), ReportRun.id.desc()))
    for run in page.items:
        ops.reconcile(run)  # a run whose worker died shows as failed, not forever "running"
    units = {}
    ids = {r.unit_id for r in page.items if r.unit_id}
    if ids:
        units = {u.id: u for u in sa_units(ids)}
    return render_template("runs/index.html", page=page, units=units, kinds=ops.RUN_KINDS, form=RunForm())


def sa_units(ids):
    return db.session.execute(sa.select(OrgUnit).where(OrgUnit.id.in_(ids))).scalars()


@bp.route("/unit-tree/<int:unit_id>", methods=["POST"])
@login_required
@one_shot(creates=(ReportRun, lambda run: url_for("runs.show", run_id=run.id)))
def export_unit_tree(unit_id: int):
    unit = load_or_404(OrgUnit, unit_id, "unit.export")
    if unit.tenant_id != current_user.tenant_id:
        abort(403)
    form = RunForm()
    if not form.validate_on_submit():
        abort(400)
    # the queue being down is the one refusal here: said in words, back to the list of runs
    return act(form, lambda: ops.request_run("unit_tree_xlsx", user=current_user, unit=unit),
               done="已提交导出任务。", prefix="", refusals=(ops.QueueUnavailable,),
               back=lambda run: url_for("runs.show", run_id=run.id) if run is not None else url_for("runs.index"))


@bp.route("/<int:run_id>")
@login_required
def show(run_id: int):
    run = load_or_404(ReportRun, run_id, "run.view")
    ops.reconcile(run)
    unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == run.unit_id)).scalar_one_or_none()
    report = None
    if run.kind == "phase_report":
        report = describe(run)
    return render_template("runs/show.html", run=run, unit=unit, kinds=ops.RUN_KINDS, form=RunForm(),
                           report=report)


@bp.route("/<int:run_id>/status.json")
@login_required
def status(run_id: int):
    run = load_or_404(ReportRun, run_id, "run.view")
    ops.reconcile(run)
    return jsonify(status=run.status, label=run.status_label, progress=run.progress,
                   error=run.error, download=url_for("runs.download", run_id=run.id) if run.status == "finished" else None)


@bp.route("/<int:run_id>/download")
@login_required
def download(run_id: int):
    run = load_or_404(ReportRun, run_id, "run.view")
    if run.status != "finished" or not run.file_path:
        abort(404)
    path = (ops.storage_root() / run.file_path).resolve()
    if not path.is_file() or ops.storage_root().resolve() not in path.parents:
        abort(404)
    return send_file(Path(path), as_attachment=True, download_name=run.file_name)


@bp.route("/<int:run_id>/retry", methods=["POST"])
@login_required
@one_shot(lambda run_id: url_for("runs.show", run_id=run_id))
def retry(run_id: int):
    run = load_or_404(ReportRun, run_id, "run.retry")
    form = RunForm()
    if not form.validate_on_submit():
        abort(400)
    if run.status != "failed":
        flash("只有失败的任务可以重试。", "warning")
        return redirect(url_for("runs.show", run_id=run.id))
    return act(form, lambda: ops.retry(run), done="已重新提交。", prefix="", refusals=(ops.QueueUnavailable,),
               back=url_for("runs.show", run_id=run.id))
