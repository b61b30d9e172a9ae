"""The phase report job: figures → charts → PDF (A4, CJK font embedded) → stored atomically.

Takes the run id only; the phase, scope and cutoff come from the run's ``params``, so a retry (or a
second delivery of the same job) rewrites the same file with the same figures. Progress is written
to the run row between the steps, for the page's progress bar.
"""
from __future__ import annotations

import base64

import sqlalchemy as sa

from hazardhub.audit import chain_head
from hazardhub.campaigns.models import Phase
from hazardhub.clock import utcnow
from hazardhub.evidence import storage
from hazardhub.extensions import db
from hazardhub.orgs.models import OrgUnit
from hazardhub.pdf import canonical_sha256, format_chain_head, render_pdf
from hazardhub.reports.charts import report_charts
from hazardhub.reports.figures import phase_figures
from hazardhub.reports.operations import ReportParams
from hazardhub.runs import operations as runs
from hazardhub.runs.models import ReportRun
from hazardhub.web import local_time

#: thumbnails embedded in the appendix (the list names every file; only this many show a picture)
MAX_THUMBNAILS = 60


def _thumbnails(files: list[dict]) -> dict[int, str]:
    """file id → ``data:`` URI of its stored JPEG thumbnail (images only, when on disk)."""
    out = {}
    for f in files:
        if f["kind"] != "image" or not f.get("thumb_name") or len(out) >= MAX_THUMBNAILS:
            continue
        path = storage.path_for(f["tenant_id"], f["thumb_name"])
        if path is None:
            continue
        out[f["id"]] = "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    return out


def render_phase_report(run_id: int) -> str:
    """Render the phase report of run ``run_id``; returns the file's SHA-256."""
    run = db.session.execute(sa.select(ReportRun).where(ReportRun.id == run_id)).scalar_one()
    try:
        runs.mark_running(run)
        params = ReportParams.from_run(run)
        phase = db.session.execute(sa.select(Phase).where(Phase.id == params.phase_id)).scalar_one()
        scope = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == params.scope_unit_id)).scalar_one()
        runs.set_progress(run, 5)
        figures = phase_figures(scope, phase, params.cutoff, progress=lambda p: runs.set_progress(run, p))
        charts = report_charts(figures)
        runs.set_progress(run, 60)
        thumbnails = _thumbnails(figures["deliverables"]["files"])
        runs.set_progress(run, 65)
        head = format_chain_head(chain_head(scope.tenant_id))
        scope_name, phase_name = figures["scope"]["name"], figures["phase"]["name"]
        title = f"{scope_name}{phase_name}阶段报告"
        pdf = render_pdf("pdf/phase_report.html", {
            "f": figures, "charts": charts, "thumbnails": thumbnails, "as_of_given": params.as_of,
            "generated_at": local_time(utcnow(), "%Y-%m-%d %H:%M"), "cutoff_local": local_time(params.cutoff),
        }, title=title, content_sha256=canonical_sha256(figures), chain_head=head)
        runs.set_progress(run, 95)
        safe_scope = scope_name.replace("/", "-").replace("（", "").replace("）", "")
        runs.store_file(run, pdf, f"{safe_scope}-{phase_name}阶段报告.pdf", head)
        return run.sha256
    except Exception as exc:
        runs.mark_failed(run_id, f"{type(exc).__name__}: {exc}")
        raise
