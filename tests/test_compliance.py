"""The compliance matrix matches the records, cell by cell."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa

from hazardhub import clock
from hazardhub.accounts.models import Membership
from hazardhub.compliance import operations as compliance
from hazardhub.inspections import operations as inspection_ops
from hazardhub.learning import operations as learning_ops
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, record_inspection


def _last_month() -> tuple[str, date]:
    first = clock.today().replace(day=1) - timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}", first.replace(day=10)


def _learn(unit, actor, level, day, membership_ids=()):
    return learning_ops.record(unit=unit, actor=actor, standard_ids=[], membership_ids=list(membership_ids),
                               data={"level": level, "form": "video", "held_on": day, "title": "学习判定指南",
                                     "hours": 1, "headcount": None if membership_ids else 20})


def test_matrix_matches_the_records_cell_by_cell(db, client, world):
    month, day = _last_month()
    u = world.users
    end = compliance.month_bounds(month)[1]
    with tenant_bound(world.a.id):
        record_inspection(world.s1, "self", u["principal"], day, sign=datetime.combine(day, datetime.min.time()))
        record_inspection(world.s2, "self", u["principal"], day)  # recorded, never signed
        record_inspection(world.s3, "self", u["principal"], day, sign=datetime.combine(end + timedelta(days=3),
                                                                               datetime.min.time()))
        record_inspection(world.s1, "township", u["township_supervisor"], day)
        inspection_ops.assign_leader(leader=u["bureau_leader"], unit=world.t1, actor=u["bureau_admin"])
        record_inspection(world.s1, "unannounced", u["bureau_leader"], day)
        _learn(world.s1, u["principal"], "all_staff", day)
        principal_membership = db.session.execute(
            sa.select(Membership.id).where(Membership.user_id == u["principal"].id)).scalar_one()
        _learn(world.t1, u["township_supervisor"], "principals", day, [principal_membership])
        _learn(world.a_root, u["bureau_admin"], "bureau_staff", day)
        matrix = compliance.build([world.a_root], month, clock.today())
    rows = {r.unit.name: r for r in matrix.schools}
    cells = {name: (r.self_check.state, r.township_check.state, r.staff_learning.state, r.principal_learning.state)
             for name, r in rows.items()}
    assert cells == {
        "一镇第一小学": ("green", "green", "green", "green"),
        "一镇幼儿园": ("red", "red", "red", "red"),
        "二镇初级中学": ("amber", "red", "red", "red"),
        "区实验中学": ("red", "none", "red", "red"),
    }
    assert rows["一镇幼儿园"].self_check.text == "未签字"
    assert rows["区实验中学"].self_check.text == "未自查"
    townships = {t.unit.name: (t.schools, t.checked, t.principals_session.state) for t in matrix.townships}
    assert townships == {"一镇中心学校": (2, 1, "green"), "二镇中心学校": (1, 0, "red")}
    leaders = {row.leader.id: (row.visits, row.cell.state) for row in matrix.leaders}
    assert leaders[u["bureau_leader"].id] == (1, "green")
    assert [c.state for _, c in matrix.bureau_learning] == ["green"]
    assert matrix.counts() == {"green": 7, "amber": 1, "red": 11}
    login(client, u["bureau_admin"])
    page = client.get(f"/compliance/?month={month}").get_data(as_text=True)
    assert "按时签字" in page and "逾期签字" in page and "未自查" in page and "1/2" in page
    export = client.get(f"/compliance/export.xlsx?month={month}")
    assert export.status_code == 200 and export.data[:2] == b"PK"


def test_the_current_month_shows_amber_not_red(db, world):
    with tenant_bound(world.a.id):
        today = clock.today()
        matrix = compliance.build([world.a_root], f"{today.year:04d}-{today.month:02d}", today)
    assert matrix.in_progress
    assert all(r.self_check.state == "amber" for r in matrix.schools)


def test_scope_of_the_matrix(db, client, world):
    login(client, world.users["principal"])
    page = client.get("/compliance/").get_data(as_text=True)
    assert "一镇第一小学" in page and "一镇幼儿园" not in page
    login(client, world.users["staff"])
    assert client.get("/compliance/").status_code == 403
    login(client, world.users["city_viewer"])
    page = client.get("/compliance/").get_data(as_text=True)
    assert "一镇第一小学" in page and "乙镇小学" in page
    assert client.get("/compliance/?month=garbage").status_code == 200


def test_a_school_page_shows_its_months(db, client, world):
    login(client, world.users["principal"])
    page = client.get(f"/units/{world.s1.id}").get_data(as_text=True)
    assert "近六个月三学三查" in page and "本月待自查" in page


def test_home_page_lists_what_is_due(db, client, world):
    from tests.fixtures.factories import make_hazard

    make_hazard(db, world.s1, world.users["principal"], deadline=clock.today() - timedelta(days=1),
                found_on=clock.today() - timedelta(days=5))
    login(client, world.users["principal"])
    home = client.get("/").get_data(as_text=True)
    assert "本月待办" in home and "尚未开展" in home and "超过整改期限" in home
    login(client, world.users["township_supervisor"])
    assert "所学校未检查" in client.get("/").get_data(as_text=True)
    login(client, world.users["staff"])
    assert "本月待办" not in client.get("/").get_data(as_text=True)


def test_a_township_without_schools_shows_no_rate(client, world, db):
    """Issue #18: an empty denominator is "—（无学校）", not "0/0（0%）"."""
    from tests.fixtures.factories import make_unit

    make_unit(db, world.a_root, kind="township_center", name="空白镇中心学校")
    login(client, world.users["bureau_admin"])
    page = client.get("/compliance/").get_data(as_text=True)
    row = page[page.index("空白镇中心学校"):]
    row = row[:row.index("</tr>")]
    assert "—（无学校）" in row
    assert "0/0" not in page
