"""Pages of the campaigns (专项行动): the list, a campaign with its phases and every unit's reports,
one report (write, attach, submit; the safety section returns or accepts), phase dates, new from
the seed plan's template, the city's publication and a district's adoption, and the files."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_login import current_user, login_required

from hazardhub.accounts.models import User
from hazardhub.auditlog.timeline import timeline
from hazardhub.campaigns import files
from hazardhub.campaigns import operations as ops
from hazardhub.campaigns.forms import (
    AdoptForm, NewForm, PhaseForm, ReviewForm, StatusForm, SubmitForm, TextForm, UploadForm,
)
from hazardhub.campaigns.models import (
    BADGES, CAMPAIGN_STATUSES, DELIVERABLE_STATUSES, calendar_status, SOURCES, SPEC_KINDS, WHO, Campaign,
    Deliverable, DeliverableFile, Phase,
)
from hazardhub.clock import today
from hazardhub.evidence.storage import download_name, send_stored
from hazardhub.extensions import db
from hazardhub.formtokens import one_shot
from hazardhub.forms import choices
from hazardhub.httprequest import MB, upload_limit
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.pagination import paginate
from hazardhub.policy import can, load_or_404, requires
from hazardhub.requestflow import act, first_error, submit as submit_form

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

#: what a button's form says when its hidden version is missing (a stale or hand-made page)
STALE = "表单已失效，请刷新。"


def _tenant() -> Tenant:
    return db.session.execute(sa.select(Tenant).where(Tenant.id == current_user.tenant_id)
                              .execution_options(all_tenants=True)).scalar_one()


@bp.route("/")
@login_required
@requires("campaign.view")
def index():
    page = paginate(sa.select(Campaign).order_by(Campaign.year.desc(), Campaign.id.desc()), per_page=30)
    tenants = dict(db.session.execute(
        sa.select(Tenant.id, Tenant.name).where(Tenant.id.in_({c.tenant_id for c in page.items} or {-1}))
        .execution_options(all_tenants=True)).all())
    published = ops.published_city_campaigns(_tenant()) if can(current_user, "campaign.adopt") else []
    adopted = set(db.session.execute(sa.select(Campaign.adopted_from_id).where(
        Campaign.tenant_id == current_user.tenant_id, Campaign.adopted_from_id.is_not(None))).scalars())
    periods, now = ops.periods(c.id for c in page.items), today()
    statuses = {c.id: calendar_status(c, now, periods.get(c.id)) for c in page.items}
    return render_template("campaigns/index.html", page=page, tenants=tenants, published=published,
                           adopted=adopted, statuses=statuses, SOURCES=SOURCES)


@bp.route("/new", methods=["GET", "POST"])
@login_required
@requires("campaign.create")
@one_shot(creates=(Campaign, lambda c: url_for("campaigns.show", campaign_id=c.id)))
def new():
    form = NewForm()
    if request.method == "GET":
        form.year.data = today().year
    valid = form.validate_on_submit()
    response = submit_form(
        form, lambda: ops.create_from_template(_tenant(), form.year.data, current_user, title=form.title.data),
        validated=valid, invalid=None if valid else first_error(form),
        done="已按方案模板创建专项行动，并为各乡镇中心学校、局属学校生成报送任务。",
        to=lambda campaign: url_for("campaigns.show", campaign_id=campaign.id))
    if response is not None:
        return response
    return render_template("campaigns/new.html", form=form, template=ops.template(form.year.data or today().year))


@bp.route("/adopt", methods=["GET", "POST"])
@login_required
@requires("campaign.adopt")
@one_shot(creates=(Campaign, lambda c: url_for("campaigns.show", campaign_id=c.id)))
def adopt():
    published = ops.published_city_campaigns(_tenant())
    form = AdoptForm()
    form.campaign_id.choices = choices((c.id, f"{c.year} · {c.title}") for c in published)
    response = submit_form(
        form, lambda: ops.adopt(_tenant(), form.campaign_id.data, actor=current_user),
        done="已采用市教育局发布的专项行动，可按本地实际调整阶段日期。",
        to=lambda campaign: url_for("campaigns.show", campaign_id=campaign.id), invalid="请选择要采用的专项行动。")
    if response is not None:
        return response
    return render_template("campaigns/adopt.html", form=form, published=published)


@bp.route("/<int:campaign_id>")
@login_required
def show(campaign_id: int):
    campaign = load_or_404(Campaign, campaign_id, "campaign.view")
    phases = ops.phases_of(campaign)
    specs = ops.specs_of([p.id for p in phases])
    deliverables = [d for d in ops.deliverables_of(campaign) if can(current_user, "deliverable.view", d)]
    now = today()
    grid: dict[int, dict[int, Deliverable]] = {}
    units: dict[int, OrgUnit] = {}
    for d in deliverables:
        grid.setdefault(d.unit_id, {})[d.spec_id] = d
        units[d.unit_id] = d.unit
    per_spec = {s.id: ops.counts([d for d in deliverables if d.spec_id == s.id], now) for s in specs}
    period = (min(p.starts_on for p in phases), max(p.ends_on for p in phases)) if phases else None
    return render_template("campaigns/show.html", campaign=campaign, phases=phases, specs=specs, grid=grid,
                           calendar=calendar_status(campaign, now, period),
                           units=sorted(units.values(), key=lambda u: u.path), today=now,
                           totals=ops.counts(deliverables, now), per_spec=per_spec,
                           late_total=sum(1 for d in deliverables if d.submitted_at and d.is_late(now)), BADGES=BADGES,
                           SPEC_KINDS=SPEC_KINDS, WHO=WHO, SOURCES=SOURCES,
                           status_form=StatusForm(version_id=campaign.version_id),
                           publish_form=SubmitForm(version_id=campaign.version_id))


@bp.route("/<int:campaign_id>/publish", methods=["POST"])
@login_required
@one_shot(lambda campaign_id: url_for("campaigns.show", campaign_id=campaign_id))
def publish(campaign_id: int):
    campaign = load_or_404(Campaign, campaign_id, "campaign.publish")
    form = SubmitForm()
    return act(form, lambda: ops.publish(campaign, actor=current_user, version_id=int(form.version_id.data)),
               done="已发布：所辖县（市、区）教育局可以查看并采用。",
               back=url_for("campaigns.show", campaign_id=campaign_id), prefix="", invalid=lambda _form: STALE,
               bad_token_is_400=False)


@bp.route("/<int:campaign_id>/status", methods=["POST"])
@login_required
@one_shot(lambda campaign_id: url_for("campaigns.show", campaign_id=campaign_id))
def set_status(campaign_id: int):
    campaign = load_or_404(Campaign, campaign_id, "campaign.manage")
    form = StatusForm()
    return act(form, lambda: ops.set_status(campaign, status=form.status.data, actor=current_user,
                                            version_id=int(form.version_id.data)),
               done=lambda _: f"专项行动{CAMPAIGN_STATUSES[campaign.status]}。",
               back=url_for("campaigns.show", campaign_id=campaign_id), prefix="", invalid=first_error,
               bad_token_is_400=False)


@bp.route("/phases/<int:phase_id>/edit", methods=["GET", "POST"])
@login_required
def edit_phase(phase_id: int):
    phase = load_or_404(Phase, phase_id, "campaign.manage")
    campaign = load_or_404(Campaign, phase.campaign_id, "campaign.manage")
    specs = ops.specs_of([phase.id])
    form = PhaseForm()
    if request.method == "GET":
        form.starts_on.data, form.ends_on.data = phase.starts_on, phase.ends_on
        form.version_id.data = str(phase.version_id)
    due, bad = {}, None
    if request.method == "POST":
        for spec in specs:
            raw = request.form.get(f"due-{spec.id}", "")
            try:
                due[spec.id] = date.fromisoformat(raw)
            except ValueError:
                bad = f"请填写“{spec.name}”的报送截止日期（格式：年-月-日）。"
    valid = form.validate_on_submit() and not bad
    response = submit_form(
        form, lambda: ops.set_phase_dates(phase, starts_on=form.starts_on.data, ends_on=form.ends_on.data, due=due,
                                          actor=current_user, version_id=int(form.version_id.data)),
        validated=valid, invalid=None if valid else bad or first_error(form),
        done=lambda _: f"已调整“{phase.name}”的日期。", to=url_for("campaigns.show", campaign_id=campaign.id))
    if response is not None:
        return response
    return render_template("campaigns/phase.html", form=form, phase=phase, campaign=campaign, specs=specs,
                           due={s.id: request.form.get(f"due-{s.id}", s.due_on.isoformat()) for s in specs})


def _deliverable_url(deliverable_id: int) -> str:
    return url_for("campaigns.deliverable", deliverable_id=deliverable_id)


@bp.route("/deliverables/<int:deliverable_id>", methods=["GET", "POST"])
@login_required
def deliverable(deliverable_id: int):
    item = load_or_404(Deliverable, deliverable_id, "deliverable.view")
    form = TextForm()
    if request.method == "POST":
        if not can(current_user, "deliverable.edit", item):
            abort(403)
        return act(form, lambda: ops.save_text(item, text=form.text.data or "", actor=current_user,
                                               version_id=int(form.version_id.data)),
                   done="已保存（尚未提交）。", back=_deliverable_url(deliverable_id), prefix="", invalid=first_error,
                   bad_token_is_400=False)
    form.text.data = item.text
    form.version_id.data = str(item.version_id)
    campaign = db.session.execute(sa.select(Campaign).where(Campaign.id == item.campaign_id)).scalar_one()
    phase = db.session.execute(sa.select(Phase).where(Phase.id == item.spec.phase_id)).scalar_one()
    people = {u.id: u.display_name for u in db.session.execute(sa.select(User).where(
        User.id.in_({i for i in (item.submitted_by_id, item.reviewed_by_id) if i} or {-1}))).scalars()}
    return render_template("campaigns/deliverable.html", item=item, campaign=campaign, phase=phase,
                           files=ops.files_of(item), form=form, upload_form=UploadForm(),
                           submit_form=SubmitForm(version_id=item.version_id),
                           review_form=ReviewForm(version_id=item.version_id), people=people, today=today(),
                           BADGES=BADGES, DELIVERABLE_STATUSES=DELIVERABLE_STATUSES, SPEC_KINDS=SPEC_KINDS)


@bp.route("/deliverables/<int:deliverable_id>/files", methods=["POST"])
@login_required
@one_shot(_deliverable_url)
# a video may be larger than the general request limit (MAX_CONTENT_LENGTH, read by the CSRF check
# before this view runs, so the limit is the view's own: hazardhub.httprequest); the video's own
# limit is checked while it streams to disk, the megabyte on top is the multipart framing
@upload_limit(lambda: max(current_app.config["MAX_CONTENT_LENGTH"] or 0, files.max_video_bytes() + MB),
              shown_mb=lambda: max(current_app.config["MAX_CONTENT_LENGTH"] or 0, files.max_video_bytes()) / MB)
def upload(deliverable_id: int):
    item = load_or_404(Deliverable, deliverable_id, "deliverable.edit")
    form = UploadForm()
    return act(form, lambda: ops.add_file(item, actor=current_user, stream=form.file.data.stream,
                                          original_name=form.file.data.filename),
               done=lambda record: f"已上传：{record.original_name}。", back=_deliverable_url(deliverable_id),
               prefix="", invalid=first_error)


@bp.route("/deliverables/<int:deliverable_id>/submit", methods=["POST"])
@login_required
@one_shot(_deliverable_url)
def submit(deliverable_id: int):
    item = load_or_404(Deliverable, deliverable_id, "deliverable.edit")
    form = SubmitForm()
    return act(form, lambda: ops.submit(item, actor=current_user, version_id=int(form.version_id.data)),
               done=lambda _: f"已提交{item.spec.name}，等待教体局安全股审核。"
               + ("（已超过报送截止日期）" if item.is_late(today()) else ""),
               back=_deliverable_url(deliverable_id), prefix="", invalid=lambda _form: STALE, bad_token_is_400=False)


@bp.route("/deliverables/<int:deliverable_id>/review", methods=["POST"])
@login_required
@one_shot(_deliverable_url)
def review(deliverable_id: int):
    item = load_or_404(Deliverable, deliverable_id, "deliverable.review")
    form = ReviewForm()
    return act(form, lambda: ops.review(item, actor=current_user, decision=form.decision.data,
                                        comment=form.comment.data or "", version_id=int(form.version_id.data)),
               done=lambda _: "已通过。" if item.status == "accepted" else "已退回，报送单位修改后可重新提交。",
               back=_deliverable_url(deliverable_id), prefix="", invalid=first_error, bad_token_is_400=False)


@bp.route("/deliverables/<int:deliverable_id>/history")
@login_required
def deliverable_history(deliverable_id: int):
    item = load_or_404(Deliverable, deliverable_id, "deliverable.view")
    entries = timeline(item)
    return render_template("history.html", title=f"{item.unit.name} · {item.spec.name}的记录", entries=entries,
                           back_url=url_for("campaigns.deliverable", deliverable_id=deliverable_id))


@bp.route("/files/<int:deliverable_file_id>")
@login_required
def file(deliverable_file_id: int):
    record = load_or_404(DeliverableFile, deliverable_file_id, "deliverable.view")
    path = files.path_for(record.tenant_id, record.kind, record.stored_name)
    if record.kind == "video":
        stem = record.original_name.rsplit(".", 1)[0]
        name = download_name(stem, "", f"视频{record.id}") + ".mp4"
    else:
        name = download_name(record.original_name, record.content_type, f"附件{record.id}")
    return send_stored(path, record.content_type, name, record.sha256)
