"""Rectification directives: numbering (also concurrent), the lifecycle with photos, return and
acceptance, extensions, history, permissions and scoping, and bad input that writes nothing."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
from PIL import Image

from hazardhub import clock
from hazardhub.directives import operations as ops
from hazardhub.directives.models import Directive, DirectiveHazard, DirectivePhoto
from hazardhub.tenancy import tenant_bound
from hazardhub.workdays import add_working_days
from tests.fixtures.factories import login, make_hazard


def _png(color=(30, 160, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "PNG")
    return out.getvalue()


def _count(db, world) -> int:
    with tenant_bound(world.a.id):
        return db.session.execute(sa.select(sa.func.count()).select_from(Directive)).scalar_one()


def _form(world, hazards, **overrides) -> dict:
    data = {
        "issuer_id": str(world.t1.id), "school_id": str(world.s1.id), "doc_title": "隐患整改通知书",
        "hazard_ids": [str(h.id) for h in hazards],
        "requirements": "1. 立即清理楼梯间电动车，拆除私拉电线；\n2. 整改完成后报送整改后照片。",
        "working_days": "10", "signer_name": "李督导",
    }
    data.update(overrides)
    return data


def _issue(db, world, hazards, *, school=None, issuer=None, actor=None, **kw) -> Directive:
    with tenant_bound(world.a.id):
        return ops.issue(issuer=issuer or world.t1, school=school or world.s1,
                         actor=actor or world.users["township_supervisor"], hazard_ids=[h.id for h in hazards],
                         requirements=kw.pop("requirements", "立即整改"), signer_name="李督导",
                         working_days=kw.pop("working_days", None if "deadline" in kw else 10), **kw)


@pytest.fixture
def hazards(db, world):
    principal = world.users["principal"]
    return [
        make_hazard(db, world.s1, principal, items=["3.1.6"], location="学生宿舍楼一楼楼梯间",
                    description="电动自行车在楼梯间充电，私拉电线"),
        make_hazard(db, world.s1, principal, location="食堂后门", description="灭火器过期未更换"),
    ]


def test_township_issues_two_directives_with_consecutive_numbers(db, client, world, hazards):
    login(client, world.users["township_supervisor"])
    page = client.get(f"/directives/new?school_id={world.s1.id}").get_data(as_text=True)
    assert hazards[0].number in page and "下达整改指令" in page
    first = client.submit("/directives/new", _form(world, hazards[:1]), page=f"/directives/new?school_id={world.s1.id}")
    second = client.submit("/directives/new", _form(world, hazards[1:]), page=f"/directives/new?school_id={world.s1.id}")
    assert first.status_code == 302 and second.status_code == 302
    with tenant_bound(world.a.id):
        rows = db.session.execute(sa.select(Directive).order_by(Directive.id)).scalars().all()
    year = clock.today().year
    assert [d.number for d in rows] == [f"一镇中校整〔{year}〕1号", f"一镇中校整〔{year}〕2号"]
    assert [d.seq for d in rows] == [1, 2]
    assert rows[0].deadline == add_working_days(rows[0].issued_on, 10)
    assert rows[0].status == "issued" and rows[0].issuer_name == "一镇中心学校"
    # the hazard snapshot, with the cited clause
    with tenant_bound(world.a.id):
        item = db.session.execute(sa.select(DirectiveHazard).where(DirectiveHazard.directive_id == rows[0].id)).scalar_one()
    assert item.hazard_number == hazards[0].number and item.level == "major" and item.clauses.startswith("3.1.6")
    shown = client.get(f"/directives/{rows[0].id}").get_data(as_text=True)
    assert rows[0].number in shown and "一镇第一小学" in shown and "学生宿舍楼一楼楼梯间" in shown


def test_the_bureau_numbers_with_the_tenants_doc_prefix(db, world, hazards):
    d = _issue(db, world, hazards[:1], issuer=world.a_root, actor=world.users["bureau_admin"])
    assert d.number == f"{world.a.doc_prefix}整〔{d.year}〕1号"
    other = _issue(db, world, hazards[1:], issuer=world.a_root, actor=world.users["bureau_leader"])
    assert other.seq == 2


def test_lifecycle_acknowledge_respond_with_photos_return_once_then_accept(db, client, world, hazards):
    d = _issue(db, world, hazards)
    url = f"/directives/{d.id}"
    principal, safety, township = world.users["principal"], world.users["safety_officer"], world.users["township_supervisor"]

    login(client, principal)
    page = client.get(url).get_data(as_text=True)
    assert "签收（回执）</button>" in page and "验收合格" not in page
    r = client.submit(f"{url}/acknowledge", {"version_id": "1", "signer_name": "王校长"}, page=url)
    assert r.status_code == 302
    db.session.refresh(d)
    assert d.status == "acknowledged" and d.acknowledged_by_name == "王校长" and d.acknowledged_at is not None
    r = client.submit(f"{url}/respond", {"version_id": str(d.version_id), "note": "已清理电动车，拆除私拉电线。",
                                         "photos": [(io.BytesIO(_png()), "after1.png"), (io.BytesIO(_png((9, 9, 9))), "after2.png")]},
                      page=url, content_type="multipart/form-data")
    assert r.status_code == 302
    db.session.refresh(d)
    assert d.status == "responded" and d.response_round == 1
    with tenant_bound(world.a.id):
        photos = db.session.execute(sa.select(DirectivePhoto).where(DirectivePhoto.directive_id == d.id)).scalars().all()
    assert len(photos) == 2 and all(p.round == 1 and p.thumb_name for p in photos)
    assert client.get(f"/directives/photos/{photos[0].id}").status_code == 200
    assert client.get(f"/directives/photos/{photos[0].id}").headers["Content-Security-Policy"].startswith("sandbox;")
    assert client.get(f"/directives/photos/{photos[0].id}/thumb").headers["Content-Type"] == "image/jpeg"
    # the school cannot accept its own report
    assert client.submit(f"{url}/accept", {"version_id": str(d.version_id), "note": "好"}, page=url).status_code == 403

    login(client, township)
    r = client.submit(f"{url}/return", {"version_id": str(d.version_id), "comments": "充电桩尚未安装，请补充照片。"}, page=url)
    assert r.status_code == 302
    db.session.refresh(d)
    assert d.status == "returned" and d.return_count == 1

    login(client, safety)
    assert "充电桩尚未安装" in client.get(url).get_data(as_text=True)
    r = client.submit(f"{url}/respond", {"version_id": str(d.version_id), "note": "已安装集中充电桩。",
                                         "photos": [(io.BytesIO(_png((200, 200, 0))), "after3.png")]},
                      page=url, content_type="multipart/form-data")
    assert r.status_code == 302
    db.session.refresh(d)
    assert d.status == "responded" and d.response_round == 2

    login(client, township)
    r = client.submit(f"{url}/accept", {"version_id": str(d.version_id), "note": "现场复查合格。"}, page=url)
    assert r.status_code == 302
    db.session.refresh(d)
    assert d.status == "accepted" and d.accepted_on == clock.today() and d.verified_by_id == township.id

    history = client.get(f"{url}/history").get_data(as_text=True)
    for step in ("下达隐患整改通知书", "签收整改指令", "报告整改情况（第 1 次", "退回整改（第 1 次）：充电桩尚未安装",
                 "报告整改情况（第 2 次", "验收合格：现场复查合格", "after1.png", "after3.png", hazards[0].number):
        assert step in history, step
    assert history.count("原因：") >= 6


def test_extension_is_requested_by_the_school_and_decided_by_the_issuer(db, client, world, hazards):
    d = _issue(db, world, hazards)
    url = f"/directives/{d.id}"
    until = (d.deadline + timedelta(days=14)).isoformat()
    login(client, world.users["principal"])
    assert client.submit(f"{url}/extension", {"version_id": "1", "until": until, "reason": "充电桩设备到货需两周"},
                         page=url).status_code == 302
    db.session.refresh(d)
    assert d.extension_status == "pending"
    assert client.submit(f"{url}/extension/decide", {"version_id": str(d.version_id), "decision": "approve",
                                                     "note": "同意"}, page=url).status_code == 403
    login(client, world.users["township_supervisor"])
    old = d.deadline
    client.submit(f"{url}/extension/decide", {"version_id": str(d.version_id), "decision": "approve", "note": "同意延期"},
                  page=url)
    db.session.refresh(d)
    assert d.extension_status == "approved" and d.deadline.isoformat() == until and d.deadline > old
    history = client.get(f"{url}/history").get_data(as_text=True)
    assert "申请延期至" in history and "批准延期" in history


def test_permissions_school_cannot_issue_and_township_only_in_its_township(db, client, world, hazards):
    s3_hazard = make_hazard(db, world.s3, world.users["bureau_admin"])
    for role in ("principal", "safety_officer", "staff", "bureau_viewer", "city_admin", "city_viewer"):
        login(client, world.users[role])
        assert client.get("/directives/new").status_code == 403, role
    login(client, world.users["principal"])
    assert client.submit("/directives/new", _form(world, hazards), page="/directives/").status_code == 403
    # township 1 cannot issue to a school of township 2: the school is not offered, the post writes nothing
    login(client, world.users["township_supervisor"])
    page = client.get("/directives/new").get_data(as_text=True)
    assert "一镇第一小学" in page and "二镇初级中学" not in page
    before = _count(db, world)
    r = client.submit("/directives/new", _form(world, [s3_hazard], school_id=str(world.s3.id)), page="/directives/new")
    assert r.status_code == 200 and _count(db, world) == before
    with tenant_bound(world.a.id), pytest.raises(ops.DirectiveError):
        ops.issue(issuer=world.t1, school=world.s3, actor=world.users["township_supervisor"], hazard_ids=[s3_hazard.id],
                  requirements="x", signer_name="x", working_days=5)
    # the bureau issues anywhere in the district
    login(client, world.users["bureau_admin"])
    r = client.submit("/directives/new", _form(world, [s3_hazard], issuer_id=str(world.a_root.id),
                                               school_id=str(world.s3.id)), page="/directives/new")
    assert r.status_code == 302 and _count(db, world) == before + 1


def test_scoping_other_school_other_tenant_and_city_read_only(db, client, world, hazards):
    s2_hazard = make_hazard(db, world.s2, world.users["bureau_admin"], location="幼儿园滑梯")
    d1 = _issue(db, world, hazards)
    d2 = _issue(db, world, [s2_hazard], school=world.s2)
    # a school never sees another school's directive
    login(client, world.users["principal"])
    listing = client.get("/directives/").get_data(as_text=True)
    assert d1.number in listing and d2.number not in listing
    assert client.get(f"/directives/{d2.id}").status_code in (403, 404)
    assert client.get(f"/directives/{d2.id}/history").status_code in (403, 404)
    # another tenant: 404 on every page of the directive
    login(client, world.b_admin)
    for path in ("", "/history"):
        assert client.get(f"/directives/{d1.id}{path}").status_code == 404
    assert client.submit(f"/directives/{d1.id}/acknowledge", {"version_id": "1", "signer_name": "x"},
                         page="/directives/").status_code == 404
    assert d1.number not in client.get("/directives/").get_data(as_text=True)
    # city roles read, never write
    for role in ("city_admin", "city_viewer"):
        login(client, world.users[role])
        page = client.get(f"/directives/{d1.id}").get_data(as_text=True)
        assert d1.number in page and "签收（回执）</button>" not in page and "生成 PDF" not in page
        assert d1.number in client.get("/directives/").get_data(as_text=True)
        for action, data in (("acknowledge", {"signer_name": "x"}), ("accept", {"note": "x"}),
                             ("return", {"comments": "x"}), ("pdf", {})):
            r = client.submit(f"/directives/{d1.id}/{action}", {"version_id": "1", **data}, page="/directives/")
            assert r.status_code in (403, 404), (role, action)
    db.session.refresh(d1)
    assert d1.status == "issued" and d1.version_id == 1


@pytest.mark.parametrize("overrides, message", [
    ({"requirements": ""}, "请填写整改要求"),
    ({"hazard_ids": []}, "请至少选择一项隐患"),
    ({"working_days": "", "deadline": ""}, "二选一"),
    ({"deadline": "2030-01-01"}, "二选一"),
    ({"working_days": "0"}, "工作日应为 1–120"),
    ({"working_days": "", "deadline": "2020-01-01"}, "整改期限应晚于签发日期"),
    ({"hazard_ids": ["999999"]}, "不属于该学校"),
    ({"signer_name": "签" * 41}, "不超过 40 字"),
    ({"doc_title": "通知"}, "不是有效的选择"),
])
def test_bad_input_writes_nothing_and_says_why_in_chinese(db, client, world, hazards, overrides, message):
    login(client, world.users["township_supervisor"])
    before = _count(db, world)
    r = client.submit("/directives/new", _form(world, hazards, **overrides), page="/directives/new")
    assert r.status_code == 200
    assert message in r.get_data(as_text=True)
    assert _count(db, world) == before
    with tenant_bound(world.a.id):
        from hazardhub.directives.models import DirectiveCounter

        assert db.session.execute(sa.select(sa.func.count()).select_from(DirectiveCounter)).scalar_one() == 0


def test_bad_lifecycle_input_changes_nothing(db, client, world, hazards):
    d = _issue(db, world, hazards)
    url = f"/directives/{d.id}"
    login(client, world.users["principal"])
    # respond before acknowledging, respond without photos, a file that is not a photo
    r = client.submit(f"{url}/respond", {"version_id": "1", "note": "完成", "photos": [(io.BytesIO(_png()), "a.png")]},
                      page=url, content_type="multipart/form-data", follow_redirects=True)
    assert "请先签收整改指令" in r.get_data(as_text=True)
    client.submit(f"{url}/acknowledge", {"version_id": "1", "signer_name": "王校长"}, page=url)
    db.session.refresh(d)
    v = str(d.version_id)
    r = client.submit(f"{url}/respond", {"version_id": v, "note": "完成"}, page=url, follow_redirects=True)
    assert "请上传至少一张整改后照片" in r.get_data(as_text=True)
    r = client.submit(f"{url}/respond", {"version_id": v, "note": "完成",
                                         "photos": [(io.BytesIO(b"<html>not a photo</html>"), "x.jpg")]},
                      page=url, content_type="multipart/form-data", follow_redirects=True)
    assert "文件类型不受支持" in r.get_data(as_text=True)
    r = client.submit(f"{url}/extension", {"version_id": v, "until": d.deadline.isoformat(), "reason": "x"},
                      page=url, follow_redirects=True)
    assert "应晚于当前整改期限" in r.get_data(as_text=True)
    r = client.submit(f"{url}/acknowledge", {"version_id": "1", "signer_name": "王校长"}, page=url, follow_redirects=True)
    assert "已被他人处理" in r.get_data(as_text=True) or "已签收" in r.get_data(as_text=True)
    db.session.refresh(d)
    assert d.status == "acknowledged" and str(d.version_id) == v and d.response_round == 0
    with tenant_bound(world.a.id):
        assert db.session.execute(sa.select(sa.func.count()).select_from(DirectivePhoto)).scalar_one() == 0


def test_hazard_page_links_to_issuing_a_directive_for_those_allowed(db, client, world, hazards):
    login(client, world.users["township_supervisor"])
    page = client.get(f"/hazards/{hazards[0].id}").get_data(as_text=True)
    assert f"/directives/new?hazard_id={hazards[0].id}" in page
    form = client.get(f"/directives/new?hazard_id={hazards[0].id}").get_data(as_text=True)
    assert f'value="{hazards[0].id}" id="h{hazards[0].id}" checked' in form
    login(client, world.users["principal"])
    assert "/directives/new" not in client.get(f"/hazards/{hazards[0].id}").get_data(as_text=True)


def test_home_page_links_to_directives(db, client, world):
    for role in ("bureau_admin", "township_supervisor", "principal", "city_viewer"):
        login(client, world.users[role])
        assert 'href="/directives/"' in client.get("/").get_data(as_text=True), role


@pytest.mark.postgres_only
def test_concurrent_issues_get_consecutive_numbers(app, committed_db):
    """Two supervisors issue at the same moment from two connections: the counter row lock
    (PostgreSQL ``FOR UPDATE``; SQLite's write lock) gives them consecutive numbers, no duplicate."""
    import threading

    from hazardhub.accounts.models import User
    from hazardhub.hazards import operations as hazard_ops
    from hazardhub.orgs.models import OrgUnit
    from hazardhub.orgs.operations import root_unit
    from hazardhub.standards.operations import load_shipped
    from tests.fixtures.factories import make_tenant, make_unit, make_user

    db, created = committed_db
    city = make_tenant(db, "dir-city", kind="city")
    district = make_tenant(db, "dir-district", parent=city)
    created.extend([district.id, city.id])
    city_id, district_id = city.id, district.id
    with tenant_bound(city_id):
        load_shipped(city_id, log=lambda m: None)
        db.session.commit()
    with tenant_bound(district_id):
        root = root_unit(district_id)
        township = make_unit(db, root, kind="township_center", name="并发镇中心学校")
        school = make_unit(db, township, name="并发小学")
        sup1 = make_user(db, township, "township_supervisor")
        sup2 = make_user(db, township, "township_supervisor")
        hazard_ids = []
        for n in range(2):
            h = hazard_ops.register(school=school, actor=sup1, item_ids=[], data={
                "found_on": clock.today(), "found_by_name": "并发", "source": "township", "category": "其他",
                "location": f"位置{n}", "description": "并发"})
            hazard_ids.append(h.id)
        ids = (township.id, school.id, sup1.id, sup2.id)
    db.session.remove()
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(n: int) -> None:
        try:
            with app.app_context():
                with tenant_bound(district_id):
                    barrier.wait(timeout=30)  # before any query: a SQLite writer holds its lock
                    issuer = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == ids[0])).scalar_one()
                    target = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == ids[1])).scalar_one()
                    actor = db.session.execute(sa.select(User).where(User.id == ids[2 + n])).scalar_one()
                    ops.issue(issuer=issuer, school=target, actor=actor, hazard_ids=[hazard_ids[n]],
                              requirements="并发下达", signer_name="并发", working_days=5)
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    with tenant_bound(district_id):
        rows = db.session.execute(sa.select(Directive.seq, Directive.number).order_by(Directive.seq)).all()
    year = clock.today().year
    assert [r.seq for r in rows] == [1, 2]
    assert [r.number for r in rows] == [f"并发镇中校整〔{year}〕1号", f"并发镇中校整〔{year}〕2号"]


