"""Jobs. Each takes ids only, is idempotent (re-running rewrites the same run's file), and
records progress on its ``ReportRun`` row."""
from __future__ import annotations

import sqlalchemy as sa

from hazardhub import spreadsheets
from hazardhub.audit import chain_head
from hazardhub.clock import utcnow
from hazardhub.extensions import db
from hazardhub.hazards import excel
from hazardhub.hazards.models import Hazard
from hazardhub.hazards.operations import LedgerFilters, ledger_query
from hazardhub.orgs.models import OWNERSHIPS, OrgUnit
from hazardhub.orgs.operations import subtree_query
from hazardhub.orgs.unit_rows import HEADER_LABELS
from hazardhub.runs import operations as runs
from hazardhub.runs.models import ReportRun
from hazardhub.web import local_time


def _load_run(run_id: int) -> ReportRun:
    run = db.session.execute(sa.select(ReportRun).where(ReportRun.id == run_id)).scalar_one()
    return run


def export_unit_tree(run_id: int) -> str:
    """The unit tree under the run's unit as .xlsx, in the import column order (round-trips)."""
    run = _load_run(run_id)
    try:
        runs.mark_running(run)
        root = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == run.unit_id)).scalar_one()
        units = db.session.execute(subtree_query(root).order_by(OrgUnit.path)).scalars().all()
        codes = {u.id: u.code for u in units}
        parent_codes = dict(
            db.session.execute(sa.select(OrgUnit.id, OrgUnit.code).where(
                OrgUnit.id.in_({u.parent_id for u in units if u.parent_id}))).all()
        )
        codes.update(parent_codes)
        book = spreadsheets.Book()
        ws = book.sheet("单位名录", widths=(14, 14, 30, 14, 10, 8, 8, 10, 10, 30, 10, 14))
        keys = list(HEADER_LABELS)
        ws.append([HEADER_LABELS[k] for k in keys], style=spreadsheets.Style(bold=True, horizontal="center"))
        total = max(1, len(units))
        for i, unit in enumerate(units, start=1):
            values = {
                "code": unit.code,
                "parent_code": codes.get(unit.parent_id, ""),
                "name": unit.name,
                "kind": unit.kind_label if unit.kind != "school" else (unit.school_type or "学校"),
                "school_type": unit.school_type or "",
                "ownership": OWNERSHIPS.get(unit.ownership or "", ""),
                "is_boarding": "是" if unit.is_boarding else "否",
                "enrolment": unit.enrolment,
                "staff_count": unit.staff_count,
                "address": unit.address or "",
                "contact_name": unit.contact_name or "",
                "contact_phone": unit.contact_phone or "",
            }
            if unit.kind == "school":
                values["kind"] = "学校/幼儿园"
            ws.append([values[k] for k in keys])
            if i % 200 == 0:
                runs.set_progress(run, 90 * i // total)
        seq, head = chain_head(run.tenant_id)
        ws2 = book.sheet("说明")
        ws2.append(["导出范围", root.name])
        ws2.append(["导出时间（北京时间）", local_time(utcnow())])
        ws2.append(["单位数", len(units)])
        ws2.append(["审计链头", f"{seq}:{head}"])
        runs.store_file(run, book.to_bytes(), f"{root.name}-单位名录.xlsx", f"{seq}:{head}")
        return run.sha256
    except Exception as exc:
        runs.mark_failed(run_id, f"{type(exc).__name__}: {exc}")
        raise


def export_ledger(run_id: int) -> str:
    """Every non-voided hazard under the run's unit as the ledger .xlsx (columns of the web export)."""
    run = _load_run(run_id)
    try:
        runs.mark_running(run)
        root = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == run.unit_id)).scalar_one()
        root_name, tenant_id = root.name, run.tenant_id
        hazards = db.session.execute(
            ledger_query([root], LedgerFilters()).order_by(Hazard.found_on, Hazard.number)
        ).scalars().all()
        head = chain_head(tenant_id)
        data = excel.write_ledger(
            hazards, f"{root_name}隐患排查治理台账", tenant_id=tenant_id, scope=root_name,
            filters="后台导出：范围内全部未作废隐患", heads={tenant_id: head},
            progress=lambda percent: runs.set_progress(run, 5 + 90 * percent // 100),
        )
        runs.store_file(run, data, f"{root_name}-隐患台账.xlsx", excel.format_head(head))
        return run.sha256
    except Exception as exc:
        runs.mark_failed(run_id, f"{type(exc).__name__}: {exc}")
        raise
