"""The directive PDF job: ``worker.directive_pdf.render_directive(run_id)``.

Ids only (the run row carries ``params = {"directive_id": …}``); idempotent: a retry rewrites the
same run's file. The PDF shows 文头, 文号, the school, the hazard table, requirements, deadline,
issuer, signer and a tear-off 回执; its footer prints the content SHA-256 and the audit-chain head.
"""
from __future__ import annotations

import sqlalchemy as sa

from hazardhub.audit import chain_head
from hazardhub.directives import operations as directive_ops
from hazardhub.directives.models import Directive
from hazardhub.extensions import db
from hazardhub.pdf import canonical_sha256, format_chain_head, render_pdf
from hazardhub.runs import operations as runs
from hazardhub.runs.models import ReportRun


def render_directive(run_id: int) -> str:
    """Render the run's directive to PDF and store it on the run; returns the file's SHA-256."""
    run = db.session.execute(sa.select(ReportRun).where(ReportRun.id == run_id)).scalar_one()
    try:
        runs.mark_running(run)
        directive_id = int((run.params or {})["directive_id"])
        directive = db.session.execute(sa.select(Directive).where(Directive.id == directive_id)).scalar_one()
        data = directive_ops.pdf_data(directive)
        runs.set_progress(run, 20)
        head = format_chain_head(chain_head(run.tenant_id))
        pdf = render_pdf("pdf/directive.html", {"d": data}, title=f"{data['doc_title']} {data['number']}",
                         content_sha256=canonical_sha256(data), chain_head=head)
        runs.set_progress(run, 90)
        safe_number = data["number"].replace("〔", "（").replace("〕", "）")
        runs.store_file(run, pdf, f"{data['doc_title']}-{safe_number}-{data['school_name']}.pdf", head)
        return run.sha256
    except Exception as exc:
        runs.mark_failed(run_id, f"{type(exc).__name__}: {exc}")
        raise
