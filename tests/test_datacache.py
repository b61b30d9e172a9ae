"""Figures kept by data version (hazardhub.datacache): fresh after every committed write, never
shared between scopes, never computed from uncommitted rows, safe after the computing request
commits."""
from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from hazardhub import clock, datacache
from hazardhub.hazards.models import Hazard
from hazardhub.orgs.models import OrgUnit
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login


def _open_counts(html: str) -> tuple[int, int]:
    found = re.search(r"未销号：重大 (\d+) 项，一般 (\d+) 项", html)
    assert found, "the ledger's counters are missing"
    return int(found.group(1)), int(found.group(2))


def test_ledger_page_follows_a_new_hazard(client, world, factories):
    login(client, world.users["bureau_admin"])
    before = client.get("/hazards/?status=open").get_data(as_text=True)
    again = client.get("/hazards/?status=open").get_data(as_text=True)
    assert datacache.stats()["hits"] >= 1, "the second identical request should be served from the cache"
    assert _open_counts(again) == _open_counts(before)

    hazard = factories.hazard(world.s1, world.users["principal"], location="二楼饮水机旁（缓存测试）")
    after = client.get("/hazards/?status=open").get_data(as_text=True)
    major, general = _open_counts(before)
    assert _open_counts(after) == (major, general + 1)
    assert hazard.number in after and hazard.number not in before


def test_cached_ledger_is_not_shared_with_a_narrower_scope(client, world, factories):
    in_s1 = factories.hazard(world.s1, world.users["principal"], location="一小东楼梯")
    in_s3 = factories.hazard(world.s3, world.users["bureau_admin"], location="三小西楼梯")
    login(client, world.users["bureau_admin"])
    district = client.get("/hazards/").get_data(as_text=True)
    assert in_s1.number in district and in_s3.number in district

    login(client, world.users["principal"])  # same tenant, same query string, one school
    school = client.get("/hazards/").get_data(as_text=True)
    assert in_s1.number in school
    assert in_s3.number not in school


def test_compliance_matrix_follows_a_learning_session(db, client, world):
    from hazardhub.learning import operations as learning_ops

    first = clock.today().replace(day=1) - timedelta(days=1)
    month = f"{first.year:04d}-{first.month:02d}"
    login(client, world.users["bureau_admin"])
    url = f"/compliance/?month={month}"
    row = re.compile(r'一镇第一小学</a></td>.*?</tr>', re.S)
    before = row.search(client.get(url).get_data(as_text=True)).group(0)
    assert "未组织" in before
    with tenant_bound(world.a.id):
        learning_ops.record(unit=world.s1, actor=world.users["principal"], standard_ids=[], membership_ids=[],
                            data={"level": "all_staff", "form": "video", "held_on": first.replace(day=10),
                                  "title": "学习判定指南", "hours": 1, "headcount": 20})
    after = row.search(client.get(url).get_data(as_text=True)).group(0)
    assert "1 次" in after and "未组织" not in after


def test_city_comparison_follows_a_district_write(client, world, factories):
    login(client, world.users["city_admin"])
    table = re.compile(r'<table class="table table-sm table-bordered align-middle compare-table.*?</table>', re.S)
    before = table.search(client.get("/citywide/").get_data(as_text=True)).group(0)
    assert table.search(client.get("/citywide/").get_data(as_text=True)).group(0) == before
    last_month = clock.today().replace(day=1) - timedelta(days=1)  # the page's default period
    factories.hazard(world.s1, world.users["principal"], found_on=last_month, level="general")
    after = table.search(client.get("/citywide/").get_data(as_text=True)).group(0)
    assert after != before, "a district's new hazard must change the city's comparison"


def test_nothing_is_kept_while_the_session_has_uncommitted_writes(app, db, world):
    calls = []

    def count_hazards() -> int:
        calls.append(1)
        return db.session.execute(sa.select(sa.func.count()).select_from(Hazard)).scalar_one()

    with app.test_request_context(), tenant_bound(world.a.id):
        unit = db.session.get(OrgUnit, world.s1.id)
        unit.address = "未提交的地址"
        db.session.flush()  # written, not committed: the chain head has not moved
        datacache.cached(("test_count",), [world.a.id], count_hazards)
        assert datacache.stats()["entries"] == 0
        db.session.rollback()
        datacache.cached(("test_count",), [world.a.id], count_hazards)
        datacache.cached(("test_count",), [world.a.id], count_hazards)
    assert len(calls) == 2, "after the rollback the figure is computed once and then kept"
    assert datacache.stats()["entries"] == 1


def test_kept_objects_survive_a_commit_in_the_request_that_computed_them(app, db, world):
    tenant_id = world.a.id
    key = ("test_units", tenant_id)

    def units() -> list[OrgUnit]:
        return list(db.session.execute(sa.select(OrgUnit).order_by(OrgUnit.id)).scalars())

    with app.test_request_context(), tenant_bound(tenant_id):
        computed = datacache.cached(key, [tenant_id], units)
        names = [u.name for u in computed]
        db.session.expire_all()  # what a commit or rollback later in this request does
    db.session.remove()
    with app.test_request_context(), tenant_bound(tenant_id):
        kept = datacache.cached(key, [tenant_id], lambda: [])
        assert [u.name for u in kept] == names  # a hit: the copy was never part of a session


def test_data_version_moves_with_every_committed_change(app, db, world):
    with app.test_request_context(), tenant_bound(world.a.id):
        before = datacache._read_heads((world.a.id,))
        unit = db.session.get(OrgUnit, world.s1.id)
        unit.address = "许昌市建安区新地址 1 号"
        db.session.commit()
        after = datacache._read_heads((world.a.id,))
    assert after[0][1] == before[0][1] + 1 and after[0][2] != before[0][2]
