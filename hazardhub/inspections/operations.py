"""Every state change of an inspection, and the principal's sign-off.

A checklist is generated from the catalogue for the school's type, plus the seed campaign's four
areas; a failed line becomes a hazard in the ledger linked to the inspection. The sign-off hashes
a canonical snapshot of the inspection and the school's open ledger and records the tenant's
audit-chain head; afterwards nothing of the inspection changes (a correction is an amendment).
"""
from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from hazardhub import clock
from hazardhub.audit import chain_head, tx_meta
from hazardhub.citywide.witness import record_head
from hazardhub.db import listen_once
from hazardhub.errors import DomainError
from hazardhub.extensions import commit_or_raise, flush_or_raise
from hazardhub.extensions import db
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import CATEGORIES
from hazardhub.hazards.models import OPEN_STATUSES, Hazard
from hazardhub.inspections.models import (
    HAZARD_SOURCE, KINDS, LIFECYCLE, RESULTS, SEED_AREA_CHECKS, Inspection, InspectionItem, LeaderAssignment, SignOff,
)
from hazardhub.orgs.models import OrgUnit
from hazardhub.standards import operations as catalogue
from hazardhub.tenancy import is_assigned_leader


class InspectionError(DomainError):
    """A rule of the inspections was broken; the message is shown to the user (Chinese)."""


class FrozenInspection(InspectionError):
    """A signed inspection cannot change."""


def _applies(tags: list[str], unit: OrgUnit) -> bool:
    """Scope tags → school types: a kindergarten item only at kindergartens, and so on."""
    if not tags:
        return True
    for tag in tags:
        if tag == "幼儿园" and unit.school_type == "幼儿园":
            return True
        if tag == "宿舍" and (unit.is_boarding or unit.school_type == "幼儿园"):
            return True
        if tag == "实验室" and unit.school_type in ("初中", "高中", "九年一贯制", "职业学校"):
            return True
        if tag not in ("幼儿园", "宿舍", "实验室"):
            return True
    return False


def checklist_for(unit: OrgUnit) -> list[dict[str, Any]]:
    """The lines of a new checklist for ``unit``: catalogue items that apply, then the four areas."""
    lines = []
    for item in catalogue.items_for(unit.tenant_id):
        if item.group.kind == "pending" or not _applies(item.tag_list, unit):
            continue
        lines.append({"item_id": item.id, "area": item.group.domain, "number": item.number, "text": item.text,
                      "group_kind": item.group.kind})
    for n, (area, text) in enumerate(SEED_AREA_CHECKS, start=1):
        lines.append({"item_id": None, "area": area, "number": f"区域-{n}", "text": text, "group_kind": None})
    return lines


def is_assigned(leader_id: int, unit: OrgUnit) -> bool:
    """Is the leader assigned (分包) this school or a unit above it? (The query is
    :func:`hazardhub.tenancy.is_assigned_leader`, which policy asks too.)"""
    return is_assigned_leader(leader_id, unit)


def start(*, unit: OrgUnit, kind: str, actor, inspected_on: date, inspectors: str, agencies: str | None = None,
          amends: Inspection | None = None) -> Inspection:
    """Open a draft inspection with its checklist (copied from ``amends`` for a correction)."""
    if kind not in KINDS:
        raise InspectionError("检查类型无效。")
    if not unit.is_school:
        raise InspectionError("只能检查学校或幼儿园。")
    if inspected_on > clock.today():
        raise InspectionError("检查日期不能晚于今天。")
    if kind == "joint" and not (agencies or "").strip():
        raise InspectionError("联合检查须填写参加的部门（消防、公安、交通等）。")
    inspection = Inspection(tenant_id=unit.tenant_id, kind=kind, unit_id=unit.id, unit_path=unit.path,
                            month=amends.month if amends else clock.month_of(inspected_on), inspected_on=inspected_on,
                            recorded_by_id=actor.id, inspectors=inspectors.strip(),
                            agencies=(agencies or "").strip() or None, status="draft",
                            amends_id=amends.id if amends else None)
    db.session.add(inspection)
    db.session.flush()
    if amends is not None:
        for old in lines_of(amends):
            db.session.add(InspectionItem(tenant_id=unit.tenant_id, inspection_id=inspection.id, item_id=old.item_id,
                                          area=old.area, number=old.number, text=old.text, group_kind=old.group_kind,
                                          result=old.result, note=old.note, hazard_id=old.hazard_id, sort=old.sort))
    else:
        for sort, line in enumerate(checklist_for(unit), start=1):
            db.session.add(InspectionItem(tenant_id=unit.tenant_id, inspection_id=inspection.id, sort=sort, **line))
    tx_meta(reason=("更正已签字的检查" if amends else f"开始{KINDS[kind]}"))
    commit_or_raise(InspectionError("该检查已被他人修改，请刷新。"), InspectionError("数据冲突，操作未生效。"))
    return inspection


