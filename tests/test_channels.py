"""Delivery as a job: planned where notices are created, retried with backoff, idempotent per
(notice, channel, recipient), outcome kept; a provider that is down changes only the delivery row;
digests composed and timed on Beijing working days."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from hazardhub import clock
from hazardhub.channels import digest, operations as ops
from hazardhub.channels.models import ChannelConfig, Delivery
from hazardhub.notifications.models import Notification
from hazardhub.notifications.operations import notify
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import make_hazard


@pytest.fixture
def send(drain_jobs):
    """Dispatch what is due and run the queued jobs (in-process they ran at enqueue; with Redis a
    burst worker runs them); returns how many were dispatched."""
    def run() -> int:
        count = ops.dispatch()
        drain_jobs()
        return count
    return run


def _deliveries(db, tenant_id, **where):
    with tenant_bound(tenant_id):
        query = sa.select(Delivery).execution_options(populate_existing=True).order_by(Delivery.id)
        for name, value in where.items():
            query = query.where(getattr(Delivery, name) == value)
        return db.session.execute(query).scalars().all()


@pytest.fixture
def robot(app, db, world, provider, monkeypatch):
    """Township 1's 企业微信 group robot, pointed at the local provider."""
    monkeypatch.setitem(app.config["HAZARDHUB_CHANNEL_URLS"], "wecom", provider.url)
    with tenant_bound(world.a.id):
        config = ops.save_config(world.a.id, unit_id=world.t1.id, kind="wecom", values={"key": "KEY-T1"})
    answers = []

    def check(seen):
        assert seen.path == "/cgi-bin/webhook/send" and seen.query == [("key", "KEY-T1")]
        assert seen.json()["msgtype"] == "markdown"
        return answers.pop(0) if answers else (200, {"errcode": 0, "errmsg": "ok"})

    provider.check = check
    provider.answers = answers
    return config


def _overdue_notice(world, key="hazard-overdue:1:2026-12-01"):
    with tenant_bound(world.a.id):
        created = notify(world.a.id, kind="overdue", key=key, text="隐患 YH-1 已逾期 3 天。", url="/hazards/1",
                         level="danger", unit_id=world.t1.id, roles=("township_supervisor",))
    from hazardhub.extensions import db

    db.session.commit()
    return created


def test_secrets_are_encrypted_at_rest_and_blank_keeps_them(db, world, robot):
    with tenant_bound(world.a.id):
        stored = db.session.execute(sa.select(ChannelConfig.secret).where(ChannelConfig.id == robot.id)).scalar_one()
        assert "KEY-T1" not in stored
        ops.save_config(world.a.id, unit_id=world.t1.id, kind="wecom", values={"key": ""})
        assert ops.secret_names(robot) == {"key"}
        from hazardhub.channels.secrets import open_sealed

        assert open_sealed(robot.secret) == {"key": "KEY-T1"}


def test_a_notice_plans_one_delivery_per_channel_and_recipient_and_the_job_sends_it(app, db, world, robot, provider,
                                                                                   send):
    assert _overdue_notice(world) == 1
    rows = _deliveries(db, world.a.id, channel="wecom")
    assert [(r.recipient, r.status) for r in rows] == [(f"unit:{world.t1.id}", "pending")]
    assert provider.seen == [], "nothing is sent from the write"
    assert send() >= 1
    row = _deliveries(db, world.a.id, channel="wecom")[0]
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    content = provider.seen[0].json()["markdown"]["content"]
    assert "隐患 YH-1 已逾期 3 天" in content and "http://127.0.0.1:5000/hazards/1" in content
    # idempotent: the same notice again plans nothing; the job again sends nothing
    _overdue_notice(world)
    assert len(_deliveries(db, world.a.id, channel="wecom")) == 1
    assert ops.deliver(row.id) == "sent"
    send()
    assert len(provider.seen) == 1


