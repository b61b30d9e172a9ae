"""Delivering notifications: idempotent upserts by (user, key), and the daily refresh of what is
due per role.

Other areas push events with :func:`notify` (e.g. escalation: "隐患已逾期"). The daily job calls
:func:`refresh_due` for every tenant; it stores each user's current reminders
(:func:`hazardhub.compliance.reminders.reminders_for`) and resolves the ones no longer due.
Running it twice on one day changes nothing.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable

import sqlalchemy as sa

from hazardhub.accounts.auth import load_user_for_job
from hazardhub.accounts.models import Membership
from hazardhub.channels.links import path
from hazardhub.channels.operations import plan_notice
from hazardhub.clock import utcnow
from hazardhub.compliance.reminders import reminders_for
from hazardhub.directives.notices import overdue_notice_now
from hazardhub.extensions import db
from hazardhub.notifications.models import Notification
from hazardhub.policy import can
from hazardhub.roles import DUTY_ROLES  # the roles the daily pass stores duties for (policy: reminder.duties)
from hazardhub.tenancy import scope_for, tenant_bound



def _users_of_unit(unit_id: int, roles: Iterable[str] | None) -> list[int]:
    query = sa.select(Membership.user_id).where(Membership.unit_id == unit_id, Membership.is_active.is_(True))
    if roles:
        query = query.where(Membership.role.in_(list(roles)))
    return sorted(set(db.session.execute(query).scalars()))


def notify(tenant_id: int, *, kind: str, key: str, text: str, url: str, level: str = "info",
           user_ids: Iterable[int] | None = None, unit_id: int | None = None,
           roles: Iterable[str] | None = None) -> int:
    """Put a message in the inbox of each user (given, or holding ``roles`` on ``unit_id``), and plan
    its delivery by the bureau's channels (``hazardhub.channels``) to those newly told and to the
    unit's work group.

    Upsert by (user, key): an existing notification keeps its read state and only has its text
    refreshed when it changed. Returns how many new notifications were created. Does not commit:
    the caller's transaction decides.
    """
    with tenant_bound(tenant_id):
        targets = set(user_ids or [])
        if unit_id is not None:
            targets |= set(_users_of_unit(unit_id, roles))
        created = 0
        new_for: list[int] = []
        for user_id in sorted(targets):
            if _upsert(tenant_id, user_id, kind=kind, key=key, text=text, url=url, level=level):
                created += 1
                new_for.append(user_id)
        db.session.flush()
        # outside HazardHub too (企业微信/钉钉 groups, email, SMS): rows planned here, sent by jobs
        plan_notice(tenant_id, kind=kind, key=key, text=text, url=url, user_ids=new_for, unit_id=unit_id)
        return created


def _upsert(tenant_id: int, user_id: int, *, kind: str, key: str, text: str, url: str, level: str) -> int:
    existing = db.session.execute(
        sa.select(Notification).where(Notification.user_id == user_id, Notification.key == key)
    ).scalar_one_or_none()
    if existing is None:
        db.session.add(Notification(tenant_id=tenant_id, user_id=user_id, kind=kind, key=key[:120],
                                    text=text[:300], url=url[:300], level=level))
        return 1
    if (existing.text, existing.url, existing.level) != (text[:300], url[:300], level) or existing.resolved_at:
        existing.text, existing.url, existing.level = text[:300], url[:300], level
        existing.resolved_at = None
        existing.updated_at = utcnow()
    return 0


def refresh_due(tenant_id: int, today: date) -> dict[str, int]:
    """Store every duty user's reminders for ``today``'s month; resolve those no longer due.

    Needs an app context only (each reminder's link is stored as the path of its target,
    :func:`hazardhub.channels.links.path`), so it runs from a job. Commits once per tenant.
    """
    with tenant_bound(tenant_id):
        user_ids = sorted(set(db.session.execute(
            sa.select(Membership.user_id).where(Membership.is_active.is_(True),
                                                Membership.role.in_(sorted(DUTY_ROLES)))).scalars()))
    created = resolved = 0
    for user_id in user_ids:
        user = load_user_for_job(user_id)
        if user is None or not user.is_active:
            continue
        with tenant_bound(scope_for(user)):
            due = {f"due:{r.key}": r for r in reminders_for(user, today) if r.key}
        with tenant_bound(tenant_id):
            made, gone = _store_due(tenant_id, user_id, due)
        created, resolved = created + made, resolved + gone
    db.session.commit()
    return {"users": len(user_ids), "created": created, "resolved": resolved}


def _store_due(tenant_id: int, user_id: int, due: dict) -> tuple[int, int]:
    """Upsert the user's current duties (``due:<key>`` → reminder); resolve the ones no longer due.

    A duty is stored in words and as the path of its page: the inbox shows and opens what was
    stored, so the rows written before reminders became data read the same.
    """
    created = resolved = 0
    for key, reminder in due.items():
        created += _upsert(tenant_id, user_id, kind="due", key=key, text=reminder.text,
                           url=path(reminder.target), level=reminder.level)
    stale = db.session.execute(sa.select(Notification).where(
        Notification.user_id == user_id, Notification.kind == "due",
        Notification.resolved_at.is_(None), Notification.key.not_in(list(due) or [""]))).scalars()
    for notification in stale:
        notification.resolved_at = utcnow()
        resolved += 1
    db.session.flush()
    return created, resolved


def reconcile(user, today: date) -> None:
    """Bring ``user``'s inbox in line with the records as they are now, before it is shown.

    The daily pass stores what is due, but a duty done at 10:00 (a self-inspection signed) must
    not say 待处理 until tomorrow, and an overdue notice must follow its hazard's deadline. So the
    inbox derives from the same truth as the home page: the duties are :func:`reminders_for` now
    (the home page's list), and each open overdue notice is re-read from its hazard or directive
    (``hazardhub.directives.notices.overdue_notice_now``). Commits.
    """
    if can(user, "reminder.duties"):
        due = {f"due:{r.key}": r for r in reminders_for(user, today) if r.key}
        _store_due(user.tenant_id, user.id, due)
    events = db.session.execute(sa.select(Notification).where(
        Notification.user_id == user.id, Notification.kind == "overdue", Notification.resolved_at.is_(None))).scalars()
    for notification in events:
        text = overdue_notice_now(notification.key.removeprefix("due:"), today)
        if text is None:
            notification.resolved_at = utcnow()
        elif text[:300] != notification.text:
            notification.text, notification.updated_at = text[:300], utcnow()
    db.session.commit()


def unread_count(user) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None),
        Notification.resolved_at.is_(None))).scalar_one()


def inbox_query(user, *, show: str = "open"):
    query = sa.select(Notification).where(Notification.user_id == user.id)
    if show == "open":
        query = query.where(Notification.resolved_at.is_(None))
    return query.order_by(Notification.read_at.is_not(None), Notification.created_at.desc(), Notification.id.desc())


def mark_read(user, notification_ids: Iterable[int] | None = None) -> int:
    """Mark the user's own notifications read (all unread ones when no ids are given)."""
    query = sa.select(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_ids is not None:
        query = query.where(Notification.id.in_(list(notification_ids)))
    rows = db.session.execute(query).scalars().all()
    now = utcnow()
    for row in rows:
        row.read_at = now
    db.session.commit()
    return len(rows)
