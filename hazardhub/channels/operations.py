"""Planning and running deliveries; channel settings and user preferences.

Flow: ``hazardhub.notifications.operations.notify`` (the one place a notice is created) calls
:func:`plan_notice` in the caller's transaction; it adds one :class:`Delivery` row per (notice,
channel, recipient) and nothing else, so a write never waits for a provider. After the commit the
rows are handed to RQ (``worker.channels.deliver``, ids only) when Redis is configured; the
minutely :func:`dispatch` (``worker.channels.dispatch``) picks up whatever is due: new rows not yet
queued, retries whose backoff has passed, and rows whose worker died mid-send. A provider that is
down therefore changes only the delivery row (``retry`` with the next attempt time, finally
``failed`` with the reason); the notice is never lost.

With no provider configured for a bureau, messages go to the outbox (status ``outbox``): the row
keeps the message exactly as it would have gone out, which the outbox page shows.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Iterable

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from hazardhub import clock
from hazardhub.accounts.models import User
from hazardhub.channels import links
from hazardhub.channels.adapters import ADAPTERS, GROUP_KINDS, PERSON_KINDS, SMS_KINDS, DeliveryError, Message
from hazardhub.channels.adapters.sms_aliyun import short
from hazardhub.channels.models import BureauChannelSettings, ChannelConfig, ChannelPreference, Delivery
from hazardhub.channels.secrets import SecretUnreadable, open_sealed, seal
from hazardhub.db import listen_once
from hazardhub.errors import DomainError
from hazardhub.extensions import db
from hazardhub.orgs.models import OrgUnit
from hazardhub.runs.operations import job_queue
from hazardhub.tenancy import tenant_bound

#: notice kinds a user cannot opt out of (directives, overdue and escalated items, major hazards)
MANDATORY = {"directive", "overdue", "escalation", "major", "signoff"}
KIND_LABELS = {"directive": "整改指令", "overdue": "逾期提醒", "escalation": "升级督办", "major": "重大隐患",
               "signoff": "签字提醒", "digest": "每日待办", "group": "群通报", "test": "测试消息", "due": "待办"}
#: seconds to wait before attempt n+1 (after attempt n failed with a transient error)
BACKOFF = (60, 300, 900, 3600, 4 * 3600)
MAX_ATTEMPTS = len(BACKOFF) + 1
#: a row claimed by a worker that has not finished after this long is taken up again
LEASE = timedelta(minutes=10)
JOB = "worker.channels.deliver"
#: Beijing hour of the daily digest unless the bureau sets another (after the 08:30 daily pass)
DEFAULT_DIGEST_HOUR = 9
_PENDING_KEY = "channel_deliveries"


class ChannelError(DomainError):
    """Bad settings input: a Chinese message for the page, nothing changed."""


# ---------------------------------------------------------------------------------------------
# settings


def bureau_root_id(tenant_id: int) -> int | None:
    return db.session.execute(sa.select(OrgUnit.id).where(OrgUnit.tenant_id == tenant_id,
                                                          OrgUnit.parent_id.is_(None))).scalar_one_or_none()


def digest_hour(tenant_id: int) -> int:
    row = db.session.execute(sa.select(BureauChannelSettings).where(
        BureauChannelSettings.tenant_id == tenant_id)).scalar_one_or_none()
    return row.digest_hour if row is not None else DEFAULT_DIGEST_HOUR


def set_digest_hour(tenant_id: int, hour: int) -> None:
    if not 0 <= int(hour) <= 23:
        raise ChannelError("推送时间须在 0–23 点之间")
    row = db.session.execute(sa.select(BureauChannelSettings).where(
        BureauChannelSettings.tenant_id == tenant_id)).scalar_one_or_none()
    if row is None:
        row = BureauChannelSettings(tenant_id=tenant_id)
        db.session.add(row)
    row.digest_hour = int(hour)
    db.session.commit()


def save_config(tenant_id: int, *, unit_id: int, kind: str, values: dict[str, str], enabled: bool = True) -> ChannelConfig:
    """Create or update the ``kind`` channel of ``unit_id``. Blank secret fields keep the stored
    secret (it is never shown, so the page cannot send it back)."""
    adapter = ADAPTERS.get(kind)
    if adapter is None:
        raise ChannelError("未知的渠道类型")
    root_id = bureau_root_id(tenant_id)
    if kind in PERSON_KINDS and unit_id != root_id:
        raise ChannelError("邮件和短信渠道只能配置在教育局本级")
    row = db.session.execute(sa.select(ChannelConfig).where(ChannelConfig.unit_id == unit_id,
                                                            ChannelConfig.kind == kind)).scalar_one_or_none()
    stored = open_sealed(row.secret) if row is not None and row.secret else {}
    settings, secret = {}, dict(stored)
    missing = []
    for field in adapter.FIELDS:
        value = (values.get(field.name) or "").strip()
        if field.secret:
            if value:
                secret[field.name] = value
            if field.required and not secret.get(field.name):
                missing.append(field.label)
        else:
            if field.required and not value:
                missing.append(field.label)
            settings[field.name] = value
    if missing:
        raise ChannelError("请填写：" + "、".join(missing))
    if kind == "email":
        if settings.get("security") not in ("ssl", "starttls", "none"):
            raise ChannelError("加密方式只能是 ssl、starttls 或 none")
        if not settings.get("port", "").isdigit() or not 0 < int(settings["port"]) < 65536:
            raise ChannelError("端口须为 1–65535 的数字")
        if "@" not in settings.get("sender", ""):
            raise ChannelError("发件人地址格式不正确")
    if row is None:
        row = ChannelConfig(tenant_id=tenant_id, unit_id=unit_id, kind=kind)
        db.session.add(row)
    row.settings = settings
    row.secret = seal(secret) if secret else None
    row.enabled = enabled
    row.updated_at = clock.utcnow()
    db.session.commit()
    return row


def secret_names(config: ChannelConfig) -> set[str]:
    """Which secret fields are set (the page shows “已设置”, never the value)."""
    try:
        return {k for k, v in open_sealed(config.secret).items() if v}
    except SecretUnreadable:
        return set()


def preference_of(user_id: int) -> ChannelPreference | None:
    return db.session.execute(sa.select(ChannelPreference).where(
        ChannelPreference.user_id == user_id)).scalar_one_or_none()


def save_preference(tenant_id: int, user_id: int, *, email: str, email_on: bool, sms_on: bool, digest_on: bool) -> None:
    email = (email or "").strip()
    if email and ("@" not in email or len(email) > 120 or " " in email):
        raise ChannelError("邮箱地址格式不正确")
    if email_on and not email:
        raise ChannelError("选择邮件接收时请填写邮箱地址")
    row = preference_of(user_id)
    if row is None:
        row = ChannelPreference(tenant_id=tenant_id, user_id=user_id)
        db.session.add(row)
    row.email, row.email_on, row.sms_on, row.digest_on = email or None, email_on, sms_on, digest_on
    db.session.commit()


# ---------------------------------------------------------------------------------------------
# planning


def _configs(tenant_id: int) -> list[ChannelConfig]:
    return list(db.session.execute(sa.select(ChannelConfig).where(
        ChannelConfig.tenant_id == tenant_id, ChannelConfig.enabled.is_(True))).scalars())


def _user_targets(tenant_id: int, user, configs: list[ChannelConfig], *, mandatory: bool, digest: bool = False):
    """(channel, config, address) for one user: their choices among the bureau's channels; an
    urgent notice still goes out by one channel when they chose none; the outbox without providers."""
    root_id = bureau_root_id(tenant_id)
    person = {c.kind: c for c in configs if c.kind in PERSON_KINDS and c.unit_id == root_id}
    pref = preference_of(user.id)
    email = pref.email if pref is not None else None
    email_on = pref.email_on if pref is not None else False
    sms_on = pref.sms_on if pref is not None else True
    if digest and pref is not None and not pref.digest_on:
        return []
    sms = next((person[k] for k in SMS_KINDS if k in person), None)
    chosen = []
    if "email" in person and email and email_on:
        chosen.append(("email", person["email"], email))
    if sms is not None and user.phone and sms_on:
        chosen.append((sms.kind, sms, user.phone))
    if not chosen and mandatory:
        if sms is not None and user.phone:
            chosen.append((sms.kind, sms, user.phone))
        elif "email" in person and email:
            chosen.append(("email", person["email"], email))
    if not chosen and not configs:
        chosen.append(("outbox", None, user.phone or email))
    return chosen


def _add(tenant_id: int, *, notice_key: str, kind: str, channel: str, config: ChannelConfig | None,
         recipient: str, label: str, address: str | None, subject: str, body: str, url: str | None) -> Delivery | None:
    """One row per (notice, channel, recipient): an existing row is left alone (idempotent)."""
    exists = db.session.execute(sa.select(Delivery.id).where(
        Delivery.tenant_id == tenant_id, Delivery.notice_key == notice_key[:120], Delivery.channel == channel,
        Delivery.recipient == recipient)).scalar_one_or_none()
    if exists is not None:
        return None
    outbox = channel == "outbox"
    row = Delivery(tenant_id=tenant_id, notice_key=notice_key[:120], kind=kind, channel=channel,
                   config_id=config.id if config is not None else None, recipient=recipient, recipient_label=label[:120],
                   address=address, subject=subject[:200], body=body, url=links.absolute(url),
                   status="outbox" if outbox else "pending", sent_at=clock.utcnow() if outbox else None)
    db.session.add(row)
    db.session.flush()
    if not outbox:
        db.session.info.setdefault(_PENDING_KEY, []).append((row.id, tenant_id))
    return row


def subject_for(kind: str, text: str) -> str:
    return f"【{KIND_LABELS.get(kind, '通知')}】{text[:60]}"


def plan_notice(tenant_id: int, *, kind: str, key: str, text: str, url: str, user_ids: Iterable[int] = (),
                unit_id: int | None = None) -> int:
    """Plan the deliveries of one new notice (called by ``notify`` inside the caller's transaction):
    each user by their channels, and the unit's work group by its robot. Returns rows planned."""
    with tenant_bound(tenant_id):
        configs = _configs(tenant_id)
        mandatory = kind in MANDATORY
        # the escalation sweep sends escalations as "overdue" notices keyed hazard-escalated:…
        subject = subject_for("escalation" if key.startswith("hazard-escalated:") else kind, text)
        planned = 0
        users = db.session.execute(sa.select(User).where(User.id.in_(sorted(set(user_ids))))).scalars().all() \
            if user_ids else []
        for user in users:
            if not user.is_active:
                continue
            for channel, config, address in _user_targets(tenant_id, user, configs, mandatory=mandatory):
                planned += _add(tenant_id, notice_key=key, kind=kind, channel=channel, config=config,
                                recipient=f"user:{user.id}", label=user.display_name, address=address,
                                subject=subject, body=text, url=url) is not None
        if unit_id is not None:
            unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == unit_id)).scalar_one_or_none()
            for config in configs:
                if config.unit_id == unit_id and config.kind in GROUP_KINDS and unit is not None:
                    planned += _add(tenant_id, notice_key=key, kind=kind, channel=config.kind, config=config,
                                    recipient=f"unit:{unit_id}", label=f"{unit.name}工作群", address=None,
                                    subject=subject, body=text, url=url) is not None
        return planned