def test_the_unique_constraint_holds_per_notice_channel_recipient(db, world):
    from sqlalchemy.exc import IntegrityError

    with tenant_bound(world.a.id):
        for _ in range(2):
            db.session.add(Delivery(tenant_id=world.a.id, notice_key="k", kind="test", channel="wecom",
                                    recipient="unit:1", recipient_label="x", subject="s", body="b", status="pending"))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_rate_limit_is_retried_with_backoff_then_sent(app, db, world, robot, provider, send):
    provider.answers.append((200, {"errcode": 45009, "errmsg": "api freq out of limit"}))
    with clock.frozen(datetime(2026, 12, 7, 10, 0)):
        _overdue_notice(world)
        send()
        row = _deliveries(db, world.a.id, channel="wecom")[0]
        assert row.status == "retry" and "45009" in row.last_error
        assert row.next_attempt_at == clock.utcnow() + timedelta(seconds=ops.BACKOFF[0])
        assert send() == 0, "not before its backoff has passed"
        clock.advance(timedelta(seconds=ops.BACKOFF[0] + 1))
        send()
    row = _deliveries(db, world.a.id, channel="wecom")[0]
    assert row.status == "sent" and row.attempts == 2 and row.last_error is None
    assert len(provider.seen) == 2


def test_a_bad_key_fails_at_once_and_keeps_why(app, db, world, robot, provider, send):
    provider.answers.append((200, {"errcode": 93000, "errmsg": "invalid webhook url"}))
    _overdue_notice(world)
    send()
    row = _deliveries(db, world.a.id, channel="wecom")[0]
    assert row.status == "failed" and "93000" in row.last_error and row.next_attempt_at is None
    send()
    assert len(provider.seen) == 1, "a permanent failure is not retried"


def test_a_provider_that_is_down_changes_nothing_but_the_delivery_row(app, db, world, robot, dead_port, monkeypatch,
                                                                       send):
    monkeypatch.setitem(app.config["HAZARDHUB_CHANNEL_URLS"], "wecom", dead_port)
    with clock.frozen(datetime(2026, 12, 7, 10, 0)):
        assert _overdue_notice(world) == 1
        send()
        with tenant_bound(world.a.id):
            inbox = db.session.execute(sa.select(Notification).where(
                Notification.key == "hazard-overdue:1:2026-12-01")).scalars().all()
        assert len(inbox) == 1, "the notice itself is kept"
        row = _deliveries(db, world.a.id, channel="wecom")[0]
        assert row.status == "retry" and "无法连接" in row.last_error
        for attempt in range(2, ops.MAX_ATTEMPTS + 1):
            clock.advance(timedelta(seconds=ops.BACKOFF[attempt - 2] + 1))
            send()
        row = _deliveries(db, world.a.id, channel="wecom")[0]
        assert row.status == "failed" and row.attempts == ops.MAX_ATTEMPTS


def test_a_send_abandoned_by_a_dead_worker_is_taken_up_after_its_lease(app, db, world, robot, provider, send):
    with clock.frozen(datetime(2026, 12, 7, 10, 0)):
        _overdue_notice(world)
        row = _deliveries(db, world.a.id, channel="wecom")[0]
        with tenant_bound(world.a.id):
            row.status, row.attempts, row.next_attempt_at = "sending", 1, clock.utcnow() + ops.LEASE
            db.session.commit()
        assert send() == 0
        clock.advance(ops.LEASE + timedelta(seconds=1))
        send()
    assert _deliveries(db, world.a.id, channel="wecom")[0].status == "sent"


def test_without_any_provider_messages_go_to_the_outbox(db, world):
    principal = world.users["principal"]
    today = clock.today()
    with tenant_bound(world.a.id):
        from hazardhub.directives import operations as directive_ops

        hazard = make_hazard(db, world.s1, principal, location="食堂后门")
        directive = directive_ops.issue(issuer=world.t1, school=world.s1, actor=world.users["township_supervisor"],
                                        hazard_ids=[hazard.id], requirements="限期整改", signer_name="李督导",
                                        deadline=today + timedelta(days=10), issued_on=today)
    rows = _deliveries(db, world.a.id, notice_key=f"directive-issued:{directive.id}")
    assert {(r.recipient, r.channel, r.status) for r in rows} == {
        (f"user:{principal.id}", "outbox", "outbox"), (f"user:{world.users['safety_officer'].id}", "outbox", "outbox")}
    assert rows[0].url == f"http://127.0.0.1:5000/directives/{directive.id}"
    assert directive.number in rows[0].body


