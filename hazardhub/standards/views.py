"""The standards catalogue: browse; a city administrator completes items and thresholds;
a city or district adds a local overlay. Every edit is versioned with its reason."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from hazardhub.auditlog.timeline import timeline
from hazardhub.extensions import db
from hazardhub.policy import authorize, can, requires
from hazardhub.standards import operations as ops
from hazardhub.standards.forms import GroupForm, ItemEditForm, ItemForm, OverlayForm, normalise_tags
from hazardhub.standards.models import (
    RuleGroup, StandardItem,
)
from hazardhub.tenancy import current_scope

bp = Blueprint("standards", __name__, url_prefix="/standards")


def _visible_ids() -> list[int]:
    return ops.readable_tenant_ids(current_scope().read_tenant_ids)


def _load(model, object_id: int):
    """Catalogue rows are reference data (not tenant-scoped): visible = own tenant and parent city."""
    obj = db.session.execute(
        sa.select(model).where(model.id == object_id, model.tenant_id.in_(_visible_ids()))
    ).scalar_one_or_none()
    if obj is None:
        abort(404)
    return obj


@bp.route("/")
@login_required
@requires("standards.view")
def index():
    tenant_id = current_user.tenant_id
    standards = ops.standards_for(tenant_id)
    selected = request.args.get("standard", "")
    standard = next((s for s in standards if str(s.id) == selected), standards[0] if standards else None)
    groups = []
    if standard is not None:
        groups = db.session.execute(
            sa.select(RuleGroup).where(RuleGroup.standard_id == standard.id).order_by(RuleGroup.sort, RuleGroup.id)
        ).scalars().all()
        items = db.session.execute(
            sa.select(StandardItem).where(StandardItem.group_id.in_([g.id for g in groups]))
            .order_by(StandardItem.sort, StandardItem.id)
        ).scalars().all()
        by_group: dict[int, list] = {}
        for item in items:
            by_group.setdefault(item.group_id, []).append(item)
        groups = [(g, by_group.get(g.id, [])) for g in groups]
    return render_template("standards/index.html", standards=standards, standard=standard, groups=groups,
                           overlay_form=OverlayForm(), item_form=ItemForm())


@bp.route("/groups/<int:group_id>", methods=["GET", "POST"])
@login_required
def group(group_id: int):
    group = _load(RuleGroup, group_id)
    if not can(current_user, "standards.edit", group):
        abort(403)
    form = GroupForm(obj=group)
    if request.method == "GET":
        form.version_id.data = str(group.version_id)
    if form.validate_on_submit():
        try:
            changed = ops.update_group(group, kind=form.kind.data, threshold=form.threshold.data,
                                       window_days=form.window_days.data, note=form.note.data or None,
                                       version_id=int(form.version_id.data), reason=form.reason.data)
        except ops.CatalogueError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            flash("已保存。" if changed else "没有需要保存的修改。", "success" if changed else "info")
            return redirect(url_for("standards.index", standard=group.standard_id))
    elif request.method == "POST":
        flash("请更正表单中的错误。", "danger")
    entries = timeline(group)
    return render_template("standards/group.html", group=group, form=form, entries=entries)


@bp.route("/groups/<int:group_id>/items", methods=["POST"])
@login_required
def add_item(group_id: int):
    group = _load(RuleGroup, group_id)
    if not can(current_user, "standards.edit", group):
        abort(403)
    form = ItemForm()
    if form.validate_on_submit():
        try:
            ops.add_item(group, number=form.number.data.strip(), text=form.text.data.strip(),
                         tags=normalise_tags(form.tags.data), reason=form.reason.data)
        except ops.CatalogueError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            flash(f"已添加条目 {form.number.data.strip()}。", "success")
    else:
        flash("添加失败：" + "；".join(e for f in form for e in f.errors), "danger")
    return redirect(url_for("standards.index", standard=group.standard_id))


@bp.route("/items/<int:item_id>", methods=["GET", "POST"])
@login_required
def item(item_id: int):
    item = _load(StandardItem, item_id)
    editable = can(current_user, "standards.edit", item)
    form = ItemEditForm(obj=item)
    if request.method == "GET":
        form.version_id.data = str(item.version_id)
    if request.method == "POST":
        if not editable:
            abort(403)
        if form.validate_on_submit():
            try:
                changed = ops.update_item(item, text=form.text.data.strip(), tags=normalise_tags(form.tags.data),
                                          is_active=bool(form.is_active.data), version_id=int(form.version_id.data),
                                          reason=form.reason.data)
            except ops.CatalogueError as exc:
                db.session.rollback()
                flash(str(exc), "danger")
            else:
                flash("已保存。已引用本条的隐患保留引用时的条文。" if changed else "没有需要保存的修改。",
                      "success" if changed else "info")
                return redirect(url_for("standards.item", item_id=item.id))
        else:
            flash("请更正表单中的错误。", "danger")
    entries = timeline(item)
    return render_template("standards/item.html", item=item, form=form, editable=editable, entries=entries)


@bp.route("/overlay", methods=["POST"])
@login_required
def overlay():
    authorize("standards.edit")
    form = OverlayForm()
    if form.validate_on_submit():
        try:
            standard = ops.create_overlay(current_user.tenant_id, code=form.code.data.strip(),
                                          title=form.title.data.strip(), issuer=form.issuer.data or None,
                                          note=form.note.data or None, reason=form.reason.data)
        except ops.CatalogueError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return redirect(url_for("standards.index"))
        flash(f"已新建本地标准：{standard.title}，可在下方添加条目。", "success")
        return redirect(url_for("standards.index", standard=standard.id))
    flash("新建失败：" + "；".join(e for f in form for e in f.errors), "danger")
    return redirect(url_for("standards.index"))