def plan_test(tenant_id: int, config_id: int, *, user_id: int) -> Delivery:
    """A test message over one channel to the admin who asked (or the unit's group)."""
    config = db.session.execute(sa.select(ChannelConfig).where(ChannelConfig.id == config_id)).scalar_one()
    user = db.session.execute(sa.select(User).where(User.id == user_id)).scalar_one()
    stamp = clock.now()
    pref = preference_of(user_id)
    if config.kind in GROUP_KINDS:
        unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == config.unit_id)).scalar_one()
        recipient, label, address = f"unit:{unit.id}", f"{unit.name}工作群", None
    else:
        recipient, label = f"user:{user.id}", user.display_name
        address = user.phone if config.kind in SMS_KINDS else (pref.email if pref is not None else None)
        if not address:
            raise ChannelError("请先在“消息接收设置”中填写您的邮箱" if config.kind == "email" else "您的账号没有手机号，无法发送测试短信")
    text = f"这是一条来自隐患排查系统的测试消息（{stamp:%Y-%m-%d %H:%M}），收到即表示渠道配置正确。"
    row = _add(tenant_id, notice_key=f"test:{config.id}:{stamp:%Y%m%d%H%M%S%f}", kind="test", channel=config.kind,
               config=config, recipient=recipient, label=label, address=address, subject=subject_for("test", text),
               body=text, url=links.PREFERENCES)
    db.session.commit()
    return row


