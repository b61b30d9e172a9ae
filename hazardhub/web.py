"""Cross-cutting web wiring: the home page by role, error pages, headers, Jinja helpers."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, render_template
from flask_login import current_user, login_required
from sqlalchemy.orm.exc import StaleDataError
from flask_wtf.csrf import CSRFError

from hazardhub.accounts.models import ROLES, role_label
from hazardhub.policy import template_can

SHANGHAI = ZoneInfo("Asia/Shanghai")

bp = Blueprint("web", __name__)


@bp.route("/")
@login_required
def home():
    """Each role's home: what this person can reach, as links."""
    from hazardhub.compliance.reminders import reminders_for
    from hazardhub.orgs.operations import home_cards

    return render_template("home.html", cards=home_cards(current_user), reminders=reminders_for(current_user))


@bp.route("/healthz")
def healthz():
    return {"ok": True}


def local_time(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Naive-UTC datetime → Asia/Shanghai text (every date shown is Beijing time)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc).astimezone(SHANGHAI).strftime(fmt)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def is_city_user(user) -> bool:
    """Does the user hold a city role (reads its districts)?"""
    from hazardhub.policy import CITY_ROLES

    return any(m.role in CITY_ROLES for m in getattr(user, "active_memberships", []) or [])


def yes_no(value) -> str:
    if value is True:
        return "是"
    if value is False:
        return "否"
    return "" if value is None else str(value)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
}


def unread_notifications() -> int:
    """The navbar badge: the signed-in user's unread, unresolved notifications."""
    from hazardhub.notifications.operations import unread_count

    return unread_count(current_user) if current_user.is_authenticated else 0


def init_web(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals.update(can=template_can, role_label=role_label, ROLES=ROLES, is_city_user=is_city_user,
                                 endpoints=app.view_functions, unread_notifications=unread_notifications)
    app.jinja_env.filters.update(local_time=local_time, yes_no=yes_no)

    @app.after_request
    def _headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if app.config.get("HAZARDHUB_ENV") == "production":
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response

    def _error(code: int, title: str, message: str):
        return render_template("error.html", code=code, title=title, message=message), code

    @app.errorhandler(CSRFError)
    def _csrf(e):
        return _error(400, "请求已失效", "表单校验码缺失或已过期，请返回刷新页面后重试。")

    @app.errorhandler(400)
    def _bad_request(e):
        return _error(400, "请求有误", "提交的内容不完整或格式不正确。")

    @app.errorhandler(403)
    def _forbidden(e):
        return _error(403, "无权操作", "您的角色无权查看或执行此操作。")

    @app.errorhandler(404)
    def _not_found(e):
        return _error(404, "页面不存在", "您访问的页面或记录不存在，或不在您的管辖范围内。")

    @app.errorhandler(405)
    def _method(e):
        return _error(405, "不支持的请求方式", "请通过页面上的按钮操作。")

    @app.errorhandler(413)
    def _too_large(e):
        return _error(413, "文件过大", "上传的文件超过大小限制。")

    @app.errorhandler(StaleDataError)
    def _stale(e):
        """A save that lost the race to another save of the same version (any area): nothing of
        this request was written; say so instead of a 500."""
        from hazardhub.extensions import db

        db.session.rollback()
        return _error(409, "记录已被他人修改", "您提交时该记录已被他人修改，本次操作未生效。请刷新页面查看最新内容后重试。")

    @app.errorhandler(500)
    def _server_error(e):
        from hazardhub.extensions import db

        db.session.rollback()
        return _error(500, "系统错误", "服务器处理出错，操作未生效。请稍后重试或联系管理员。")