@pytest.mark.parametrize("role, action, target, expected", [
    ("township_supervisor", "directive.issue", "s1", True),
    ("township_supervisor", "directive.issue", "s3", False),
    ("township_supervisor", "directive.issue", "t1", False),
    ("bureau_admin", "directive.issue", "s3", True),
    ("bureau_leader", "directive.issue", "affiliated", True),
    ("bureau_viewer", "directive.issue", "s1", False),
    ("principal", "directive.issue", "s1", False),
    ("city_admin", "directive.issue", "s1", False),
    ("principal", "directive.acknowledge", "directive", True),
    ("safety_officer", "directive.respond", "directive", True),
    ("staff", "directive.view", "directive", False),
    ("township_supervisor", "directive.acknowledge", "directive", False),
    ("township_supervisor", "directive.verify", "directive", True),
    ("bureau_admin", "directive.verify", "directive", False),  # the issuing unit verifies its own directive
    ("principal", "directive.verify", "directive", False),
    ("principal", "directive.extension_decide", "directive", False),
    ("township_supervisor", "directive.extension_decide", "directive", True),
    ("city_viewer", "directive.view", "directive", True),
    ("city_viewer", "directive.pdf", "directive", False),
    ("bureau_viewer", "directive.pdf", "directive", True),
    ("principal", "escalation.view", None, False),
    ("township_supervisor", "escalation.view", None, True),
])
def test_policy_matrix(db, world, hazards, role, action, target, expected):
    from hazardhub.accounts.auth import load_memberships
    from hazardhub.policy import can

    obj = _issue(db, world, hazards) if target == "directive" else getattr(world, target) if target else None
    user = world.users[role]
    with tenant_bound(user.tenant_id):
        user.active_memberships = load_memberships(user)
    from hazardhub.tenancy import TenantScope

    with tenant_bound(TenantScope.reading(user.tenant_id, [world.a.id])):
        assert can(user, action, obj) is expected
