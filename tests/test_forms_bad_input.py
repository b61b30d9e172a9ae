"""Every form against bad input: empty, over-long, wrong types, tampered hidden ids, no CSRF token.

Each case asserts that the request is not a 500, that the user is told in Chinese (a flashed
message, a field error or a Chinese 400/403/404 page), and that the database did not change: every
row of the live tables, the version tables, the transaction log and the audit chain is compared
before and after.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Callable

import pytest
import sqlalchemy as sa

from tests.fixtures.app import CSRF_RE, form_token_for
from tests.fixtures.factories import PASSWORD, login

CJK = re.compile(r"[\u4e00-\u9fff]")
ALERT = re.compile(r'<div class="alert [^"]*"[^>]*>\s*(.*?)\s*(?:<button|</div>)', re.S)
FEEDBACK = re.compile(r'<div class="invalid-feedback d-block">(.*?)</div>', re.S)
LEAD = re.compile(r'<p class="lead">(.*?)</p>', re.S)
VERSION_RE = re.compile(r'name="version_id"[^>]*value="([^"]*)"')
LONG = "长" * 300


@pytest.fixture
def new_client(app, db):
    """Another browser (its own cookies)."""
    return app.test_client


# ---------------------------------------------------------------------------------------------
# helpers


def text(response) -> str:
    return response.get_data(as_text=True)


def messages(html: str) -> list[str]:
    found = []
    for rx in (ALERT, FEEDBACK, LEAD):
        found.extend(re.sub(r"<[^>]+>", "", m).strip() for m in rx.findall(html))
    return [m for m in found if m]


def snapshot(db) -> dict[str, list[str]]:
    """Every row of every table an action could write (live, versions, transactions, chain)."""
    from sqlalchemy_continuum import version_class, versioning_manager

    from hazardhub.db import Base

    db.session.flush()

    names = ["org_units", "users", "memberships", "login_attempts", "report_runs", "audit_chain_links",
             "audit_chain_heads", "transaction", "transaction_meta"]
    tables = [Base.metadata.tables[n] for n in names if n in Base.metadata.tables]
    tables += [version_class(cls).__table__ for cls in versioning_manager.version_class_map]
    tables.append(versioning_manager.transaction_cls.__table__)
    conn = db.session.connection()
    return {
        t.name: sorted(repr(tuple(r)) for r in conn.execute(sa.select(t)))
        for t in {t.name: t for t in tables}.values()
    }


def version_count(db, model, obj_id: int) -> int:
    from sqlalchemy_continuum import version_class

    table = version_class(model).__table__
    return db.session.connection().execute(
        sa.select(sa.func.count()).select_from(table).where(table.c.id == obj_id)
    ).scalar_one()


def scrape_version(client, page: str) -> str:
    match = VERSION_RE.search(text(client.get(page)))
    assert match, f"no version_id on {page}"
    return match.group(1)


def membership_of(db, user, unit):
    from hazardhub.accounts.models import Membership
    from hazardhub.tenancy import tenant_bound

    with tenant_bound(user.tenant_id):
        return db.session.execute(
            sa.select(Membership).where(Membership.user_id == user.id, Membership.unit_id == unit.id)
        ).unique().scalar_one()


def csv_upload(parent_code: str):
    content = f"单位代码,上级单位代码,单位名称,类别\nNEW-1,{parent_code},新建小学,学校/幼儿园\n"
    return (io.BytesIO(content.encode("utf-8")), "units.csv")


# ---------------------------------------------------------------------------------------------
# the forms


@dataclass
class Route:
    actor: str | None  # key of world.users, None: not logged in
    url: Callable
    page: Callable
    valid: Callable  # (world, client, db) -> form data that would succeed


def _unit_edit_valid(w, c, db):
    return {"name": "一镇第一小学（改）", "school_type": "小学", "ownership": "public", "enrolment": "510",
            "staff_count": "40", "address": "", "contact_name": "", "contact_phone": "", "reason": "核实",
            "version_id": scrape_version(c, f"/units/{w.s1.id}/edit")}


ROUTES: dict[str, Route] = {
    "unit_edit": Route("bureau_admin", lambda w, db: f"/units/{w.s1.id}/edit", lambda w, db: f"/units/{w.s1.id}/edit",
                       _unit_edit_valid),
    "unit_create": Route("bureau_admin", lambda w, db: f"/units/{w.t1.id}/new", lambda w, db: f"/units/{w.t1.id}/new",
                         lambda w, c, db: {"code": "NEW-S", "name": "新建小学", "kind": "school",
                                           "school_type": "小学", "ownership": "", "enrolment": "10"}),
    "user_create": Route("bureau_admin", lambda w, db: "/users/new", lambda w, db: "/users/new",
                         lambda w, c, db: {"username": "newstaff", "display_name": "新教师", "phone": "",
                                           "unit_id": str(w.s1.id), "role": "staff"}),
    "user_edit": Route("bureau_admin", lambda w, db: f"/users/{w.users['staff'].id}/edit",
                       lambda w, db: f"/users/{w.users['staff'].id}/edit",
                       lambda w, c, db: {"display_name": "改名", "phone": "123", "is_active": "y", "reason": "",
                                         "version_id": scrape_version(c, f"/users/{w.users['staff'].id}/edit")}),
    "grant": Route("bureau_admin", lambda w, db: f"/users/{w.users['staff'].id}/memberships",
                   lambda w, db: f"/users/{w.users['staff'].id}",
                   lambda w, c, db: {"unit_id": str(w.s1.id), "role": "safety_officer"}),
    "revoke": Route("bureau_admin",
                    lambda w, db: f"/memberships/{membership_of(db, w.users['staff'], w.s1).id}/revoke",
                    lambda w, db: f"/users/{w.users['staff'].id}", lambda w, c, db: {"reason": "调岗"}),
    "reset_password": Route("bureau_admin", lambda w, db: f"/users/{w.users['staff'].id}/reset-password",
                            lambda w, db: f"/users/{w.users['staff'].id}", lambda w, c, db: {"reason": "忘记"}),
    "change_password": Route("principal", lambda w, db: "/password", lambda w, db: "/password",
                             lambda w, c, db: {"current_password": PASSWORD, "new_password": "Fresh2pass",
                                               "confirm": "Fresh2pass"}),
    "import": Route("bureau_admin", lambda w, db: "/units/import", lambda w, db: "/units/import",
                    lambda w, c, db: {"file": csv_upload(w.t1.code)}),
    "active": Route("bureau_admin", lambda w, db: f"/units/{w.s1.id}/active", lambda w, db: f"/units/{w.s1.id}",
                    lambda w, c, db: {"reason": "撤并", "version_id": scrape_version(c, f"/units/{w.s1.id}")}),
    "run_export": Route("bureau_admin", lambda w, db: f"/runs/unit-tree/{w.s1.id}", lambda w, db: f"/units/{w.s1.id}",
                        lambda w, c, db: {}),
    "audit_verify": Route("bureau_admin", lambda w, db: "/audit/chain", lambda w, db: "/audit/chain",
                          lambda w, c, db: {"tenant_id": str(w.a.id)}),
    "login": Route(None, lambda w, db: "/login", lambda w, db: "/login",
                   lambda w, c, db: {"username": w.users["principal"].username, "password": PASSWORD}),
    "logout": Route("principal", lambda w, db: "/logout", lambda w, db: "/", lambda w, c, db: {}),
}


def prepare(name: str, client, world, db):
    route = ROUTES[name]
    if route.actor:
        login(client, world.users[route.actor])
    return route, route.url(world, db), route.page(world, db)


def submit(client, url: str, page: str, data: dict, *, csrf: bool = True):
    data = dict(data)
    html = text(client.get(page))
    if csrf:
        match = CSRF_RE.search(html)
        assert match, f"no csrf token on {page}"
        data.setdefault("csrf_token", match.group(1))
    token = form_token_for(html, url, page)  # the form's one-time token (hazardhub.formtokens)
    if token:
        data.setdefault("form_token", token)
    return client.post(url, data=data, follow_redirects=True)


def assert_refused(response, expected: str | None = None) -> None:
    """Not a 500; a Chinese message is shown (flash, field error or error page)."""
    html = text(response)
    assert response.status_code != 500, html
    assert response.status_code in (200, 400, 403, 404, 413), response.status_code
    shown = messages(html)
    assert shown, f"no message shown:\n{html}"
    for message in shown:
        assert CJK.search(message), f"message not in Chinese: {message!r}"
    if expected is not None:
        assert expected in html, f"{expected!r} not in {shown}"


# ---------------------------------------------------------------------------------------------
# sanity: every valid submission succeeds (otherwise the refusals below prove nothing)


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_valid_submission_is_accepted(client, world, db, name):
    route, url, page = prepare(name, client, world, db)
    before = snapshot(db)
    data = route.valid(world, client, db)
    response = submit(client, url, page, data)
    assert response.status_code == 200, text(response)[:3000]
    if name in ("audit_verify", "logout"):
        return  # read-only
    if name == "login":
        assert world.users["principal"].display_name in text(response)
        return
    assert snapshot(db) != before, name


# ---------------------------------------------------------------------------------------------
# missing CSRF token


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_missing_csrf_token_is_400_and_changes_nothing(client, world, db, name):
    route, url, page = prepare(name, client, world, db)
    data = route.valid(world, client, db)
    before = snapshot(db)
    response = submit(client, url, page, data, csrf=False)
    assert response.status_code == 400
    assert "请求已失效" in text(response)
    assert_refused(response)
    assert snapshot(db) == before


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_wrong_csrf_token_is_400_and_changes_nothing(client, world, db, name):
    route, url, page = prepare(name, client, world, db)
    data = route.valid(world, client, db)
    data["csrf_token"] = "IjAwMDAi.forged.token"
    before = snapshot(db)
    response = submit(client, url, page, data)
    assert response.status_code == 400
    assert_refused(response, "请求已失效")
    assert snapshot(db) == before


# ---------------------------------------------------------------------------------------------
# empty input

EMPTY_CASES = {
    "unit_edit": "请输入单位名称",
    "unit_create": "请输入单位代码",
    "user_create": "请输入用户名",
    "user_edit": "请输入姓名",
    "grant": "请选择单位和角色",
    "change_password": "请输入当前密码",
    "import": "请选择要导入的文件",
    "active": "须填写原因",
    "audit_verify": "页面不存在",
    "login": "请输入用户名",
}


@pytest.mark.parametrize("name", sorted(EMPTY_CASES))
def test_empty_input_is_refused(client, world, db, name):
    """Every visible field submitted empty (the hidden version stays as the page had it)."""
    route, url, page = prepare(name, client, world, db)
    data = {k: ("" if k != "version_id" else v) for k, v in route.valid(world, client, db).items() if k != "file"}
    before = snapshot(db)
    response = submit(client, url, page, data)
    assert_refused(response, EMPTY_CASES[name])
    assert snapshot(db) == before


@pytest.mark.parametrize("name", sorted(EMPTY_CASES))
def test_nothing_but_the_csrf_token_is_refused(client, world, db, name):
    """A POST with no fields at all (a hand-made request): refused, nothing written."""
    _route, url, page = prepare(name, client, world, db)
    before = snapshot(db)
    response = submit(client, url, page, {})
    assert_refused(response)
    assert snapshot(db) == before


# ---------------------------------------------------------------------------------------------
# over-long input

LONG_CASES = [
    ("unit_edit", "name", "名称不超过 100 字"),
    ("unit_edit", "address", "地址不超过 200 字"),
    ("unit_edit", "contact_name", "联系人不超过 40 字"),
    ("unit_edit", "contact_phone", "电话不超过 30 位"),
    ("unit_edit", "reason", "原因不超过 200 字"),
    ("unit_create", "code", "代码不超过 40 位"),
    ("unit_create", "name", "名称不超过 100 字"),
    ("user_create", "username", "用户名 3–40 位"),
    ("user_create", "display_name", "姓名过长"),
    ("user_create", "phone", "电话过长"),
    ("user_edit", "display_name", "姓名过长"),
    ("user_edit", "reason", "原因不超过 200 字"),
    ("revoke", "reason", "请求有误"),
    ("reset_password", "reason", "请求有误"),
    ("change_password", "current_password", "密码过长"),
    ("change_password", "new_password", "密码不能超过 128 位"),
    ("active", "reason", "原因不超过 200 字"),
    ("login", "username", "用户名过长"),
    ("login", "password", "密码过长"),
    ("audit_verify", "tenant_id", "页面不存在"),
]


@pytest.mark.parametrize(("name", "field", "expected"), LONG_CASES)
def test_over_long_input_is_refused(client, world, db, name, field, expected):
    route, url, page = prepare(name, client, world, db)
    data = route.valid(world, client, db)
    value = LONG
    if field in ("code", "username", "contact_phone", "phone", "tenant_id", "current_password",
                 "new_password", "password"):
        value = ("A1" * 150) if "password" in field else ("1" * 300 if field in ("tenant_id", "contact_phone", "phone")
                                                         else "a" * 300)
    data[field] = value
    if field == "new_password":
        data["confirm"] = value
    before = snapshot(db)
    response = submit(client, url, page, data)
    assert_refused(response, expected)
    assert snapshot(db) == before


# ---------------------------------------------------------------------------------------------
# wrong types and values outside the allowed choices

TYPE_CASES = [
    ("unit_edit", {"enrolment": "五百"}, "不是有效的整数"),
    ("unit_edit", {"enrolment": "abc"}, "不是有效的整数"),
    ("unit_edit", {"staff_count": "12.5"}, "不是有效的整数"),
    ("unit_edit", {"enrolment": "-5"}, "学生数应为 0–100000"),
    ("unit_edit", {"enrolment": "99999999999999999999"}, "学生数应为 0–100000"),
    ("unit_edit", {"school_type": "大学"}, "不是有效的选择"),
    ("unit_edit", {"ownership": "foreign"}, "不是有效的选择"),
    ("unit_edit", {"contact_phone": "call me"}, "电话只能包含"),
    ("unit_edit", {"version_id": "abc"}, "表单已失效"),
    ("unit_edit", {"version_id": ""}, "表单已失效"),
    ("unit_create", {"code": "含 空格/斜杠"}, "代码只能包含"),
    ("unit_create", {"kind": "bureau"}, "不是有效的选择"),
    ("unit_create", {"kind": "township_center"}, "不是有效的选择"),  # not under a township
    ("unit_create", {"enrolment": "many"}, "不是有效的整数"),
    ("user_create", {"unit_id": "abc"}, "选择无效"),
    ("user_create", {"role": "superuser"}, "不是有效的选择"),
    ("user_create", {"role": "city_admin"}, "不是有效的选择"),
    ("user_create", {"username": "名字"}, "用户名只能包含"),
    ("user_create", {"username": "ab"}, "用户名 3–40 位"),
    ("user_create", {"phone": "电话"}, "电话只能包含"),
    ("user_edit", {"version_id": "x1"}, "表单已失效"),
    ("user_edit", {"phone": "phone"}, "电话只能包含"),
    ("grant", {"unit_id": "abc"}, "请选择单位和角色"),
    ("grant", {"role": "god"}, "请选择单位和角色"),
    ("active", {"version_id": "-1"}, "表单已失效"),
    ("audit_verify", {"tenant_id": "abc"}, "页面不存在"),
    ("audit_verify", {"tenant_id": "-1"}, "页面不存在"),
]


@pytest.mark.parametrize(("name", "changes", "expected"), TYPE_CASES,
                         ids=[f"{n}-{'-'.join(c)}-{i}" for i, (n, c, _e) in enumerate(TYPE_CASES)])
def test_wrong_types_are_refused(client, world, db, name, changes, expected):
    route, url, page = prepare(name, client, world, db)
    data = {**route.valid(world, client, db), **changes}
    before = snapshot(db)
    response = submit(client, url, page, data)
    assert_refused(response, expected)
    assert snapshot(db) == before


# ---------------------------------------------------------------------------------------------
# tampered hidden ids and ids of things out of reach


def _tamper(name: str, w, db) -> tuple[dict | None, str | None]:
    """(changes to the valid data, or None to change the URL instead; expected message)."""
    return {
        "unit_edit": ({"version_id": "0"}, "已被他人修改"),
        "user_edit": ({"version_id": "99"}, "已被他人修改"),
        "active": ({"version_id": "7"}, "已被他人修改"),
        "user_create": ({"unit_id": str(w.sb.id)}, "不是有效的选择"),  # another district's school
        "grant": ({"unit_id": str(w.sb.id)}, "请选择单位和角色"),
        "audit_verify": ({"tenant_id": str(w.b.id)}, "页面不存在"),
    }[name]


@pytest.mark.parametrize("name", ["unit_edit", "user_edit", "active", "user_create", "grant", "audit_verify"])
def test_tampered_hidden_values_are_refused(client, world, db, name):
    route, url, page = prepare(name, client, world, db)
    changes, expected = _tamper(name, world, db)
    data = {**route.valid(world, client, db), **changes}
    before = snapshot(db)
    response = submit(client, url, page, data)
    assert_refused(response, expected)
    assert snapshot(db) == before


OTHER_TENANT_URLS = {
    "unit_edit": lambda w, db: f"/units/{w.sb.id}/edit",
    "unit_create": lambda w, db: f"/units/{w.tb.id}/new",
    "user_edit": lambda w, db: f"/users/{w.b_principal.id}/edit",
    "grant": lambda w, db: f"/users/{w.b_principal.id}/memberships",
    "revoke": lambda w, db: f"/memberships/{membership_of(db, w.b_principal, w.sb).id}/revoke",
    "reset_password": lambda w, db: f"/users/{w.b_principal.id}/reset-password",
    "active": lambda w, db: f"/units/{w.sb.id}/active",
    "run_export": lambda w, db: f"/runs/unit-tree/{w.sb.id}",
}


@pytest.mark.parametrize("name", sorted(OTHER_TENANT_URLS))
def test_ids_of_another_district_are_404(client, world, db, name):
    """A valid form posted at another district's object: 404, nothing written."""
    route, _url, page = prepare(name, client, world, db)
    data = route.valid(world, client, db)
    url = OTHER_TENANT_URLS[name](world, db)
    before = snapshot(db)
    response = submit(client, url, page, data)
    assert response.status_code == 404
    assert_refused(response, "页面不存在")
    assert snapshot(db) == before


