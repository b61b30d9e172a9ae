"""State changes and queries on the unit tree.

Views authorise; these functions change ORM objects (never bulk statements: Continuum must see
every change) and commit once per user action, so one action is one audited transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hazardhub.audit import tx_meta
from hazardhub.channels.links import Target, to
from hazardhub.errors import DomainError
from hazardhub.extensions import commit_or_raise
from hazardhub.extensions import db
from hazardhub.orgs.models import OrgUnit
from hazardhub.orgs.unit_rows import UnitRow, order_by_parents
from hazardhub.policy import can
from hazardhub.tenancy import district_ids, is_city_user

#: fields a unit form or an import row may set
EDITABLE_FIELDS = (
    "name", "school_type", "ownership", "is_boarding", "enrolment", "staff_count",
    "address", "contact_name", "contact_phone",
)


class UnitError(DomainError):
    """A rule of the unit tree was broken; the message is shown to the user (Chinese)."""


class StaleUnit(UnitError):
    """Someone else saved the unit first (optimistic lock)."""


class OutOfReach(DomainError):
    """The user reaches no unit at all, so there is nothing they may read.

    A permission signal, not a form's refusal: the app answers it with its 403 page
    (:func:`hazardhub.web.init_web`), the same status and page as before, so an operation needs
    no web code to refuse.
    """

    def __init__(self, message: str = "您的角色无权查看或执行此操作。") -> None:
        super().__init__(message)


def subtree_query(root: OrgUnit, *, include_root: bool = True) -> sa.Select:
    """SELECT of the units under ``root`` (scoped to the bound tenant by the ORM hook)."""
    stmt = sa.select(OrgUnit).where(OrgUnit.path.startswith(root.path, autoescape=True))
    if not include_root:
        stmt = stmt.where(OrgUnit.id != root.id)
    return stmt


def root_unit(tenant_id: int) -> OrgUnit | None:
    return db.session.execute(
        sa.select(OrgUnit).where(OrgUnit.tenant_id == tenant_id, OrgUnit.parent_id.is_(None))
    ).scalar_one_or_none()


def user_roots(user) -> list[OrgUnit]:
    """The top units the user reaches (one per membership, nested ones dropped)."""
    units = sorted({m.unit.id: m.unit for m in user.active_memberships}.values(), key=lambda u: u.path)
    roots: list[OrgUnit] = []
    for unit in units:
        if not any(unit.path.startswith(r.path) and unit.tenant_id == r.tenant_id for r in roots):
            roots.append(unit)
    return roots


def reading_roots(user) -> list[OrgUnit]:
    """The roots whose subtrees the user reads: their own, plus each district's bureau for a city
    role (the city reads its districts; policy still refuses every write there)."""
    roots = user_roots(user)
    if is_city_user(user):
        districts = district_ids(user.tenant_id)
        if districts:
            roots += list(db.session.execute(
                sa.select(OrgUnit).where(OrgUnit.tenant_id.in_(districts), OrgUnit.parent_id.is_(None))
                .order_by(OrgUnit.tenant_id)).scalars())
    return roots


def reading_roots_or_403(user) -> list[OrgUnit]:
    """:func:`reading_roots` for a view: a user who reaches no unit at all raises
    :class:`OutOfReach`, which the app answers with 403."""
    roots = reading_roots(user)
    if not roots:
        raise OutOfReach()
    return roots


def _set_path(unit: OrgUnit, parent: OrgUnit | None) -> None:
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    unit.depth = (parent.depth + 1) if parent else 0


def _assign(unit: OrgUnit, values: dict[str, Any]) -> bool:
    changed = False
    for key in EDITABLE_FIELDS:
        if key in values and getattr(unit, key) != values[key]:
            setattr(unit, key, values[key])
            changed = True
    return changed


def create_unit(parent: OrgUnit | None, *, code: str, name: str, kind: str, tenant_id: int | None = None,
                is_demo: bool = False, commit: bool = True, **values: Any) -> OrgUnit:
    """Create a unit under ``parent`` (``None``: the tenant's root bureau)."""
    if parent is not None and parent.is_school and kind != "school":
        raise UnitError("学校下面不能再设乡镇或局属单位。")
    unit = OrgUnit(
        tenant_id=parent.tenant_id if parent is not None else tenant_id,
        parent_id=parent.id if parent is not None else None,
        code=code, name=name, kind=kind, is_demo=is_demo, path="",
    )
    _assign(unit, values)
    db.session.add(unit)
    db.session.flush()
    _set_path(unit, parent)
    if commit:
        tx_meta(reason=f"新建单位：{name}")
        _commit()
    return unit


def update_unit(unit: OrgUnit, values: dict[str, Any], *, version_id: int, reason: str | None = None) -> bool:
    """Edit a unit's attributes; returns whether anything changed."""
    if unit.version_id != version_id:
        raise StaleUnit("该单位已被他人修改，请刷新页面后重新编辑。")
    changed = _assign(unit, values)
    if changed:
        tx_meta(reason=reason or "修改单位信息")
        _commit()
    return changed


def move_unit(unit: OrgUnit, new_parent: OrgUnit) -> None:
    """Re-parent ``unit``; every descendant's path is rewritten object by object (versioned)."""
    if new_parent.path.startswith(unit.path):
        raise UnitError("不能把单位移到它自己的下级单位下面。")
    old_prefix = unit.path
    descendants = db.session.execute(subtree_query(unit, include_root=False)).scalars().all()
    unit.parent_id = new_parent.id
    _set_path(unit, new_parent)
    for d in descendants:
        d.path = unit.path + d.path[len(old_prefix):]
        d.depth = d.path.count("/") - 2


def set_active(unit: OrgUnit, active: bool, *, version_id: int, reason: str) -> None:
    if unit.version_id != version_id:
        raise StaleUnit("该单位已被他人修改，请刷新页面后重新操作。")
    if unit.parent_id is None:
        raise UnitError("教育局本级单位不能停用。")
    unit.is_active = active
    tx_meta(reason=reason)
    _commit()


@dataclass
class ApplyResult:
    created: list[str]
    updated: list[str]
    errors: list[tuple[int, str]]

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


def apply_unit_rows(rows: list[UnitRow], scope_root: OrgUnit, *, is_demo: bool = False,
                    reason: str = "导入单位", commit: bool = True,
                    update_existing: bool = True) -> ApplyResult:
    """Create or update units from checked rows, all or nothing.

    Parents must be ``scope_root`` or below it (an import never reaches outside the importer's
    subtree); existing codes are updated in place, new codes created; nothing is ever deleted.
    """
    existing = {u.code: u for u in db.session.execute(subtree_query(scope_root)).scalars()}
    all_codes = set(
        db.session.execute(sa.select(OrgUnit.code).where(OrgUnit.tenant_id == scope_root.tenant_id)).scalars()
    )
    errors: list[tuple[int, str]] = []
    kept: list[UnitRow] = []
    for row in rows:
        if row.code == scope_root.code:
            # an exported file starts with its root: skipped when unchanged, refused otherwise
            if not _is_unchanged_root(row, scope_root):
                errors.append((row.line, "不能修改导入范围的根单位本身。"))
            continue
        if row.kind == "bureau":
            errors.append((row.line, "教育局本级单位由系统创建，不能导入。"))
            continue
        if row.code in all_codes and row.code not in existing:
            errors.append((row.line, f"单位代码“{row.code}”已被管辖范围外的单位使用。"))
        kept.append(row)
    rows = kept
    ordered, parent_errors = order_by_parents(rows, set(existing))
    errors.extend(parent_errors)
    if errors:
        return ApplyResult([], [], sorted(errors))
    created, updated = [], []
    try:
        for row in ordered:
            values = {k: getattr(row, k) for k in EDITABLE_FIELDS}
            parent = existing[row.parent_code]
            unit = existing.get(row.code)
            if unit is None:
                if parent.is_school:
                    errors.append((row.line, f"上级单位“{parent.name}”是学校，不能再设下级单位。"))
                    continue
                unit = create_unit(parent, code=row.code, kind=row.kind,
                                   is_demo=is_demo, commit=False, **values)
                existing[row.code] = unit
                created.append(row.code)
                continue
            if not update_existing:
                continue
            changed = _assign(unit, values)
            if unit.kind != row.kind:
                unit.kind = row.kind
                changed = True
            if unit.parent_id != parent.id:
                move_unit(unit, parent)
                changed = True
            if changed:
                updated.append(row.code)
        if errors:
            db.session.rollback()
            return ApplyResult([], [], errors)
        if created or updated:
            tx_meta(reason=f"{reason}：新增 {len(created)}，更新 {len(updated)}")
            if commit:
                _commit()
    except Exception:
        db.session.rollback()
        raise
    return ApplyResult(created, updated, [])


def _is_unchanged_root(row: UnitRow, root: OrgUnit) -> bool:
    """Does ``row`` describe ``root`` exactly as it is (same parent, name, kind and fields)?"""
    parent_code = ""
    if root.parent_id is not None:
        parent_code = db.session.execute(sa.select(OrgUnit.code).where(OrgUnit.id == root.parent_id)).scalar_one()
    return (
        row.parent_code == parent_code
        and row.name == root.name
        and row.kind == root.kind
        and all(getattr(row, k) == getattr(root, k) for k in EDITABLE_FIELDS)
    )


@dataclass(frozen=True)
class HomeCard:
    """One tile of the home page: what it is and the page it opens (the page builds the link)."""

    title: str
    text: str
    target: Target


def home_cards(user) -> list[HomeCard]:
    """The home page's tiles, by what the user's roles allow, in the order shown."""
    cards = []
    if can(user, "citywide.view"):
        cards.append({"title": "各县（市、区）对比", "text": "按月、按专项行动阶段比较各县区的自查签字、检查覆盖、学习、隐患发现与整改（折算比率），趋势图、导出与审计链核验",
                      "target": to("citywide.index")})
        cards.append({"title": "专项行动各县区进展", "text": "市局发布的专项行动：各县区是否采用、各阶段材料报送与审核情况",
                      "target": to("citywide.campaigns")})
    for unit in user_roots(user):
        cards.append({
            "title": unit.name,
            "text": f"{unit.kind_label}：" + ("查看本校信息与人员" if unit.is_school else "查看单位与下属学校"),
            "target": to("orgs.show", unit_id=unit.id),
        })
    if can(user, "hazard.view"):
        cards.insert(0, {"title": "隐患排查治理台账", "text": "登记、整改、验收销号；按单位、状态、等级筛选，导出 Excel",
                         "target": to("hazards.index")})
    if can(user, "hazard.create"):
        cards.insert(1, {"title": "登记隐患", "text": "排查发现的隐患入账；引用判定条目自动判定重大隐患",
                         "target": to("hazards.create")})
    if can(user, "hazard.listed"):
        cards.insert(2, {"title": "重大隐患挂牌督办", "text": "未销号的重大事故隐患清单，逾期标红",
                         "target": to("hazards.listed")})
    if can(user, "directive.view"):
        cards.insert(min(3, len(cards)), {
            "title": "整改指令",
            "text": "下达整改通知书，跟踪签收、整改和延期申请，验收或退回；逾期与升级督办" if can(user, "directive.issue")
            else "本校收到的整改通知书：签收回执、报告整改并附照片、申请延期" if can(user, "directive.respond")
            else "各校整改通知书的签收、整改、验收情况与升级督办（只读）",
            "target": to("directives.index")})
    if can(user, "publicreport.view"):
        cards.insert(min(4, len(cards)), {
            "title": "随手拍", "text": "群众扫码反映的隐患：登记为隐患或说明原因；二维码与海报" if can(user, "publicreport.triage")
            else "各校随手拍反映数量、待处理与超期情况、处理用时", "target": to("publicreports.index")})
    if can(user, "learning.view"):
        cards.append({"title": "三学学习记录", "text": "监管人员、学校主要负责人、全体教职工每月学习的登记与按月落实情况",
                      "target": to("learning.index")})
    if can(user, "inspection.start"):
        cards.insert(3 if len(cards) >= 3 else len(cards), {
            "title": "检查（三查）", "text": "校长带队月度自查并签字、乡镇检查、分包领导暗访暗查",
            "target": to("inspections.index")})
    elif can(user, "inspection.view"):
        cards.append({"title": "检查记录", "text": "各校月度自查、乡镇检查、暗访暗查记录（只读）",
                      "target": to("inspections.index")})
    if can(user, "compliance.view"):
        cards.append({"title": "三学三查落实情况", "text": "按月查看各校自查签字、乡镇检查、暗访和学习，红黄绿标示",
                      "target": to("compliance.index")})
    if can(user, "campaign.view"):
        cards.append({"title": "专项行动", "text": "动员部署、学习排查、总结验收；实施方案、总结报告的报送与审核",
                      "target": to("campaigns.index")})
    if can(user, "accountability.view"):
        cards.append({"title": "追责线索", "text": "重大隐患自查未发现、整改逾期或多次验收不合格、月度检查和专项材料缺失或逾期；处理意见留痕",
                      "target": to("accountability.index")})
    cards.append({"title": "通知", "text": "每日生成的待办提醒：自查、签字、检查、暗访、报送材料，逾期与升级督办",
                  "target": to("notifications.index")})
    if can(user, "report.view"):
        cards.append({"title": "专项行动阶段报告", "text": "按阶段和范围生成 PDF 报告：三学三查、签字、隐患整改率、挂牌督办、图表和报送材料附录",
                      "target": to("reports.index")})
    if can(user, "user.view"):
        cards.append({"title": "账号与角色", "text": "管理本级及下属单位的账号、角色和密码重置",
                      "target": to("accounts.users")})
    if can(user, "unit.import"):
        cards.append({"title": "导入单位", "text": "从 Excel 或 CSV 批量导入、更新学校", "target": to("orgs.import_units")})
    if can(user, "unit.export"):
        cards.append({"title": "导出与生成任务", "text": "单位名录导出等后台任务的进度与下载",
                      "target": to("runs.index")})
    if can(user, "audit.view"):
        cards.append({"title": "审计链", "text": "本局变更记录的防篡改校验", "target": to("auditlog.chain")})
    if can(user, "tenant.view"):
        if is_city_user(user):
            cards.append({"title": "所辖县（市、区）", "text": "查看各县区教育局的单位与账号（只读）",
                          "target": to("orgs.districts")})
    cards.append({"title": "判定标准目录", "text": "《教育系统重大事故隐患判定指南》等判定条目与阈值",
                  "target": to("standards.index")})
    cards.append({"title": "修改密码", "text": "定期修改登录密码", "target": to("accounts.change_password")})
    return [HomeCard(**card) for card in cards]


def _commit() -> None:
    commit_or_raise(StaleUnit("该单位已被他人修改，请刷新页面后重新编辑。"),
                    UnitError("单位代码重复或上级单位无效，操作未生效。"))
