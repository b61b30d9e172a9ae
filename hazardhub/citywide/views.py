"""The city bureau's pages: the district comparison (sortable, trend chart, Excel, PDF via the
worker), one district by township, the districts' progress through a city campaign, and the
verification of the districts' audit chains against the heads the city witnessed.

Everything here reads the districts; the only writes are the city's own (a report run, a
verification result), so no route takes a district object to change.
"""
from __future__ import annotations

import io
from datetime import date

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from hazardhub import datacache
from hazardhub.audit import chain_head
from hazardhub.campaigns import operations as campaign_ops
from hazardhub.campaigns.models import BADGES, Campaign, Deliverable, Phase
from hazardhub.citywide import operations as ops
from hazardhub.citywide import witness
from hazardhub.citywide.export import comparison_workbook
from hazardhub.citywide.forms import ReportForm, VerifyForm
from hazardhub.clock import today
from hazardhub.extensions import db
from hazardhub.formtokens import one_shot
from hazardhub.orgs.models import Tenant
from hazardhub.orgs.operations import root_unit
from hazardhub.policy import authorize, load_or_404, requires
from hazardhub.requestflow import act
from hazardhub.runs import operations as run_ops
from hazardhub.runs.models import ReportRun
from hazardhub.tenancy import current_scope

bp = Blueprint("citywide", __name__, url_prefix="/citywide")


def _city() -> Tenant:
    tenant = db.session.execute(sa.select(Tenant).where(Tenant.id == current_user.tenant_id)).scalar_one()
    if tenant.kind != "city":
        abort(403)
    return tenant


def period_from(args, city_id: int, now: date, *, warn: bool = False) -> ops.Period:
    """:func:`ops.period_from` for a page: a bad value flashes a warning when ``warn``."""
    try:
        return ops.period_from(args, city_id, now)
    except ops.PeriodError as exc:
        if warn:
            flash(str(exc), "warning")
        return ops.month_period(ops.default_month(now), now)


def figure_links(comparison: ops.Comparison) -> dict[tuple[int, str], str]:
    """(tenant id, column key) → the records behind the figure (existing, read-only pages)."""
    period = comparison.period
    links: dict[tuple[int, str], str] = {}
    window = {"date_from": period.start.isoformat(), "date_to": period.end.isoformat()}
    month = period.last_month
    for row in comparison.rows:
        if row.root is None:
            continue
        tid, uid = row.tenant.id, row.root.id
        ledger = lambda **extra: url_for("hazards.index", unit_id=uid, **window, **extra)  # noqa: E731
        links[(tid, "schools")] = url_for("citywide.district", tenant_id=tid, **period.params())
        links[(tid, "signoff_on_time")] = url_for("compliance.index", month=month, unit_id=uid)
        links[(tid, "township_coverage")] = url_for("compliance.index", month=month, unit_id=uid)
        links[(tid, "unannounced")] = url_for("compliance.index", month=month, unit_id=uid)
        for key in ("learn_bureau", "learn_principals", "learn_staff"):
            links[(tid, key)] = url_for("learning.coverage", month=month, unit_id=uid)
        links[(tid, "hazards_general")] = ledger(level="general")
        links[(tid, "hazards_major")] = ledger(level="major")
        links[(tid, "self_share")] = ledger(source="self")
        links[(tid, "gap_rate")] = ledger()
        links[(tid, "rectified")] = ledger(status="closed")
        links[(tid, "on_time")] = ledger(status="closed")
        links[(tid, "median_days")] = ledger(status="closed")
        links[(tid, "overdue")] = ledger(overdue="1")
        links[(tid, "listed_major")] = ledger(status="open", level="major", listed="1")
        if comparison.directives_available and "directives.index" in _endpoints():
            links[(tid, "directives")] = url_for("directives.index")
            links[(tid, "directives_overdue")] = url_for("directives.index", overdue="1")
        links[(tid, "deliverables_on_time")] = url_for("citywide.campaigns")
    return links


def _endpoints():
    return current_app.view_functions


SORT_KEYS = {c.key for c in ops.COLUMNS}