@pytest.mark.parametrize("url", ["/units/99999999999999999999/edit", "/users/0/edit", "/units/abc/edit",
                                 "/memberships/999999999/revoke", "/runs/unit-tree/999999999"])
def test_unknown_ids_are_404(client, world, db, url):
    login(client, world.users["bureau_admin"])
    before = snapshot(db)
    response = submit(client, url, "/", {"name": "x", "version_id": "1", "reason": "x"})
    assert response.status_code in (404, 405)
    assert_refused(response)
    assert snapshot(db) == before


def test_township_supervisor_cannot_reach_another_townships_school(client, world, db):
    login(client, world.users["township_supervisor"])
    before = snapshot(db)
    data = {"username": "t2staff", "display_name": "他镇教师", "unit_id": str(world.s3.id), "role": "staff"}
    assert_refused(submit(client, "/users/new", "/users/new", data), "不是有效的选择")
    data = {"username": "t1boss", "display_name": "越权", "unit_id": str(world.s1.id), "role": "bureau_admin"}
    assert_refused(submit(client, "/users/new", "/users/new", data), "不是有效的选择")
    response = submit(client, f"/units/{world.s3.id}/edit", f"/units/{world.s1.id}/edit",
                      {"name": "越权修改", "version_id": "1"})
    assert response.status_code == 404
    assert snapshot(db) == before


