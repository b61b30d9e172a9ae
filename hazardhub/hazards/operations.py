"""Every state change of a hazard, in one place, each one audited transaction.

Views parse and authorise; these functions check the ledger's rules (plan complete for a major
hazard, the acceptor is not the rectifier, transitions in order), change ORM objects and commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy_continuum import version_class

from hazardhub import clock
from hazardhub.audit import tx_meta
from hazardhub.channels import events as channel_events
from hazardhub.directives.models import OPEN_STATUSES as DIRECTIVE_OPEN, Directive, DirectiveHazard
from hazardhub.errors import DomainError
from hazardhub.evidence import operations as evidence_ops, storage
from hazardhub.extensions import commit_or_raise, flush_or_raise
from hazardhub.extensions import db
from hazardhub.hazards.determination import determine
from hazardhub.hazards.models import HAZARD_LABELS, LIFECYCLE, OPEN_STATUSES, Hazard, HazardCitation, HazardCounter
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.standards import operations as catalogue
from hazardhub.standards.models import Standard
from hazardhub.workdays import add_working_days

#: fields a hazard form sets
FIELDS = (
    "found_on", "found_by_name", "source", "category", "location", "description",
    "responsible_person", "responsible_dept", "measures", "funds", "deadline", "deadline_working_days",
    "interim_controls", "contingency_plan",
)


class HazardError(DomainError):
    """A ledger rule was broken; the message is shown to the user (Chinese)."""


class StaleHazard(HazardError):
    """Someone saved the hazard after this form was loaded; ``changes`` says what they changed."""

    def __init__(self, message: str, changes: list[tuple[str, Any, Any]]):
        super().__init__(message)
        self.changes = changes


class PlanIncomplete(HazardError):
    def __init__(self, missing: list[str]):
        super().__init__("重大事故隐患必须落实“五落实”，尚缺：" + "、".join(missing) + "。")
        self.missing = missing


def _next_number(tenant_id: int, year: int) -> tuple[int, str]:
    """Take the next number for the tenant and year; the counter row lock serialises takers."""
    first, prefix = _reserve_numbers(tenant_id, year, 1)
    return first, f"{prefix}{first:06d}"


def _reserve_numbers(tenant_id: int, year: int, count: int) -> tuple[int, str]:
    """Take ``count`` consecutive numbers under one counter lock: (the first, the prefix)."""
    counter = db.session.execute(
        sa.select(HazardCounter).where(HazardCounter.tenant_id == tenant_id, HazardCounter.year == year)
        .with_for_update()
    ).scalar_one_or_none()
    if counter is None:
        try:
            with db.session.begin_nested():
                counter = HazardCounter(tenant_id=tenant_id, year=year, last=0)
                db.session.add(counter)
        except IntegrityError:
            counter = db.session.execute(
                sa.select(HazardCounter).where(HazardCounter.tenant_id == tenant_id, HazardCounter.year == year)
                .with_for_update()
            ).scalar_one()
    first = counter.last + 1
    counter.last += count
    short = db.session.execute(sa.select(Tenant.short_name).where(Tenant.id == tenant_id)).scalar_one()
    return first, f"{short}-{year}-"


def _items(tenant_id: int, item_ids: list[int]):
    items = []
    for item_id in dict.fromkeys(item_ids):
        item = catalogue.load_item(tenant_id, item_id)
        if item is None or not item.is_active:
            raise HazardError("引用的判定条目不存在或已停用，请刷新页面后重新选择。")
        items.append(item)
    return items


def _apply_fields(hazard: Hazard, data: dict[str, Any]) -> None:
    for key in FIELDS:
        if key in data:
            value = data[key]
            if isinstance(value, str):
                value = value.strip() or None
            setattr(hazard, key, value)
    if hazard.deadline_working_days:
        hazard.deadline = add_working_days(hazard.found_on, hazard.deadline_working_days)
    if hazard.found_on and hazard.found_on > clock.today():
        raise HazardError("排查日期不能晚于今天。")
    if hazard.deadline and hazard.found_on and hazard.deadline < hazard.found_on:
        raise HazardError("整改期限不能早于排查日期。")
    if hazard.funds is not None and hazard.funds < Decimal(0):
        raise HazardError("整改资金不能为负数。")


def _add_citation(hazard: Hazard, item, standards: dict) -> None:
    """A new citation with its snapshot of the item (``standards``: a cache by id)."""
    group = item.group
    standard = standards.get(group.standard_id) or db.session.execute(
        sa.select(Standard).where(Standard.id == group.standard_id)).scalar_one()
    standards[group.standard_id] = standard
    db.session.add(HazardCitation(
        tenant_id=hazard.tenant_id, hazard_id=hazard.id, item_id=item.id, group_id=group.id,
        item_number=item.number, item_text=item.text, item_version=item.version_id,
        group_kind=group.kind, group_label=f"{group.article_no}{group.label}",
        standard_title=standard.title,
    ))


def _sync_citations(hazard: Hazard, items) -> bool:
    """Make the hazard's active citations equal ``items``; snapshots are taken now."""
    existing = {c.item_id: c for c in db.session.execute(
        sa.select(HazardCitation).where(HazardCitation.hazard_id == hazard.id)).scalars()}
    wanted = {i.id: i for i in items}
    changed = False
    standards = {}
    for item_id, item in wanted.items():
        citation = existing.get(item_id)
        if citation is None:
            _add_citation(hazard, item, standards)
            changed = True
        elif not citation.is_active:
            citation.is_active = True
            changed = True
    for item_id, citation in existing.items():
        if item_id not in wanted and citation.is_active:
            citation.is_active = False
            changed = True
    return changed


