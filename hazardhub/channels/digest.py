"""The daily digest: per user what is open in their inbox, per township work group its schools'
overdue list, and the “sign-off due tomorrow” notice.

Run every 15 minutes (``worker.channels.digests``); a bureau's digest goes out at the first run at
or after its hour (Beijing time) on a working day of the holiday calendar (``hazardhub.workdays``),
once: each digest is keyed by the day (``digest:2026-12-07``), so later runs that day plan nothing.
"""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from hazardhub import clock
from hazardhub.accounts.models import Membership, User
from hazardhub.channels import links
from hazardhub.channels.adapters import GROUP_KINDS
from hazardhub.channels.operations import _add, _configs, _user_targets, digest_hour, subject_for
from hazardhub.extensions import db
from hazardhub.hazards.models import Hazard, OPEN_STATUSES
from hazardhub.notifications.models import Notification
from hazardhub.notifications.operations import DUTY_ROLES, notify
from hazardhub.orgs.models import OrgUnit
from hazardhub.platform.daily import tenant_ids
from hazardhub.tenancy import tenant_bound
from hazardhub.workdays import add_working_days, is_workday

#: lines of one digest (the rest is counted, the inbox has them all)
MAX_LINES = 10


def run_digests(now: datetime | None = None) -> dict[str, int]:
    """Every tenant whose hour has come today; returns how many deliveries were planned."""
    local = clock.local(now) if now is not None else clock.now()
    totals = {"tenants": 0, "planned": 0}
    for tenant_id in tenant_ids():
        with tenant_bound(tenant_id):
            planned = compose_tenant(tenant_id, local)
        if planned is not None:
            totals["tenants"] += 1
            totals["planned"] += planned
    return totals


def is_digest_time(tenant_id: int, local: datetime) -> bool:
    return is_workday(local.date()) and local.hour >= digest_hour(tenant_id)


def compose_tenant(tenant_id: int, local: datetime) -> int | None:
    """One tenant's digests for ``local``'s day (None: not its time). Commits."""
    if not is_digest_time(tenant_id, local):
        return None
    day = local.date()
    planned = _signoff_tomorrow(tenant_id, day)
    configs = _configs(tenant_id)
    planned += _user_digests(tenant_id, day, configs)
    planned += _group_digests(tenant_id, day, configs)
    db.session.commit()
    return planned


def _user_digests(tenant_id: int, day: date, configs) -> int:
    user_ids = sorted(set(db.session.execute(sa.select(Membership.user_id).where(
        Membership.is_active.is_(True), Membership.role.in_(sorted(DUTY_ROLES)))).scalars()))
    planned = 0
    for user in db.session.execute(sa.select(User).where(User.id.in_(user_ids)).order_by(User.id)).scalars():
        if not user.is_active:
            continue
        open_items = db.session.execute(sa.select(Notification).where(
            Notification.user_id == user.id, Notification.resolved_at.is_(None),
            sa.or_(Notification.kind == "due", Notification.read_at.is_(None)))
            .order_by(Notification.level != "danger", Notification.created_at.desc())).scalars().all()
        if not open_items:
            continue
        text = compose_user_digest(day, [n.text for n in open_items])
        for channel, config, address in _user_targets(tenant_id, user, configs, mandatory=False, digest=True):
            planned += _add(tenant_id, notice_key=f"digest:{day.isoformat()}", kind="digest", channel=channel,
                            config=config, recipient=f"user:{user.id}", label=user.display_name, address=address,
                            subject=subject_for("digest", f"{day.month}月{day.day}日 您有 {len(open_items)} 项待办"),
                            body=text, url=links.INBOX) is not None
    return planned


def compose_user_digest(day: date, lines: list[str]) -> str:
    shown = [f"{i}. {line}" for i, line in enumerate(lines[:MAX_LINES], start=1)]
    more = f"\n……另有 {len(lines) - MAX_LINES} 项，请登录系统查看。" if len(lines) > MAX_LINES else ""
    return f"{day.isoformat()} 待办事项（共 {len(lines)} 项）：\n" + "\n".join(shown) + more


def _group_digests(tenant_id: int, day: date, configs) -> int:
    """Each township central school's work group: the overdue hazards of its schools. Without any
    provider the message goes to the outbox (the demo shows what the group would read)."""
    townships = db.session.execute(sa.select(OrgUnit).where(OrgUnit.kind == "township_center")
                                   .order_by(OrgUnit.path)).scalars().all()
    planned = 0
    for township in townships:
        targets = [(c.kind, c) for c in configs if c.unit_id == township.id and c.kind in GROUP_KINDS]
        if not targets and not configs:
            targets = [("outbox", None)]
        if not targets:
            continue
        overdue = db.session.execute(sa.select(Hazard).where(
            Hazard.school_path.startswith(township.path, autoescape=True), Hazard.status.in_(OPEN_STATUSES),
            Hazard.deadline < day).order_by(Hazard.deadline, Hazard.number)).scalars().all()
        if not overdue:
            continue
        names = dict(db.session.execute(sa.select(OrgUnit.id, OrgUnit.name).where(
            OrgUnit.id.in_({h.school_id for h in overdue}))).all())
        lines = [f"{names.get(h.school_id, '')} {h.number}：{h.location}（{h.level_label}，"
                 f"期限 {h.deadline.isoformat()}，逾期 {(day - h.deadline).days} 天）" for h in overdue]
        text = f"{township.name}辖区学校逾期未整改隐患 {len(overdue)} 项：\n" + \
            "\n".join(f"{i}. {line}" for i, line in enumerate(lines[:MAX_LINES], start=1))
        for channel, config in targets:
            planned += _add(tenant_id, notice_key=f"group-overdue:{day.isoformat()}", kind="group", channel=channel,
                            config=config, recipient=f"unit:{township.id}", label=f"{township.name}工作群",
                            address=None, subject=subject_for("group", f"{township.name}辖区逾期隐患 {len(overdue)} 项"),
                            body=text, url=links.OVERDUE_HAZARDS) is not None
    return planned


def _signoff_tomorrow(tenant_id: int, day: date) -> int:
    """The working day before the month's end: whoever still owes the principal's sign-off (an
    open ``signoff`` reminder in the inbox) is told at once that it is due tomorrow."""
    month = clock.month_of(day)
    end = clock.month_end(month)
    if not (day < end <= add_working_days(day, 1)):
        return 0
    owed = db.session.execute(sa.select(Notification).where(
        Notification.kind == "due", Notification.resolved_at.is_(None),
        Notification.key.startswith(f"due:signoff:{month}:"))).scalars().all()
    planned = 0
    for item in owed:
        unit_id = item.key.rsplit(":", 1)[-1]
        planned += notify(tenant_id, kind="signoff", key=f"signoff-tomorrow:{month}:{unit_id}",
                          text=f"明天（{end.isoformat()}）是本月自查签字截止日。{item.text}", url=item.url,
                          level="warning", user_ids=[item.user_id])
    return planned
