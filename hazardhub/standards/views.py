"""The standards catalogue: browse; a city administrator completes items and thresholds;
a city or district adds a local overlay. Every edit is versioned with its reason."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user, login_required

from hazardhub.auditlog.timeline import timeline
from hazardhub.extensions import db
from hazardhub.policy import authorize, can, requires
from hazardhub.requestflow import act, submit
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


def _saved(message: str):
    """An edit's outcome: ``message`` when it changed something, else that nothing needed saving."""
    return lambda changed: [(message, "success")] if changed else [("没有需要保存的修改。", "info")]


def _catalogue_button(failed: str) -> dict:
    """The catalogue's add buttons: an invalid form (a bad token too) is flashed ``failed`` and
    every error, a refusal in the operation's words, both back on the catalogue."""
    return {"prefix": "", "bad_token_is_400": False,
            "invalid": lambda form: failed + "；".join(e for f in form for e in f.errors)}


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
    response = submit(
        form, lambda: ops.update_group(group, kind=form.kind.data, threshold=form.threshold.data,
                                       window_days=form.window_days.data, note=form.note.data or None,
                                       version_id=int(form.version_id.data), reason=form.reason.data),
        done=_saved("已保存。"), to=lambda _: url_for("standards.index", standard=group.standard_id))
    if response is not None:
        return response
    entries = timeline(group)
    return render_template("standards/group.html", group=group, form=form, entries=entries)


@bp.route("/groups/<int:group_id>/items", methods=["POST"])
@login_required
def add_item(group_id: int):
    group = _load(RuleGroup, group_id)
    if not can(current_user, "standards.edit", group):
        abort(403)
    form = ItemForm()
    return act(form, lambda: ops.add_item(group, number=form.number.data.strip(), text=form.text.data.strip(),
                                          tags=normalise_tags(form.tags.data), reason=form.reason.data),
               done=lambda _: f"已添加条目 {form.number.data.strip()}。",
               back=url_for("standards.index", standard=group.standard_id), **_catalogue_button("添加失败："))


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
        response = submit(
            form, lambda: ops.update_item(item, text=form.text.data.strip(), tags=normalise_tags(form.tags.data),
                                          is_active=bool(form.is_active.data), version_id=int(form.version_id.data),
                                          reason=form.reason.data),
            done=_saved("已保存。已引用本条的隐患保留引用时的条文。"), to=lambda _: url_for("standards.item", item_id=item.id))
        if response is not None:
            return response
    entries = timeline(item)
    return render_template("standards/item.html", item=item, form=form, editable=editable, entries=entries)


@bp.route("/overlay", methods=["POST"])
@login_required
def overlay():
    authorize("standards.edit")
    form = OverlayForm()
    return act(form, lambda: ops.create_overlay(current_user.tenant_id, code=form.code.data.strip(),
                                                title=form.title.data.strip(), issuer=form.issuer.data or None,
                                                note=form.note.data or None, reason=form.reason.data),
               done=lambda standard: f"已新建本地标准：{standard.title}，可在下方添加条目。",
               back=lambda standard: url_for("standards.index", **({"standard": standard.id} if standard else {})),
               **_catalogue_button("新建失败："))
