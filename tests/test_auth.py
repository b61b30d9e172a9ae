"""Login, lockout, idle expiry, forced password change, logout, CSRF and security headers.

Everything goes through the real forms (POST with the CSRF token scraped from the page).
"""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

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


def test_idle_session_expires_after_thirty_minutes(client, world):
    login(client, world.users["principal"])
    assert is_logged_in(client)
    with client.session_transaction() as session:
        session["last_seen"] = time.time() - 31 * 60
    response = client.get("/units/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    page = client.get(response.headers["Location"])
    assert "过期" in text(page)
    assert not is_logged_in(client)


def test_activity_within_the_idle_limit_keeps_the_session(client, world):
    login(client, world.users["principal"])
    with client.session_transaction() as session:
        session["last_seen"] = time.time() - 29 * 60
    assert is_logged_in(client)
    with client.session_transaction() as session:
        assert time.time() - session["last_seen"] < 60  # refreshed by the request


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


def test_own_password_change_ends_other_sessions(client, new_client, world, production_sessions):
    user = world.users["principal"]
    other = new_client()
    do_login(other, user.username, PASSWORD)
    do_login(client, user.username, PASSWORD)
    response = client.submit("/password", {"current_password": PASSWORD, "new_password": "Another9pass",
                                           "confirm": "Another9pass"})
    assert response.status_code == 302
    assert is_logged_in(client)
    assert not is_logged_in(other)


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