def test_principal_cannot_grant_to_a_school_it_does_not_lead(client, world, db):
    login(client, world.users["principal"])
    staff = world.users["staff"]
    before = snapshot(db)
    response = submit(client, f"/users/{staff.id}/memberships", f"/users/{staff.id}",
                      {"unit_id": str(world.s2.id), "role": "staff"})
    assert_refused(response, "请选择单位和角色")
    response = submit(client, f"/users/{staff.id}/memberships", f"/users/{staff.id}",
                      {"unit_id": str(world.s1.id), "role": "principal"})
    assert_refused(response, "请选择单位和角色")
    assert snapshot(db) == before


# ---------------------------------------------------------------------------------------------
# optimistic locking: the second save of the same version gets a conflict, not a lost update


def test_two_editors_of_one_unit_first_wins_second_gets_conflict(client, new_client, world, db):
    from hazardhub.orgs.models import OrgUnit
    from hazardhub.tenancy import tenant_bound

    admin, supervisor = client, new_client()
    login(admin, world.users["bureau_admin"])
    login(supervisor, world.users["township_supervisor"])
    page = f"/units/{world.s1.id}/edit"
    admin_version = scrape_version(admin, page)
    supervisor_version = scrape_version(supervisor, page)
    assert admin_version == supervisor_version
    versions_before = version_count(db, OrgUnit, world.s1.id)
    base = {"school_type": "小学", "ownership": "", "enrolment": "500"}

    first = submit(admin, page, page, {**base, "name": "管理员改的名字", "version_id": admin_version})
    assert first.status_code == 200
    assert "已保存" in text(first)

    before = snapshot(db)
    second = submit(supervisor, page, page, {**base, "name": "督导改的名字", "enrolment": "999",
                                             "version_id": supervisor_version})
    assert_refused(second, "已被他人修改")
    assert snapshot(db) == before
    with tenant_bound(world.a.id):
        unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == world.s1.id)
                                  .execution_options(populate_existing=True)).scalar_one()
    assert unit.name == "管理员改的名字"
    assert unit.enrolment == 500
    assert version_count(db, OrgUnit, world.s1.id) == versions_before + 1

    # after reloading the page the supervisor can save on top of the admin's change
    fresh = scrape_version(supervisor, page)
    assert fresh != supervisor_version
    third = submit(supervisor, page, page, {**base, "name": "督导改的名字", "version_id": fresh})
    assert "已保存" in text(third)


