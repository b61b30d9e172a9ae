"""三学 learning records: who may record which level where, coverage counts, bad input, edits."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy_continuum import version_class

from hazardhub import clock
from hazardhub.accounts.models import Membership
from hazardhub.learning import operations as ops
from hazardhub.learning.models import LearningAttendee, LearningSession, LearningStandard
from hazardhub.standards import operations as catalogue
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login


def _membership(db, user, tenant_id):
    with tenant_bound(tenant_id):
        return db.session.execute(sa.select(Membership).where(Membership.user_id == user.id)).scalars().first()


def _standard_id(db, tenant_id):
    with tenant_bound(tenant_id):
        return catalogue.standards_for(tenant_id)[0].id


def _state(db, tenant_id):
    with tenant_bound(tenant_id):
        return tuple(db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()
                     for model in (LearningSession, LearningAttendee, LearningStandard,
                                   version_class(LearningSession)))


def _record(db, unit, user, *, level="all_staff", held_on=None, membership_ids=(), headcount=None, **data):
    values = {"level": level, "form": "expert_lecture", "held_on": held_on or clock.today(),
              "title": "学习《教育系统重大事故隐患判定指南》", "hours": 2, "headcount": headcount}
    values.update(data)
    with tenant_bound(unit.tenant_id):
        return ops.record(unit=unit, actor=user, data=values, standard_ids=[], membership_ids=list(membership_ids))


def _form(db, world, **change):
    data = {"level": "all_staff", "form": "case_study", "held_on": clock.today().isoformat(),
            "title": "校园消防安全案例分析", "hours": "1.5", "speaker": "冯安全", "summary": "学习典型火灾案例",
            "headcount": "35", "materials_note": "课件：消防安全.pptx",
            "standards": [str(_standard_id(db, world.a.id))]}
    data.update(change)
    return {k: v for k, v in data.items() if v is not None}


ALLOWED = [
    ("bureau_admin", "a_root", "bureau_staff"),
    ("bureau_admin", "a_root", "principals"),
    ("township_supervisor", "t1", "principals"),
    ("principal", "s1", "all_staff"),
    ("safety_officer", "s1", "all_staff"),
]


@pytest.mark.parametrize("role,unit_name,level", ALLOWED)
def test_each_allowed_role_records_its_level(db, client, world, role, unit_name, level):
    unit = getattr(world, unit_name)
    user = world.users[role]
    login(client, user)
    attendee = _membership(db, world.users["principal"], world.a.id)
    response = client.submit("/learning/new", _form(db, world, unit_id=str(unit.id), level=level,
                                                    attendees=[str(attendee.id)]))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with tenant_bound(world.a.id):
        session = db.session.execute(sa.select(LearningSession).order_by(LearningSession.id.desc())).scalars().first()
        assert (session.unit_id, session.level, session.created_by_id) == (unit.id, level, user.id)
        assert response.headers["Location"].endswith(f"/learning/{session.id}")
        attendees = db.session.execute(sa.select(LearningAttendee).where(
            LearningAttendee.session_id == session.id)).scalars().all()
        assert [(a.user_id, a.unit_id, a.role) for a in attendees] == [(world.users["principal"].id, world.s1.id, "principal")]
        standard = db.session.execute(sa.select(LearningStandard).where(
            LearningStandard.session_id == session.id)).scalar_one()
        assert standard.standard_title
    page = client.get(f"/learning/{session.id}").get_data(as_text=True)
    assert "校园消防安全案例分析" in page and "修改" in page


@pytest.mark.parametrize("role", ["staff", "bureau_viewer", "bureau_leader", "city_admin", "city_viewer"])
def test_roles_without_the_right_cannot_open_the_form(db, client, world, role):
    login(client, world.users[role])
    assert client.get("/learning/new").status_code == 403


def test_staff_cannot_even_read(db, client, world):
    login(client, world.users["staff"])
    assert client.get("/learning/").status_code == 403


@pytest.mark.parametrize("role,unit_name,level", [
    ("township_supervisor", "t1", "bureau_staff"),
    ("township_supervisor", "t1", "all_staff"),
    ("principal", "s1", "principals"),
    ("bureau_admin", "a_root", "all_staff"),
])
def test_a_level_the_unit_does_not_organise_is_refused(db, client, world, role, unit_name, level):
    login(client, world.users[role])
    before = _state(db, world.a.id)
    response = client.submit("/learning/new", _form(db, world, unit_id=str(getattr(world, unit_name).id), level=level))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "不能登记该层级" in body or "不是有效的选择" in body  # the level is not even offered
    assert _state(db, world.a.id) == before


def test_a_user_with_two_units_is_told_which_unit_organises_the_level(db, client, world):
    """A bureau admin who is also a township supervisor is offered both levels, each on its own unit."""
    from hazardhub.accounts import operations as account_ops

    admin = world.users["bureau_admin"]
    with tenant_bound(world.a.id):
        account_ops.grant_membership(admin, world.t2, "township_supervisor")
    login(client, admin)
    before = _state(db, world.a.id)
    response = client.submit("/learning/new", _form(db, world, unit_id=str(world.t2.id), level="bureau_staff"))
    assert response.status_code == 200 and "不能登记该层级" in response.get_data(as_text=True)
    assert _state(db, world.a.id) == before
    response = client.submit("/learning/new", _form(db, world, unit_id=str(world.t2.id), level="principals"))
    assert response.status_code == 302


def test_a_unit_that_is_not_the_users_own_is_not_a_choice(db, client, world):
    login(client, world.users["township_supervisor"])
    before = _state(db, world.a.id)
    response = client.submit("/learning/new", _form(db, world, unit_id=str(world.s1.id)))
    assert response.status_code == 200 and "不是有效的选择" in response.get_data(as_text=True)
    assert _state(db, world.a.id) == before


def test_other_district_and_outside_subtree_get_404_city_reads_only(db, client, world):
    session = _record(db, world.s1, world.users["principal"], headcount=20)
    login(client, world.b_admin)
    for url in (f"/learning/{session.id}", f"/learning/{session.id}/edit", f"/learning/{session.id}/history"):
        assert client.get(url).status_code == 404, url
    assert "学习《教育系统" not in client.get("/learning/").get_data(as_text=True)
    other = _record(db, world.s2, world.s2_staff, headcount=9, title="幼儿园全员学习")
    login(client, world.users["principal"])
    assert client.get(f"/learning/{other.id}").status_code == 404
    assert "幼儿园全员学习" not in client.get("/learning/").get_data(as_text=True)
    login(client, world.users["township_supervisor"])  # reads the school's session, may not edit it
    assert client.get(f"/learning/{session.id}").status_code == 200
    assert client.get(f"/learning/{session.id}/edit").status_code == 403
    for role in ("city_admin", "city_viewer"):
        login(client, world.users[role])
        assert client.get("/learning/").status_code == 200
        assert client.get(f"/learning/{session.id}").status_code == 200
        assert client.get(f"/learning/coverage?month={clock.today():%Y-%m}").status_code == 200
        before = _state(db, world.a.id)
        response = client.submit(f"/learning/{session.id}/edit", {"title": "改", "version_id": "1"}, page="/password")
        assert response.status_code == 403
        assert _state(db, world.a.id) == before


def test_coverage_counts_match_direct_counts(db, client, world):
    first = clock.today().replace(day=1)
    last_month = (first - timedelta(days=1)).replace(day=1)
    principal = _membership(db, world.users["principal"], world.a.id)
    staff = _membership(db, world.users["staff"], world.a.id)
    _record(db, world.a_root, world.users["bureau_admin"], level="bureau_staff", held_on=first,
            membership_ids=[_membership(db, world.users["township_supervisor"], world.a.id).id])
    _record(db, world.t1, world.users["township_supervisor"], level="principals", held_on=first,
            membership_ids=[principal.id])
    _record(db, world.s1, world.users["principal"], held_on=first, headcount=30)
    _record(db, world.s1, world.users["safety_officer"], held_on=first, membership_ids=[principal.id, staff.id])
    _record(db, world.s2, world.s2_staff, held_on=last_month, headcount=12)  # another month
    with tenant_bound(world.a.id):
        world.s1.staff_count = 40
        db.session.commit()
        end = (first + timedelta(days=32)).replace(day=1)
        result = ops.coverage([world.a_root], first, end)
        schools = {r.unit.id: r for r in result.schools}
        townships = {c.unit.id: c for c in result.townships}
        held = lambda level, unit: db.session.execute(sa.select(sa.func.count()).select_from(LearningSession).where(
            LearningSession.level == level, LearningSession.unit_id == unit.id,
            LearningSession.held_on >= first, LearningSession.held_on < end)).scalar_one()
        assert result.bureaus[0].sessions == held("bureau_staff", world.a_root) == 1
        assert townships[world.t1.id].sessions == held("principals", world.t1) == 1
        assert townships[world.t2.id].sessions == held("principals", world.t2) == 0
        assert schools[world.s1.id].sessions == held("all_staff", world.s1) == 2
        assert schools[world.s1.id].attendance == 30 + 2
        assert schools[world.s1.id].rate == pytest.approx(32 / 40)
        assert schools[world.s1.id].principal_attended is True
        assert schools[world.s2.id].sessions == held("all_staff", world.s2) == 0
        assert schools[world.s2.id].principal_attended is False
        assert world.t1.id not in schools and world.affiliated.id in schools
    login(client, world.users["township_supervisor"])
    page = client.get(f"/learning/coverage?month={first:%Y-%m}").get_data(as_text=True)
    assert "32 / 40（80%）" in page and "区实验中学" not in page  # the township sees only its schools
    login(client, world.users["bureau_admin"])
    page = client.get(f"/learning/coverage?month={first:%Y-%m}").get_data(as_text=True)
    assert "区实验中学" in page and "二镇中心学校" in page
    page = client.get(f"/learning/coverage?month={first:%Y-%m}&unit_id={world.t2.id}").get_data(as_text=True)
    assert "二镇初级中学" in page and "一镇第一小学" not in page
    login(client, world.users["principal"])  # another unit's id is ignored, not disclosed
    page = client.get(f"/learning/coverage?month={first:%Y-%m}&unit_id={world.t2.id}").get_data(as_text=True)
    assert "一镇第一小学" in page and "二镇" not in page


def _other_school_membership(db, world):
    return _membership(db, world.s2_staff, world.a.id).id


BAD = [
    ("empty title", {"title": ""}, "请填写学习主题"),
    ("bad date", {"held_on": "2025-13-45"}, "日期"),
    ("future date", {"held_on": (clock.today() + timedelta(days=3)).isoformat()}, "不能晚于今天"),
    ("headcount letters", {"headcount": "abc"}, "整数"),
    ("negative headcount", {"headcount": "-3"}, "参加人数"),
    ("zero hours", {"hours": "0"}, "学时"),
    ("hours letters", {"hours": "两"}, None),
    ("form tampered", {"form": "party"}, "不是有效的选择"),
    ("level tampered", {"level": "everyone"}, "不是有效的选择"),
    ("standard of nobody", {"standards": ["999999"]}, "不是有效的选择"),
    ("attendee id not a number", {"attendees": ["x"]}, "参加人员无效"),
    ("no attendance at all", {"headcount": ""}, "参加人数"),
    ("too long title", {"title": "长" * 250}, "不超过 200 字"),
]


@pytest.mark.parametrize("label,change,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_changes_nothing(db, client, world, label, change, message):
    login(client, world.users["principal"])
    before = _state(db, world.a.id)
    response = client.submit("/learning/new", _form(db, world, unit_id=str(world.s1.id), **change))
    assert response.status_code == 200, label
    if message:
        assert message in response.get_data(as_text=True), label
    assert _state(db, world.a.id) == before


@pytest.mark.parametrize("whose", ["another school", "another district"])
def test_attendee_outside_the_unit_is_refused(db, client, world, whose):
    membership = (_other_school_membership(db, world) if whose == "another school"
                  else _membership(db, world.b_principal, world.b.id).id)
    login(client, world.users["principal"])
    before = _state(db, world.a.id)
    response = client.submit("/learning/new", _form(db, world, unit_id=str(world.s1.id), attendees=[str(membership)]))
    assert response.status_code == 200 and "不是有效的选择" in response.get_data(as_text=True)
    assert _state(db, world.a.id) == before
    # the operation refuses it too, whatever the form offered
    with pytest.raises(ops.LearningError, match="参加人员"):
        _record(db, world.s1, world.users["principal"], membership_ids=[membership])
    db.session.rollback()
    assert _state(db, world.a.id) == before


def test_missing_csrf_is_400_and_changes_nothing(db, client, world):
    login(client, world.users["principal"])
    before = _state(db, world.a.id)
    response = client.post("/learning/new", data=_form(db, world, unit_id=str(world.s1.id)))
    assert response.status_code == 400
    assert _state(db, world.a.id) == before


def test_bad_query_strings_do_not_fail(db, client, world):
    login(client, world.users["bureau_admin"])
    for url in ("/learning/?month=2026-99&unit_id=abc&level=x&form=y&page=zz", "/learning/?month=<script>",
                "/learning/coverage?month=abc", "/learning/coverage?month=2026-13&page=-1", "/learning/99999999999"):
        assert client.get(url).status_code in (200, 404), url
    assert "月份格式" in client.get("/learning/coverage?month=abc").get_data(as_text=True)


def test_edit_conflict_and_history(db, client, world):
    principal = _membership(db, world.users["principal"], world.a.id)
    session = _record(db, world.s1, world.users["principal"], headcount=20, title="原主题")
    login(client, world.users["safety_officer"])
    edit_page = client.get(f"/learning/{session.id}/edit").get_data(as_text=True)
    assert "原主题" in edit_page
    response = client.submit(f"/learning/{session.id}/edit", _form(
        db, world, title="新主题", headcount="25", attendees=[str(principal.id)], version_id="1", reason="补录参加人员"))
    assert response.status_code == 302
    with tenant_bound(world.a.id):
        db.session.refresh(session)
        assert (session.title, session.headcount, session.version_id) == ("新主题", 25, 2)
    # a second clerk still holding revision 1 gets a conflict, and nothing is written
    before = _state(db, world.a.id)
    response = client.submit(f"/learning/{session.id}/edit", _form(db, world, title="过期的修改", version_id="1"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "已被他人修改" in body and "新主题" in body
    assert _state(db, world.a.id) == before
    with tenant_bound(world.a.id):
        db.session.refresh(session)
        assert session.title == "新主题"
    history = client.get(f"/learning/{session.id}/history").get_data(as_text=True)
    assert "原主题" in history and "新主题" in history and "补录参加人员" in history
    assert "参加人员" in history and "创建" in history and "修改" in history
    # removing the attendee is recorded too
    response = client.submit(f"/learning/{session.id}/edit", _form(db, world, title="新主题", headcount="25",
                                                                    version_id="2", reason="删除误录人员"))
    assert response.status_code == 302
    with tenant_bound(world.a.id):
        rows = db.session.execute(sa.select(LearningAttendee).where(LearningAttendee.session_id == session.id)).scalars().all()
        assert [r.is_active for r in rows] == [False]  # nothing is deleted: the row stays, inactive
    assert "删除误录人员" in client.get(f"/learning/{session.id}/history").get_data(as_text=True)
    assert "参加人员（0 人）" in client.get(f"/learning/{session.id}").get_data(as_text=True)
    with tenant_bound(world.a.id):
        assert ops.attendance([session.id]) == {session.id: 25}


def test_unchanged_edit_writes_nothing(db, client, world):
    session = _record(db, world.s1, world.users["principal"], headcount=20, title="原主题", form="video",
                      speaker=None, summary=None, materials_note=None)
    login(client, world.users["principal"])
    before = _state(db, world.a.id)
    response = client.submit(f"/learning/{session.id}/edit", {
        "level": "all_staff", "form": "video", "held_on": clock.today().isoformat(), "title": "原主题",
        "hours": "2", "headcount": "20", "version_id": "1"})
    assert response.status_code == 302
    assert _state(db, world.a.id) == before


def test_list_filters_and_home_card(db, client, world):
    _record(db, world.s1, world.users["principal"], headcount=20, title="视频学习会", form="video")
    _record(db, world.t1, world.users["township_supervisor"], level="principals", title="校长专题学习",
            membership_ids=[_membership(db, world.users["principal"], world.a.id).id])
    login(client, world.users["bureau_admin"])
    page = client.get("/learning/?form=video").get_data(as_text=True)
    assert "视频学习会" in page and "校长专题学习" not in page
    page = client.get(f"/learning/?level=principals&month={clock.today():%Y-%m}&unit_id={world.t1.id}").get_data(as_text=True)
    assert "校长专题学习" in page and "视频学习会" not in page
    assert "三学学习记录" in client.get("/").get_data(as_text=True)