# ---------------------------------------------------------------------------------------------
# handing rows to the queue


def _queue_after_commit(session) -> None:
    """With Redis, queue the rows this transaction planned (a push, no database work). Without
    Redis the minutely dispatch (or the caller, :func:`enqueue`) runs them."""
    pending = session.info.pop(_PENDING_KEY, None)
    if not pending or not current_app or not current_app.config.get("HAZARDHUB_REDIS_URL"):
        return
    try:
        _push(pending)
    except Exception:  # noqa: BLE001 - Redis down: dispatch will find the rows, nothing is lost
        current_app.logger.warning("channel deliveries not queued; dispatch will pick them up")


def _forget_after_rollback(session) -> None:
    session.info.pop(_PENDING_KEY, None)


def install_delivery_queueing() -> None:
    """Install the hooks that queue planned deliveries once their transaction commits.

    Called from ``hazardhub.create_app`` in its documented order; idempotent."""
    listen_once(Session, "after_commit", _queue_after_commit)
    listen_once(Session, "after_rollback", _forget_after_rollback)


def _push(pending: list[tuple[int, int]]) -> None:
    queue = job_queue()
    for delivery_id, tenant_id in pending:
        queue.enqueue(JOB, delivery_id, job_timeout=120, result_ttl=600, failure_ttl=7 * 24 * 3600,
                      meta={"tenant_id": tenant_id}, description=f"delivery {delivery_id}")


