"""Channel pages: the bureau's settings (providers, group robots, digest hour, test message), the
outbox and delivery log, and each user's own preferences. Nothing here calls a provider: a test
message is a delivery row handed to the queue like any other."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from hazardhub.channels import operations as ops
from hazardhub.channels.adapters import ADAPTERS, GROUP_KINDS, PERSON_KINDS
from hazardhub.channels.forms import DigestHourForm, PreferenceForm, TestMessageForm, config_form_class
from hazardhub.channels.models import STATUSES, ChannelConfig
from hazardhub.extensions import db
from hazardhub.formtokens import one_shot
from hazardhub.forms import errors_text
from hazardhub.orgs.models import OrgUnit
from hazardhub.orgs.operations import root_unit
from hazardhub.pagination import paginate
from hazardhub.policy import authorize, load_or_404, requires
from hazardhub.requestflow import act, perform, submit

bp = Blueprint("channels", __name__, url_prefix="/channels")


def _bureau() -> OrgUnit:
    root = root_unit(current_user.tenant_id)
    if root is None:
        abort(404)
    authorize("channel.manage", root)
    return root


@bp.route("/")
@login_required
@requires("channel.manage")
def settings():
    root = _bureau()
    configs = db.session.execute(sa.select(ChannelConfig).order_by(ChannelConfig.unit_id, ChannelConfig.kind)).scalars().all()
    units = {u.id: u for u in db.session.execute(sa.select(OrgUnit).where(
        OrgUnit.kind.in_(("bureau", "township_center")), OrgUnit.is_active.is_(True)).order_by(OrgUnit.path)).scalars()}
    by_key = {(c.unit_id, c.kind): c for c in configs}
    secrets = {c.id: ops.secret_names(c) for c in configs}
    hour_form = DigestHourForm(hour=ops.digest_hour(root.tenant_id))
    return render_template("channels/settings.html", root=root, adapters=ADAPTERS, person_kinds=PERSON_KINDS,
                           group_kinds=GROUP_KINDS, by_key=by_key, units=units, secrets=secrets,
                           group_configs=[c for c in configs if c.kind in GROUP_KINDS],
                           hour_form=hour_form, test_form=TestMessageForm(),
                           configured=any(c.enabled for c in configs))


@bp.route("/digest-hour", methods=["POST"])
@login_required
@requires("channel.manage")
def digest_hour():
    root = _bureau()
    form = DigestHourForm()
    return act(form, lambda: ops.set_digest_hour(root.tenant_id, form.hour.data),
               done=lambda _: f"每日待办将于工作日 {form.hour.data:02d}:00（北京时间）推送。",
               back=url_for("channels.settings"), prefix="", invalid=errors_text)


@bp.route("/add-robot")
@login_required
@requires("channel.manage")
def add_robot():
    """The “add a group robot” picker: on to the unit's channel form."""
    unit = load_or_404(OrgUnit, request.args.get("unit"), "channel.manage")
    return redirect(url_for("channels.edit", unit_id=unit.id, kind=request.args.get("kind", "wecom")))


@bp.route("/units/<int:unit_id>", methods=["GET", "POST"])
@login_required
def edit(unit_id: int):
    unit = load_or_404(OrgUnit, unit_id, "channel.manage")
    kind = request.values.get("kind", "")
    if kind not in ADAPTERS or (kind in PERSON_KINDS and unit.parent_id is not None):
        flash("该单位不能配置这种渠道：邮件和短信只能配置在教育局本级，群机器人可配置在任一单位。", "danger")
        return redirect(url_for("channels.settings"))
    config = db.session.execute(sa.select(ChannelConfig).where(ChannelConfig.unit_id == unit.id,
                                                               ChannelConfig.kind == kind)).scalar_one_or_none()
    has_secret = ops.secret_names(config) if config is not None else set()
    form_class = config_form_class(kind, has_secret=has_secret)
    form = form_class(data={**(config.settings if config else {}), "enabled": config.enabled if config else True})
    if request.method == "POST":
        form = form_class()
        valid = form.validate_on_submit()
        response = submit(
            form, lambda: ops.save_config(unit.tenant_id, unit_id=unit.id, kind=kind, enabled=form.enabled.data,
                                          values={f.name: form[f.name].data or "" for f in ADAPTERS[kind].FIELDS}),
            validated=valid, invalid=None if valid else errors_text(form),
            done=lambda _: f"已保存{unit.name}的{ADAPTERS[kind].LABEL}。密钥已加密保存，不再显示。",
            to=url_for("channels.settings"))
        if response is not None:
            return response
    return render_template("channels/edit.html", unit=unit, kind=kind, adapter=ADAPTERS[kind], form=form,
                           config=config, has_secret=has_secret)


@bp.route("/units/<int:unit_id>/test", methods=["POST"])
@login_required
@one_shot(outcome=lambda unit_id: url_for("channels.log"))
def send_test(unit_id: int):
    unit = load_or_404(OrgUnit, unit_id, "channel.manage")
    form = TestMessageForm()
    if not form.validate_on_submit():
        abort(400)
    config = db.session.execute(sa.select(ChannelConfig).where(ChannelConfig.unit_id == unit.id,
                                                               ChannelConfig.kind == form.kind.data)).scalar_one_or_none()
    if config is None:
        abort(404)
    planned, row = perform(lambda: ops.plan_test(unit.tenant_id, config.id, user_id=current_user.id))
    if not planned:
        return redirect(url_for("channels.settings"))
    try:
        ops.enqueue([(row.id, row.tenant_id)])
    except Exception:  # noqa: BLE001 - the queue is down: the minutely dispatch sends it later
        flash("测试消息已登记，后台队列暂不可用，稍后自动发送。", "warning")
    else:
        flash("测试消息已提交发送，结果见下方投递记录。", "success")
    return redirect(url_for("channels.log"))


@bp.route("/outbox")
@login_required
@requires("channel.manage")
def outbox():
    _bureau()
    page = paginate(ops.log_query(), per_page=20)
    return render_template("channels/outbox.html", page=page, adapters=ADAPTERS, preview=ops.preview)


@bp.route("/log")
@login_required
@requires("channel.manage")
def log():
    _bureau()
    status = request.args.get("status") if request.args.get("status") in STATUSES else None
    page = paginate(ops.log_query(status), per_page=50)
    return render_template("channels/log.html", page=page, adapters=ADAPTERS, statuses=STATUSES, status=status)


@bp.route("/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    pref = ops.preference_of(current_user.id)
    data = {"email": pref.email, "email_on": pref.email_on, "sms_on": pref.sms_on, "digest_on": pref.digest_on} \
        if pref is not None else {"email": "", "email_on": False, "sms_on": True, "digest_on": True}
    form = PreferenceForm(data=data) if request.method == "GET" else PreferenceForm()
    if request.method == "POST":
        valid = form.validate_on_submit()
        response = submit(
            form, lambda: ops.save_preference(current_user.tenant_id, current_user.id, email=form.email.data or "",
                                              email_on=form.email_on.data, sms_on=form.sms_on.data,
                                              digest_on=form.digest_on.data),
            validated=valid, invalid=None if valid else errors_text(form),
            done="消息接收设置已保存。", to=url_for("channels.preferences"))
        if response is not None:
            return response
    channels = {c.kind for c in db.session.execute(sa.select(ChannelConfig).where(ChannelConfig.enabled.is_(True))).scalars()}
    return render_template("channels/preferences.html", form=form, channels=channels, adapters=ADAPTERS)