def _decide(hazard: Hazard, items, manual_level: str) -> None:
    """Apply the determination; an approved downgrade holds until the citations change."""
    result = determine(hazard, items, manual_level)
    if hazard.downgrade_status == "approved" and result.level == "major":
        return
    hazard.level = result.level
    hazard.determination = result.determination
    hazard.determination_rule = result.rule
    hazard.is_listed = result.level == "major"
    for group, hazard_ids in result.composite_hits:
        for other in db.session.execute(sa.select(Hazard).where(Hazard.id.in_(hazard_ids))).scalars():
            if other.level != "major" and other.status in OPEN_STATUSES and other.downgrade_status != "approved":
                other.level = "major"
                other.determination = "composite"
                other.determination_rule = result.rule
                other.is_listed = True


def _require_plan(hazard: Hazard) -> None:
    if hazard.level == "major":
        missing = hazard.plan_missing()
        if missing:
            raise PlanIncomplete(missing)


#: photos one registration may carry (the phone's camera, taken on the spot)
MAX_PHOTOS = 9


def register(*, school: OrgUnit, actor, data: dict[str, Any], item_ids: list[int], level: str = "general",
             photos: list | None = None) -> Hazard:
    """Enter a new hazard in the ledger; citing a direct item makes it major on its own.

    ``photos`` (uploads) are stored as 整改前照片 through the evidence path in the same transaction:
    a refused photo refuses the registration (nothing is created, no file is left behind).
    """
    photos = [p for p in (photos or []) if p is not None and (getattr(p, "filename", "") or "").strip()]
    if len(photos) > MAX_PHOTOS:
        raise HazardError(f"登记时最多上传 {MAX_PHOTOS} 张照片。")
    stored = []
    try:
        hazard = build_registration(school=school, actor=actor, data=data, item_ids=item_ids, level=level)
        for n, upload in enumerate(photos, start=1):
            try:
                stored.append(evidence_ops.build_attachment(hazard, actor, upload, "before", caption="登记时拍摄")[1])
            except evidence_ops.FileRefused as exc:
                raise HazardError(f"第 {n} 张照片未通过检查：{exc}隐患未登记，请更换照片后重新提交。") from exc
        tx_meta(reason=f"登记隐患 {hazard.number}" + (f"（照片 {len(photos)} 张）" if photos else ""))
        commit()
    except BaseException:
        db.session.rollback()
        for s in stored:
            storage.remove(s)
        raise
    return hazard


def build_registration(*, school: OrgUnit, actor, data: dict[str, Any], item_ids: list[int],
                       level: str = "general", require_plan: bool = True, inspection_id: int | None = None) -> Hazard:
    """Everything :func:`register` does except the commit, so an import can register many rows
    in one transaction (all or nothing).

    :param require_plan: False for a finding recorded on an inspection checklist: the hazard is
        entered at once and its page demands the five plan fields before rectification starts.
    """
    (hazard,), errors = build_registrations(school=school, actor=actor, rows=[(data, item_ids, level, require_plan)],
                                            inspection_id=inspection_id)
    if errors:
        raise errors[0][1]
    return hazard