def enqueue(delivery_ids: Iterable[tuple[int, int]]) -> None:
    """Queue these (delivery id, tenant id) now; in-process mode runs them at once.

    Ends this session's transaction first: an in-process job writes from its own session and must
    not run inside (and be rolled back with) the caller's transaction; on SQLite it needs the lock.
    """
    delivery_ids = list(delivery_ids)
    db.session.commit()
    db.session.info.pop(_PENDING_KEY, None)
    _push(delivery_ids)


def dispatch(now=None) -> int:
    """Queue every delivery that is due (all tenants): new, waiting for a retry, or abandoned by a
    worker that died mid-send. Idempotent: a row already sent is skipped by the job."""
    now = now or clock.utcnow()
    rows = db.session.execute(sa.select(Delivery.id, Delivery.tenant_id).where(
        sa.or_(Delivery.status == "pending",
               Delivery.status.in_(("retry", "sending")) & (Delivery.next_attempt_at <= now)),
        sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
    ).order_by(Delivery.id).limit(500).execution_options(all_tenants=True)).all()
    enqueue([(r.id, r.tenant_id) for r in rows])
    return len(rows)


# ---------------------------------------------------------------------------------------------
# sending (the job)


def message_of(row: Delivery) -> Message:
    link = f"\n\n[查看详情]({row.url})" if row.url else ""
    return Message(subject=row.subject, text=row.body, url=row.url,
                   markdown=f"### {row.subject}\n\n{row.body}{link}")


def preview(row: Delivery) -> str:
    """The message as the channel shows it (the outbox page)."""
    message = message_of(row)
    if row.channel in GROUP_KINDS:
        return message.markdown
    if row.channel in SMS_KINDS:
        return f"短信模板参数：{short(row.subject)}"
    return message.text + (f"\n\n查看详情：{row.url}" if row.url else "")


def deliver(delivery_id: int) -> str:
    """Send one delivery (the body of ``worker.channels.deliver``); returns its new status.

    Claims the row first (``pending``/``retry`` → ``sending`` with a lease), so two jobs for one row
    send once; a sent row is left alone. A transient error schedules the next attempt after
    :data:`BACKOFF`; a permanent one, or the last attempt, marks it ``failed`` with the reason.
    """
    now = clock.utcnow()
    claimed = db.session.execute(
        sa.update(Delivery).where(Delivery.id == delivery_id,
                                  sa.or_(Delivery.status == "pending",
                                         Delivery.status.in_(("retry", "sending")) & (Delivery.next_attempt_at <= now)))
        .values(status="sending", attempts=Delivery.attempts + 1, next_attempt_at=now + LEASE)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    row = db.session.execute(sa.select(Delivery).where(Delivery.id == delivery_id)).scalar_one_or_none()
    if row is None or not claimed:
        return row.status if row is not None else "missing"
    config = db.session.execute(sa.select(ChannelConfig).where(ChannelConfig.id == row.config_id)).scalar_one_or_none() \
        if row.config_id else None
    try:
        if config is None or not config.enabled:
            raise DeliveryError("渠道已删除或已停用", permanent=True)
        try:
            secret = open_sealed(config.secret)
        except SecretUnreadable as exc:
            raise DeliveryError(str(exc), permanent=True) from exc
        base_url = current_app.config.get("HAZARDHUB_CHANNEL_URLS", {}).get(config.kind)
        ADAPTERS[config.kind].send(config.settings, secret, message_of(row), row.address, base_url=base_url)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the row, never raised to the queue
        permanent = isinstance(exc, DeliveryError) and exc.permanent
        reason = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
        row.last_error = reason[:500]
        if permanent or row.attempts >= MAX_ATTEMPTS:
            row.status, row.next_attempt_at = "failed", None
        else:
            row.status = "retry"
            row.next_attempt_at = clock.utcnow() + timedelta(seconds=BACKOFF[row.attempts - 1])
    else:
        row.status, row.sent_at, row.last_error, row.next_attempt_at = "sent", clock.utcnow(), None, None
    db.session.commit()
    return row.status


def log_query(status: str | None = None):
    query = sa.select(Delivery)
    if status:
        query = query.where(Delivery.status == status)
    return query.order_by(Delivery.created_at.desc(), Delivery.id.desc())
