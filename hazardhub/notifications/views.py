"""The user's inbox: open notifications first, unread highlighted; mark one or all read."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user, login_required

from hazardhub import clock
from hazardhub.extensions import db
from hazardhub.notifications import operations
from hazardhub.notifications.forms import ReadForm
from hazardhub.notifications.models import Notification
from hazardhub.pagination import paginate
from hazardhub.requestflow import act

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.route("/")
@login_required
def index():
    show = "all" if request.args.get("show") == "all" else "open"
    operations.reconcile(current_user, clock.today())
    page = paginate(operations.inbox_query(current_user, show=show), per_page=30)
    return render_template("notifications/index.html", page=page, show=show, form=ReadForm(),
                           unread=operations.unread_count(current_user))


@bp.route("/<int:notification_id>/open", methods=["POST"])
@login_required
def open_one(notification_id: int):
    """Mark read and follow the link (a POST, so reading changes state only on purpose)."""
    form = ReadForm()
    if not form.validate_on_submit():
        abort(400)
    notification = db.session.execute(sa.select(Notification).where(
        Notification.id == notification_id, Notification.user_id == current_user.id)).scalar_one_or_none()
    if notification is None:
        abort(404)
    target = notification.url if notification.url.startswith("/") and not notification.url.startswith("//") \
        else url_for("notifications.index")
    return act(form, lambda: operations.mark_read(current_user, [notification.id]), done=None, back=target)


@bp.route("/read-all", methods=["POST"])
@login_required
def read_all():
    form = ReadForm()
    if not form.validate_on_submit():
        abort(400)
    return act(form, lambda: operations.mark_read(current_user),
               done=lambda count: [(f"已将 {count} 条通知标为已读。", "success")] if count else [("没有未读通知。", "info")],
               back=url_for("notifications.index"))
