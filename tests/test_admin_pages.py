"""Administration pages: creating users, granting and revoking roles, editing units, the lists
(filters, sorting, pagination) and the history pages."""
from __future__ import annotations

import html as html_lib
import re

import pytest
import sqlalchemy as sa

from tests.fixtures.factories import PASSWORD, login

OTP_RE = re.compile(r"一次性密码[：:]\s*<code[^>]*>\s*([^<\s]+)\s*</code>")
PAGE_RE = re.compile(r"第 (\d+) / (\d+) 页，共 (\d+) 条")


def text(response) -> str:
    return html_lib.unescape(response.get_data(as_text=True))


def find_user(db, username: str):
    from hazardhub.accounts.models import User

    return db.session.execute(
        sa.select(User).where(User.username == username).execution_options(all_tenants=True, populate_existing=True)
    ).scalar_one_or_none()


def memberships(db, user) -> list:
    from hazardhub.accounts.models import Membership
    from hazardhub.tenancy import tenant_bound

    with tenant_bound(user.tenant_id):
        return db.session.execute(
            sa.select(Membership).where(Membership.user_id == user.id).order_by(Membership.id)
            .execution_options(populate_existing=True)
        ).unique().scalars().all()


def unit(db, unit_id: int):
    from hazardhub.orgs.models import OrgUnit

    return db.session.execute(
        sa.select(OrgUnit).where(OrgUnit.id == unit_id).execution_options(populate_existing=True)
    ).scalar_one()


def create(client, unit_id: int, role: str, username: str = "newperson", display_name: str = "新同事"):
    return client.submit("/users/new", {"username": username, "display_name": display_name, "phone": "",
                                        "unit_id": str(unit_id), "role": role})


def ordered_codes(page: str) -> list[str]:
    """The BULKnn codes in the order the page lists them."""
    return list(dict.fromkeys(re.findall(r"\bBULK\d\d\b", page)))


def user_count(db) -> int:
    from hazardhub.accounts.models import User

    return db.session.connection().execute(sa.select(sa.func.count()).select_from(User.__table__)).scalar_one()