def lines_of(inspection: Inspection) -> list[InspectionItem]:
    return list(db.session.execute(
        sa.select(InspectionItem).where(InspectionItem.inspection_id == inspection.id)
        .order_by(InspectionItem.sort, InspectionItem.id)).scalars())


def _not_frozen(inspection: Inspection) -> None:
    """The checklist changes (and is finished) only in the states ``finish`` leaves: not signed."""
    LIFECYCLE.check(inspection, "finish", FrozenInspection)


def record_results(inspection: Inspection, *, actor, results: dict[int, tuple[str, str | None]],
                   findings: dict[int, tuple[str, str]], version_id: int) -> list[Hazard]:
    """Save the checklist. Every newly failed line needs a location and a description and becomes
    a hazard of the ledger, linked to this inspection (its citation makes it major where it should)."""
    _not_frozen(inspection)
    if inspection.version_id != version_id:
        raise InspectionError("该检查已被他人修改，请刷新页面后重新填写。")
    lines = {line.id: line for line in lines_of(inspection)}
    unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == inspection.unit_id)).scalar_one()
    created = []
    for line_id, (result, note) in results.items():
        line = lines.get(line_id)
        if line is None or result not in RESULTS:
            raise InspectionError("检查表已变化，请刷新页面后重新填写。")
        if line.hazard_id is not None and result != "fail":
            raise InspectionError(f"{line.number} 已登记为隐患，不能改为其他结果；如登记有误请在台账中作废。")
        line.result = result
        line.note = (note or "").strip()[:500] or None
        if result == "fail" and line.hazard_id is None:
            location, description = findings.get(line_id, ("", ""))
            if not location.strip() or not description.strip():
                raise InspectionError(f"{line.number} 不合格：请填写隐患部位和隐患描述。")
            category = line.area if line.area in hazard_ops_categories() else "其他"
            hazard = hazard_ops.build_registration(
                school=unit, actor=actor, item_ids=[line.item_id] if line.item_id else [], level="general",
                require_plan=False, inspection_id=inspection.id,
                data={"found_on": inspection.inspected_on, "found_by_name": inspection.inspectors[:60],
                      "source": HAZARD_SOURCE[inspection.kind], "category": category,
                      "location": location.strip()[:200], "description": description.strip()[:4000]})
            line.hazard_id = hazard.id
            created.append(hazard)
    flag_modified(inspection, "inspectors")  # the lines changed: the inspection's version moves too
    flush_or_raise(InspectionError("该检查已被他人修改，请刷新。"), InspectionError("数据冲突，操作未生效。"))
    tx_meta(reason="填写检查表" + (f"，发现隐患 {len(created)} 项" if created else ""))
    commit_or_raise(InspectionError("该检查已被他人修改，请刷新。"), InspectionError("数据冲突，操作未生效。"))
    return created


def hazard_ops_categories() -> list[str]:
    return CATEGORIES


def finish(inspection: Inspection, *, actor, summary: str, version_id: int) -> None:
    """Close the checklist: every line checked; the record becomes visible to the school."""
    _not_frozen(inspection)
    if inspection.version_id != version_id:
        raise InspectionError("该检查已被他人修改，请刷新页面。")
    unchecked = [line.number for line in lines_of(inspection) if line.result == "unchecked"]
    if unchecked:
        raise InspectionError(f"还有 {len(unchecked)} 项未检查（如 {unchecked[0]}），请逐项填写后再完成。")
    inspection.summary = summary.strip() or None
    LIFECYCLE.move(inspection, "finish", FrozenInspection)
    tx_meta(reason="完成检查")
    commit_or_raise(InspectionError("该检查已被他人修改，请刷新。"), InspectionError("数据冲突，操作未生效。"))


def snapshot(inspection: Inspection) -> dict[str, Any]:
    """What the principal signs: the inspection, every line, and the school's open ledger."""
    lines = lines_of(inspection)
    open_hazards = db.session.execute(
        sa.select(Hazard.number, Hazard.status, Hazard.level, Hazard.deadline)
        .where(Hazard.school_id == inspection.unit_id, Hazard.status.in_(OPEN_STATUSES))
        .order_by(Hazard.number)).all()
    return {
        "inspection": {"id": inspection.id, "kind": inspection.kind, "unit_id": inspection.unit_id,
                       "month": inspection.month, "inspected_on": inspection.inspected_on.isoformat(),
                       "inspectors": inspection.inspectors, "summary": inspection.summary or "",
                       "amends_id": inspection.amends_id},
        "lines": [{"number": line.number, "text": line.text, "result": line.result, "note": line.note or "",
                   "hazard_id": line.hazard_id} for line in lines],
        "open_ledger": [{"number": n, "status": s, "level": lv, "deadline": d.isoformat() if d else None}
                        for n, s, lv, d in open_hazards],
    }


def canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def sign(inspection: Inspection, *, actor, password: str, version_id: int, signed_at=None) -> SignOff:
    """The principal's signature (password re-entered): freezes the inspection.

    :param signed_at: naive UTC; only the demo seeder back-dates signatures of past months.
    """
    if inspection.kind != "self":
        raise InspectionError("只有校长带队的月度自查需要签字。")
    LIFECYCLE.check(inspection, "sign", {"signed": FrozenInspection, "*": InspectionError})
    if inspection.version_id != version_id:
        raise InspectionError("该检查已被他人修改，请刷新页面后重新确认。")
    if not actor.check_password(password or ""):
        raise InspectionError("密码不正确，未签字。")
    data = snapshot(inspection)
    text = canonical(data)
    seq, head = chain_head(inspection.tenant_id)
    now = signed_at or clock.utcnow()
    signed_local = clock.local_date(now)
    lines = data["lines"]
    signoff = SignOff(tenant_id=inspection.tenant_id, inspection_id=inspection.id, signed_by_id=actor.id,
                      signed_at=now, snapshot=text, snapshot_sha256=hashlib.sha256(text.encode()).hexdigest(),
                      chain_head=f"{seq}:{head}",
                      items_checked=sum(1 for line in lines if line["result"] != "unchecked"),
                      items_failed=sum(1 for line in lines if line["result"] == "fail"),
                      open_hazards=len(data["open_ledger"]), is_late=signed_local > clock.month_end(inspection.month))
    db.session.add(signoff)
    LIFECYCLE.move(inspection, "sign", InspectionError)
    tx_meta(reason=f"校长签字：{inspection.month} 月度自查")
    commit_or_raise(InspectionError("该检查已被他人修改，请刷新。"), InspectionError("该检查已签字。"))
    # the city witnesses the head this signature carries
    record_head(signoff.tenant_id, signoff.chain_head, source_kind="signoff", source_id=signoff.id)
    return signoff


def verify_signoff(signoff: SignOff, inspection: Inspection) -> dict[str, bool]:
    """Does the stored hash match the stored snapshot, and the inspection still match it?"""
    stored = json.loads(signoff.snapshot)
    current = snapshot(inspection)
    return {
        "hash_ok": hashlib.sha256(signoff.snapshot.encode()).hexdigest() == signoff.snapshot_sha256,
        "inspection_matches": stored["inspection"] == current["inspection"] and stored["lines"] == current["lines"],
        "ledger_unchanged": stored["open_ledger"] == current["open_ledger"],
    }


def assign_leader(*, leader, unit: OrgUnit, actor) -> LeaderAssignment:
    existing = db.session.execute(
        sa.select(LeaderAssignment).where(LeaderAssignment.leader_id == leader.id, LeaderAssignment.unit_id == unit.id)
    ).scalar_one_or_none()
    if existing is not None and existing.is_active:
        raise InspectionError("该领导已分包此单位。")
    if existing is None:
        existing = LeaderAssignment(tenant_id=unit.tenant_id, leader_id=leader.id, unit_id=unit.id)
        db.session.add(existing)
    existing.is_active = True
    tx_meta(reason=f"分包：{leader.display_name} → {unit.name}")
    commit_or_raise(InspectionError("请刷新后重试。"), InspectionError("数据冲突，操作未生效。"))
    return existing


def end_assignment(assignment: LeaderAssignment, *, actor) -> None:
    assignment.is_active = False
    tx_meta(reason="取消分包")
    commit_or_raise(InspectionError("请刷新后重试。"), InspectionError("数据冲突，操作未生效。"))


def _signed_inspections_are_frozen(session, flush_context, instances) -> None:
    """The floor under ``_not_frozen``: no flush may change a signed inspection or its lines."""
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, Inspection):
            history = sa.inspect(obj).attrs.status.history
            was = history.deleted[0] if history.deleted else obj.status
            if was == "signed" and session.is_modified(obj):
                raise FrozenInspection("该检查已签字，不能再修改。")
        elif isinstance(obj, InspectionItem) and session.is_modified(obj):
            parent = session.get(Inspection, obj.inspection_id)
            if parent is not None and parent.status == "signed":
                raise FrozenInspection("该检查已签字，检查表不能再修改。")


def install_frozen_guard() -> None:
    """Install the guard that refuses any flush changing a signed inspection or its lines.

    Called from ``hazardhub.create_app`` in its documented order; idempotent."""
    listen_once(Session, "before_flush", _signed_inspections_are_frozen)