def test_two_editors_of_one_user_first_wins_second_gets_conflict(client, new_client, world, db):
    from hazardhub.accounts.models import User

    staff = world.users["staff"]
    admin, principal = client, new_client()
    login(admin, world.users["bureau_admin"])
    login(principal, world.users["principal"])
    page = f"/users/{staff.id}/edit"
    v_admin, v_principal = scrape_version(admin, page), scrape_version(principal, page)
    first = submit(admin, page, page, {"display_name": "甲", "is_active": "y", "version_id": v_admin})
    assert "已保存" in text(first)
    before = snapshot(db)
    second = submit(principal, page, page, {"display_name": "乙", "is_active": "y", "version_id": v_principal})
    assert_refused(second, "已被他人修改")
    assert snapshot(db) == before
    assert version_count(db, User, staff.id) == 2  # created, then the admin's edit


def test_two_toggles_of_one_unit_do_not_both_apply(client, new_client, world, db):
    from hazardhub.orgs.models import OrgUnit

    admin, supervisor = client, new_client()
    login(admin, world.users["bureau_admin"])
    login(supervisor, world.users["township_supervisor"])
    page = f"/units/{world.s2.id}"
    v1, v2 = scrape_version(admin, page), scrape_version(supervisor, page)
    url = f"/units/{world.s2.id}/active"
    assert "已停用" in text(submit(admin, url, page, {"reason": "撤并", "version_id": v1}))
    before = snapshot(db)
    assert_refused(submit(supervisor, url, page, {"reason": "撤并", "version_id": v2}), "已被他人修改")
    assert snapshot(db) == before
    assert version_count(db, OrgUnit, world.s2.id) == 2
