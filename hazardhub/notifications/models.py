"""One notification for one user."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hazardhub.db import Base, TenantScoped, TimestampMixin, tenant_fk

NOTIFICATION_LEVELS = {"danger": "紧急", "warning": "提醒", "info": "通知"}


class Notification(TenantScoped, TimestampMixin, Base):
    """A message in a user's in-app inbox.

    ``key`` makes delivery idempotent: the daily job and event hooks upsert by (user, key), so
    running them twice never produces a second copy. Reminders of what is due carry
    ``kind="due"``; when the duty is done the next run sets ``resolved_at`` instead of deleting,
    so the inbox keeps what was asked and when. Not versioned: it is delivery state, not a record
    of the work.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        tenant_fk("user_id", "users"),
        sa.UniqueConstraint("user_id", "key"),
        sa.Index("ix_notifications_user_unread", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(nullable=False)
    #: idempotency key, e.g. ``due:selfcheck:2026-11:42``
    key: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    #: ``due`` (computed duties) or an event kind such as ``overdue``, ``escalation``, ``directive``
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    level: Mapped[str] = mapped_column(sa.String(10), default="info", nullable=False)
    text: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    #: a path inside the app (``/hazards/12``), never an absolute URL
    url: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    updated_at: Mapped[datetime | None] = mapped_column()
    read_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()

    @property
    def level_label(self) -> str:
        return NOTIFICATION_LEVELS.get(self.level, self.level)