INPUT_RE = re.compile(r"<input([^>]*)>")
SELECT_RE = re.compile(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', re.S)
ATTR_RE = re.compile(r'([a-z_-]+)="([^"]*)"')


def form_fields(html: str) -> dict[str, str]:
    """What a browser would submit for the page's form as it stands (inputs and selects)."""
    data: dict[str, str] = {}
    for raw in INPUT_RE.findall(html):
        attrs = dict(ATTR_RE.findall(raw))
        if "name" not in attrs or attrs["name"] == "csrf_token":
            continue
        if attrs.get("type") == "checkbox" and " checked" not in f" {raw}":
            continue
        data[attrs["name"]] = html_lib.unescape(attrs.get("value", ""))
    for name, options in SELECT_RE.findall(html):
        chosen = re.search(r'<option selected value="([^"]*)"', options) or re.search(r'<option value="([^"]*)"', options)
        data[name] = html_lib.unescape(chosen.group(1)) if chosen else ""
    return data


def edit_unit(client, unit_id: int, **changes):
    page = f"/units/{unit_id}/edit"
    data = {**form_fields(client.get(page).get_data(as_text=True)), **changes}
    assert data.get("version_id"), data
    return client.submit(page, data)


# ---------------------------------------------------------------------------------------------
# creating users


def test_bureau_admin_creates_a_user_with_a_one_time_password(client, app, world, db):
    login(client, world.users["bureau_admin"])
    assert "新建账号" in text(client.get(f"/users/new?unit_id={world.s1.id}"))
    response = create(client, world.s1.id, "safety_officer", username="anquan01", display_name="王安全")
    assert response.status_code == 200
    page = text(response)
    match = OTP_RE.search(page)
    assert match, page
    one_time = match.group(1)
    assert "只显示这一次" in page

    user = find_user(db, "anquan01")
    assert user is not None and user.tenant_id == world.a.id
    assert user.must_change_password is True
    assert user.display_name == "王安全"
    assert user.check_password(one_time)
    [m] = memberships(db, user)
    assert (m.unit_id, m.role, m.is_active) == (world.s1.id, "safety_officer", True)

    # shown once: not on the user's page, not in the list
    assert one_time not in text(client.get(f"/users/{user.id}"))
    assert one_time not in text(client.get("/users?q=anquan01"))

    # the new user must change the password at first login
    newcomer = app.test_client()
    response = newcomer.submit("/login", {"username": "anquan01", "password": one_time})
    assert response.headers["Location"] == "/password"


def test_usernames_are_unique_across_districts(client, world, db):
    login(client, world.users["bureau_admin"])
    before = user_count(db)
    response = create(client, world.s1.id, "staff", username=world.b_principal.username)
    assert "已被使用" in text(response)
    assert user_count(db) == before


def test_role_must_fit_the_unit_kind(client, world, db):
    login(client, world.users["bureau_admin"])
    before = user_count(db)
    response = create(client, world.s1.id, "bureau_viewer", username="wrongplace")
    assert "无权在该单位设置此角色" in text(response)
    assert user_count(db) == before
    assert find_user(db, "wrongplace") is None


def test_township_supervisor_creates_staff_for_its_own_schools_only(client, world, db):
    login(client, world.users["township_supervisor"])
    response = create(client, world.s2.id, "staff", username="t1staff")
    assert OTP_RE.search(text(response)), text(response)
    assert [(m.unit_id, m.role) for m in memberships(db, find_user(db, "t1staff"))] == [(world.s2.id, "staff")]

    before = user_count(db)
    # a school of another township is not among the choices
    assert f'value="{world.s3.id}"' not in text(client.get("/users/new"))
    response = create(client, world.s3.id, "staff", username="t2staff")
    assert "不是有效的选择" in text(response)
    # nor can the supervisor make a bureau administrator, or a principal of its own centre school
    response = create(client, world.s1.id, "bureau_admin", username="t1boss")
    assert "不是有效的选择" in text(response)
    response = create(client, world.t1.id, "principal", username="t1principal")
    assert "无权在该单位设置此角色" in text(response)
    assert user_count(db) == before
    assert all(find_user(db, n) is None for n in ("t2staff", "t1boss", "t1principal"))


def test_principal_adds_staff_to_its_own_school_only(client, world, db):
    login(client, world.users["principal"])
    response = create(client, world.s1.id, "staff", username="s1new")
    assert OTP_RE.search(text(response))
    assert [(m.unit_id, m.role) for m in memberships(db, find_user(db, "s1new"))] == [(world.s1.id, "staff")]
    before = user_count(db)
    assert "不是有效的选择" in text(create(client, world.s2.id, "staff", username="s2new"))
    assert "不是有效的选择" in text(create(client, world.s1.id, "principal", username="s1boss"))
    assert user_count(db) == before


@pytest.mark.parametrize("role", ["safety_officer", "staff", "bureau_viewer", "bureau_leader"])
def test_roles_without_user_admin_cannot_create_users(client, world, db, role):
    login(client, world.users[role])
    assert client.get("/users/new").status_code == 403
    before = user_count(db)
    token = client.csrf_token("/")
    response = client.post("/users/new", data={"csrf_token": token, "username": "sneaky", "display_name": "x",
                                               "unit_id": str(world.s1.id), "role": "staff"})
    assert response.status_code == 403
    assert user_count(db) == before


# ---------------------------------------------------------------------------------------------
# granting and revoking roles


def test_grant_and_revoke_keep_history(client, world, db):
    login(client, world.users["bureau_admin"])
    staff = world.users["staff"]
    response = client.submit(f"/users/{staff.id}/memberships", {"unit_id": str(world.s1.id), "role": "safety_officer"},
                             page=f"/users/{staff.id}")
    assert response.status_code == 302
    assert "已授予：一镇第一小学 安全专干" in text(client.get(response.headers["Location"]))
    granted = [m for m in memberships(db, staff) if m.role == "safety_officer"]
    assert len(granted) == 1 and granted[0].is_active

    # granting the same role twice is refused
    response = client.submit(f"/users/{staff.id}/memberships", {"unit_id": str(world.s1.id), "role": "safety_officer"},
                             page=f"/users/{staff.id}", follow_redirects=True)
    assert "已在此单位担任此角色" in text(response)

    response = client.submit(f"/memberships/{granted[0].id}/revoke", {"reason": "调岗到二镇"}, page=f"/users/{staff.id}",
                             follow_redirects=True)
    assert "已撤销该角色" in text(response)
    rows = [m for m in memberships(db, staff) if m.role == "safety_officer"]
    assert len(rows) == 1 and rows[0].is_active is False  # kept, not deleted
    show = text(client.get(f"/users/{staff.id}"))
    assert "已撤销" in show

    history = text(client.get(f"/users/{staff.id}/history"))
    assert "新增角色" in history and "角色“一镇第一小学 安全专干”的有效" in history
    assert "原因：调岗到二镇" in history
    assert "原因：授予角色：一镇第一小学 安全专干" in history
    assert world.users["bureau_admin"].display_name in history

    # revoking again is refused; granting again re-activates the same row
    response = client.submit(f"/memberships/{granted[0].id}/revoke", {}, page=f"/users/{staff.id}",
                             follow_redirects=True)
    assert "该角色已撤销" in text(response)
    client.submit(f"/users/{staff.id}/memberships", {"unit_id": str(world.s1.id), "role": "safety_officer"},
                  page=f"/users/{staff.id}")
    rows = [m for m in memberships(db, staff) if m.role == "safety_officer"]
    assert [(r.id, r.is_active) for r in rows] == [(granted[0].id, True)]


def test_revoked_role_stops_working(client, app, world, db):
    login(client, world.users["bureau_admin"])
    principal = world.users["principal"]
    [m] = memberships(db, principal)
    other = app.test_client()
    login(other, principal)
    assert other.get("/users").status_code == 200
    client.submit(f"/memberships/{m.id}/revoke", {"reason": "离任"}, page=f"/users/{principal.id}")
    assert other.get("/users").status_code == 403


def test_township_supervisor_cannot_revoke_outside_its_schools(client, world, db):
    login(client, world.users["township_supervisor"])
    [m] = memberships(db, world.users["bureau_admin"])
    response = client.submit(f"/memberships/{m.id}/revoke", {}, page="/")
    assert response.status_code in (403, 404)
    assert memberships(db, world.users["bureau_admin"])[0].is_active


# ---------------------------------------------------------------------------------------------
# editing units


def test_bureau_admin_edits_any_unit_of_its_district(client, world, db):
    login(client, world.users["bureau_admin"])
    for target in (world.s3, world.t1, world.affiliated):
        response = edit_unit(client, target.id, address="新地址 1 号", reason="核实")
        assert response.status_code == 302, text(response)
        assert unit(db, target.id).address == "新地址 1 号"


def test_township_supervisor_edits_its_own_schools_only(client, world, db):
    login(client, world.users["township_supervisor"])
    response = edit_unit(client, world.s1.id, enrolment="520", reason="学期初核实")
    assert response.status_code == 302
    assert unit(db, world.s1.id).enrolment == 520
    assert client.get(f"/units/{world.t1.id}/edit").status_code == 403  # its own centre school
    assert client.get(f"/units/{world.s3.id}/edit").status_code == 404  # another township's school
    assert client.get(f"/units/{world.affiliated.id}/edit").status_code == 404
    assert client.get(f"/units/{world.sb.id}/edit").status_code == 404  # another district


@pytest.mark.parametrize("role", ["principal", "safety_officer", "bureau_leader", "bureau_viewer"])
def test_other_roles_cannot_edit_units(client, world, db, role):
    login(client, world.users[role])
    assert client.get(f"/units/{world.s1.id}/edit").status_code == 403


def test_unit_history_shows_actor_old_new_and_reason(client, world, db):
    admin = world.users["bureau_admin"]
    login(client, admin)
    response = edit_unit(client, world.s1.id, enrolment="520", name="一镇第一小学（本部）", reason="学期初核实学生数")
    assert response.status_code == 302
    page = text(client.get(f"/units/{world.s1.id}/history"))
    assert "原因：学期初核实学生数" in page
    assert f"操作人：{admin.display_name}" in page
    cell = r"\s*</td>\s*<td[^>]*>\s*"
    assert re.search(rf"在校学生数{cell}500{cell}520\s*</td>", page), page
    assert re.search(rf"名称{cell}一镇第一小学{cell}一镇第一小学（本部）\s*</td>", page)
    assert "地址：127.0.0.1" in page
    # the newest change comes first and the creation is listed too
    assert page.index("学期初核实学生数") < page.index("新建单位：一镇第一小学")
    assert f"{world.t1.path}{world.s1.id}/" not in page  # the materialised path is hidden


def test_unit_history_is_not_shown_to_staff(client, world):
    login(client, world.users["staff"])
    assert client.get(f"/units/{world.s1.id}/history").status_code == 403


# ---------------------------------------------------------------------------------------------
# the user list


def test_user_list_filters_and_paginates(client, world, db, factories):
    for i in range(25):
        factories.user(world.s2, "staff", username=f"bulk{i:02d}")
    login(client, world.users["bureau_admin"])
    first = text(client.get("/users"))
    current, pages, total = map(int, PAGE_RE.search(first).groups())
    assert (current, pages) == (1, 2)
    assert total == 8 + 25  # district A's own users; never district B's or the city's
    second = text(client.get("/users?page=2"))
    assert PAGE_RE.search(second).group(1) == "2"
    listed = set(re.findall(r"\bbulk\d\d\b", first)) | set(re.findall(r"\bbulk\d\d\b", second))
    assert len(listed) == 25
    assert world.b_principal.username not in first + second
    assert world.users["city_admin"].username not in first + second

    by_name = text(client.get("/users?q=bulk1"))
    assert set(re.findall(r"\bbulk\d\d\b", by_name)) == {f"bulk{i}" for i in range(10, 20)}
    by_display = text(client.get("/users", query_string={"q": "principal测试"}))
    assert world.users["principal"].username in by_display
    assert "bulk" not in by_display

    by_role = text(client.get("/users?role=township_supervisor"))
    assert world.users["township_supervisor"].username in by_role
    assert world.users["principal"].username not in by_role
    assert "共 1 条" in by_role

    assert "没有符合条件的账号" in text(client.get("/users?q=nobody-matches"))
    assert client.get("/users?page=abc").status_code == 200
    assert client.get("/users?page=-3&sort=evil&role=evil").status_code == 200
    assert client.get("/users?q=" + "%25_" * 30).status_code == 200


def test_user_list_of_a_township_supervisor_is_its_subtree(client, world, db):
    login(client, world.users["township_supervisor"])
    page = text(client.get("/users"))
    assert world.users["staff"].username in page
    assert world.s2_staff.username in page
    assert world.users["bureau_admin"].username not in page


# ---------------------------------------------------------------------------------------------
# the unit list


def test_unit_list_filters_sorts_and_paginates(client, world, db, factories):
    for i in range(25):
        factories.unit(world.t2, name=f"二镇批量小学{i:02d}", code=f"BULK{i:02d}", school_type="小学", enrolment=i * 10)
    login(client, world.users["bureau_admin"])
    first = text(client.get("/units/"))
    current, pages, total = map(int, PAGE_RE.search(first).groups())
    assert (current, pages) == (1, 2)
    assert total == 7 + 25  # root, 2 townships, 3 schools, affiliated: district A only
    assert "乙镇小学" not in first + text(client.get("/units/?page=2"))

    schools = text(client.get("/units/?kind=school&school_type=小学&sort=code"))
    codes = ordered_codes(schools)
    assert codes == sorted(codes) and len(codes) == 20  # the first page, sorted by code
    page2 = text(client.get("/units/?kind=school&school_type=小学&sort=code&page=2"))
    assert len(ordered_codes(page2)) == 5

    by_enrolment = text(client.get("/units/?q=BULK&sort=enrolment"))
    assert ordered_codes(by_enrolment)[:3] == ["BULK24", "BULK23", "BULK22"]

    by_name = text(client.get("/units/?q=批量小学0"))
    assert len(set(re.findall(r"二镇批量小学0\d", by_name))) == 10
    assert "一镇第一小学" not in by_name

    kindergartens = text(client.get("/units/?school_type=幼儿园"))
    assert "一镇幼儿园" in kindergartens and "批量" not in kindergartens
    assert "没有符合条件的单位" in text(client.get("/units/?q=nothing-like-this"))
    assert client.get("/units/?kind=evil&sort=evil&page=x").status_code == 200


def test_unit_list_of_a_township_supervisor_is_its_subtree(client, world):
    login(client, world.users["township_supervisor"])
    page = text(client.get("/units/"))
    assert "一镇第一小学" in page and "一镇幼儿园" in page
    assert "二镇初级中学" not in page and "区实验中学" not in page


# ---------------------------------------------------------------------------------------------
# user history never carries a secret


def test_user_history_never_shows_the_password_hash(client, app, world, db):
    from sqlalchemy_continuum import version_class

    from hazardhub.accounts.models import User

    vt = version_class(User).__table__
    columns = {c["name"] for c in sa.inspect(db.session.connection()).get_columns(vt.name)}
    assert "password_hash" not in columns and "session_salt" not in columns
    assert {"username", "display_name", "must_change_password"} <= columns
    assert not any("password_hash" in c or "salt" in c for c in vt.columns.keys())

    staff = world.users["staff"]
    login(client, world.users["bureau_admin"])
    one_time = OTP_RE.search(text(client.submit(f"/users/{staff.id}/reset-password", {"reason": "忘记密码"},
                                                page=f"/users/{staff.id}"))).group(1)
    staff_client = app.test_client()
    staff_client.submit("/login", {"username": staff.username, "password": one_time})
    staff_client.submit("/password", {"current_password": one_time, "new_password": "Fresh2pass",
                                      "confirm": "Fresh2pass"})
    user = find_user(db, staff.username)
    assert user.check_password("Fresh2pass")
    secrets = {user.password_hash, user.session_salt, one_time, "Fresh2pass", PASSWORD}

    rows = db.session.connection().execute(sa.select(vt).where(vt.c.id == staff.id)).all()
    assert len(rows) >= 3  # created, reset, changed
    for row in rows:
        for value in row:
            assert not any(secret in str(value) for secret in secrets)

    page = text(client.get(f"/users/{staff.id}/history"))
    assert "忘记密码" in page  # the reset is in the history...
    assert "须修改密码" in page
    for secret in secrets | {"password_hash", "scrypt:", "session_salt"}:
        assert secret not in page  # ...but never a secret


# ---------------------------------------------------------------------------------------------
# sessions and locks on the user's page (issue #12, items 4 and 5)


def test_deactivating_a_user_in_the_ui_ends_their_sessions(client, app, world, db):
    staff = world.users["staff"]
    staff_client = app.test_client()
    staff_client.submit("/login", {"username": staff.username, "password": PASSWORD}, page="/login")
    assert staff_client.get("/units/").status_code == 200
    login(client, world.users["bureau_admin"])
    page = f"/users/{staff.id}/edit"
    data = form_fields(client.get(page).get_data(as_text=True))
    data.pop("is_active")  # the box unticked
    data["reason"] = "调离本单位"
    assert client.submit(page, data).status_code == 302
    assert find_user(db, staff.username).is_active is False
    response = staff_client.get("/units/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_user_page_lists_live_sessions_and_locks_by_address(client, app, world, db):
    staff = world.users["staff"]
    browser, stranger = app.test_client(), app.test_client()
    browser.submit("/login", {"username": staff.username, "password": PASSWORD}, page="/login",
                   environ_base={"REMOTE_ADDR": "10.2.3.4"})
    for _ in range(5):
        stranger.submit("/login", {"username": staff.username, "password": "Wrong0pass"}, page="/login",
                        environ_base={"REMOTE_ADDR": "10.9.9.9"})
    login(client, world.users["bureau_admin"])
    page = text(client.get(f"/users/{staff.id}"))
    assert "当前登录会话" in page and "10.2.3.4" in page
    assert "已锁定（来自 10.9.9.9 的登录" in page
    assert "10.2.3.4 的登录" not in page  # the owner's own address is not locked

    client.submit(f"/users/{staff.id}/reset-password", {"reason": "疑似泄露"}, page=f"/users/{staff.id}")
    assert "没有有效的登录会话" in text(client.get(f"/users/{staff.id}"))
    response = browser.get("/units/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
