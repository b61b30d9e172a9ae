"""Major-hazard determination from the cited catalogue items (domain-reference §7).

- A cited item of a ``direct`` group makes the hazard 重大 (any one item suffices).
- A ``composite`` group counts the distinct items of that group cited by the school's non-voided
  hazards within the group's window (``window_days`` up to the hazard's 排查日期); at the stored
  threshold the hazard is 重大. A group whose threshold is not set counts but never decides.
- Otherwise the level stays as the person set it (人工定级).
The result names the rule that fired, so the page can say why.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa

from hazardhub.extensions import db
from hazardhub.hazards.models import Hazard, HazardCitation
from hazardhub.standards.models import RuleGroup, Standard, StandardItem


@dataclass
class Determination:
    level: str
    determination: str
    rule: str
    #: composite groups reached, as (group, hazard ids that contributed)
    composite_hits: list[tuple[RuleGroup, list[int]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _group_title(group: RuleGroup, standard: Standard) -> str:
    return f"《{standard.title}》{group.article_no}{group.label}"


def determine(hazard: Hazard, items: list[StandardItem], manual_level: str) -> Determination:
    """Decide the level of ``hazard`` citing ``items`` (its own, not yet flushed citations)."""
    groups = {i.group_id: i.group for i in items}
    standards = {
        s.id: s
        for s in db.session.execute(
            sa.select(Standard).where(Standard.id.in_({g.standard_id for g in groups.values()}))
        ).scalars()
    } if groups else {}
    direct = [i for i in items if i.group.kind == "direct"]
    if direct:
        group = direct[0].group
        numbers = "、".join(i.number for i in direct)
        return Determination(
            "major", "direct",
            f"直接判定：{_group_title(group, standards[group.standard_id])}第 {numbers} 项，存在任意一条即判定为重大事故隐患。",
        )
    notes = []
    hits = []
    for group in {g.id: g for g in groups.values() if g.kind == "composite"}.values():
        own = {i.id for i in items if i.group_id == group.id}
        window_start = hazard.found_on - timedelta(days=group.window_days)
        others = db.session.execute(
            sa.select(HazardCitation.item_id, HazardCitation.hazard_id)
            .join(Hazard, Hazard.id == HazardCitation.hazard_id)
            .where(
                Hazard.school_id == hazard.school_id,
                Hazard.status != "voided",
                Hazard.found_on > window_start,
                Hazard.found_on <= hazard.found_on,
                HazardCitation.group_id == group.id,
                HazardCitation.is_active.is_(True),
                Hazard.id != (hazard.id or 0),
            )
        ).all()
        distinct = own | {item_id for item_id, _ in others}
        title = _group_title(group, standards[group.standard_id])
        if group.threshold is None:
            notes.append(f"{title}本校 {group.window_days} 天内已命中 {len(distinct)} 项（阈值未设定，不自动判定）。")
            continue
        if len(distinct) >= group.threshold:
            hits.append((group, sorted({h for _, h in others})))
            return Determination(
                "major", "composite",
                f"综合判定：{title}本校 {group.window_days} 天内命中 {len(distinct)} 项，达到阈值 {group.threshold} 项，判定为重大事故隐患。",
                composite_hits=hits,
            )
        notes.append(f"{title}本校 {group.window_days} 天内命中 {len(distinct)} 项（阈值 {group.threshold} 项）。")
    rule = "人工定级" + ("：" + " ".join(notes) if notes else "。")
    return Determination(manual_level, "manual", rule, notes=notes)
