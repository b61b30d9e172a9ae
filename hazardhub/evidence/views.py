"""Evidence routes: upload to a hazard, serve a file or its thumbnail, withdraw.

Files are served only here, after ``load_or_404`` (another tenant's id → 404, out of reach → 404,
visible but not allowed → 403), with the type recorded from the file's content, ``nosniff``, a
sandboxing CSP, a safe name (photos inline, PDFs as downloads) and ``private, no-cache`` (the
browser revalidates with the ETag, so a revoked role stops seeing files at once). Upload and
withdraw answer with a redirect to the hazard page and a flashed message.
"""
from __future__ import annotations

from flask import Blueprint, abort, url_for
from flask_login import current_user, login_required
from werkzeug.routing import BuildError

from hazardhub.evidence import operations as ops
from hazardhub.evidence import storage
from hazardhub.evidence.forms import UploadForm, WithdrawForm
from hazardhub.evidence.models import STAGES, Attachment
from hazardhub.formtokens import one_shot
from hazardhub.hazards.models import Hazard
from hazardhub.policy import load_or_404
from hazardhub.requestflow import act, first_error

bp = Blueprint("evidence", __name__)


@bp.app_template_global("evidence_stages")
def evidence_stages() -> dict[str, str]:
    """Stage → Chinese label, for the panel (``evidence/_panel.html``)."""
    return STAGES


@bp.app_template_filter("filesize")
def filesize(value) -> str:
    size = int(value or 0)
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} 字节"


def _hazard_url(hazard_id: int) -> str:
    try:
        return url_for("hazards.show", hazard_id=hazard_id, _anchor="evidence")
    except BuildError:  # the hazard pages are registered by the hazards blueprint
        return f"/hazards/{hazard_id}#evidence"


@bp.route("/hazards/<int:hazard_id>/attachments", methods=["POST"])
@login_required
@one_shot(_hazard_url)  # one click, one attachment
def upload(hazard_id: int):
    hazard = load_or_404(Hazard, hazard_id, "evidence.upload")
    form = UploadForm()
    return act(form, lambda: ops.add_attachment(hazard, current_user, form.upload(), form.stage.data, form.caption.data),
               done=lambda attachment: f"已上传{STAGES[attachment.stage]}：{attachment.original_name}。",
               back=_hazard_url(hazard.id), prefix="", invalid=first_error)


@bp.route("/attachments/<int:attachment_id>")
@login_required
def file(attachment_id: int):
    attachment = load_or_404(Attachment, attachment_id, "evidence.view")
    name = storage.download_name(attachment.original_name, attachment.content_type, f"附件{attachment.id}")
    path = storage.path_for(attachment.tenant_id, attachment.stored_name)
    return storage.send_stored(path, attachment.content_type, name, attachment.sha256)


@bp.route("/attachments/<int:attachment_id>/thumb")
@login_required
def thumb(attachment_id: int):
    attachment = load_or_404(Attachment, attachment_id, "evidence.view")
    if not attachment.thumb_name:
        abort(404)
    name = storage.download_name(attachment.original_name, "image/jpeg", f"附件{attachment.id}")
    path = storage.path_for(attachment.tenant_id, attachment.thumb_name)
    return storage.send_stored(path, "image/jpeg", f"缩略图-{name}", f"{attachment.sha256}-t")


@bp.route("/attachments/<int:attachment_id>/withdraw", methods=["POST"])
@login_required
def withdraw(attachment_id: int):
    attachment = load_or_404(Attachment, attachment_id, "evidence.withdraw")
    form = WithdrawForm()
    return act(form, lambda: ops.withdraw(attachment, current_user, form.reason.data),
               done=lambda _: f"已撤回附件：{attachment.original_name}。",
               back=_hazard_url(attachment.hazard_id), prefix="", invalid=first_error)
