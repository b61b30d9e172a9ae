"""Cross-cutting web wiring: the home page by role, error pages, headers, Jinja helpers."""
from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, Flask, render_template
from flask_login import current_user, login_required
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException
from flask_wtf.csrf import CSRFError

from hazardhub import clock
from hazardhub.accounts.models import ROLES, role_label
from hazardhub.compliance.reminders import reminders_for
from hazardhub.extensions import db
from hazardhub.formtokens import FormTokenMissing, form_token, same_origin_referrer
from hazardhub.httprequest import HazardRequest, check_limits, limit_mb
from hazardhub.notifications import operations as notifications
from hazardhub.orgs.operations import home_cards
from hazardhub.policy import template_can
from hazardhub.tenancy import is_city_user, peek_scope

bp = Blueprint("web", __name__)


@bp.route("/")
@login_required
def home():
    """Each role's home: what this person can reach, as links."""
    return render_template("home.html", cards=home_cards(current_user), reminders=reminders_for(current_user))


@bp.route("/healthz")
def healthz():
    return {"ok": True}


def local_time(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Naive-UTC datetime → Asia/Shanghai text (every date shown is Beijing time)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return clock.local(value).strftime(fmt)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


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
    """The navbar badge: the signed-in user's unread, unresolved notifications (0 while no tenant
    is bound: the notifications are tenant rows)."""
    if peek_scope() is None:
        return 0
    return notifications.unread_count(current_user) if current_user.is_authenticated else 0


#: the last resort when even the minimal error page cannot be rendered
_PLAIN_ERROR = ('<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{code} · {title}</title>'
                '</head><body><h1>{code} · {title}</h1><p>{message}</p><p><a href="/">返回首页</a></p></body></html>')


def render_error(code: int, title: str, message: str):
    """The error page; it never fails.

    Why: an error page that itself raised turned every CSRF rejection and every 413 of a signed-in
    user into a 500. Both are raised by ``before_request`` hooks that run before the user's tenant
    is bound (the CSRF check reads the form first), and the full navbar queries tenant rows (the
    notification badge, the user's units), which the scoping floor refuses without a tenant. So the
    full navbar is drawn only when a tenant is bound (the request got as far as the view); else,
    or if drawing it fails anyway (the database is down), the page has the minimal navbar, which
    reads nothing from the database; and if even that fails, a plain page.
    """
    from markupsafe import escape

    context = {"code": code, "title": title, "message": message, "back_url": same_origin_referrer()}
    if peek_scope() is not None:
        try:
            return render_template("error.html", **context), code
        except Exception:  # noqa: BLE001 - fall back to the page that needs nothing
            try:
                db.session.rollback()
            except Exception:  # noqa: BLE001
                pass
    try:
        return render_template("error.html", minimal_nav=True, **context), code
    except Exception:  # noqa: BLE001
        return _PLAIN_ERROR.format(code=code, title=escape(title), message=escape(message)), code


def _too_large_message() -> str:
    from flask import request

    limit = limit_mb(request)
    within = request.content_length is not None and request.max_content_length is not None \
        and request.content_length <= request.max_content_length
    if limit is None or within:  # a text field over MAX_FORM_MEMORY_SIZE, or too many parts
        return "提交的内容过多或单个字段过长，请精简后重新提交。"
    return f"上传的文件超过 {limit:g} MB 的上限，请压缩或分批上传。"


def init_web(app: Flask) -> None:
    check_limits(app.config)
    app.request_class = HazardRequest
    app.register_blueprint(bp)
    app.jinja_env.globals.update(can=template_can, role_label=role_label, ROLES=ROLES, is_city_user=is_city_user,
                                 endpoints=app.view_functions, unread_notifications=unread_notifications,
                                 form_token=form_token)
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

    _error = render_error
    expired = "页面已过期（表单校验码缺失或失效），本次提交未生效。请返回上一页，刷新后重新提交。"

    @app.errorhandler(CSRFError)
    def _csrf(e):
        return _error(400, "请求已失效", expired)

    @app.errorhandler(FormTokenMissing)
    def _form_token(e):
        return _error(400, "请求已失效", expired)

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
        return _error(413, "文件过大", _too_large_message())

    @app.errorhandler(HTTPException)
    def _other_http_error(e):
        """Any other HTTP error (416 for a bad Range of a video, …): a Chinese page, not Werkzeug's."""
        if e.code is None or e.code < 400:
            return e
        return _error(e.code, "请求无法完成", f"请求未能完成（错误代码 {e.code}），本次操作未生效。请返回上一页后重试。")

    @app.errorhandler(StaleDataError)
    def _stale(e):
        """A save that lost the race to another save of the same version (any area): nothing of
        this request was written; say so instead of a 500."""
        db.session.rollback()
        return _error(409, "记录已被他人修改", "您提交时该记录已被他人修改，本次操作未生效。请刷新页面查看最新内容后重试。")

    @app.errorhandler(500)
    def _server_error(e):
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the database may be what failed
            pass
        return _error(500, "系统错误", "服务器处理出错，操作未生效。请稍后重试或联系管理员。")