def build_registrations(*, school: OrgUnit, actor, rows: list[tuple[dict[str, Any], list[int], str, bool]],
                        inspection_id: int | None = None, finish: Callable[[int, Hazard], None] | None = None) -> tuple[list[Hazard | None], list[tuple[int, HazardError]]]:
    """:func:`build_registration` for many rows ((data, item ids, level, require plan) each) with
    ONE flush: items looked up once, numbers reserved under one counter lock per year, citations
    added after the flush. Why: flushing per row made Continuum walk the import's growing unit of
    work once per row (1,000 rows took 40 s). Returns the hazards (None for a refused row) and the
    refusals as (row index, error); the caller commits or rolls back. ``finish(index, hazard)`` runs
    before the flush (an import sets the ledger's state there, so nothing is flushed twice). A composite rule met only
    by rows of the same batch is not seen (each row is decided against the ledger as it was)."""
    if not school.is_active:
        raise HazardError("该单位已停用，不能登记隐患。")
    loaded: dict[int, Any] = {}
    built: list[tuple[Hazard, list]] = []
    hazards: list[Hazard | None] = []
    errors: list[tuple[int, HazardError]] = []
    with db.session.no_autoflush:
        for index, (data, item_ids, level, require_plan) in enumerate(rows):
            try:
                missing = [i for i in dict.fromkeys(item_ids) if i not in loaded]
                loaded.update(zip(missing, _items(school.tenant_id, missing)))
                items = [loaded[i] for i in dict.fromkeys(item_ids)]
                found_on = data.get("found_on") or clock.today()
                hazard = Hazard(tenant_id=school.tenant_id, school_id=school.id, school_path=school.path,
                                found_by_id=actor.id if actor else None, year=found_on.year, number="",
                                status="registered")
                _apply_fields(hazard, {**data, "found_on": found_on})
                hazard.found_by_name = hazard.found_by_name or (actor.display_name if actor else "")
                _decide(hazard, items, level)
                if require_plan:
                    _require_plan(hazard)
            except HazardError as exc:
                errors.append((index, exc))
                hazards.append(None)
                continue
            hazard.inspection_id = inspection_id
            if finish is not None:
                finish(index, hazard)
            built.append((hazard, items))
            hazards.append(hazard)
    if errors:
        return hazards, errors
    by_year: dict[int, list[Hazard]] = {}
    for hazard, _items_of in built:
        by_year.setdefault(hazard.year, []).append(hazard)
    for year, group in sorted(by_year.items()):
        first, prefix = _reserve_numbers(school.tenant_id, year, len(group))
        for offset, hazard in enumerate(group):
            hazard.number = f"{prefix}{first + offset:06d}"
    db.session.add_all([h for h, _i in built])
    db.session.flush()
    standards: dict = {}
    with db.session.no_autoflush:
        for hazard, items in built:
            for item in items:
                _add_citation(hazard, item, standards)
    for hazard, _items_of in built:
        channel_events.major_registered(hazard)  # a major hazard: the township and the bureau, at once
    return hazards, errors


def stale_changes(hazard: Hazard, loaded_version_id: int) -> list[tuple[str, Any, Any]]:
    """What changed between the version a form was loaded from and now (for the conflict page)."""
    vcls = version_class(Hazard)
    loaded = db.session.execute(
        sa.select(vcls).where(vcls.id == hazard.id, vcls.version_id == loaded_version_id)
        .order_by(vcls.transaction_id.desc()).limit(1)
    ).scalar_one_or_none()
    if loaded is None:
        return []
    changes = []
    for key, label in HAZARD_LABELS.items():
        if key in ("version_id", "updated_at"):
            continue
        old, new = getattr(loaded, key, None), getattr(hazard, key, None)
        if old != new:
            changes.append((label, old, new))
    return changes


def _check_version(hazard: Hazard, version_id: int) -> None:
    if hazard.version_id != version_id:
        raise StaleHazard("保存失败：您打开页面后，该隐患已被他人修改。请查看下列变化，刷新后重新填写。",
                          stale_changes(hazard, version_id))


