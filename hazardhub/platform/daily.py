"""The daily pass (08:30 Beijing): what every tenant's users must be told today.

One function shared by the RQ cron job (``worker.periodic.daily``) and the operator command
(``flask --app wsgi jobs daily``), so both do exactly the same thing. Every step is idempotent:
a second run on the same day creates nothing and changes nothing.
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from hazardhub.accountability.operations import sync
from hazardhub.directives.escalation import sweep_tenant
from hazardhub.directives.operations import reconcile_accepted
from hazardhub.extensions import db
from hazardhub.notifications.operations import refresh_due
from hazardhub.orgs.models import Tenant
from hazardhub.publicreports.operations import sweep_tenant as sweep_public_reports
from hazardhub.runs.operations import reconcile_open_runs
from hazardhub.tenancy import tenant_bound


def tenant_ids() -> list[int]:
    return list(db.session.execute(
        sa.select(Tenant.id).order_by(Tenant.id).execution_options(all_tenants=True)).scalars())


def run_daily(today: date, log=print) -> dict[str, int]:
    """Per tenant: fail runs whose worker died, mark overdue directives and hazards and escalate
    overdue major hazards, derive the accountability findings, then refresh the due-this-month
    notifications."""
    totals = {"tenants": 0, "created": 0, "resolved": 0, "findings": 0, "escalated": 0, "overdue": 0}
    for tenant_id in tenant_ids():
        with tenant_bound(tenant_id):
            reconcile_open_runs()  # runs whose worker died are marked failed (and retryable)
            reconcile_accepted(tenant_id)  # accepted directives close their hazards (older data)
            swept = sweep_tenant(tenant_id, today)
            public = sweep_public_reports(tenant_id, today)  # 随手拍: escalate untouched, erase phones
        totals["escalated"] += public["escalated"]
        totals["escalated"] += swept.get("escalated", 0)
        totals["overdue"] += swept.get("overdue_recorded", 0) + swept.get("directives_marked", 0)
        totals["findings"] += sync(tenant_id, today)
        result = refresh_due(tenant_id, today)
        totals["tenants"] += 1
        totals["created"] += result["created"]
        totals["resolved"] += result["resolved"]
    log(f"{today.isoformat()}：{totals['tenants']} 个租户，新通知 {totals['created']} 条，已办结 {totals['resolved']} 条，新增追责线索 {totals['findings']} 条，"
        f"逾期标记 {totals['overdue']} 项，升级督办 {totals['escalated']} 项")
    return totals