@bp.route("/")
@login_required
@requires("citywide.view")
def index():
    city = _city()
    now = today()
    period = period_from(request.args, city.id, now, warn=True)
    sort = request.args.get("sort") if request.args.get("sort") in SORT_KEYS else None
    direction = request.args.get("dir")
    descending = None if direction not in ("asc", "desc") else direction == "desc"
    trend_metric = request.args.get("trend") if request.args.get("trend") in ops.TREND_METRICS else "signoff"

    # Every figure is summed from each school's facts, kept per school and per district
    # (hazardhub.citywide.facts): a write recomputes the schools it touched, and the table is
    # rendered again only when a figure's facts really changed (their key names them).
    datacache.data_version(current_scope().read_tenant_ids)  # the city's and its districts' heads, one query
    key, comparison = ops.compare_with_key(city.id, period, now)
    figures_key = key + (trend_metric,)
    tr = datacache.built_from_pieces(figures_key + ("trend",), lambda: ops.trend(
        city.id, trend_metric, period.last_month, now, period=period))
    comparison_html = datacache.built_from_pieces(figures_key + ("html", sort, direction), lambda: Markup(render_template(
        "citywide/_comparison.html", comparison=comparison, rows=comparison.sorted_rows(sort, descending),
        period=period, sort=sort, direction=direction, links=figure_links(comparison),
        chart=ops.svg_chart(tr), trend=tr, trend_metrics=ops.TREND_METRICS, MIN_SAMPLE=ops.MIN_SAMPLE)))
    district_ids = [r.tenant.id for r in comparison.rows]
    # the witnesses are the city's own records (its witnessed heads and verifications)
    witnesses = datacache.cached(("city_witnesses", city.id, tuple(district_ids)), [city.id],
                                 lambda: witness.witness_summary(city.id, district_ids))
    return render_template(
        "citywide/index.html", city=city, comparison=comparison, comparison_html=comparison_html, period=period,
        witnesses=witnesses, phases=datacache.tenant_part(("city_phases",), city.id, lambda: ops.city_phases(city.id))[1], months=_recent_months(now), verify_form=VerifyForm(),
        report_form=_report_form(period), now=now, MIN_SAMPLE=ops.MIN_SAMPLE)


def _recent_months(now: date, count: int = 24) -> list[str]:
    months, year, mon = [], now.year, now.month
    for _ in range(count):
        months.append(f"{year:04d}-{mon:02d}")
        year, mon = (year - 1, 12) if mon == 1 else (year, mon - 1)
    return months


def _report_form(period: ops.Period) -> ReportForm:
    form = ReportForm()
    form.period.data = period.kind
    form.month.data = period.last_month if period.kind == "month" else ""
    form.phase.data = str(period.phase.id) if period.phase else ""
    form.date_from.data = period.start.isoformat() if period.kind == "range" else ""
    form.date_to.data = period.end.isoformat() if period.kind == "range" else ""
    return form


