"""The catalogue: who reads which standards, loading the shipped data, and versioned edits.

This module is the one place that filters catalogue rows (see ``standards.models``): a tenant
reads the standards it owns and those of its parent city.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import sqlalchemy as sa

from hazardhub.audit import tx_meta
from hazardhub.extensions import db
from hazardhub.orgs.models import Tenant
from hazardhub.standards.models import GROUP_KINDS, RuleGroup, Standard, StandardItem
from hazardhub.errors import DomainError

DATA = Path(__file__).parent / "data"


class CatalogueError(DomainError):
    """A catalogue rule was broken; the message is shown to the user (Chinese)."""


def visible_tenant_ids(tenant_id: int) -> list[int]:
    """The tenant itself and, for a district, its city (whose catalogue it uses)."""
    parent = db.session.execute(sa.select(Tenant.parent_id).where(Tenant.id == tenant_id)).scalar()
    return [tenant_id] + ([parent] if parent else [])


def readable_tenant_ids(scope_ids) -> list[int]:
    ids: set[int] = set()
    for tid in scope_ids:
        ids.update(visible_tenant_ids(tid))
    return sorted(ids)


def standards_for(tenant_id: int) -> list[Standard]:
    return list(
        db.session.execute(
            sa.select(Standard)
            .where(Standard.tenant_id.in_(visible_tenant_ids(tenant_id)), Standard.is_active.is_(True))
            .order_by(Standard.is_local, Standard.id)
        ).scalars()
    )


def items_for(tenant_id: int, *, active_only: bool = True) -> list[StandardItem]:
    """Every citable item a tenant's hazards may cite, catalogue order."""
    stmt = (
        sa.select(StandardItem)
        .join(RuleGroup, RuleGroup.id == StandardItem.group_id)
        .join(Standard, Standard.id == RuleGroup.standard_id)
        .where(StandardItem.tenant_id.in_(visible_tenant_ids(tenant_id)), Standard.is_active.is_(True))
        .order_by(Standard.is_local, Standard.id, RuleGroup.sort, StandardItem.sort, StandardItem.id)
    )
    if active_only:
        stmt = stmt.where(StandardItem.is_active.is_(True))
    return list(db.session.execute(stmt).scalars())


def load_item(tenant_id: int, item_id: int) -> StandardItem | None:
    return db.session.execute(
        sa.select(StandardItem).where(
            StandardItem.id == item_id, StandardItem.tenant_id.in_(visible_tenant_ids(tenant_id))
        )
    ).scalar_one_or_none()


def load_shipped(tenant_id: int, log=print) -> int:
    """Load every shipped standard into a city tenant; idempotent (matched by codes).

    Texts of shipped items are refreshed only while nobody edited them locally (an item whose
    ``source_status`` is ``local`` belongs to the city now). Returns the number of rows created.
    """
    created = 0
    for path in sorted(DATA.glob("*.toml")):
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
        standard = db.session.execute(
            sa.select(Standard).where(Standard.tenant_id == tenant_id, Standard.code == spec["code"])
        ).scalar_one_or_none()
        if standard is None:
            standard = Standard(tenant_id=tenant_id, code=spec["code"], title=spec["title"],
                                doc_number=spec.get("doc_number") or None, issuer=spec.get("issuer"),
                                issued_on=spec.get("issued_on"), note=spec.get("note"))
            db.session.add(standard)
            db.session.flush()
            created += 1
            log(f"  载入标准：{spec['title']}")
        for g_sort, group_spec in enumerate(spec.get("groups", []), start=1):
            group = db.session.execute(
                sa.select(RuleGroup).where(RuleGroup.standard_id == standard.id, RuleGroup.code == group_spec["code"])
            ).scalar_one_or_none()
            if group is None:
                group = RuleGroup(tenant_id=tenant_id, standard_id=standard.id, code=group_spec["code"],
                                  article_no=group_spec["article_no"], article_title=group_spec["article_title"],
                                  domain=group_spec["domain"], label=group_spec["label"], kind=group_spec["kind"],
                                  threshold=group_spec.get("threshold"), note=group_spec.get("note"),
                                  source_status=group_spec.get("status", "confirmed"), sort=g_sort)
                db.session.add(group)
                db.session.flush()
                created += 1
            for i_sort, item_spec in enumerate(group_spec.get("items", []), start=1):
                exists = db.session.execute(
                    sa.select(StandardItem.id).where(StandardItem.group_id == group.id,
                                                     StandardItem.number == item_spec["number"])
                ).first()
                if exists is None:
                    db.session.add(StandardItem(tenant_id=tenant_id, group_id=group.id, number=item_spec["number"],
                                                text=item_spec["text"], tags=",".join(item_spec.get("tags", [])),
                                                source_status=group_spec.get("status", "confirmed")
                                                if group_spec.get("status") != "partial" else "confirmed",
                                                sort=i_sort))
                    created += 1
    if created:
        tx_meta(reason="载入内置标准目录")
    return created


