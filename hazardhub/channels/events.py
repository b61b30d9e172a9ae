"""Notices the product did not create before channels existed: a directive issued to a school and a
major hazard registered. Each is one ``notify`` (inbox + deliveries), called with one line from
the operation that made the record, inside its transaction (so a refused write tells nobody)."""
from __future__ import annotations

import sqlalchemy as sa

from hazardhub.channels import links
from hazardhub.extensions import db
from hazardhub.notifications.operations import notify
from hazardhub.orgs.models import OrgUnit


def directive_issued(directive) -> int:
    """The school's principal and safety officer are told at once."""
    text = (f"{directive.issuer_name}向{directive.school_name}下达{directive.doc_title} {directive.number}，"
            f"整改期限 {directive.deadline.isoformat()}，请及时签收并组织整改。")
    return notify(directive.tenant_id, kind="directive", key=f"directive-issued:{directive.id}", text=text,
                  url=links.directive(directive.id), level="warning", unit_id=directive.school_id,
                  roles=("principal", "safety_officer"))


def major_registered(hazard) -> int:
    """A major hazard: the school's township central school and the bureau's safety section."""
    if hazard.level != "major":
        return 0
    ids = [int(part) for part in hazard.school_path.strip("/").split("/")]
    units = {u.id: u for u in db.session.execute(sa.select(OrgUnit).where(OrgUnit.id.in_(ids))).scalars()}
    school = units.get(hazard.school_id)
    text = f"{school.name if school else ''}登记重大事故隐患 {hazard.number}（{hazard.location}），请督促制定方案、限期整改。"
    key, url, told = f"major-registered:{hazard.id}", links.hazard(hazard.id), 0
    township = units.get(school.parent_id) if school is not None and school.parent_id else None
    if township is not None and township.kind == "township_center":
        told += notify(hazard.tenant_id, kind="major", key=key, text=text, url=url, level="danger",
                       unit_id=township.id, roles=("township_supervisor",))
    root = units.get(ids[0])
    if root is not None:
        told += notify(hazard.tenant_id, kind="major", key=key, text=text, url=url, level="danger",
                       unit_id=root.id, roles=("bureau_admin", "bureau_leader"))
    return told
