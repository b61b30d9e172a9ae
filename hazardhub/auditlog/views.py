"""The audit-chain page: each reachable tenant's chain head, and an on-demand verification."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from hazardhub.audit import AuditChainHead, verify_chain
from hazardhub.auditlog.forms import VerifyChainForm
from hazardhub.extensions import db
from hazardhub.orgs.models import Tenant
from hazardhub.policy import can, requires
from hazardhub.tenancy import current_scope

bp = Blueprint("auditlog", __name__, url_prefix="/audit")


def _tenants():
    tenants = db.session.execute(
        sa.select(Tenant).where(Tenant.id.in_(current_scope().read_tenant_ids)).order_by(Tenant.kind, Tenant.region_code)
    ).scalars().all()
    return [t for t in tenants if can(current_user, "audit.view", t)]


@bp.route("/chain", methods=["GET", "POST"])
@login_required
@requires("audit.view")
def chain():
    tenants = _tenants()
    heads = {
        h.tenant_id: h
        for h in db.session.execute(
            sa.select(AuditChainHead).where(AuditChainHead.tenant_id.in_([t.id for t in tenants]))
        ).scalars()
    }
    form = VerifyChainForm()
    report = None
    checked = None
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        tenant_id = request.form.get("tenant_id", "")
        checked = next((t for t in tenants if str(t.id) == tenant_id), None)
        if checked is None:
            abort(404)
        report = verify_chain(db.session.connection(), checked.id)
    return render_template("auditlog/chain.html", tenants=tenants, heads=heads, form=form,
                           report=report, checked=checked)
