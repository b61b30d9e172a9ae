"""Login, logout, password change, and administration of users and their roles."""
from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from hazardhub.accounts import operations as ops
from hazardhub.accounts import sessions
from hazardhub.accounts.auth import (
    current_session_id, find_login_user, known_address, load_memberships, locked_addresses, lockout_until,
    record_attempt,
)
from hazardhub.accounts.forms import (
    ChangePasswordForm, ConfirmForm, LoginForm, MembershipForm, UserCreateForm, UserEditForm,
)
from hazardhub.accounts.models import ROLES, LoginAttempt, Membership, User
from hazardhub.accounts.passwords import verify_nobody
from hazardhub.accounts.throttle import login_throttle, wait_text
from hazardhub.auditlog.timeline import timeline
from hazardhub.forms import choices
from hazardhub.extensions import db
from hazardhub.orgs.models import OrgUnit
from hazardhub.orgs.operations import user_roots
from hazardhub.pagination import paginate
from hazardhub.policy import GRANTABLE, RoleGrant, can, load_or_404, requires
from hazardhub.requestflow import act, perform, submit
from hazardhub.web import local_time

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """A local path to go to after login; anything that could leave the site goes home.

    Browsers read ``/\\host`` as ``//host`` and drop tabs and newlines, so backslashes and
    control characters are refused along with ``//`` and absolute URLs.
    """
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(c) < 32 or ord(c) == 127 for c in target)
        and not urlsplit(target).netloc
        and not urlsplit(target).scheme
    ):
        return target
    return url_for("web.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in: throttle, lockout, password, then a new server-side session.

    In that order: over the throttle (:mod:`hazardhub.accounts.throttle`) the answer is 429 and
    no password is checked; locked for this client address (:func:`lockout_until`) likewise;
    otherwise the password is checked — against a dummy hash of the same method when the
    username is unknown, so that known and unknown usernames cost the same work and read the
    same message ("用户名或密码错误"). A failure counts towards the throttle and the lock.
    """
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    form = LoginForm()
    if form.validate_on_submit():
        username = form.username.data.strip()
        address = request.remote_addr
        throttle = login_throttle()
        wait = throttle.retry_after(address, username, known_address=lambda: known_address(username, address))
        if wait is not None:
            record_attempt(username, find_login_user(username), False, "throttled")
            flash(f"登录尝试过于频繁，请 {wait_text(wait)}后再试。", "danger")
            return render_template("accounts/login.html", form=form), 429
        locked_until = lockout_until(username, address)
        user = find_login_user(username)
        if locked_until is not None:
            record_attempt(username, user, False, "locked")
            flash(f"连续登录失败次数过多，账号已锁定，请于 {local_time(locked_until, '%H:%M')} 后再试。", "danger")
        elif user is None or not user.check_password(form.password.data):
            if user is None:
                verify_nobody(form.password.data)  # the work a real account costs
            record_attempt(username, user, False, "unknown_user" if user is None else "bad_password")
            throttle.failed(address, username)
            flash("用户名或密码错误。", "danger")
        elif not user.is_active:
            record_attempt(username, user, False, "inactive")
            flash("该账号已停用，请联系管理员。", "danger")
        else:
            token = sessions.issue(user.id, remote_addr=address, user_agent=request.user_agent.string)
            record_attempt(username, user, True, None)  # commits the session row with it
            # the commit expired ``user`` and no tenant is bound yet: reload it unscoped
            user = find_login_user(username)
            session.clear()
            user.active_memberships = load_memberships(user)
            login_user(user)
            session[sessions.SESSION_KEY] = token
            session.permanent = True
            if user.must_change_password:
                return redirect(url_for("accounts.change_password"))
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        flash("请输入用户名和密码。", "danger")
    return render_template("accounts/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End this session on the server, so a copy of the cookie is worth nothing afterwards."""
    session_id = current_session_id()
    if session_id is not None:
        sessions.revoke(session_id, "logout")
        db.session.commit()
    logout_user()
    session.clear()
    flash("已退出登录。", "info")
    return redirect(url_for("accounts.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    response = submit(
        form, lambda: ops.change_own_password(current_user, form.current_password.data, form.new_password.data,
                                              keep_session=current_session_id()),
        done="密码已修改，您在其他设备上的登录已失效。", to=url_for("web.home"),
        on_error=lambda exc: form.current_password.errors.append(str(exc)), show=False)
    if response is not None:
        return response
    return render_template("accounts/change_password.html", form=form)


# ---------------------------------------------------------------------------------------------
# administration


def _manageable_units() -> list[OrgUnit]:
    """Units the current user may put people on, in tree order."""
    roots = user_roots(current_user)
    if not roots:
        return []
    units = db.session.execute(
        sa.select(OrgUnit)
        .where(sa.or_(*[OrgUnit.path.startswith(r.path, autoescape=True) for r in roots]), OrgUnit.is_active.is_(True))
        .order_by(OrgUnit.path)
    ).scalars().all()
    return [u for u in units if can(current_user, "user.create", u)]


def _grantable_roles() -> list[tuple[str, str]]:
    roles = set()
    for m in current_user.active_memberships:
        roles |= GRANTABLE.get(m.role, set())
    return [(r, ROLES[r][0]) for r in ROLES if r in roles]


@bp.route("/users")
@login_required
@requires("user.view")
def users():
    roots = user_roots(current_user)
    q = (request.args.get("q") or "").strip()[:40]
    role = request.args.get("role") or ""
    stmt = (
        sa.select(User)
        .join(Membership, Membership.user_id == User.id)
        .join(OrgUnit, OrgUnit.id == Membership.unit_id)
        .where(sa.or_(*[OrgUnit.path.startswith(r.path, autoescape=True) for r in roots]))
        .where(Membership.is_active.is_(True))
        .distinct()
    )
    if q:
        stmt = stmt.where(sa.or_(User.username.contains(q, autoescape=True), User.display_name.contains(q, autoescape=True)))
    if role in ROLES:
        stmt = stmt.where(Membership.role == role)
    sort = request.args.get("sort", "name")
    order = {"name": User.display_name, "username": User.username, "created": User.created_at.desc()}
    page = paginate(stmt.order_by(order.get(sort, User.display_name), User.id))
    ids = [u.id for u in page.items]
    memberships: dict[int, list] = {}
    if ids:
        for m in db.session.execute(
            sa.select(Membership).where(Membership.user_id.in_(ids), Membership.is_active.is_(True))
        ).unique().scalars():
            memberships.setdefault(m.user_id, []).append(m)
    return render_template("accounts/users.html", page=page, memberships=memberships, q=q, role=role, sort=sort)


@bp.route("/users/new", methods=["GET", "POST"])
@login_required
@requires("user.create")
def create_user():
    form = UserCreateForm()
    units = _manageable_units()
    form.unit_id.choices = choices((u.id, ("　" * u.depth) + u.name) for u in units)
    form.role.choices = choices(_grantable_roles())
    if request.method == "GET" and request.args.get("unit_id", "").isdigit():
        form.unit_id.data = int(request.args["unit_id"])
    new_password = None
    created = None
    if form.validate_on_submit():
        unit = next((u for u in units if u.id == form.unit_id.data), None)
        if unit is None or not can(current_user, "membership.grant", RoleGrant(unit.tenant_id, unit, form.role.data)):
            flash("您无权在该单位设置此角色。", "danger")
        else:
            # the page itself shows the new account and its one-time password: no redirect
            done, outcome = perform(lambda: ops.create_user(
                username=form.username.data, display_name=form.display_name.data,
                phone=form.phone.data, unit=unit, role=form.role.data,
            ))
            if done:
                created, new_password = outcome
    elif request.method == "POST":
        flash("请更正表单中的错误。", "danger")
    return render_template("accounts/user_new.html", form=form, created=created, new_password=new_password)


@bp.route("/users/<int:user_id>")
@login_required
def show_user(user_id: int):
    user = load_or_404(User, user_id, "user.view")
    memberships = db.session.execute(
        sa.select(Membership).where(Membership.user_id == user.id).order_by(Membership.is_active.desc(), Membership.id)
    ).unique().scalars().all()
    attempts = db.session.execute(
        sa.select(LoginAttempt).where(LoginAttempt.user_id == user.id)
        .order_by(LoginAttempt.attempted_at.desc()).limit(20)
    ).scalars().all()
    form = MembershipForm()
    # start both selects empty: a stray click must not grant a role
    form.unit_id.choices = choices([(0, "请选择单位")] + [(u.id, ("　" * u.depth) + u.name) for u in _manageable_units()])
    form.role.choices = choices([("", "请选择角色")] + _grantable_roles())
    form.unit_id.data, form.role.data = 0, ""
    return render_template("accounts/user_show.html", user=user, memberships=memberships, attempts=attempts,
                           form=form, confirm=ConfirmForm(), locked=locked_addresses(user.username),
                           live_sessions=sessions.live_sessions(user.id, current_app.config["HAZARDHUB_IDLE_MINUTES"]))


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@login_required
def edit_user(user_id: int):
    user = load_or_404(User, user_id, "user.edit")
    form = UserEditForm(obj=user)
    if request.method == "GET":
        form.version_id.data = str(user.version_id)
    else:
        # never the row's current version (see orgs.views.edit): a missing field must fail
        form.version_id.data = request.form.get("version_id", "")
    valid = form.validate_on_submit()
    if valid and user.id == current_user.id and not form.is_active.data:
        flash("不能停用自己的账号。", "danger")
    else:
        response = submit(
            form, lambda: ops.update_user(user, display_name=form.display_name.data, phone=form.phone.data,
                                          is_active=bool(form.is_active.data), version_id=int(form.version_id.data),
                                          reason=form.reason.data),
            validated=valid, done="已保存。", to=url_for("accounts.show_user", user_id=user.id),
            invalid=None if valid else form.version_id.errors[0] if form.version_id.errors else "请更正表单中的错误。")
        if response is not None:
            return response
    return render_template("accounts/user_edit.html", user=user, form=form)


@bp.route("/users/<int:user_id>/reset-password", methods=["POST"])
@login_required
def reset_password(user_id: int):
    user = load_or_404(User, user_id, "user.reset_password")
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if user.id == current_user.id:
        flash("请通过“修改密码”修改自己的密码。", "warning")
        return redirect(url_for("accounts.show_user", user_id=user.id))
    password = ops.reset_password(user, reason=form.reason.data)
    return render_template("accounts/password_reset.html", user=user, new_password=password)


@bp.route("/users/<int:user_id>/memberships", methods=["POST"])
@login_required
def grant(user_id: int):
    user = load_or_404(User, user_id, "user.edit")
    form = MembershipForm()
    units = {u.id: u for u in _manageable_units()}
    form.unit_id.choices = choices((uid, u.name) for uid, u in units.items())
    form.role.choices = choices(_grantable_roles())

    def apply():
        unit = units[form.unit_id.data]
        candidate = RoleGrant(unit.tenant_id, unit, form.role.data)
        if not (can(current_user, "membership.grant", candidate) and can(current_user, "user.edit", user)):
            abort(403)  # after the form's own check, before anything is written
        return ops.grant_membership(user, unit, form.role.data)

    return act(form, apply, invalid=lambda _form: "请选择单位和角色。", prefix="",
               done=lambda _: f"已授予：{units[form.unit_id.data].name} {ROLES[form.role.data][0]}",
               back=url_for("accounts.show_user", user_id=user.id))


@bp.route("/memberships/<int:membership_id>/revoke", methods=["POST"])
@login_required
def revoke(membership_id: int):
    membership = load_or_404(Membership, membership_id, "membership.revoke")
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    return act(form, lambda: ops.revoke_membership(membership, reason=form.reason.data), prefix="",
               done="已撤销该角色（历史记录保留）。", back=url_for("accounts.show_user", user_id=membership.user_id))


@bp.route("/users/<int:user_id>/history")
@login_required
def user_history(user_id: int):
    user = load_or_404(User, user_id, "user.history")
    entries = timeline(user)
    return render_template("history.html", title=f"{user.display_name}（{user.username}）的变更历史",
                           entries=entries, back_url=url_for("accounts.show_user", user_id=user.id))
