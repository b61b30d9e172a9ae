"""The channel pages: the bureau admin configures channels (secrets masked once saved), sends a
test message through the queue, reads the outbox and the delivery log; each user sets their own
preferences; bad input is refused in Chinese with nothing changed."""
from __future__ import annotations

import sqlalchemy as sa

from hazardhub.channels.models import ChannelConfig, ChannelPreference, Delivery
from hazardhub.notifications.operations import notify
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login


def _configs(db, world):
    with tenant_bound(world.a.id):
        return db.session.execute(sa.select(ChannelConfig).execution_options(populate_existing=True)).scalars().all()


def test_admin_saves_a_group_robot_and_its_secret_is_never_shown_again(app, db, client, world, provider, monkeypatch,
                                                                      drain_jobs):
    monkeypatch.setitem(app.config["HAZARDHUB_CHANNEL_URLS"], "dingtalk", provider.url)
    provider.check = lambda seen: (200, {"errcode": 0, "errmsg": "ok"})
    login(client, world.users["bureau_admin"])
    page = client.get("/channels/").get_data(as_text=True)
    assert "消息渠道设置" in page and world.t1.name in page
    url = f"/channels/units/{world.t1.id}?kind=dingtalk"
    response = client.submit(url, {"kind": "dingtalk", "access_token": "tok-secret-123", "secret": "SECabcdef",
                                   "enabled": "y"})
    assert response.status_code == 302
    [config] = _configs(db, world)
    assert (config.unit_id, config.kind) == (world.t1.id, "dingtalk")
    assert "tok-secret-123" not in config.secret and "SECabcdef" not in config.secret
    for page_url in (url, "/channels/"):
        html = client.get(page_url).get_data(as_text=True)
        assert "tok-secret-123" not in html and "SECabcdef" not in html
    assert "已设置" in client.get(url).get_data(as_text=True)
    # the test message goes through the queue (in-process here) and the log shows the outcome
    response = client.submit(f"/channels/units/{world.t1.id}/test", {"kind": "dingtalk"}, page="/channels/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/channels/log")
    drain_jobs()
    assert len(provider.seen) == 1 and provider.seen[0].path == "/robot/send"
    with tenant_bound(world.a.id):
        [row] = db.session.execute(sa.select(Delivery).where(Delivery.kind == "test")).scalars().all()
        assert row.status == "sent"
    assert "已发送" in client.get("/channels/log").get_data(as_text=True)


def test_bad_settings_are_refused_in_chinese_and_nothing_is_saved(db, client, world):
    login(client, world.users["bureau_admin"])
    url = f"/channels/units/{world.a_root.id}?kind=email"
    response = client.submit(url, {"kind": "email", "host": "smtp.example.cn", "port": "abc", "security": "ssl",
                                   "sender": "aqk@example.cn"}, follow_redirects=True)
    assert response.status_code == 200 and "端口须为 1–65535 的数字" in response.get_data(as_text=True)
    response = client.submit(f"/channels/units/{world.t1.id}?kind=wecom", {"kind": "wecom", "key": ""},
                             follow_redirects=True)
    assert "请填写" in response.get_data(as_text=True)
    # email and SMS belong to the bureau itself, not to a township
    response = client.get(f"/channels/units/{world.t1.id}?kind=sms_aliyun", follow_redirects=True)
    assert "邮件和短信只能配置在教育局本级" in response.get_data(as_text=True)
    assert _configs(db, world) == []


def test_only_the_bureau_admin_reaches_the_channel_pages(client, world):
    for role in ("principal", "township_supervisor", "bureau_leader"):
        login(client, world.users[role])
        for url in ("/channels/", "/channels/outbox", "/channels/log", f"/channels/units/{world.t1.id}?kind=wecom"):
            assert client.get(url).status_code in (403, 404), (role, url)
    login(client, world.b_admin)
    assert client.get(f"/channels/units/{world.t1.id}?kind=wecom").status_code == 404


def test_the_outbox_shows_each_message_as_it_would_go_out(db, client, world):
    with tenant_bound(world.a.id):
        notify(world.a.id, kind="directive", key="directive-issued:77", text="一镇中心学校向一镇第一小学下达整改通知书 一镇中校整〔2026〕3号",
               url="/directives/77", user_ids=[world.users["principal"].id])
        db.session.commit()
    login(client, world.users["bureau_admin"])
    html = client.get("/channels/outbox").get_data(as_text=True)
    assert "一镇中校整〔2026〕3号" in html and "已入发件箱" in html
    assert "http://127.0.0.1:5000/directives/77" in html
    assert world.users["principal"].display_name in html


def test_users_set_their_own_preferences(db, client, world):
    principal = world.users["principal"]
    login(client, principal)
    assert "消息接收设置" in client.get("/").get_data(as_text=True), "linked from the account menu"
    response = client.submit("/channels/preferences", {"email": "not-an-address", "email_on": "y", "sms_on": "y"},
                             follow_redirects=True)
    assert "邮箱地址格式不正确" in response.get_data(as_text=True)
    response = client.submit("/channels/preferences", {"email": "wang@school.example.cn", "email_on": "y"})
    assert response.status_code == 302
    with tenant_bound(world.a.id):
        pref = db.session.execute(sa.select(ChannelPreference).where(ChannelPreference.user_id == principal.id)
                                  .execution_options(populate_existing=True)).scalar_one()
    assert (pref.email, pref.email_on, pref.sms_on, pref.digest_on) == ("wang@school.example.cn", True, False, False)


def test_the_admin_menu_links_settings_and_outbox(client, world):
    login(client, world.users["bureau_admin"])
    html = client.get("/").get_data(as_text=True)
    assert 'href="/channels/"' in html and 'href="/channels/outbox"' in html