def test_major_hazard_tells_the_township_and_the_bureau(db, world):
    hazard = make_hazard(db, world.s1, world.users["principal"], items=["3.1.6"], location="宿舍楼楼梯间")
    assert hazard.level == "major"
    rows = _deliveries(db, world.a.id, notice_key=f"major-registered:{hazard.id}")
    told = {r.recipient for r in rows}
    assert f"user:{world.users['township_supervisor'].id}" in told
    assert {f"user:{world.users['bureau_admin'].id}", f"user:{world.users['bureau_leader'].id}"} <= told
    assert f"user:{world.users['principal'].id}" not in told


SMS_VALUES = {
    "sms_aliyun": {"access_key_id": "LTAI", "sign_name": "甲区教育局", "template_code": "SMS_1", "access_key_secret": "s"},
    "sms_tencent": {"secret_id": "AKID", "sdk_app_id": "1400000001", "sign_name": "甲区教育局", "template_id": "1",
                    "secret_key": "s"},
}


@pytest.mark.parametrize("sms_kind", sorted(SMS_VALUES))
def test_users_may_leave_digests_and_channels_but_not_directives(app, db, world, sms_kind):
    with tenant_bound(world.a.id):
        ops.save_config(world.a.id, unit_id=world.a_root.id, kind=sms_kind, values=SMS_VALUES[sms_kind])
    principal = world.users["principal"]
    with tenant_bound(world.a.id):
        principal.phone = "13800138001"
        db.session.commit()
        ops.save_preference(world.a.id, principal.id, email="", email_on=False, sms_on=False, digest_on=False)
        notify(world.a.id, kind="due", key="info:1", text="一般提醒", url="/", user_ids=[principal.id])
        notify(world.a.id, kind="directive", key="directive-issued:999", text="指令", url="/directives/999",
               user_ids=[principal.id])
        db.session.commit()
    assert _deliveries(db, world.a.id, notice_key="info:1") == [], "an optional notice honours the opt-out"
    [row] = _deliveries(db, world.a.id, notice_key="directive-issued:999")
    assert (row.channel, row.address) == (sms_kind, "13800138001"), "a directive is sent anyway"
    with clock.frozen(datetime(2026, 12, 7, 10, 0)), tenant_bound(world.a.id):
        assert digest.compose_tenant(world.a.id, clock.now()) is not None
    assert _deliveries(db, world.a.id, notice_key="digest:2026-12-07", recipient=f"user:{principal.id}") == []


def _open_item(db, world, user):
    with tenant_bound(world.a.id):
        db.session.add(Notification(tenant_id=world.a.id, user_id=user.id, kind="due", key="due:selfcheck:x",
                                    text="一镇第一小学：本月校长带队重大事故隐患自查尚未开展", url="/inspections/", level="warning"))
        db.session.commit()


@pytest.mark.parametrize("at, sent", [
    ("2026-12-07T09:00", True),    # Monday, at the bureau's hour (default 09:00 Beijing)
    ("2026-12-07T08:59", False),   # Monday, a minute early
    ("2026-12-06T09:30", False),   # Sunday
    ("2026-10-01T09:30", False),   # National Day: a holiday on a Thursday
    ("2026-10-10T09:30", True),    # Saturday made a working day (调休)
])
def test_the_digest_goes_out_at_the_bureau_hour_on_working_days(db, world, at, sent):
    principal = world.users["principal"]
    _open_item(db, world, principal)
    moment = datetime.fromisoformat(at)
    with clock.frozen(moment):
        digest.run_digests()
        digest.run_digests()
    rows = _deliveries(db, world.a.id, notice_key=f"digest:{moment.date().isoformat()}",
                       recipient=f"user:{principal.id}")
    assert len(rows) == (1 if sent else 0)
    if sent:
        assert "本月校长带队重大事故隐患自查尚未开展" in rows[0].body and rows[0].url.endswith("/notifications/")