@bp.route("/export.xlsx")
@login_required
@requires("citywide.view")
def export():
    city = _city()
    now = today()
    period = period_from(request.args, city.id, now)
    comparison = ops.compare(city.id, period, now)
    heads = {r.tenant.id: "{}:{}".format(*chain_head(r.tenant.id)) for r in comparison.rows}
    data = comparison_workbook(comparison, city_name=city.name, heads=heads)
    return send_file(io.BytesIO(data), as_attachment=True, download_name=f"县区对比-{period.label}.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.route("/report", methods=["POST"])
@login_required
@requires("citywide.export")
@one_shot(creates=(ReportRun, lambda run: url_for("runs.show", run_id=run.id)))
def report():
    """Queue the comparison PDF (worker.citywide.render_comparison) for the period on the page."""
    city = _city()
    form = ReportForm()
    if not form.validate_on_submit():
        abort(400)
    args = {"period": form.period.data, "month": form.month.data, "phase": form.phase.data,
            "from": form.date_from.data, "to": form.date_to.data}
    period = period_from({k: v for k, v in args.items() if v}, city.id, today())
    return act(form, lambda: run_ops.request_run("city_comparison_pdf", user=current_user, unit=root_unit(city.id),
                                                 params=period.params()),
               done="已提交生成任务：县区对比报告（PDF）。", prefix="", refusals=(run_ops.QueueUnavailable,),
               back=lambda run: url_for("runs.show", run_id=run.id) if run is not None
               else url_for("citywide.index", **period.params()))


@bp.route("/verify", methods=["POST"])
@login_required
@requires("citywide.verify")
@one_shot()  # a chain walk is costly: a double click verifies once (a duplicate returns to the page)
def verify():
    """Verify one district's chain now against the heads the city holds (a city write only)."""
    city = _city()
    form = VerifyForm()
    if not form.validate_on_submit():
        abort(400)
    tenant = db.session.execute(sa.select(Tenant).where(Tenant.id == form.tenant_id.data,
                                                        Tenant.parent_id == city.id)).scalar_one_or_none()
    if tenant is None:
        abort(404)
    authorize("citywide.verify", tenant)
    name = tenant.name
    return act(form, lambda: witness.verify_and_record(tenant, triggered_by="web")[0],
               done=lambda outcome: [(f"{name}：{outcome.message()}", "success" if outcome.ok else "danger")],
               back=url_for("citywide.index", **{k: v for k, v in request.args.items()}) + "#witness")


@bp.route("/districts/<int:tenant_id>")
@login_required
def district(tenant_id: int):
    """One district by township central school, with links to its ledger and matrix."""
    tenant = load_or_404(Tenant, tenant_id, "citywide.view")
    city = _city()
    if tenant.parent_id != city.id:
        abort(404)
    now = today()
    period = period_from(request.args, city.id, now)
    comparison = ops.compare(city.id, period, now)
    row = next(r for r in comparison.rows if r.tenant.id == tenant.id)
    rows = ops.district_detail(tenant, period, now)
    witnesses = witness.witness_summary(city.id, [tenant.id])
    return render_template("citywide/district.html", tenant=tenant, row=row, rows=rows, period=period,
                           comparison=comparison, links=figure_links(comparison), witness=witnesses[tenant.id],
                           MIN_SAMPLE=ops.MIN_SAMPLE)


@bp.route("/campaigns")
@login_required
@requires("citywide.view")
def campaigns():
    """The city's own campaigns; the newest published one opens directly."""
    city = _city()
    found = db.session.execute(sa.select(Campaign).where(Campaign.tenant_id == city.id)
                               .order_by(Campaign.published_by_city.desc(), Campaign.year.desc(),
                                         Campaign.id.desc())).scalars().all()
    return render_template("citywide/campaigns.html", campaigns=found)


@bp.route("/campaigns/<int:campaign_id>")
@login_required
def campaign(campaign_id: int):
    """Each district's progress through the phases of a city campaign: adopted or not, and per
    phase the deliverables accepted / submitted on time / late / returned / missing."""
    campaign = load_or_404(Campaign, campaign_id, "citywide.view")
    city = _city()
    if campaign.tenant_id != city.id:
        abort(404)
    now = today()
    city_phases = campaign_ops.phases_of(campaign)
    tenants = ops.districts_of(city.id)
    adopted = {c.tenant_id: c for c in db.session.execute(
        sa.select(Campaign).where(Campaign.adopted_from_id == campaign.id,
                                  Campaign.tenant_id.in_([t.id for t in tenants] or [-1]))).scalars()}
    phases = db.session.execute(sa.select(Phase).where(Phase.campaign_id.in_([c.id for c in adopted.values()] or [-1]))
                                .order_by(Phase.sort)).scalars().all()
    phase_sort = {p.id: p.sort for p in phases}
    deliverables = db.session.execute(
        sa.select(Deliverable).where(Deliverable.campaign_id.in_([c.id for c in adopted.values()] or [-1]))
    ).unique().scalars().all()
    by_cell: dict[tuple[int, int], list[Deliverable]] = {}
    for d in deliverables:
        by_cell.setdefault((d.tenant_id, phase_sort.get(d.spec.phase_id, 0)), []).append(d)
    progress = {}
    for t in tenants:
        for p in city_phases:
            items = by_cell.get((t.id, p.sort), [])
            counts = campaign_ops.counts(items, now)
            due = sum(1 for d in items if d.spec.due_on < now)
            progress[(t.id, p.sort)] = {"total": len(items), "counts": counts, "due": due,
                                        "on_time": sum(1 for d in items if d.submitted_at is not None
                                                       and not d.is_late(now))}
    current = next((p for p in city_phases if p.starts_on <= now <= p.ends_on), None)
    return render_template("citywide/campaign.html", campaign=campaign, phases=city_phases, tenants=tenants,
                           adopted=adopted, progress=progress, BADGES=BADGES, current=current, now=now)
