"""Login, lockout, idle expiry, forced password change, logout, CSRF and security headers.

Everything goes through the real forms (POST with the CSRF token scraped from the page).
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hazardhub import clock
from tests.fixtures.factories import PASSWORD, login

OTP_RE = re.compile(r"一次性密码[：:]\s*<code[^>]*>\s*([^<\s]+)\s*</code>")


@pytest.fixture
def new_client(app, db):
    """Another browser (its own cookies)."""
    return app.test_client


@pytest.fixture
def production_sessions(db, monkeypatch):
    """Sessions made by requests expire objects on commit, as in production (the test harness
    turns that off for the test body's own convenience)."""
    monkeypatch.setitem(db.session.session_factory.kw, "expire_on_commit", True)


def text(response) -> str:
    return response.get_data(as_text=True)


def do_login(client, username: str, password: str, url: str = "/login"):
    return client.submit(url, {"username": username, "password": password}, page="/login")


def attempts(db, username: str):
    from hazardhub.accounts.models import LoginAttempt

    db.session.flush()
    return db.session.execute(
        sa.select(LoginAttempt).where(LoginAttempt.username == username).order_by(LoginAttempt.id)
    ).scalars().all()


def age_attempts(db, username: str, minutes: float) -> None:
    """Move every attempt of ``username`` ``minutes`` into the past (simulated time)."""
    for attempt in attempts(db, username):
        attempt.attempted_at = attempt.attempted_at - timedelta(minutes=minutes)
    db.session.commit()


def is_logged_in(client) -> bool:
    response = client.get("/units/")
    return response.status_code == 200


def stored_password_hash(db, user) -> str:
    from hazardhub.accounts.models import User
    from hazardhub.tenancy import tenant_bound

    with tenant_bound(user.tenant_id):
        return db.session.execute(
            sa.select(User.password_hash).where(User.id == user.id)
        ).scalar_one()


def refreshed(db, user):
    from hazardhub.accounts.models import User
    from hazardhub.tenancy import tenant_bound

    with tenant_bound(user.tenant_id):
        return db.session.execute(
            sa.select(User).where(User.id == user.id).execution_options(populate_existing=True)
        ).scalar_one()


# ---------------------------------------------------------------------------------------------
# login and the attempt log


def test_login_form_logs_in_and_redirects_home(client, world, db, production_sessions):
    user = world.users["principal"]
    response = do_login(client, user.username, PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert user.display_name in text(home)
    [attempt] = attempts(db, user.username)
    assert attempt.succeeded is True
    assert attempt.user_id == user.id
    assert attempt.remote_addr == "127.0.0.1"


def test_login_follows_a_local_next(client, world):
    user = world.users["principal"]
    response = do_login(client, user.username, PASSWORD, url="/login?next=/units/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/units/"


def test_wrong_password_is_refused_and_recorded(client, world, db):
    user = world.users["principal"]
    response = do_login(client, user.username, "Wrong0pass")
    assert response.status_code == 200
    assert "用户名或密码错误" in text(response)
    assert not is_logged_in(client)
    [attempt] = attempts(db, user.username)
    assert attempt.succeeded is False
    assert attempt.reason == "bad_password"
    assert attempt.user_id == user.id
    assert attempt.remote_addr == "127.0.0.1"


def test_unknown_user_gets_the_same_message_and_is_recorded(client, world, db):
    response = do_login(client, "nobody-here", PASSWORD)
    assert "用户名或密码错误" in text(response)
    [attempt] = attempts(db, "nobody-here")
    assert (attempt.succeeded, attempt.reason, attempt.user_id) == (False, "unknown_user", None)


def test_inactive_user_cannot_log_in(client, world, db):
    from hazardhub.accounts import operations as account_ops
    from hazardhub.tenancy import tenant_bound

    user = world.users["staff"]
    with tenant_bound(user.tenant_id):
        account_ops.update_user(user, display_name=user.display_name, phone=None, is_active=False,
                                version_id=user.version_id)
    response = do_login(client, user.username, PASSWORD)
    assert "已停用" in text(response)
    assert not is_logged_in(client)
    assert attempts(db, user.username)[-1].reason == "inactive"


def test_five_failures_lock_the_account_for_fifteen_minutes(client, world, db, production_sessions):
    user = world.users["principal"]
    for _ in range(5):
        response = do_login(client, user.username, "Wrong0pass")
        assert "用户名或密码错误" in text(response)
    response = do_login(client, user.username, PASSWORD)
    assert "锁定" in text(response)
    assert not is_logged_in(client)
    recorded = attempts(db, user.username)
    assert [a.reason for a in recorded] == ["bad_password"] * 5 + ["locked"]
    assert not any(a.succeeded for a in recorded)

    age_attempts(db, user.username, 14)  # 14 minutes later: still locked
    assert "锁定" in text(do_login(client, user.username, PASSWORD))
    assert not is_logged_in(client)

    age_attempts(db, user.username, 2)  # 16 minutes after the failures: unlocked
    response = do_login(client, user.username, PASSWORD)
    assert response.status_code == 302
    assert is_logged_in(client)
    assert len(attempts(db, user.username)) == 8
    assert attempts(db, user.username)[-1].succeeded is True


def test_attempts_while_locked_do_not_extend_the_lock(client, world, db):
    user = world.users["principal"]
    for _ in range(5):
        do_login(client, user.username, "Wrong0pass")
    age_attempts(db, user.username, 14)
    for _ in range(5):  # somebody keeps trying during the lock
        assert "锁定" in text(do_login(client, user.username, PASSWORD))
    age_attempts(db, user.username, 2)  # the failures are 16 minutes old: the lock has ended
    response = do_login(client, user.username, PASSWORD)
    assert response.status_code == 302, text(response)
    assert is_logged_in(client)


def test_a_success_resets_the_failure_count(client, world, db, production_sessions):
    user = world.users["principal"]
    for _ in range(4):
        do_login(client, user.username, "Wrong0pass")
    assert do_login(client, user.username, PASSWORD).status_code == 302
    client.submit("/logout", {}, page="/")
    assert not is_logged_in(client)
    for _ in range(4):
        assert "用户名或密码错误" in text(do_login(client, user.username, "Wrong0pass"))
    response = do_login(client, user.username, PASSWORD)
    assert response.status_code == 302
    assert is_logged_in(client)
    assert len(attempts(db, user.username)) == 10


def test_lockout_is_per_username(client, world):
    victim, other = world.users["principal"], world.users["staff"]
    for _ in range(5):
        do_login(client, victim.username, "Wrong0pass")
    assert do_login(client, other.username, PASSWORD).status_code == 302


def test_empty_login_form_is_refused_in_chinese(client, world, db):
    response = client.submit("/login", {"username": "", "password": ""})
    assert response.status_code == 200
    assert "请输入用户名" in text(response)
    assert attempts(db, "") == []


# ---------------------------------------------------------------------------------------------
# idle expiry


def session_rows(db, user):
    from hazardhub.accounts.models import UserSession

    return db.session.execute(
        sa.select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)
        .execution_options(populate_existing=True)
    ).scalars().all()


def test_idle_session_expires_after_thirty_minutes(client, world, db):
    user = world.users["principal"]
    with clock.frozen("2025-04-09 10:00"):
        login(client, user)
        assert is_logged_in(client)
        clock.advance(timedelta(minutes=31))
        expired_at = clock.utcnow()
        response = client.get("/units/")
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")
        page = client.get(response.headers["Location"])
        assert "过期" in text(page)
        assert not is_logged_in(client)
    [row] = session_rows(db, user)
    assert (row.revoked_reason, row.revoked_at) == ("idle", expired_at)  # ended on the server


def test_activity_within_the_idle_limit_keeps_the_session(client, world, db):
    """Each request moves the idle deadline; ``last_seen_at`` is written at most once a minute."""
    user = world.users["principal"]
    with clock.frozen("2025-04-09 10:00"):
        login(client, user)
        clock.advance(timedelta(minutes=29))
        assert is_logged_in(client)
        [row] = session_rows(db, user)
        assert row.last_seen_at == clock.utcnow()  # refreshed by the request
        clock.advance(timedelta(minutes=29))
        assert is_logged_in(client)  # 58 minutes after login, never 30 idle
        seen = clock.utcnow()
        clock.advance(timedelta(seconds=30))
        assert is_logged_in(client)
        [row] = session_rows(db, user)
        assert row.last_seen_at == seen  # within a minute: no write
        assert row.revoked_at is None


# ---------------------------------------------------------------------------------------------
# admin reset and the forced password change


def test_admin_reset_ends_sessions_and_forces_a_new_password(client, new_client, world, db, production_sessions):
    staff = world.users["staff"]
    staff_client = new_client()
    assert do_login(staff_client, staff.username, PASSWORD).status_code == 302
    assert is_logged_in(staff_client)

    login(client, world.users["bureau_admin"])
    response = client.submit(f"/users/{staff.id}/reset-password", {"reason": "忘记密码"},
                             page=f"/users/{staff.id}")
    assert response.status_code == 200
    match = OTP_RE.search(text(response))
    assert match, text(response)
    one_time = match.group(1)
    assert "只显示这一次" in text(response)
    assert one_time not in text(client.get(f"/users/{staff.id}"))  # shown once only
    assert refreshed(db, staff).must_change_password is True

    # the staff member's existing session has ended
    response = staff_client.get("/units/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")

    # the old password no longer works; the one-time password leads to /password
    assert "用户名或密码错误" in text(do_login(staff_client, staff.username, PASSWORD))
    response = do_login(staff_client, staff.username, one_time)
    assert response.status_code == 302
    assert response.headers["Location"] == "/password"
    for url in ("/", "/units/", f"/units/{world.s1.id}"):
        response = staff_client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"] == "/password"
    assert "须先修改密码" in text(staff_client.get("/", follow_redirects=True))

    response = staff_client.submit("/password", {"current_password": one_time, "new_password": "Fresh2pass",
                                                 "confirm": "Fresh2pass"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert is_logged_in(staff_client)  # the session survives its own password change
    assert refreshed(db, staff).must_change_password is False
    staff_client.submit("/logout", {}, page="/")
    assert do_login(staff_client, staff.username, "Fresh2pass").headers["Location"] == "/"


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        (PASSWORD, "Ab1", "Ab1", "密码至少 8 位"),
        (PASSWORD, "abcdefghij", "abcdefghij", "密码须同时包含字母和数字"),
        (PASSWORD, "1234567890", "1234567890", "密码须同时包含字母和数字"),
        (PASSWORD, "A1" * 100, "A1" * 100, "密码不能超过 128 位"),
        (PASSWORD, PASSWORD, PASSWORD, "新密码不能与当前密码相同"),
        (PASSWORD, "Good4pass", "Good5pass", "两次输入的新密码不一致"),
        ("Wrong0pass", "Good4pass", "Good4pass", "当前密码不正确"),
        ("", "", "", "请输入当前密码"),
    ],
)
def test_password_policy(client, world, db, current, new, confirm, message):
    user = world.users["principal"]
    before = stored_password_hash(db, user)
    login(client, user)
    response = client.submit("/password", {"current_password": current, "new_password": new, "confirm": confirm})
    assert response.status_code == 200
    assert message in text(response)
    assert stored_password_hash(db, user) == before


# ---------------------------------------------------------------------------------------------
# logout and CSRF


def test_logout_is_post_only_with_csrf(client, world, production_sessions):
    login(client, world.users["principal"])
    response = client.get("/logout")
    assert response.status_code == 405
    assert "不支持的请求方式" in text(response)
    assert is_logged_in(client)

    response = client.post("/logout")
    assert response.status_code == 400
    assert "表单校验码缺失" in text(response)
    assert is_logged_in(client)

    response = client.submit("/logout", {}, page="/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "已退出登录" in text(client.get("/login"))
    assert not is_logged_in(client)


def test_login_without_csrf_token_is_400_and_records_nothing(client, world, db):
    user = world.users["principal"]
    client.get("/login")
    response = client.post("/login", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 400
    assert "请求已失效" in text(response)
    assert attempts(db, user.username) == []
    assert not is_logged_in(client)


def test_csrf_token_of_another_session_is_refused(client, new_client, world, db):
    user = world.users["principal"]
    token = new_client().csrf_token("/login")
    client.get("/login")
    response = client.post("/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 400
    assert attempts(db, user.username) == []


# ---------------------------------------------------------------------------------------------
# open redirects


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "//evil.com/units/",
        "https://evil.com/",
        "http:evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "/\t/evil.com",
        "javascript:alert(1)",
        "evil.com",
    ],
)
def test_next_never_leaves_the_site(client, world, target):
    from urllib.parse import quote

    user = world.users["principal"]
    response = do_login(client, user.username, PASSWORD, url=f"/login?next={quote(target, safe='')}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# ---------------------------------------------------------------------------------------------
# security headers


@pytest.mark.parametrize("url", ["/login", "/no-such-page", "/healthz"])
def test_security_headers(client, world, url):
    response = client.get(url)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers  # development: plain http


def test_security_headers_for_logged_in_pages(client, world):
    login(client, world.users["bureau_admin"])
    for url in ("/users", "/units/"):
        response = client.get(url)
        assert response.status_code == 200
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_flags_in_development(client, world):
    response = client.get("/login")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_production_sends_hsts_and_secure_cookies(database_url, monkeypatch, tmp_path):
    """A separate app built as production builds it (HAZARDHUB_ENV in the environment)."""
    from hazardhub import create_app
    from hazardhub.extensions import db as _db

    monkeypatch.setenv("HAZARDHUB_ENV", "production")
    monkeypatch.setenv("HAZARDHUB_SECRET_KEY", "production-test-secret")
    monkeypatch.setenv("HAZARDHUB_INSTANCE_PATH", str(tmp_path))
    prod = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "HAZARDHUB_STORAGE_PATH": str(tmp_path)})
    try:
        assert prod.config["HAZARDHUB_ENV"] == "production"
        assert prod.config["SESSION_COOKIE_SECURE"] is True
        assert prod.config["REMEMBER_COOKIE_SECURE"] is True
        assert prod.config["SESSION_COOKIE_HTTPONLY"] is True
        response = prod.test_client().get("/login", base_url="https://localhost")
        assert response.status_code == 200
        hsts = response.headers["Strict-Transport-Security"]
        assert "max-age=31536000" in hsts
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        cookie = response.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        with prod.app_context():
            _db.session.remove()
            _db.engine.dispose()


def test_hsts_follows_the_environment_setting(app, client, world, monkeypatch):
    monkeypatch.setitem(app.config, "HAZARDHUB_ENV", "production")
    assert "max-age=31536000" in client.get("/login").headers["Strict-Transport-Security"]
    monkeypatch.setitem(app.config, "HAZARDHUB_ENV", "development")
    assert "Strict-Transport-Security" not in client.get("/login").headers



# ---------------------------------------------------------------------------------------------
# sessions that end (issue #12, item 4): the server decides, not the cookie


def replay(app, client):
    """Another browser holding a copy of ``client``'s session cookie (what a thief would keep)."""
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None
    copy = app.test_client()
    copy.set_cookie(name, cookie.value)
    return copy


def test_a_cookie_replayed_after_logout_gets_the_login_page(app, client, world, db, production_sessions):
    user = world.users["principal"]
    assert do_login(client, user.username, PASSWORD).status_code == 302
    thief = replay(app, client)
    assert is_logged_in(thief)  # the copy is as good as the original while the session lives
    client.submit("/logout", {}, page="/")

    response = thief.get("/units/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert "登录" in text(thief.get(response.headers["Location"]))
    assert not is_logged_in(thief)
    [row] = session_rows(db, user)
    assert row.revoked_reason == "logout" and row.revoked_at is not None


def test_logout_ends_only_its_own_session(app, client, new_client, world, db):
    user = world.users["principal"]
    phone = new_client()
    do_login(client, user.username, PASSWORD)
    do_login(phone, user.username, PASSWORD)
    client.submit("/logout", {}, page="/")
    assert not is_logged_in(client)
    assert is_logged_in(phone)
    assert sorted(str(r.revoked_reason) for r in session_rows(db, user)) == ["None", "logout"]


def test_the_cookie_carries_a_random_id_and_the_database_only_its_hash(client, world, db):
    import hashlib

    from hazardhub.accounts.sessions import SESSION_KEY

    user = world.users["principal"]
    do_login(client, user.username, PASSWORD)
    with client.session_transaction() as session:
        token = session[SESSION_KEY]
    assert len(token) >= 43  # 32 random bytes, urlsafe base64
    [row] = session_rows(db, user)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {str(v) for v in vars(row).values()}
    assert (row.remote_addr, row.revoked_at) == ("127.0.0.1", None)
    assert client.get_cookie("remember_token") is None  # "remember me" is never issued


def test_a_remember_cookie_alone_signs_nobody_in(app, new_client, world):
    """Flask-Login would accept a remember cookie naming a user id; without a live session row
    the loader refuses it, so it cannot outlive a logout either."""
    from flask_login.utils import encode_cookie

    user = world.users["principal"]
    with app.test_request_context("/"):
        value = encode_cookie(user.get_id())
    browser = new_client()
    browser.set_cookie(app.config.get("REMEMBER_COOKIE_NAME", "remember_token"), value)
    response = browser.get("/units/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_own_password_change_keeps_this_session_and_ends_the_others(app, client, new_client, world, db,
                                                                    production_sessions):
    user = world.users["principal"]
    phone = new_client()
    do_login(phone, user.username, PASSWORD)
    do_login(client, user.username, PASSWORD)
    copy_of_phone = replay(app, phone)
    response = client.submit("/password", {"current_password": PASSWORD, "new_password": "Another9pass",
                                           "confirm": "Another9pass"})
    assert response.status_code == 302
    assert "其他设备上的登录已失效" in text(client.get("/"))
    assert is_logged_in(client)
    assert not is_logged_in(phone) and not is_logged_in(copy_of_phone)
    assert sorted(str(r.revoked_reason) for r in session_rows(db, user)) == ["None", "password_change"]


def test_deactivation_ends_every_session_for_good(app, client, world, db, production_sessions):
    from hazardhub.accounts import operations as account_ops
    from hazardhub.tenancy import tenant_bound

    user = world.users["staff"]
    do_login(client, user.username, PASSWORD)
    thief = replay(app, client)
    with tenant_bound(user.tenant_id):
        account_ops.update_user(user, display_name=user.display_name, phone=None, is_active=False,
                                version_id=user.version_id)
    assert not is_logged_in(client)
    with tenant_bound(user.tenant_id):
        user = refreshed(db, user)
        account_ops.update_user(user, display_name=user.display_name, phone=None, is_active=True,
                                version_id=user.version_id)
    assert not is_logged_in(client) and not is_logged_in(thief)  # reactivation revives nothing
    assert [r.revoked_reason for r in session_rows(db, user)] == ["deactivated"]
    assert do_login(client, user.username, PASSWORD).status_code == 302  # a fresh login works


# ---------------------------------------------------------------------------------------------
# login that strangers cannot turn against a principal (issue #12, item 5)


def login_from(client, address: str, username: str, password: str):
    return client.submit("/login", {"username": username, "password": password}, page="/login",
                         environ_base={"REMOTE_ADDR": address})


def test_failures_from_another_address_do_not_lock_the_owner(client, new_client, world, db):
    user = world.users["principal"]
    stranger = new_client()
    for _ in range(5):
        assert "用户名或密码错误" in text(login_from(stranger, "10.0.0.9", user.username, "Wrong0pass"))
    # the stranger's address is locked for this account, even with the right password...
    assert "账号已锁定" in text(login_from(stranger, "10.0.0.9", user.username, PASSWORD))
    assert not is_logged_in(stranger)
    # ...and the owner at their own address is not
    response = login_from(client, "10.0.0.1", user.username, PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert is_logged_in(client)
    assert [(a.remote_addr, a.reason) for a in attempts(db, user.username)] == \
        [("10.0.0.9", "bad_password")] * 5 + [("10.0.0.9", "locked"), ("10.0.0.1", None)]


def test_the_owners_own_failures_lock_the_owner(client, world, db):
    user = world.users["principal"]
    for _ in range(5):
        assert "用户名或密码错误" in text(login_from(client, "10.0.0.1", user.username, "Wrong0pass"))
    response = login_from(client, "10.0.0.1", user.username, PASSWORD)
    assert response.status_code == 200
    assert "连续登录失败次数过多，账号已锁定" in text(response)
    assert not is_logged_in(client)
    assert attempts(db, user.username)[-1].reason == "locked"
    age_attempts(db, user.username, 16)  # the lock ends after fifteen minutes
    assert login_from(client, "10.0.0.1", user.username, PASSWORD).status_code == 302


def test_too_many_failures_from_one_address_answer_429_in_chinese(app, client, new_client, world, db, monkeypatch):
    from hazardhub.accounts import passwords

    assert app.config["HAZARDHUB_LOGIN_LIMIT_PER_ADDRESS"] == "20/minute;100/hour"
    user = world.users["principal"]
    for i in range(20):  # one machine guessing across many usernames
        assert "用户名或密码错误" in text(login_from(client, "10.0.0.7", f"guess{i}", "Wrong0pass"))
    checks = []
    monkeypatch.setattr(passwords, "check_password_hash", lambda h, p: checks.append(h) or False)
    response = login_from(client, "10.0.0.7", user.username, PASSWORD)
    assert response.status_code == 429
    assert "登录尝试过于频繁" in text(response) and "秒后再试" in text(response)
    assert checks == []  # no password was checked
    assert not is_logged_in(client)
    assert attempts(db, user.username)[-1].reason == "throttled"
    monkeypatch.undo()
    # slowed, not locked: another address is not affected
    assert login_from(new_client(), "10.0.0.8", user.username, PASSWORD).status_code == 302


def test_many_addresses_against_one_account_are_slowed_but_not_the_owner_at_home(client, new_client, world, db):
    user = world.users["principal"]
    assert login_from(client, "10.0.0.1", user.username, PASSWORD).status_code == 302  # the owner's address
    client.submit("/logout", {}, page="/", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    stranger = new_client()
    for i in range(10):  # ten machines, one guess each: no address reaches the lock
        assert "用户名或密码错误" in text(login_from(stranger, f"10.0.1.{i}", user.username, "Wrong0pass"))
    response = login_from(stranger, "10.0.1.99", user.username, PASSWORD)
    assert response.status_code == 429 and "登录尝试过于频繁" in text(response)
    assert not is_logged_in(stranger)
    # the owner, at an address the account signed in from, is not kept out
    assert login_from(client, "10.0.0.1", user.username, PASSWORD).status_code == 302
    assert is_logged_in(client)


def test_unknown_and_known_usernames_do_the_same_work(client, world, db, monkeypatch):
    """Counted, not timed: each failed login checks exactly one hash, of the configured method."""
    from hazardhub.accounts import operations as account_ops
    from hazardhub.accounts import passwords
    from hazardhub.tenancy import tenant_bound

    real = passwords.check_password_hash
    checks: list[str] = []
    monkeypatch.setattr(passwords, "check_password_hash", lambda h, p: checks.append(h.split("$")[0]) or real(h, p))
    inactive = world.users["staff"]
    with tenant_bound(inactive.tenant_id):
        account_ops.update_user(inactive, display_name=inactive.display_name, phone=None, is_active=False,
                                version_id=inactive.version_id)
    pages = {}
    for name in (world.users["principal"].username, "nobody-at-all", inactive.username):
        checks.clear()
        pages[name] = text(do_login(client, name, "Wrong0pass"))
        assert checks == ["pbkdf2:sha256:1000"], name
        assert "用户名或密码错误" in pages[name]
    # nothing tells them apart (but the per-render form tokens, which differ between any two pages)
    tokens = re.compile(r'(name="(?:csrf_token|form_token)"[^>]*value=")[^"]*"')
    assert len({tokens.sub(r'\1"', page.replace(name, "")) for name, page in pages.items()}) == 1


def test_unknown_usernames_take_as_long_as_known_ones(app, client, world, db, factories, monkeypatch):
    """What the issue measured (unknown usernames answered 3–10× faster), with a hash costly
    enough to dominate a request: medians of five tries each must be within 2×."""
    import statistics
    import time

    monkeypatch.setitem(app.config, "HAZARDHUB_PASSWORD_HASH", "pbkdf2:sha256:200000")
    user = factories.user(world.s1, "staff")
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for _ in range(5):  # five failures: the sixth would be refused by the lock
        for kind, name in (("known", user.username), ("unknown", "ghost-user")):
            token = client.csrf_token("/login")
            started = time.perf_counter()
            response = client.post("/login", data={"username": name, "password": "Wrong0pass", "csrf_token": token})
            timings[kind].append(time.perf_counter() - started)
            assert "用户名或密码错误" in text(response)
    known, unknown = statistics.median(timings["known"]), statistics.median(timings["unknown"])
    assert max(known, unknown) / min(known, unknown) < 2, timings


def test_the_throttle_lets_logins_through_when_its_storage_is_down(app, client, world, db, monkeypatch):
    """Redis gone: nobody is kept out (the lockout, in the database, still holds)."""
    from hazardhub.accounts.throttle import LoginThrottle

    monkeypatch.setitem(app.extensions, "hazardhub_login_throttle",
                        LoginThrottle("redis://127.0.0.1:1/0", "20/minute", "10/minute"))
    user = world.users["principal"]
    assert "用户名或密码错误" in text(do_login(client, user.username, "Wrong0pass"))
    assert do_login(client, user.username, PASSWORD).status_code == 302
    assert is_logged_in(client)


def test_x_forwarded_for_is_trusted_only_behind_a_configured_proxy(client, world, db, database_url, tmp_path,
                                                                     monkeypatch):
    from flask import request

    from hazardhub import create_app
    from hazardhub.extensions import db as _db

    user = world.users["principal"]
    client.submit("/login", {"username": user.username, "password": "Wrong0pass"},
                  headers={"X-Forwarded-For": "10.6.6.6"})
    assert attempts(db, user.username)[-1].remote_addr == "127.0.0.1"  # a header anybody can send

    monkeypatch.setenv("HAZARDHUB_INSTANCE_PATH", str(tmp_path))
    proxied = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "HAZARDHUB_STORAGE_PATH": str(tmp_path),
                          "SECRET_KEY": "proxied", "HAZARDHUB_PROXY_COUNT": 1})
    try:
        with proxied.test_client() as browser:
            browser.get("/healthz", headers={"X-Forwarded-For": "10.6.6.6"})
            assert request.remote_addr == "10.6.6.6"
            browser.get("/healthz", headers={"X-Forwarded-For": "10.1.1.1, 10.6.6.6"})
            assert request.remote_addr == "10.6.6.6"  # only the hop our proxy appended
    finally:
        with proxied.app_context():
            _db.session.remove()
            _db.engine.dispose()
