"""The hazard ledger: determination, the five plan requirements, lifecycle, acceptance by another
person, downgrade approval, conflicts, void, catalogue snapshots, scoping, history, and speed."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy_continuum import version_class

from hazardhub import clock
from hazardhub.audit import verify_chain
from hazardhub.hazards import operations as ops
from hazardhub.hazards.models import Hazard, HazardCitation
from hazardhub.standards import operations as catalogue
from hazardhub.standards.models import RuleGroup, StandardItem
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, make_hazard

PLAN = {
    "responsible_person": "张主任", "responsible_dept": "总务处", "measures": "拆除飞线，建设集中充电棚",
    "funds": "3500", "deadline": (clock.today() + timedelta(days=15)).isoformat(),
    "interim_controls": "楼内禁止停放，专人巡查", "contingency_plan": "按学校消防应急预案处置",
}


def _item_id(db, world, number):
    with tenant_bound(world.a.id):
        return next(i.id for i in catalogue.items_for(world.a.id) if i.number == number)


def _form(db, world, **overrides):
    data = {
        "school_id": str(world.s1.id), "found_on": clock.today().isoformat(), "found_by_name": "郑校长",
        "source": "self", "category": "校园消防", "location": "学生宿舍楼一楼楼梯间",
        "description": "发现电动自行车在楼梯间充电，私拉电线", "level": "general",
        "items": [str(_item_id(db, world, "3.1.6"))],
    }
    data.update(overrides)
    return data


def _hazard(db, world, hazard_id) -> Hazard:
    with tenant_bound(world.a.id):
        return db.session.execute(
            sa.select(Hazard).where(Hazard.id == hazard_id).execution_options(populate_existing=True)
        ).scalar_one()


def _count(db, world, model=Hazard):
    with tenant_bound(world.a.id):
        return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_citing_a_direct_item_makes_it_major_and_asks_for_the_five_plan_fields(db, client, world):
    login(client, world.users["principal"])
    before = _count(db, world), _count(db, world, version_class(Hazard))
    response = client.submit("/hazards/new", _form(db, world))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "五落实" in body and "责任（整改责任人）" in body and "预案" in body
    assert (_count(db, world), _count(db, world, version_class(Hazard))) == before, "nothing written"
    response = client.submit("/hazards/new", _form(db, world, **PLAN), page="/hazards/new")
    assert response.status_code == 302
    hazard_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    hazard = _hazard(db, world, hazard_id)
    assert hazard.level == "major" and hazard.determination == "direct" and hazard.is_listed
    assert "3.1.6" in hazard.determination_rule
    assert hazard.number.startswith(f"{world.a.short_name}-{clock.today().year}-")
    page = client.get(f"/hazards/{hazard_id}").get_data(as_text=True)
    assert "直接判定" in page and "3.1.6" in page
    login(client, world.users["bureau_admin"])
    listed = client.get("/hazards/listed").get_data(as_text=True)
    assert hazard.number in listed


def test_general_hazard_needs_no_full_plan(db, world):
    hazard = make_hazard(db, world.s1, world.users["principal"], responsible_person=None, measures=None,
                         funds=None, deadline=None, interim_controls=None, contingency_plan=None)
    assert hazard.level == "general" and not hazard.is_listed
    assert hazard.plan_missing()


def test_numbers_are_sequential_per_tenant_and_year(db, world):
    a1 = make_hazard(db, world.s1, world.users["principal"])
    a2 = make_hazard(db, world.s2, world.users["bureau_admin"])
    b1 = make_hazard(db, world.sb, world.b_principal)
    assert a1.number.endswith("-000001") and a2.number.endswith("-000002")
    assert b1.number.endswith("-000001")


def test_working_day_deadline_uses_the_holiday_calendar(db, world):
    hazard = make_hazard(db, world.s1, world.users["principal"], found_on=date(2025, 9, 30),
                         deadline=None, deadline_working_days=3)
    assert hazard.deadline == date(2025, 10, 11)  # 国庆中秋 1–8 October, 11 October a make-up working day


def _walk(db, client, world, hazard_id, path, data, who):
    login(client, world.users[who] if isinstance(who, str) else who)
    hazard = _hazard(db, world, hazard_id)
    data = {"version_id": str(hazard.version_id), **data}
    response = client.submit(f"/hazards/{hazard_id}/{path}", data, page=f"/hazards/{hazard_id}",
                             follow_redirects=True)
    return response.get_data(as_text=True)


def test_full_lifecycle_with_rejection_and_history(db, client, world):
    hazard = make_hazard(db, world.s1, world.users["principal"], items=["3.1.6"])
    hid = hazard.id
    today = clock.today().isoformat()
    _walk(db, client, world, hid, "start", {}, "safety_officer")
    assert _hazard(db, world, hid).status == "rectifying"
    _walk(db, client, world, hid, "report", {"rectified_on": today, "note": "已拆除飞线，建成充电棚"}, "safety_officer")
    assert _hazard(db, world, hid).status == "awaiting_acceptance"
    body = _walk(db, client, world, hid, "accept", {"accepted_on": today, "note": "自己验收"}, "safety_officer")
    assert _hazard(db, world, hid).status == "awaiting_acceptance"
    assert "无权" in body or "不能验收" in body
    body = _walk(db, client, world, hid, "accept", {"accepted_on": today, "note": "校长验收"}, "principal")
    assert _hazard(db, world, hid).status == "awaiting_acceptance", "a major hazard is accepted one level up"
    _walk(db, client, world, hid, "reject", {"reason": "充电棚未配灭火器"}, "township_supervisor")
    hazard = _hazard(db, world, hid)
    assert hazard.status == "rectifying" and hazard.reject_reason == "充电棚未配灭火器"
    _walk(db, client, world, hid, "report", {"rectified_on": today, "note": "已配灭火器两具"}, "safety_officer")
    _walk(db, client, world, hid, "accept", {"accepted_on": today, "note": "复查合格"}, "township_supervisor")
    hazard = _hazard(db, world, hid)
    assert hazard.status == "closed" and hazard.closed_on == clock.today()
    assert hazard.accepted_by_id == world.users["township_supervisor"].id
    login(client, world.users["bureau_admin"])
    history = client.get(f"/hazards/{hid}/history").get_data(as_text=True)
    for text in ("整改中", "待验收", "已销号", "充电棚未配灭火器", "复查合格",
                 world.users["township_supervisor"].display_name, world.users["safety_officer"].display_name):
        assert text in history, text
    with tenant_bound(world.a.id):
        statuses = [v.status for v in db.session.execute(
            sa.select(version_class(Hazard)).where(version_class(Hazard).id == hid)
            .order_by(version_class(Hazard).transaction_id)).scalars()]
    assert statuses == ["registered", "rectifying", "awaiting_acceptance", "rectifying", "awaiting_acceptance", "closed"]
    assert verify_chain(db.session.connection(), world.a.id).ok


def test_the_reporter_cannot_accept_their_own_rectification(db, world):
    admin = world.users["bureau_admin"]
    hazard = make_hazard(db, world.s1, world.users["principal"])
    with tenant_bound(world.a.id):
        ops.report_rectification(hazard, actor=admin, rectified_on=clock.today(), note="已整改",
                                 version_id=hazard.version_id)
        with pytest.raises(ops.HazardError, match="不能验收"):
            ops.accept(hazard, actor=admin, accepted_on=clock.today(), note="x", version_id=hazard.version_id)
        ops.accept(hazard, actor=world.users["principal"], accepted_on=clock.today(), note="合格",
                   version_id=hazard.version_id)
    assert hazard.status == "closed"


def test_composite_group_tips_to_major_at_the_stored_threshold(db, world):
    city_admin = world.users["city_admin"]
    with tenant_bound(world.city.id):
        group = db.session.execute(sa.select(RuleGroup).where(RuleGroup.code == "3-2")).scalar_one()
        for n in ("3.2.1", "3.2.2", "3.2.3"):
            catalogue.add_item(group, number=n, text=f"测试综合判定条目 {n}", tags="", reason="测试")
    principal = world.users["principal"]
    first = make_hazard(db, world.s1, principal, items=["3.2.1"])
    assert first.level == "general" and "阈值未设定" in first.determination_rule
    with tenant_bound(world.city.id):
        group = db.session.execute(sa.select(RuleGroup).where(RuleGroup.code == "3-2")).scalar_one()
        catalogue.update_group(group, kind="composite", threshold=2, window_days=30, note=None,
                               version_id=group.version_id, reason="依据正式文件设定阈值")
    other_school = make_hazard(db, world.s2, principal, items=["3.2.2"])
    assert other_school.level == "general", "counted per school"
    old = make_hazard(db, world.s1, principal, items=["3.2.2"], found_on=clock.today() - timedelta(days=40))
    assert old.level == "general", "outside the window"
    second = make_hazard(db, world.s1, principal, items=["3.2.3"])
    assert second.level == "major" and second.determination == "composite"
    assert "阈值 2 项" in second.determination_rule
    first = _hazard(db, world, first.id)
    assert first.level == "major" and first.is_listed, "the contributing hazard tips too"
    assert city_admin


def test_downgrade_needs_a_reason_and_approval_one_level_up(db, client, world):
    hazard = make_hazard(db, world.s1, world.users["principal"], items=["3.1.6"])
    hid = hazard.id
    _walk(db, client, world, hid, "downgrade", {"reason": ""}, "principal")
    assert _hazard(db, world, hid).downgrade_status is None, "a reason is required"
    _walk(db, client, world, hid, "downgrade", {"reason": "经现场复核，车辆为临时停放且已断电"}, "principal")
    assert _hazard(db, world, hid).downgrade_status == "pending"
    login(client, world.users["principal"])
    response = client.submit(f"/hazards/{hid}/downgrade/decide",
                             {"version_id": str(_hazard(db, world, hid).version_id), "decision": "approve",
                              "note": "自己批准"}, page=f"/hazards/{hid}")
    assert response.status_code == 403
    assert _hazard(db, world, hid).level == "major"
    _walk(db, client, world, hid, "downgrade/decide", {"decision": "approve", "note": "同意，纳入一般隐患管理"},
          "township_supervisor")
    hazard = _hazard(db, world, hid)
    assert hazard.level == "general" and hazard.determination == "downgraded" and not hazard.is_listed
    login(client, world.users["bureau_admin"])
    history = client.get(f"/hazards/{hid}/history").get_data(as_text=True)
    assert "经现场复核" in history and "同意，纳入一般隐患管理" in history
    assert "重大" in history and "一般" in history


def test_two_editors_get_a_conflict_not_a_lost_update(db, client, world):
    hazard = make_hazard(db, world.s1, world.users["principal"])
    hid, loaded_version = hazard.id, hazard.version_id
    base = {"found_on": hazard.found_on.isoformat(), "found_by_name": "张三", "source": "self",
            "category": "校园消防", "location": hazard.location, "description": hazard.description,
            "level": "general", "version_id": str(loaded_version), "reason": ""}
    login(client, world.users["principal"])
    first = client.submit(f"/hazards/{hid}/edit", {**base, "location": "第一个人改的部位"})
    assert first.status_code == 302
    login(client, world.users["safety_officer"])
    second = client.submit(f"/hazards/{hid}/edit", {**base, "location": "第二个人改的部位"})
    body = second.get_data(as_text=True)
    assert second.status_code == 200 and "已被他人修改" in body
    assert "第一个人改的部位" in body, "the conflict shows what changed"
    assert _hazard(db, world, hid).location == "第一个人改的部位"


def test_void_keeps_the_row_in_the_ledger(db, client, world):
    hazard = make_hazard(db, world.s1, world.users["principal"], location="登记错误的部位")
    _walk(db, client, world, hazard.id, "void", {"reason": "重复登记"}, "principal")
    hazard = _hazard(db, world, hazard.id)
    assert hazard.status == "voided" and hazard.void_reason == "重复登记"
    login(client, world.users["bureau_admin"])
    assert "登记错误的部位" not in client.get("/hazards/").get_data(as_text=True)
    assert "登记错误的部位" in client.get("/hazards/?status=voided").get_data(as_text=True)


def test_catalogue_edit_never_changes_what_a_hazard_cited(db, world):
    hazard = make_hazard(db, world.s1, world.users["principal"], items=["3.1.6"])
    with tenant_bound(world.city.id):
        item = db.session.execute(sa.select(StandardItem).where(StandardItem.number == "3.1.6")).scalar_one()
        old_text, old_version = item.text, item.version_id
        catalogue.update_item(item, text="修改后的条文", tags="宿舍", is_active=True, version_id=item.version_id,
                              reason="测试")
    with tenant_bound(world.a.id):
        citation = db.session.execute(
            sa.select(HazardCitation).where(HazardCitation.hazard_id == hazard.id)).scalar_one()
    assert citation.item_text == old_text and citation.item_version == old_version


def test_scoping_of_hazards_their_history_and_actions(app, db, client, world):
    hazard = make_hazard(db, world.s1, world.users["principal"], items=["3.1.6"])
    urls = [f"/hazards/{hazard.id}", f"/hazards/{hazard.id}/history", f"/hazards/{hazard.id}/edit"]
    login(client, world.b_admin)
    for url in urls:
        assert client.get(url).status_code == 404, url
    other_principal = world.s2_staff
    login(client, other_principal)
    for url in urls:
        assert client.get(url).status_code in (403, 404), url
    login(client, world.users["city_viewer"])
    assert client.get(urls[0]).status_code == 200
    assert client.get(urls[1]).status_code == 200
    for action in ("start", "report", "accept", "reject", "void", "downgrade", "downgrade/decide"):
        response = client.submit(f"/hazards/{hazard.id}/{action}", {"version_id": "1", "reason": "x", "note": "x"},
                                 page=urls[0])
        assert response.status_code in (403, 404), action
    assert _hazard(db, world, hazard.id).status == "registered"


def test_ledger_filters_and_counts(db, client, world):
    principal = world.users["principal"]
    make_hazard(db, world.s1, principal, items=["3.1.6"], location="宿舍楼梯间")
    make_hazard(db, world.s1, principal, location="食堂后门", category="食品安全",
                deadline=clock.today() - timedelta(days=2), found_on=clock.today() - timedelta(days=9))
    make_hazard(db, world.s3, world.users["bureau_admin"], location="初中实验室", category="实验实训", source="bureau")
    make_hazard(db, world.sb, world.b_principal, location="乙区的隐患")
    login(client, world.users["bureau_admin"])
    page = client.get("/hazards/").get_data(as_text=True)
    assert "宿舍楼梯间" in page and "初中实验室" in page and "乙区的隐患" not in page
    assert "食堂后门" not in client.get("/hazards/?category=校园消防").get_data(as_text=True)
    overdue = client.get("/hazards/?status=overdue").get_data(as_text=True)
    assert "食堂后门" in overdue and "宿舍楼梯间" not in overdue and "逾期" in overdue
    assert "初中实验室" in client.get("/hazards/?source=bureau").get_data(as_text=True)
    assert "初中实验室" not in client.get(f"/hazards/?unit_id={world.t1.id}").get_data(as_text=True)
    login(client, principal)
    mine = client.get("/hazards/").get_data(as_text=True)
    assert "初中实验室" not in mine and "宿舍楼梯间" in mine


def test_ledger_as_of_a_past_date(db, client, world):
    hazard = make_hazard(db, world.s1, world.users["principal"], location="历史状态测试")
    # the rectification starts tomorrow (Beijing): its audit transaction is stamped by the clock
    with clock.frozen(clock.now() + timedelta(days=1)), tenant_bound(world.a.id):
        ops.start_rectification(hazard, actor=world.users["principal"], version_id=hazard.version_id)
    login(client, world.users["bureau_admin"])
    today_view = client.get(f"/hazards/?as_of={clock.today().isoformat()}&status=registered").get_data(as_text=True)
    assert "历史状态测试" in today_view
    assert "历史状态测试" not in client.get("/hazards/?status=registered").get_data(as_text=True)


def test_ledger_page_of_50_hazards_has_no_n_plus_one(app, db, client, world):
    principal = world.users["principal"]
    for i in range(55):
        school = (world.s1, world.s2, world.s3)[i % 3]
        make_hazard(db, school, principal if school is world.s1 else world.users["bureau_admin"],
                    location=f"部位{i}", items=["3.1.6"] if i % 5 == 0 else [])
    login(client, world.users["bureau_admin"])
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    from hazardhub.extensions import db as _db

    engine = _db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get("/hazards/")
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200
    assert response.get_data(as_text=True).count("/hazards/") >= 50
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 14, f"{len(selects)} SELECTs for one ledger page"


def test_concurrent_registrations_get_gapless_unique_numbers(app, committed_db):
    """Numbering takes a row lock on the tenant-year counter; on PostgreSQL the threads really race."""
    import threading

    from hazardhub.standards.operations import load_shipped
    from tests.fixtures.factories import make_tenant, make_unit, make_user

    db, created = committed_db
    city = make_tenant(db, "num-city", kind="city")
    district = make_tenant(db, "num-district", parent=city)
    created.extend([district.id, city.id])
    city_id, district_id, short_name = city.id, district.id, district.short_name
    with tenant_bound(city_id):
        load_shipped(city_id, log=lambda m: None)
        db.session.commit()
    with tenant_bound(district_id):
        from hazardhub.orgs.operations import root_unit

        root = root_unit(district_id)
        school = make_unit(db, root, name="并发小学")
        admin = make_user(db, root, "bureau_admin")
        school_id, admin_id = school.id, admin.id
    db.session.remove()
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def worker(n: int) -> None:
        try:
            with app.app_context():
                from hazardhub.accounts.models import User
                from hazardhub.orgs.models import OrgUnit

                with tenant_bound(district_id):
                    barrier.wait(timeout=30)  # before any query: a SQLite writer holds its lock
                    unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == school_id)).scalar_one()
                    actor = db.session.execute(sa.select(User).where(User.id == admin_id)).scalar_one()
                    for i in range(3):
                        ops.register(school=unit, actor=actor, item_ids=[], data={
                            "found_on": clock.today(), "found_by_name": "并发", "source": "self",
                            "category": "其他", "location": f"位置{n}-{i}", "description": "并发登记"})
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    with tenant_bound(district_id):
        numbers = sorted(db.session.execute(sa.select(Hazard.number)).scalars())
        report = verify_chain(db.session.connection(), district_id)
    year = clock.today().year
    assert numbers == [f"{short_name}-{year}-{n:06d}" for n in range(1, 19)]
    assert report.ok, report.problems


def test_city_users_read_every_district_ledger(db, client, world):
    make_hazard(db, world.s1, world.users["principal"], location="甲区一镇的隐患")
    make_hazard(db, world.sb, world.b_principal, location="乙区乙镇的隐患", items=["3.1.6"])
    login(client, world.users["city_viewer"])
    ledger = client.get("/hazards/").get_data(as_text=True)
    assert "甲区一镇的隐患" in ledger and "乙区乙镇的隐患" in ledger
    assert "乙区乙镇的隐患" in client.get("/hazards/listed").get_data(as_text=True)
    assert "登记隐患" not in ledger


def test_another_schools_principal_and_another_district_get_404_for_hazard_photos_history(db, client, world, factories):
    from hazardhub.evidence.models import Attachment

    hazard = make_hazard(db, world.s1, world.users["principal"], items=["3.1.6"])
    with tenant_bound(world.a.id):
        attachment = Attachment(tenant_id=world.a.id, hazard_id=hazard.id, stage="before", kind="image",
                                content_type="image/png", original_name="p.png", stored_name="0" * 32 + ".png",
                                size=1, sha256="0" * 64, uploaded_by_id=world.users["principal"].id)
        db.session.add(attachment)
        db.session.commit()
        attachment_id = attachment.id
    other_principal = factories.user(world.s2, "principal")
    urls = [f"/hazards/{hazard.id}", f"/hazards/{hazard.id}/history", f"/attachments/{attachment_id}",
            f"/attachments/{attachment_id}/thumb"]
    for user in (other_principal, world.b_admin, world.b_principal):
        login(client, user)
        for url in urls:
            assert client.get(url).status_code == 404, (user.username, url)
