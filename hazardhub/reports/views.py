"""Pages of the phase reports: choose phase, scope and "as of", request, and the list of past ones.

The request hands over to the run page (``runs.show``), which polls the run's status for the
progress bar and offers the download (or the error and a retry) when the job ends. Phase and scope
travel as form / query values, checked here: a phase of another bureau or a unit out of reach is
404, like every id in a URL.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from hazardhub.campaigns.models import Phase
from hazardhub.errors import DomainError
from hazardhub.extensions import db
from hazardhub.formtokens import one_shot
from hazardhub.forms import choices
from hazardhub.orgs.models import OrgUnit
from hazardhub.policy import load_or_404, requires
from hazardhub.reports import operations as ops
from hazardhub.reports.forms import ReportForm
from hazardhub.requestflow import perform
from hazardhub.runs import operations as run_ops
from hazardhub.runs.models import RUN_STATUSES, ReportRun

bp = Blueprint("reports", __name__, url_prefix="/reports")


def _form() -> tuple[ReportForm, list, list]:
    form = ReportForm()
    phases = ops.phases_for(current_user)
    scopes = ops.scope_choices(current_user)
    form.phase_id.choices = choices(
        (p.id, f"{c.year} · {c.title} · {p.name}（{p.starts_on} 至 {p.ends_on}）") for p, c in phases)
    form.scope_unit_id.choices = choices((u.id, label) for u, label in scopes)
    return form, phases, scopes


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else None


@bp.route("/")
@login_required
@requires("report.view")
def index():
    form, phases, scopes = _form()
    preselect = _int_arg("phase_id")
    if preselect is not None:
        if preselect not in {p.id for p, _c in phases}:
            abort(404)
        form.phase_id.data = preselect
    scope_arg = _int_arg("scope_unit_id")
    if scope_arg is not None and scope_arg in {u.id for u, _l in scopes}:
        form.scope_unit_id.data = scope_arg
    runs = ops.report_runs(current_user)
    for run in runs:
        run_ops.reconcile(run)
    described = [(run, ops.describe(run)) for run in runs]
    return render_template("reports/index.html", form=form, has_phases=bool(phases), has_scopes=bool(scopes),
                           runs=described, RUN_STATUSES=RUN_STATUSES)


@bp.route("/request", methods=["POST"])
@login_required
@requires("report.view")
@one_shot(creates=(ReportRun, lambda run: url_for("runs.show", run_id=run.id)))
def request_report():
    form, phases, scopes = _form()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        for errors in form.errors.values():
            flash(str(errors[0]), "danger")
            break
        return redirect(url_for("reports.index"))
    phase = _own_phase(form.phase_id.data)
    scope = load_or_404(OrgUnit, form.scope_unit_id.data, "report.request")
    requested, run = perform(lambda: ops.request_phase_report(user=current_user, phase=phase, scope_unit=scope,
                                                              as_of=form.as_of.data),
                             refusals=(DomainError, run_ops.QueueUnavailable), message=_refusal_text)
    if not requested:
        return redirect(url_for("reports.index", phase_id=phase.id))
    status = db.session.execute(sa.select(ReportRun.status).where(ReportRun.id == run.id)
                                .execution_options(populate_existing=True)).scalar_one()
    flash("阶段报告已生成，可以下载。" if status == "finished" else
          "已提交阶段报告生成任务，本页显示进度，完成后可下载。", "success")
    return redirect(url_for("runs.show", run_id=run.id))


def _refusal_text(exc: Exception) -> str:
    """A refusal in words: the operation's own, or that the queue could not take the job."""
    return f"报告任务未能提交：{exc}" if isinstance(exc, run_ops.QueueUnavailable) else str(exc)


def _own_phase(phase_id: int) -> Phase:
    """A phase of the user's own bureau (principals do not browse campaigns, but report on them)."""
    phase = db.session.execute(sa.select(Phase).where(Phase.id == phase_id,
                                                      Phase.tenant_id == current_user.tenant_id)).scalar_one_or_none()
    if phase is None:
        abort(404)
    return phase
