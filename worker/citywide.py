"""The city comparison PDF: every district side by side for a period, with charts, in a worker.

Takes the run id only; the period comes from the run's ``params`` (``month``, ``phase`` or
``from``/``to``), so a retry rewrites the same run's file with the same figures (as of the day it
runs). The document lists each district's audit-chain head at generation, and the city records
those heads as witnessed (source ``report``): the comparison the city signed off on is tied to
the districts' histories as they stood.
"""
from __future__ import annotations

import base64

import sqlalchemy as sa

from hazardhub.audit import chain_head
from hazardhub.citywide import charts
from hazardhub.citywide import operations as ops
from hazardhub.citywide.witness import record_head, witness_summary
from hazardhub.clock import today, utcnow
from hazardhub.extensions import db
from hazardhub.orgs.models import Tenant
from hazardhub.pdf import canonical_sha256, format_chain_head, render_pdf
from hazardhub.runs import operations as runs
from hazardhub.runs.models import ReportRun
from hazardhub.web import local_time


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def comparison_data(comparison: ops.Comparison, heads: dict[int, tuple[int, str]]) -> dict:
    """Exactly what the document shows, as plain data (its canonical SHA-256 is in the footer)."""
    columns = comparison.columns
    return {
        "period": comparison.period.label,
        "months": comparison.period.months,
        "min_sample": ops.MIN_SAMPLE,
        "columns": [{"key": c.key, "label": c.label, "group": c.group, "help": c.help} for c in columns],
        "rows": [{
            "tenant": r.tenant.name,
            "small": r.small,
            "figures": {c.key: {"text": r.figures[c.key].text(c.kind), "small": r.figures[c.key].small
                                and c.kind != "count" and r.figures[c.key].value is not None,
                                "rank": r.figures[c.key].rank} for c in columns},
            "head": format_chain_head(heads[r.tenant.id]),
        } for r in comparison.sorted_rows(None)],
        "city": {c.key: comparison.city[c.key].text(c.kind) for c in columns},
    }


def render_comparison(run_id: int) -> str:
    """Render run ``run_id``'s comparison PDF; returns the file's SHA-256."""
    run = db.session.execute(sa.select(ReportRun).where(ReportRun.id == run_id)).scalar_one()
    try:
        runs.mark_running(run)
        city_id = run.tenant_id
        city = db.session.execute(sa.select(Tenant).where(Tenant.id == city_id)).scalar_one()
        now = today()
        period = ops.period_from(run.params or {}, city_id, now)
        runs.set_progress(run, 10)
        comparison = ops.compare(city_id, period, now)
        runs.set_progress(run, 40)
        trend = ops.trend(city_id, "signoff", period.last_month, now, basis=comparison.basis)
        township_trend = ops.trend(city_id, "township", period.last_month, now, basis=comparison.basis)
        heads = {r.tenant.id: chain_head(r.tenant.id) for r in comparison.rows}
        witnesses = witness_summary(city_id, [r.tenant.id for r in comparison.rows])
        runs.set_progress(run, 55)
        images = {
            "bars": _data_uri(charts.bars_png(comparison)),
            "trend": _data_uri(charts.trend_png(trend, "自查按时签字率 · 按月（虚线为全市平均）")),
            "township": _data_uri(charts.trend_png(township_trend, "乡镇检查覆盖率 · 按月（虚线为全市平均）")),
        }
        runs.set_progress(run, 70)
        data = comparison_data(comparison, heads)
        head = format_chain_head(chain_head(city_id))
        title = f"{city.name}各县（市、区）对比报告 · {period.label}"
        pdf = render_pdf("pdf/city_comparison.html", {
            "data": data, "comparison": comparison, "images": images, "city": city, "witnesses": witnesses,
            "generated_at": local_time(utcnow()), "heads": {tid: format_chain_head(h) for tid, h in heads.items()},
        }, title=title, content_sha256=canonical_sha256(data), chain_head=head)
        runs.set_progress(run, 95)
        runs.store_file(run, pdf, f"县区对比报告-{period.label}.pdf"[:190], head)
        for tenant_id, district_head in heads.items():  # the report carried these district heads
            record_head(tenant_id, district_head, source_kind="report", source_id=run_id)
        return run.sha256
    except Exception as exc:
        runs.mark_failed(run_id, f"{type(exc).__name__}: {exc}")
        raise
