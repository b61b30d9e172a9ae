"""Demo data for the channel pages: the bureau has no provider yet, so every message waits in the
outbox as it would have gone out; a township's 企业微信 robot whose key was mistyped shows a
failed test in the delivery log (and is switched off); two users have chosen their channels; the
last working day's digests are composed. Called with one line from ``hazardhub.devtools.demo``."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import sqlalchemy as sa

from hazardhub import clock
from hazardhub.channels import digest, operations as ops
from hazardhub.channels.models import ChannelConfig, Delivery
from hazardhub.extensions import db
from hazardhub.tenancy import tenant_bound
from hazardhub.workdays import is_workday
from hazardhub.accounts.models import User
from hazardhub.orgs.models import OrgUnit, Tenant


def seed_channels(log=print, *, slug: str = "jianan") -> None:
    tenant = db.session.execute(sa.select(Tenant).where(Tenant.slug == slug)
                                .execution_options(all_tenants=True)).scalar_one_or_none()
    if tenant is None:
        return
    with tenant_bound(tenant.id):
        township = db.session.execute(sa.select(OrgUnit).where(OrgUnit.code == "JA-T05")).scalar_one_or_none()
        users = {u.username: u for u in db.session.execute(sa.select(User).where(
            User.username.in_(["demo_ja_principal", "demo_ja_safety"]))).scalars()}
        if "demo_ja_principal" in users:
            ops.save_preference(tenant.id, users["demo_ja_principal"].id, email="zheng.xz@jgcyx.example.cn",
                                email_on=True, sms_on=True, digest_on=True)
        if "demo_ja_safety" in users:
            ops.save_preference(tenant.id, users["demo_ja_safety"].id, email="", email_on=False, sms_on=True,
                                digest_on=False)
        if township is not None:
            _failed_robot(tenant.id, township)
        day = clock.today()
        while not is_workday(day):
            day -= timedelta(days=1)
        moment = datetime.combine(day, time(ops.digest_hour(tenant.id), 5), clock.SHANGHAI)
        planned = digest.compose_tenant(tenant.id, moment) or 0
    count = db.session.execute(sa.select(sa.func.count()).select_from(Delivery).where(
        Delivery.tenant_id == tenant.id).execution_options(all_tenants=True)).scalar_one()
    log(f"消息渠道：{planned} 条每日汇总，发件箱共 {count} 条消息")


def _failed_robot(tenant_id: int, township) -> None:
    """A robot configured with a mistyped key: its test failed with 93000, so it was switched off."""
    exists = db.session.execute(sa.select(ChannelConfig.id).where(ChannelConfig.unit_id == township.id,
                                                                  ChannelConfig.kind == "wecom")).scalar_one_or_none()
    if exists is not None:
        return
    config = ops.save_config(tenant_id, unit_id=township.id, kind="wecom",
                             values={"key": "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"}, enabled=False)
    stamp = clock.utcnow() - timedelta(days=1)
    db.session.add(Delivery(
        tenant_id=tenant_id, notice_key=f"test:{config.id}:demo", kind="test", channel="wecom", config_id=config.id,
        recipient=f"unit:{township.id}", recipient_label=f"{township.name}工作群",
        subject="【测试消息】这是一条来自隐患排查系统的测试消息", body="这是一条来自隐患排查系统的测试消息，收到即表示渠道配置正确。",
        url=None, status="failed", attempts=1, last_error="企业微信 errcode 93000：invalid webhook url, hint: [demo]",
        created_at=stamp, sent_at=None))
    db.session.commit()