def test_the_bureau_sets_its_digest_hour(db, world):
    principal = world.users["principal"]
    _open_item(db, world, principal)
    with tenant_bound(world.a.id):
        ops.set_digest_hour(world.a.id, 7)
        with pytest.raises(ops.ChannelError):
            ops.set_digest_hour(world.a.id, 24)
    with clock.frozen(datetime(2026, 12, 7, 7, 5)):
        digest.run_digests()
    assert len(_deliveries(db, world.a.id, notice_key="digest:2026-12-07", recipient=f"user:{principal.id}")) == 1


def test_a_township_group_gets_its_schools_overdue_list(db, world, robot, provider, send):
    with clock.frozen(date(2026, 11, 20)):
        make_hazard(db, world.s1, world.users["principal"], location="食堂后门", deadline=date(2026, 12, 1))
        make_hazard(db, world.s3, world.users["bureau_admin"], location="二镇操场", deadline=date(2026, 12, 1))
    with clock.frozen(datetime(2026, 12, 7, 9, 0)):
        digest.run_digests()
        send()
    [row] = _deliveries(db, world.a.id, notice_key="group-overdue:2026-12-07")
    assert row.recipient == f"unit:{world.t1.id}" and row.status == "sent"
    assert "食堂后门" in row.body and "逾期 6 天" in row.body and "二镇操场" not in row.body


def test_sign_off_due_tomorrow_is_sent_at_once(db, world):
    principal = world.users["principal"]
    with tenant_bound(world.a.id):
        db.session.add(Notification(tenant_id=world.a.id, user_id=principal.id, kind="due",
                                    key=f"due:signoff:2026-12:{world.s1.id}", text="一镇第一小学：本月自查已完成，待校长签字",
                                    url="/inspections/1", level="warning"))
        db.session.commit()
    with clock.frozen(datetime(2026, 12, 29, 9, 0)):
        digest.run_digests()
    assert _deliveries(db, world.a.id, notice_key="signoff-tomorrow:2026-12:" + str(world.s1.id)) == []
    with clock.frozen(datetime(2026, 12, 30, 9, 0)):
        digest.run_digests()
    [row] = _deliveries(db, world.a.id, notice_key="signoff-tomorrow:2026-12:" + str(world.s1.id))
    assert row.recipient == f"user:{principal.id}" and "明天（2026-12-31）" in row.body


def test_a_directive_reaches_the_principal_by_email_through_the_job(app, db, world, plain_smtp_server, send):
    host, port, received = plain_smtp_server
    principal = world.users["principal"]
    with tenant_bound(world.a.id):
        ops.save_config(world.a.id, unit_id=world.a_root.id, kind="email",
                        values={"host": host, "port": str(port), "security": "none", "username": "",
                                "sender": "aqk@jyj.example.cn"})
        ops.save_preference(world.a.id, principal.id, email="wang@school.example.cn", email_on=True, sms_on=False,
                            digest_on=True)
        notify(world.a.id, kind="directive", key="directive-issued:5", text="整改通知书 一镇中校整〔2026〕5号 已下达。",
               url="/directives/5", user_ids=[principal.id])
        db.session.commit()
    send()
    [row] = _deliveries(db, world.a.id, notice_key="directive-issued:5")
    assert (row.channel, row.status, row.address) == ("email", "sent", "wang@school.example.cn")
    [envelope] = received
    assert envelope.rcpt_tos == ["wang@school.example.cn"]
    text = envelope.original_content.decode("utf-8", "replace")
    assert "http://127.0.0.1:5000/directives/5" in text