def update(hazard: Hazard, *, actor, data: dict[str, Any], item_ids: list[int], level: str, version_id: int,
           reason: str | None = None) -> bool:
    """Edit the record and plan; re-determines the level when citations change."""
    if hazard.status in ("closed", "voided"):
        raise HazardError("已销号或已作废的隐患不能修改。")
    _check_version(hazard, version_id)
    items = _items(hazard.tenant_id, item_ids)
    with db.session.no_autoflush:  # the one flush below decides a concurrent save of this version
        _apply_fields(hazard, data)
        fields_changed = db.session.is_modified(hazard)
        citations_changed = _sync_citations(hazard, items)
        if citations_changed and hazard.downgrade_status == "approved":
            hazard.downgrade_status = None  # new citations: the approved downgrade no longer applies
    # the new citations count in composite groups; a concurrent save of the same version loses here
    flush_or_raise(HazardError("保存失败：该隐患已被他人修改，请刷新后重试。"),
                   HazardError("数据冲突，操作未生效，请刷新后重试。"))
    _decide(hazard, items, level)
    _require_plan(hazard)
    if not (fields_changed or citations_changed or db.session.is_modified(hazard)):
        db.session.rollback()
        return False
    tx_meta(reason=reason or "修改隐患信息")
    commit()
    return True


def open_directive(hazard: Hazard) -> Directive | None:
    """The open directive that lists the hazard: while it is open, the hazard is reported and
    accepted through it (one rectification, README "Supervision"), not on its own."""
    return db.session.execute(
        sa.select(Directive).join(DirectiveHazard, DirectiveHazard.directive_id == Directive.id)
        .where(DirectiveHazard.hazard_id == hazard.id, Directive.status.in_(DIRECTIVE_OPEN))
        .order_by(Directive.id).limit(1)
    ).scalar_one_or_none()


def _not_under_directive(hazard: Hazard) -> None:
    directive = open_directive(hazard)
    if directive is not None:
        raise HazardError(f"该隐患正由整改指令 {directive.number} 督办（{directive.status_label}）：整改情况在整改指令页面报告，"
                          "由签发单位验收后销号。")


def start_rectification(hazard: Hazard, *, actor, version_id: int) -> None:
    _check_version(hazard, version_id)
    LIFECYCLE.check(hazard, "start", HazardError)
    _require_plan(hazard)
    LIFECYCLE.move(hazard, "start", HazardError)
    tx_meta(reason="开始整改")
    commit()


def report_rectification(hazard: Hazard, *, actor, rectified_on: date, note: str, version_id: int) -> None:
    """The school reports the rectification done; acceptance by someone else follows."""
    _check_version(hazard, version_id)
    LIFECYCLE.check(hazard, "report", HazardError)
    _not_under_directive(hazard)
    _require_plan(hazard)
    if rectified_on > clock.today():
        raise HazardError("整改完成日期不能晚于今天。")
    if rectified_on < hazard.found_on:
        raise HazardError("整改完成日期不能早于排查日期。")
    LIFECYCLE.move(hazard, "report", HazardError)
    hazard.rectified_on = rectified_on
    hazard.rectification_note = note.strip()
    hazard.rectified_by_id = actor.id
    tx_meta(reason="报告整改完成，申请验收")
    commit()


def accept(hazard: Hazard, *, actor, accepted_on: date, note: str, version_id: int) -> None:
    """验收合格 → 销号. The acceptor must not be the person who reported the rectification."""
    _check_version(hazard, version_id)
    LIFECYCLE.check(hazard, "accept", HazardError)
    _not_under_directive(hazard)
    if hazard.rectified_by_id == actor.id:
        raise HazardError("报告整改的人不能验收自己的整改，请由其他人员验收。")
    if accepted_on > clock.today() or (hazard.rectified_on and accepted_on < hazard.rectified_on):
        raise HazardError("验收日期应在整改完成日期与今天之间。")
    LIFECYCLE.move(hazard, "accept", HazardError)
    hazard.accepted_by_id = actor.id
    hazard.accepted_on = accepted_on
    hazard.acceptance_note = note.strip()
    hazard.closed_on = accepted_on
    hazard.is_listed = False  # 销号 lifts the listed supervision (the history keeps that it was listed)
    tx_meta(reason="验收合格，销号")
    commit()


def reject(hazard: Hazard, *, actor, reason: str, version_id: int) -> None:
    """验收不合格: back to rectifying, with the reason; stays on the ledger (继续挂账)."""
    _check_version(hazard, version_id)
    LIFECYCLE.check(hazard, "reject", HazardError)
    _not_under_directive(hazard)
    if hazard.rectified_by_id == actor.id:
        raise HazardError("报告整改的人不能验收自己的整改。")
    LIFECYCLE.move(hazard, "reject", HazardError)
    hazard.reject_reason = reason.strip()
    tx_meta(reason=f"验收不通过：{reason.strip()}")
    commit()


