"""三查: checklists from the catalogue, failures become hazards, the principal's sign-off freezes the
record (an amendment is signed separately), township checks and assigned unannounced visits."""
from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hazardhub import clock
from hazardhub.hazards.models import Hazard
from hazardhub.inspections import operations as ops
from hazardhub.inspections.models import Inspection, InspectionItem, SignOff
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import PASSWORD, login


def _start(client, world, unit, kind, who, **extra):
    login(client, world.users[who] if isinstance(who, str) else who)
    data = {"unit_id": str(unit.id), "kind": kind, "inspected_on": clock.today().isoformat(),
            "inspectors": "检查组", "agencies": extra.pop("agencies", "")}
    response = client.submit("/inspections/new", data)
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def _inspection(db, world, inspection_id):
    with tenant_bound(world.a.id):
        return db.session.execute(sa.select(Inspection).where(Inspection.id == inspection_id)
                                  .execution_options(populate_existing=True)).scalar_one()


def _lines(db, world, inspection_id):
    with tenant_bound(world.a.id):
        return db.session.execute(sa.select(InspectionItem).where(InspectionItem.inspection_id == inspection_id)
                                  .order_by(InspectionItem.sort).execution_options(populate_existing=True)).scalars().all()


def _save(client, db, world, inspection_id, results, findings=None):
    inspection = _inspection(db, world, inspection_id)
    data = {"version_id": str(inspection.version_id)}
    for line_id, result in results.items():
        data[f"result-{line_id}"] = result
    for line_id, (location, description) in (findings or {}).items():
        data[f"location-{line_id}"] = location
        data[f"description-{line_id}"] = description
    return client.submit(f"/inspections/{inspection_id}", data, follow_redirects=True)


def test_checklist_follows_the_school_type(db, world):
    with tenant_bound(world.a.id):
        primary = {line["number"] for line in ops.checklist_for(world.s1)}
        kindergarten = {line["number"] for line in ops.checklist_for(world.s2)}
    assert "3.1.6" in primary and "3.1.2" not in primary, "kindergarten/dormitory item not at a day primary school"
    assert "3.1.2" in kindergarten
    assert {"区域-1", "区域-2", "区域-3", "区域-4"} <= primary, "the seed's four areas are always checked"


def test_self_inspection_failures_sign_off_freeze_and_amendment(db, client, world):
    iid = _start(client, world, world.s1, "self", "principal")
    lines = _lines(db, world, iid)
    by_number = {line.number: line for line in lines}
    ebike, gate = by_number["3.1.6"], by_number["区域-1"]
    body = _save(client, db, world, iid, {ebike.id: "fail"}).get_data(as_text=True)
    assert "请填写隐患部位和隐患描述" in body
    _save(client, db, world, iid, {ebike.id: "fail", gate.id: "fail"},
          {ebike.id: ("宿舍楼一楼楼梯间", "电动车楼内充电"), gate.id: ("南大门", "护栏缺失")})
    with tenant_bound(world.a.id):
        hazards = db.session.execute(sa.select(Hazard).where(Hazard.inspection_id == iid)).scalars().all()
    assert len(hazards) == 2
    levels = {h.location: h.level for h in hazards}
    assert levels == {"宿舍楼一楼楼梯间": "major", "南大门": "general"}
    assert all(h.source == "self" for h in hazards)
    body = client.submit(f"/inspections/{iid}/finish", {"version_id": str(_inspection(db, world, iid).version_id),
                                                        "summary": "x"}, page=f"/inspections/{iid}",
                         follow_redirects=True).get_data(as_text=True)
    assert "项未检查" in body
    rest = {line.id: "pass" for line in _lines(db, world, iid) if line.result == "unchecked"}
    _save(client, db, world, iid, rest)
    client.submit(f"/inspections/{iid}/finish", {"version_id": str(_inspection(db, world, iid).version_id),
                                                 "summary": "发现两项隐患，已登记台账"}, page=f"/inspections/{iid}")
    assert _inspection(db, world, iid).status == "recorded"
    login(client, world.users["safety_officer"])
    assert client.get(f"/inspections/{iid}/sign").status_code == 403, "only the principal signs"
    login(client, world.users["principal"])
    version = str(_inspection(db, world, iid).version_id)
    wrong = client.submit(f"/inspections/{iid}/sign", {"password": "wrong-pass1", "version_id": version})
    assert "密码不正确" in wrong.get_data(as_text=True)
    assert _inspection(db, world, iid).status == "recorded"
    signed = client.submit(f"/inspections/{iid}/sign", {"password": PASSWORD, "version_id": version})
    assert signed.status_code == 302
    inspection = _inspection(db, world, iid)
    assert inspection.status == "signed"
    with tenant_bound(world.a.id):
        signoff = db.session.execute(sa.select(SignOff).where(SignOff.inspection_id == iid)).scalar_one()
        assert ops.verify_signoff(signoff, inspection) == {"hash_ok": True, "inspection_matches": True,
                                                           "ledger_unchanged": True}
    assert hashlib.sha256(signoff.snapshot.encode()).hexdigest() == signoff.snapshot_sha256
    snapshot = json.loads(signoff.snapshot)
    assert {h["number"] for h in snapshot["open_ledger"]} >= {h.number for h in hazards}
    assert signoff.items_failed == 2 and signoff.open_hazards >= 2
    assert signoff.chain_head.split(":")[0].isdigit()
    page = client.get(f"/inspections/{iid}").get_data(as_text=True)
    assert "检查内容与签字时一致" in page and signoff.snapshot_sha256 in page
    # frozen: the page refuses, the operation refuses, and even a direct ORM change is refused
    refused = client.submit(f"/inspections/{iid}", {"version_id": str(inspection.version_id),
                                                    f"result-{gate.id}": "pass"}, page=f"/inspections/{iid}")
    assert refused.status_code == 302  # sealed, said in words with the way to a correction (not 403)
    sealed = client.get(f"/inspections/{iid}").get_data(as_text=True)
    assert "该检查已签字封存" in sealed and f'href="/inspections/{iid}#amend">发起更正</a>' in sealed
    assert "无权操作" not in sealed
    with tenant_bound(world.a.id):
        with pytest.raises(ops.FrozenInspection):
            ops.record_results(inspection, actor=world.users["principal"], results={}, findings={},
                               version_id=inspection.version_id)
        line = db.session.execute(sa.select(InspectionItem).where(InspectionItem.inspection_id == iid)).scalars().first()
        line.note = "偷偷改"
        with pytest.raises(ops.FrozenInspection):
            db.session.flush()
        db.session.rollback()
    # amendment: a new record, signed separately; the original signature is untouched
    response = client.submit(f"/inspections/{iid}/amend", {}, page=f"/inspections/{iid}")
    amendment_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    amendment = _inspection(db, world, amendment_id)
    assert amendment.amends_id == iid and amendment.status == "draft"
    assert [ln.result for ln in _lines(db, world, amendment_id)] == [ln.result for ln in _lines(db, world, iid)]
    client.submit(f"/inspections/{amendment_id}/finish", {"version_id": str(amendment.version_id),
                                                          "summary": "更正：补充说明"}, page=f"/inspections/{amendment_id}")
    client.submit(f"/inspections/{amendment_id}/sign", {"password": PASSWORD, "version_id": str(
        _inspection(db, world, amendment_id).version_id)})
    assert _inspection(db, world, amendment_id).status == "signed"
    with tenant_bound(world.a.id):
        assert db.session.execute(sa.select(sa.func.count()).select_from(SignOff)
                                  .where(SignOff.inspection_id.in_([iid, amendment_id]))).scalar_one() == 2
        again = db.session.execute(sa.select(SignOff).where(SignOff.inspection_id == iid)).scalar_one()
    assert again.snapshot_sha256 == signoff.snapshot_sha256


