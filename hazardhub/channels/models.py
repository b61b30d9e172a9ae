"""Channel configuration, user preferences and the delivery rows (not versioned: delivery state
and settings, not records of the safety work; the notices themselves stay in the inbox)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hazardhub.db import Base, TenantScoped, TimestampMixin, tenant_fk
from hazardhub.policy import Protected, Ref

#: delivery states: planned, being sent, sent, waiting for a retry, given up, written to the outbox
STATUSES = {"pending": "待发送", "sending": "发送中", "sent": "已发送", "retry": "等待重试",
            "failed": "发送失败", "outbox": "已入发件箱"}


class ChannelConfig(TenantScoped, TimestampMixin, Base):
    """One provider account of a bureau (email, SMS) or one unit's group robot (企业微信/钉钉).

    ``settings`` holds what may be shown (host, port, template id); ``secret`` holds the
    Fernet-encrypted JSON of what may not (robot key, password, AccessKey secret). A secret is never
    rendered again once saved: the page shows only that one is set.
    """

    __tablename__ = "channel_configs"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(unit=Ref("OrgUnit", "unit_id"))
    __table_args__ = (
        tenant_fk("unit_id", "org_units"),
        sa.UniqueConstraint("unit_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the bureau (root) for email and SMS; any unit for a group robot (that unit's work group)
    unit_id: Mapped[int] = mapped_column(nullable=False)
    #: adapter kind: ``wecom``, ``dingtalk``, ``email``, ``sms_aliyun``, ``sms_tencent``
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    enabled: Mapped[bool] = mapped_column(default=True, server_default=sa.true(), nullable=False)
    settings: Mapped[dict] = mapped_column(sa.JSON, default=dict, nullable=False)
    secret: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime | None] = mapped_column()


class BureauChannelSettings(TenantScoped, Base):
    """The bureau's digest hour (Beijing time, working days only)."""

    __tablename__ = "channel_bureau_settings"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_hour: Mapped[int] = mapped_column(default=9, server_default="9", nullable=False)


class ChannelPreference(TenantScoped, Base):
    """What one user receives outside HazardHub. Without a row: SMS (when a phone is known) and the
    digest. Directives and other urgent notices ignore an opt-out (see ``operations.MANDATORY``)."""

    __tablename__ = "channel_preferences"
    __table_args__ = (
        tenant_fk("user_id", "users"),
        sa.UniqueConstraint("user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(nullable=False)
    email: Mapped[str | None] = mapped_column(sa.String(120))
    email_on: Mapped[bool] = mapped_column(default=False, server_default=sa.false(), nullable=False)
    sms_on: Mapped[bool] = mapped_column(default=True, server_default=sa.true(), nullable=False)
    digest_on: Mapped[bool] = mapped_column(default=True, server_default=sa.true(), nullable=False)


class Delivery(TenantScoped, TimestampMixin, Base):
    """One message to one recipient over one channel: the unit of retry and of the delivery log.

    Unique per (notice, channel, recipient): planning the same notice twice, or a job run twice,
    never sends a second copy. ``subject``/``body`` are the message exactly as it goes out (the
    demo outbox shows them), so a retry sends the same text.
    """

    __tablename__ = "channel_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "notice_key", "channel", "recipient"),
        sa.Index("ix_channel_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the notice's key (the inbox key, ``digest:2026-12-07``, ``test:…``)
    notice_key: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    #: the notice kind (``directive``, ``overdue``, ``digest``, ``test`` …)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    #: adapter kind, or ``outbox`` when the bureau has no provider
    channel: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    config_id: Mapped[int | None] = mapped_column()
    #: ``user:<id>`` or ``unit:<id>`` (a group robot)
    recipient: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    recipient_label: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    #: the e-mail address or phone number (empty for a group robot)
    address: Mapped[str | None] = mapped_column(sa.String(120))
    subject: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    #: absolute link to the record
    url: Mapped[str | None] = mapped_column(sa.String(400))
    status: Mapped[str] = mapped_column(sa.String(10), default="pending", nullable=False)
    attempts: Mapped[int] = mapped_column(default=0, nullable=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    sent_at: Mapped[datetime | None] = mapped_column()

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)