def void(hazard: Hazard, *, actor, reason: str, version_id: int) -> None:
    """A wrong entry is voided with a reason; it stays in the ledger, marked 已作废."""
    _check_version(hazard, version_id)
    LIFECYCLE.move(hazard, "void", HazardError)
    hazard.void_reason = reason.strip()
    hazard.is_listed = False
    tx_meta(reason=f"作废：{reason.strip()}")
    commit()


def request_downgrade(hazard: Hazard, *, actor, reason: str, version_id: int) -> None:
    _check_version(hazard, version_id)
    if hazard.level != "major" or hazard.status not in OPEN_STATUSES:
        raise HazardError("只有未销号的重大隐患可以申请降级。")
    if hazard.downgrade_status == "pending":
        raise HazardError("已有待审批的降级申请。")
    hazard.downgrade_status = "pending"
    hazard.downgrade_reason = reason.strip()
    hazard.downgrade_requested_by_id = actor.id
    hazard.downgrade_decided_by_id = None
    hazard.downgrade_decision_note = None
    tx_meta(reason=f"申请降级为一般隐患：{reason.strip()}")
    commit()


def decide_downgrade(hazard: Hazard, *, actor, approve: bool, note: str, version_id: int) -> None:
    """Approval one level above (policy decides who); the requester cannot approve their own."""
    _check_version(hazard, version_id)
    if hazard.downgrade_status != "pending":
        raise HazardError("没有待审批的降级申请。")
    if hazard.downgrade_requested_by_id == actor.id:
        raise HazardError("申请人不能审批自己的降级申请。")
    hazard.downgrade_decided_by_id = actor.id
    hazard.downgrade_decision_note = note.strip()
    if approve:
        hazard.downgrade_status = "approved"
        hazard.level = "general"
        hazard.determination = "downgraded"
        hazard.is_listed = False
        hazard.determination_rule = f"经上级批准降为一般隐患。理由：{hazard.downgrade_reason}；审批意见：{note.strip()}"
        tx_meta(reason=f"批准降级：{note.strip()}")
    else:
        hazard.downgrade_status = "refused"
        tx_meta(reason=f"不同意降级：{note.strip()}")
    commit()


def commit() -> None:
    """Commit, turning a lost optimistic lock or a constraint into a Chinese HazardError."""
    commit_or_raise(HazardError("保存失败：该隐患已被他人修改，请刷新后重试。"),
                    HazardError("数据冲突，操作未生效，请刷新后重试。"))


@dataclass
class LedgerFilters:
    unit_id: int | None = None
    status: str | None = None
    level: str | None = None
    category: str | None = None
    source: str | None = None
    overdue: bool = False
    listed: bool = False
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None
    include_voided: bool = False


def ledger_query(roots: list[OrgUnit], filters: LedgerFilters, *, on: date | None = None) -> sa.Select:
    """Hazards under the user's root units, filtered (scoped to the bound tenants by the hooks)."""
    on = on or clock.today()
    stmt = sa.select(Hazard).where(sa.or_(*[
        (Hazard.tenant_id == r.tenant_id) & Hazard.school_path.startswith(r.path, autoescape=True) for r in roots
    ]))
    if filters.unit_id:
        unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == filters.unit_id)).scalar_one_or_none()
        if unit is not None:
            stmt = stmt.where(Hazard.school_path.startswith(unit.path, autoescape=True))
        else:
            stmt = stmt.where(sa.false())
    if filters.status == "overdue" or filters.overdue:
        stmt = stmt.where(Hazard.status.in_(OPEN_STATUSES), Hazard.deadline < on)
    elif filters.status == "open":
        stmt = stmt.where(Hazard.status.in_(OPEN_STATUSES))
    elif filters.status:
        stmt = stmt.where(Hazard.status == filters.status)
    elif not filters.include_voided:
        stmt = stmt.where(Hazard.status != "voided")
    if filters.level:
        stmt = stmt.where(Hazard.level == filters.level)
    if filters.listed:
        stmt = stmt.where(Hazard.is_listed.is_(True))
    if filters.category:
        stmt = stmt.where(Hazard.category == filters.category)
    if filters.source:
        stmt = stmt.where(Hazard.source == filters.source)
    if filters.date_from:
        stmt = stmt.where(Hazard.found_on >= filters.date_from)
    if filters.date_to:
        stmt = stmt.where(Hazard.found_on <= filters.date_to)
    if filters.q:
        like = filters.q
        stmt = stmt.where(sa.or_(Hazard.number.contains(like, autoescape=True),
                                 Hazard.location.contains(like, autoescape=True),
                                 Hazard.description.contains(like, autoescape=True)))
    return stmt
