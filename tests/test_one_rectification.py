"""One rectification (#18 item 1): a directive and the hazards it lists are one story.

The school's report on a directive is the rectification report of every listed hazard (a major
hazard's five-item plan is required, prefilled from the directive); the issuer's acceptance closes
(销号) them with that acceptance as their verification; a return sends them back to 整改中. A
hazard under an open directive is not offered another one, and the two pages link each other.
"""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
from PIL import Image

from hazardhub import clock
from hazardhub.directives import operations as ops
from hazardhub.directives.models import Directive
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import Hazard
from hazardhub.platform.daily import run_daily
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, make_hazard, record_inspection


def _png(color=(30, 160, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def major(db, world) -> Hazard:
    """A major hazard (3.1.6 is a direct item) found on a township check, without a plan yet."""
    from hazardhub.standards import operations as catalogue

    with tenant_bound(world.a.id):
        item = next(i for i in catalogue.items_for(world.a.id) if i.number == "3.1.6")
        hazard = hazard_ops.build_registration(
            school=world.s1, actor=world.users["township_supervisor"], item_ids=[item.id], require_plan=False,
            data={"found_on": clock.today() - timedelta(days=2), "found_by_name": "李督导", "source": "township",
                  "category": "校园消防", "location": "学生宿舍楼一楼楼梯间", "description": "电动自行车在楼梯间充电"})
        hazard_ops.commit()
    assert hazard.level == "major" and hazard.plan_missing()
    return hazard


def _issue(world, hazards, **kw) -> Directive:
    with tenant_bound(world.a.id):
        return ops.issue(issuer=world.t1, school=world.s1, actor=world.users["township_supervisor"],
                         hazard_ids=[h.id for h in hazards], requirements="1. 立即清理楼梯间电动车；\n2. 设集中充电区。",
                         signer_name="李督导", working_days=10, **kw)


def _respond(client, d, **extra):
    url = f"/directives/{d.id}"
    data = {"version_id": str(d.version_id), "note": "已清理电动车，建成集中充电区。",
            "photos": [(io.BytesIO(_png()), "after.png")], **extra}
    return client.submit(f"{url}/respond", data, page=url, content_type="multipart/form-data")


def test_report_and_acceptance_of_a_directive_are_those_of_its_major_hazard(db, client, world, major):
    township, principal = world.users["township_supervisor"], world.users["principal"]
    d = _issue(world, [major])
    url = f"/directives/{d.id}"
    with tenant_bound(world.a.id):
        ops.acknowledge(d, actor=principal, signer_name="王校长")

    login(client, principal)
    page = client.get(url).get_data(as_text=True)
    # the plan is asked for on the directive page, prefilled from the directive
    assert f'name="plan-{major.id}-measures"' in page and "1. 立即清理楼梯间电动车" in page
    assert f'value="{d.deadline.isoformat()}"' in page

    # without the plan: a Chinese message naming what is missing, nothing written
    r = _respond(client, d)
    assert r.status_code == 302
    assert "五落实" in client.get(url).get_data(as_text=True)
    db.session.refresh(d)
    db.session.refresh(major)
    assert d.status == "acknowledged" and major.status == "registered"

    r = _respond(client, d, **{f"plan-{major.id}-responsible_person": "赵副校长",
                               f"plan-{major.id}-measures": "清理电动车，设集中充电区",
                               f"plan-{major.id}-funds": "8000", f"plan-{major.id}-deadline": d.deadline.isoformat(),
                               f"plan-{major.id}-interim_controls": "专人看守",
                               f"plan-{major.id}-contingency_plan": "按消防应急预案处置"})
    assert r.status_code == 302
    db.session.refresh(d)
    db.session.refresh(major)
    assert d.status == "responded"
    assert major.status == "awaiting_acceptance" and major.rectified_by_id == principal.id
    assert major.responsible_person == "赵副校长" and str(major.funds) == "8000.00" and not major.plan_missing()
    assert d.number in major.rectification_note

    # while the directive is open, the hazard's own report and acceptance are refused and not offered
    hazard_page = client.get(f"/hazards/{major.id}").get_data(as_text=True)
    assert "报告整改完成，申请验收" not in hazard_page and "验收合格，销号" not in hazard_page
    assert f'href="/directives/{d.id}"' in hazard_page and d.number in hazard_page
    login(client, township)
    # the home page's 待办 points to the directive, not to a second acceptance of its hazard
    assert "隐患整改完成，待您验收" not in client.get("/").get_data(as_text=True)
    r = client.submit(f"/hazards/{major.id}/accept", {"version_id": str(major.version_id), "note": "好",
                                                     "accepted_on": clock.today().isoformat()}, page=url)
    assert r.status_code == 302
    assert f"正由整改指令 {d.number} 督办" in client.get(f"/hazards/{major.id}").get_data(as_text=True)
    db.session.refresh(major)
    assert major.status == "awaiting_acceptance"

    r = client.submit(f"{url}/accept", {"version_id": str(d.version_id), "note": "现场复查合格。"}, page=url)
    assert r.status_code == 302
    db.session.refresh(d)
    db.session.refresh(major)
    assert d.status == "accepted"
    assert major.status == "closed" and major.accepted_by_id == township.id != major.rectified_by_id
    assert major.closed_on == clock.today() and not major.is_listed
    assert "现场复查合格" in major.acceptance_note and d.number in major.acceptance_note

    history = client.get(f"/hazards/{major.id}/history").get_data(as_text=True)
    assert "验收合格：现场复查合格" in history and "已销号" in history
    shown = client.get(url).get_data(as_text=True)
    assert f'href="/hazards/{major.id}"' in shown and "已销号" in shown
    hazard_page = client.get(f"/hazards/{major.id}").get_data(as_text=True)
    assert f'href="/directives/{d.id}"' in hazard_page and "已验收" in hazard_page


def test_a_return_sends_the_hazards_back_to_rectifying(db, client, world):
    principal = world.users["principal"]
    hazard = make_hazard(db, world.s1, principal, location="食堂后门", description="灭火器过期")
    d = _issue(world, [hazard])
    with tenant_bound(world.a.id):
        ops.acknowledge(d, actor=principal, signer_name="王校长")
    login(client, world.users["safety_officer"])
    assert _respond(client, d).status_code == 302
    db.session.refresh(hazard)
    assert hazard.status == "awaiting_acceptance"
    login(client, world.users["township_supervisor"])
    url = f"/directives/{d.id}"
    db.session.refresh(d)
    r = client.submit(f"{url}/return", {"version_id": str(d.version_id), "comments": "灭火器仍未更换。"}, page=url)
    assert r.status_code == 302
    db.session.refresh(hazard)
    assert hazard.status == "rectifying" and "灭火器仍未更换" in hazard.reject_reason


def test_a_hazard_under_an_open_directive_gets_no_second_one(db, client, world, major):
    general = make_hazard(db, world.s1, world.users["principal"], location="食堂后门", description="灭火器过期")
    d = _issue(world, [major])
    with pytest.raises(ops.DirectiveError, match=f"已在整改指令 {d.number} 中督办"):
        _issue(world, [major, general])
    db.session.rollback()

    login(client, world.users["township_supervisor"])
    form = client.get(f"/directives/new?school_id={world.s1.id}").get_data(as_text=True)
    assert f'value="{major.id}" id="h{major.id}" disabled' in form and f'href="/directives/{d.id}"' in form
    assert f'value="{general.id}" id="h{general.id}" >' in form
    # a forged POST gets the operation's message naming the directive; nothing issued
    page = f"/directives/new?school_id={world.s1.id}"
    r = client.submit("/directives/new", {
        "issuer_id": str(world.t1.id), "school_id": str(world.s1.id), "doc_title": "隐患整改通知书",
        "hazard_ids": [str(major.id)], "requirements": "再次下达", "working_days": "5", "signer_name": "李"}, page=page)
    assert r.status_code == 200 and f"已在整改指令 {d.number} 中督办" in r.get_data(as_text=True)
    with tenant_bound(world.a.id):
        assert db.session.execute(sa.select(sa.func.count()).select_from(Directive)).scalar_one() == 1
    hazard_page = client.get(f"/hazards/{major.id}").get_data(as_text=True)
    assert "/directives/new?hazard_id" not in hazard_page
    assert f"/directives/new?hazard_id={general.id}" in client.get(f"/hazards/{general.id}").get_data(as_text=True)


def test_the_inspection_page_offers_a_directive_for_its_failed_lines(db, client, world):
    township = world.users["township_supervisor"]
    with tenant_bound(world.a.id):
        inspection = record_inspection(world.s1, "township", township, clock.today(), fail=("3.1.6",))
        hazard = db.session.execute(sa.select(Hazard).where(Hazard.inspection_id == inspection.id)).scalar_one()
    login(client, township)
    page = client.get(f"/inspections/{inspection.id}").get_data(as_text=True)
    assert "下达整改指令" in page and f"hazard_id={hazard.id}" in page
    form = client.get(f"/directives/new?school_id={world.s1.id}&hazard_id={hazard.id}").get_data(as_text=True)
    assert f'value="{hazard.id}" id="h{hazard.id}" checked' in form
    login(client, world.users["principal"])  # the school does not issue directives
    assert "下达整改指令" not in client.get(f"/inspections/{inspection.id}").get_data(as_text=True)
    _issue(world, [hazard])
    login(client, township)
    assert "下达整改指令" not in client.get(f"/inspections/{inspection.id}").get_data(as_text=True)


def test_accepted_directives_of_older_data_close_their_hazards_once(db, world):
    """Directives accepted before acceptance closed the hazards: the daily pass closes them."""
    principal, township = world.users["principal"], world.users["township_supervisor"]
    hazard = make_hazard(db, world.s1, principal, location="围墙", description="围墙开裂")
    d = _issue(world, [hazard])
    with tenant_bound(world.a.id):
        ops.acknowledge(d, actor=principal, signer_name="王校长")
        ops.respond(d, actor=principal, note="已加固", photos=[_upload()])
        ops.accept(d, actor=township, note="合格")
        # what the data looked like before: the directive accepted, its hazard still open
        hazard.status, hazard.accepted_by_id, hazard.accepted_on, hazard.closed_on = "rectifying", None, None, None
        hazard.is_listed = True
        hazard_ops.commit()
    run_daily(clock.today(), log=lambda message: None)  # the daily pass (and `flask jobs daily`) closes it
    with tenant_bound(world.a.id):
        db.session.refresh(hazard)
        assert hazard.status == "closed" and hazard.accepted_by_id == township.id and not hazard.is_listed
        assert hazard.closed_on == d.accepted_on
        assert ops.reconcile_accepted(world.a.id) == 0


def _upload():
    from werkzeug.datastructures import FileStorage

    return FileStorage(io.BytesIO(_png()), filename="after.png", content_type="image/png")


# ---------------------------------------------------------------------------------------------
# 登记隐患 takes its photos in the same form (#18 item 7)


def _registration(world, **extra) -> dict:
    return {"school_id": str(world.s1.id), "found_on": clock.today().isoformat(), "found_by_name": "冯安全",
            "source": "self", "category": "校园消防", "location": "食堂后门", "description": "灭火器压力不足",
            "level": "general", **extra}


def _evidence_files(app, tenant_id) -> set[str]:
    from pathlib import Path

    folder = Path(app.config["HAZARDHUB_STORAGE_PATH"]) / "evidence" / str(tenant_id)
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_registering_takes_phone_photos_in_the_same_form(app, db, client, world):
    from hazardhub.evidence.models import Attachment

    login(client, world.users["safety_officer"])
    form = client.get("/hazards/new").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in form
    assert 'name="photos"' in form and 'accept="image/*" capture="environment" multiple' in form
    r = client.submit("/hazards/new", _registration(world, photos=[(io.BytesIO(_png()), "现场1.png"),
                                                                   (io.BytesIO(_png((200, 10, 10))), "现场2.png")]),
                      page="/hazards/new", content_type="multipart/form-data")
    assert r.status_code == 302
    hazard_id = int(r.headers["Location"].rsplit("/", 1)[1])
    with tenant_bound(world.a.id):
        rows = db.session.execute(sa.select(Attachment).where(Attachment.hazard_id == hazard_id)).scalars().all()
    assert sorted(a.original_name for a in rows) == ["现场1.png", "现场2.png"]
    assert {a.stage for a in rows} == {"before"} and all(a.thumb_name for a in rows)
    page = client.get(f"/hazards/{hazard_id}").get_data(as_text=True)
    assert "现场1.png" in page and "整改前照片（2）" in page
    history = client.get(f"/hazards/{hazard_id}/history").get_data(as_text=True)
    assert "（照片 2 张）" in history  # one transaction: the hazard and its photos


def test_a_bad_photo_refuses_the_registration_and_leaves_nothing(app, db, client, world):
    login(client, world.users["safety_officer"])
    with tenant_bound(world.a.id):
        before = db.session.execute(sa.select(sa.func.count()).select_from(Hazard)).scalar_one()
    files_before = _evidence_files(app, world.a.id)
    r = client.submit("/hazards/new", _registration(world, photos=[
        (io.BytesIO(_png()), "good.png"), (io.BytesIO(b"MZ\x90\x00 not an image at all"), "bad.jpg")]),
        page="/hazards/new", content_type="multipart/form-data")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "第 2 张照片未通过检查" in html and "隐患未登记" in html
    with tenant_bound(world.a.id):
        assert db.session.execute(sa.select(sa.func.count()).select_from(Hazard)).scalar_one() == before
    assert _evidence_files(app, world.a.id) == files_before  # the good photo's file was removed again