def test_late_sign_off_is_marked_late(db, world):
    principal = world.users["principal"]
    last_month = clock.today().replace(day=1) - timedelta(days=3)
    with tenant_bound(world.a.id):
        inspection = ops.start(unit=world.s1, kind="self", actor=principal, inspected_on=last_month, inspectors="校长")
        ops.record_results(inspection, actor=principal, results={ln.id: ("pass", None) for ln in ops.lines_of(inspection)},
                           findings={}, version_id=inspection.version_id)
        ops.finish(inspection, actor=principal, summary="", version_id=inspection.version_id)
        signoff = ops.sign(inspection, actor=principal, password=PASSWORD, version_id=inspection.version_id)
    assert signoff.is_late


def test_township_checks_its_own_schools_only(db, client, world):
    iid = _start(client, world, world.s1, "township", "township_supervisor")
    assert _inspection(db, world, iid).kind == "township"
    response = client.submit("/inspections/new", {"unit_id": str(world.s3.id), "kind": "township",
                                                  "inspected_on": clock.today().isoformat(), "inspectors": "x"})
    assert response.status_code == 200 and "不是有效的选择" in response.get_data(as_text=True)


def test_unannounced_visits_need_an_assignment_and_stay_hidden_until_recorded(db, client, world):
    leader = world.users["bureau_leader"]
    login(client, leader)
    assert client.get("/inspections/new", follow_redirects=True).get_data(as_text=True).count("分包") >= 1
    login(client, world.users["bureau_admin"])
    response = client.submit("/inspections/assignments", {"leader_id": str(leader.id), "unit_id": str(world.t1.id)})
    assert response.status_code == 302
    iid = _start(client, world, world.s1, "unannounced", leader)
    login(client, leader)
    response = client.submit("/inspections/new", {"unit_id": str(world.s3.id), "kind": "unannounced",
                                                  "inspected_on": clock.today().isoformat(), "inspectors": "x"})
    assert response.status_code == 200, "an unassigned school is not offered"
    login(client, world.users["principal"])
    assert client.get(f"/inspections/{iid}").status_code == 404, "a draft visit is invisible to the school"
    assert f"/inspections/{iid}\"" not in client.get("/inspections/").get_data(as_text=True)
    login(client, leader)
    _save(client, db, world, iid, {ln.id: "pass" for ln in _lines(db, world, iid)})
    client.submit(f"/inspections/{iid}/finish", {"version_id": str(_inspection(db, world, iid).version_id),
                                                 "summary": "暗访未发现问题"}, page=f"/inspections/{iid}")
    login(client, world.users["principal"])
    assert client.get(f"/inspections/{iid}").status_code == 200


def test_joint_checks_name_the_agencies(db, client, world):
    login(client, world.users["bureau_admin"])
    response = client.submit("/inspections/new", {"unit_id": str(world.s3.id), "kind": "joint",
                                                  "inspected_on": clock.today().isoformat(), "inspectors": "区教体局"})
    assert "参加的部门" in response.get_data(as_text=True)
    iid = _start(client, world, world.s3, "joint", "bureau_admin", agencies="区消防救援大队、交警中队")
    assert _inspection(db, world, iid).agencies == "区消防救援大队、交警中队"


def test_other_district_and_city_cannot_touch_inspections(db, client, world):
    iid = _start(client, world, world.s1, "self", "principal")
    login(client, world.b_admin)
    assert client.get(f"/inspections/{iid}").status_code == 404
    login(client, world.users["city_viewer"])
    assert client.get(f"/inspections/{iid}").status_code == 200
    response = client.submit(f"/inspections/{iid}", {"version_id": "1"}, page=f"/inspections/{iid}")
    assert response.status_code == 403