def update_group(group: RuleGroup, *, kind: str, threshold: int | None, window_days: int, note: str | None,
                 version_id: int, reason: str) -> bool:
    if group.version_id != version_id:
        raise CatalogueError("该条款已被他人修改，请刷新后重试。")
    if kind not in GROUP_KINDS:
        raise CatalogueError("判定方式无效。")
    if kind != "composite":
        threshold = None
    if kind == "composite" and threshold is not None and threshold < 1:
        raise CatalogueError("综合判定阈值至少为 1 项。")
    changed = False
    for key, value in (("kind", kind), ("threshold", threshold), ("window_days", window_days), ("note", note)):
        if getattr(group, key) != value:
            setattr(group, key, value)
            changed = True
    if changed:
        tx_meta(reason=reason)
        db.session.commit()
    return changed


def add_item(group: RuleGroup, *, number: str, text: str, tags: str, reason: str) -> StandardItem:
    exists = db.session.execute(
        sa.select(StandardItem.id).where(StandardItem.group_id == group.id, StandardItem.number == number)
    ).first()
    if exists:
        raise CatalogueError(f"条目编号“{number}”在本款中已存在。")
    sort = (db.session.execute(sa.select(sa.func.max(StandardItem.sort)).where(StandardItem.group_id == group.id))
            .scalar() or 0) + 1
    item = StandardItem(tenant_id=group.tenant_id, group_id=group.id, number=number, text=text,
                        tags=tags, source_status="local", sort=sort)
    db.session.add(item)
    if group.source_status == "missing":
        group.source_status = "local"
    tx_meta(reason=reason)
    db.session.commit()
    return item


def update_item(item: StandardItem, *, text: str, tags: str, is_active: bool, version_id: int,
                reason: str) -> bool:
    """Edit an item. Hazards that cited it keep their snapshot of the old text and version."""
    if item.version_id != version_id:
        raise CatalogueError("该条目已被他人修改，请刷新后重试。")
    changed = False
    for key, value in (("text", text), ("tags", tags), ("is_active", is_active)):
        if getattr(item, key) != value:
            setattr(item, key, value)
            changed = True
    if changed:
        item.source_status = "local"
        tx_meta(reason=reason)
        db.session.commit()
    return changed


def create_overlay(tenant_id: int, *, code: str, title: str, issuer: str | None, note: str | None,
                   reason: str) -> Standard:
    """A local standard (e.g. the city's daily safety guide) with one group to add items to."""
    exists = db.session.execute(
        sa.select(Standard.id).where(Standard.tenant_id == tenant_id, Standard.code == code)
    ).first()
    if exists:
        raise CatalogueError(f"标准代码“{code}”已存在。")
    standard = Standard(tenant_id=tenant_id, code=code, title=title, issuer=issuer, note=note, is_local=True)
    db.session.add(standard)
    db.session.flush()
    db.session.add(RuleGroup(tenant_id=tenant_id, standard_id=standard.id, code="1", article_no="本地",
                             article_title=title, domain="其他", label="条目", kind="reference",
                             source_status="local", sort=1))
    tx_meta(reason=reason)
    db.session.commit()
    return standard


#: the rules that decide come first in a form that cites items
_GROUP_ORDER = {"direct": 0, "composite": 1, "pending": 2, "reference": 3}


def citable_groups(tenant_id: int, school=None) -> list[tuple[RuleGroup, str, list[StandardItem]]]:
    """Citable items grouped for a form that registers a hazard: [(group, standard title, [items])].

    One list for every form that cites (登记隐患, editing a hazard, 随手拍 triage), so each shows the
    same catalogue in the same order. For a school that is not a kindergarten, items tagged only
    幼儿园 are left out.
    """
    grouped: dict[int, list[StandardItem]] = {}
    for item in items_for(tenant_id):
        if school is not None and school.school_type != "幼儿园" and item.tag_list == ["幼儿园"]:
            continue
        grouped.setdefault(item.group_id, []).append(item)
    standards = {s.id: s for s in standards_for(tenant_id)}
    result = []
    for group_items in grouped.values():
        group = group_items[0].group
        standard = standards.get(group.standard_id) or db.session.get(Standard, group.standard_id)
        result.append((group, standard.title if standard else "", group_items))
    return sorted(result, key=lambda g: _GROUP_ORDER.get(g[0].kind, 9))
