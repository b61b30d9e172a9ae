"""Each role sees only its own actions (#18 item 4).

Role × record page: for every role of the world and every record page (hazards in each state,
directives in each state, inspections, deliverables), every action form shown is allowed by the
policy for exactly the action its POST authorises, and posting it (filled as a user would) succeeds
with no error message. Since a form shown implies the policy allows it, every action the policy
refuses has no form. The world is factory-built (the demo takes a minute to seed); each POST gets
a freshly built record so that one action does not change the page the next one is read from.

Also: who rectifies and who accepts, a signed inspection that says it is sealed, a leader's 暗访
form that lists only assigned units, and the township not offered 撤回 on a school's photo.
"""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from hazardhub import clock
from hazardhub.accounts.auth import load_memberships
from hazardhub.campaigns import operations as campaign_ops
from hazardhub.campaigns.models import Deliverable
from hazardhub.directives import operations as directive_ops
from hazardhub.directives.models import Directive
from hazardhub.evidence import operations as evidence_ops
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import Hazard
from hazardhub.inspections import operations as inspection_ops
from hazardhub.inspections.models import Inspection
from hazardhub.policy import can
from hazardhub.standards import operations as catalogue
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import USER_NAMES, login, make_hazard, record_inspection
from tests.fixtures.pageforms import PAGE, action_forms, allowed, fill, flashes, png, policy_action


# ---------------------------------------------------------------------------------------------
# the records, each built fresh through the real operations


def _hazard(db, world, reporter="principal", **kw) -> Hazard:
    return make_hazard(db, world.s1, world.users[reporter], location="教学楼东侧", description="测试隐患", **kw)


def _reported(db, world, hazard, by="safety_officer") -> Hazard:
    with tenant_bound(world.a.id):
        hazard_ops.report_rectification(hazard, actor=world.users[by], rectified_on=clock.today(), note="已整改",
                                        version_id=hazard.version_id)
    return hazard


def _photo() -> FileStorage:
    return FileStorage(io.BytesIO(png()), filename="before.png", content_type="image/png")


def hazard_registered(db, world):
    hazard = _hazard(db, world)
    with tenant_bound(world.a.id):
        evidence_ops.add_attachment(hazard, world.users["principal"], _photo(), "before")
        evidence_ops.add_attachment(hazard, world.users["township_supervisor"], _photo(), "before")
    return hazard


def hazard_major_without_plan(db, world):
    with tenant_bound(world.a.id):
        item = next(i for i in catalogue.items_for(world.a.id) if i.number == "3.1.6")
        hazard = hazard_ops.build_registration(
            school=world.s1, actor=world.users["township_supervisor"], item_ids=[item.id], require_plan=False,
            data={"found_by_name": "督导", "source": "township", "category": "校园消防", "location": "宿舍楼",
                  "description": "楼梯间充电"})
        hazard_ops.commit()
    return hazard


def hazard_general_awaiting(db, world):
    return _reported(db, world, _hazard(db, world))


def hazard_major_awaiting(db, world):
    return _reported(db, world, _hazard(db, world, items=["3.1.6"]), by="principal")


def hazard_downgrade_pending(db, world):
    hazard = _hazard(db, world, items=["3.1.6"])
    with tenant_bound(world.a.id):
        hazard_ops.request_downgrade(hazard, actor=world.users["principal"], reason="已拆除", version_id=hazard.version_id)
    return hazard


def _directive(db, world, steps=()) -> Directive:
    hazard = _hazard(db, world, items=["3.1.6"])
    principal, township = world.users["principal"], world.users["township_supervisor"]
    with tenant_bound(world.a.id):
        d = directive_ops.issue(issuer=world.t1, school=world.s1, actor=township, hazard_ids=[hazard.id],
                                requirements="立即整改", signer_name="李督导", working_days=10)
        if "ack" in steps:
            directive_ops.acknowledge(d, actor=principal, signer_name="王校长")
        if "respond" in steps:
            upload = FileStorage(io.BytesIO(png()), filename="after.png", content_type="image/png")
            directive_ops.respond(d, actor=world.users["safety_officer"], note="已整改", photos=[upload])
        if "extension" in steps:
            directive_ops.request_extension(d, actor=principal, until=d.deadline + timedelta(days=10), reason="资金")
    return d


def hazard_under_directive(db, world):
    d = _directive(db, world)
    with tenant_bound(world.a.id):
        return db.session.execute(sa.select(Hazard).where(Hazard.id == d.items[0].hazard_id)).scalar_one()


def directive_issued(db, world):
    return _directive(db, world)


def directive_acknowledged(db, world):
    return _directive(db, world, ("ack",))


def directive_responded(db, world):
    return _directive(db, world, ("ack", "respond"))


def directive_extension_pending(db, world):
    return _directive(db, world, ("ack", "extension"))


def _filled_draft(world, kind, actor):
    """A draft whose lines are all filled in (完成检查 asks for every line)."""
    with tenant_bound(world.a.id):
        inspection = inspection_ops.start(unit=world.s1, kind=kind, actor=actor, inspected_on=clock.today(),
                                          inspectors="检查组")
        results = {line.id: ("pass", None) for line in inspection_ops.lines_of(inspection)}
        inspection_ops.record_results(inspection, actor=actor, results=results, findings={},
                                      version_id=inspection.version_id)
    return inspection


def inspection_self_draft(db, world):
    return _filled_draft(world, "self", world.users["principal"])


def inspection_self_recorded(db, world):
    with tenant_bound(world.a.id):
        return record_inspection(world.s1, "self", world.users["safety_officer"], clock.today())


def inspection_self_signed(db, world):
    with tenant_bound(world.a.id):
        return record_inspection(world.s1, "self", world.users["principal"], clock.today(), sign=clock.now())


def inspection_township_draft(db, world):
    return _filled_draft(world, "township", world.users["township_supervisor"])


_years = iter(range(2030, 2100))


def _deliverable(db, world, submit: bool) -> Deliverable:
    township = world.users["township_supervisor"]
    with tenant_bound(world.a.id):
        campaign = campaign_ops.create_from_template(world.a, next(_years), world.users["bureau_admin"])
        item = next(d for d in campaign_ops.deliverables_of(campaign) if d.unit_id == world.t1.id)
        campaign_ops.save_text(item, text="实施方案全文", actor=township, version_id=item.version_id)
        if submit:
            campaign_ops.submit(item, actor=township, version_id=item.version_id)
    return item


def deliverable_draft(db, world):
    return _deliverable(db, world, submit=False)


def deliverable_submitted(db, world):
    return _deliverable(db, world, submit=True)


RECORDS = {f.__name__: f for f in (
    hazard_registered, hazard_major_without_plan, hazard_general_awaiting, hazard_major_awaiting,
    hazard_downgrade_pending, hazard_under_directive, directive_issued, directive_acknowledged,
    directive_responded, directive_extension_pending, inspection_self_draft, inspection_self_recorded,
    inspection_self_signed, inspection_township_draft, deliverable_draft, deliverable_submitted)}


@pytest.mark.parametrize("record", sorted(RECORDS))
def test_every_action_shown_is_allowed_and_works_and_no_other_is_shown(db, client, world, record):
    shown_anywhere = 0
    for role in USER_NAMES:
        user = world.users[role]
        obj = RECORDS[record](db, world)
        url = PAGE[type(obj)].format(obj.id)
        login(client, user)
        response = client.get(url)
        if response.status_code in (403, 404):
            continue
        assert response.status_code == 200
        forms = action_forms(response.get_data(as_text=True), url)
        for form in forms:
            action, model, object_id = policy_action(form.action, obj)
            assert allowed(db, world.a.id, user, action, model, object_id), f"{role} is shown {form.action} ({action}) on {record}"
        # each form, on a fresh copy of the record, does what it says
        for index in range(len(forms)):
            fresh = RECORDS[record](db, world)
            fresh_url = PAGE[type(fresh)].format(fresh.id)
            html = client.get(fresh_url).get_data(as_text=True)
            form = action_forms(html, fresh_url)[index]
            with client.session_transaction() as session:
                session.pop("_flashes", None)
            posted = client.post(form.action, data=fill(form), content_type=(
                "multipart/form-data" if "multipart" in form.enctype else None))
            assert posted.status_code == 302, f"{role}: {form.action} on {record} → {posted.status_code}"
            bad = [m for c, m in flashes(client) if c in ("danger", "warning")]
            assert not bad, f"{role}: {form.action} on {record} failed: {bad}"
            shown_anywhere += 1
    assert shown_anywhere, f"no role acts on {record}?"


# ---------------------------------------------------------------------------------------------
# the rules behind it


def _actor(db, world, role):
    user = world.users[role]
    with tenant_bound(user.tenant_id):
        user.active_memberships = load_memberships(user)
    return user


def test_only_the_school_rectifies_and_a_supervising_level_accepts_majors(db, world):
    hazard = _hazard(db, world, items=["3.1.6"])
    with tenant_bound(world.a.id):
        for role in ("principal", "safety_officer"):
            assert can(_actor(db, world, role), "hazard.rectify", hazard)
        for role in ("township_supervisor", "bureau_admin", "bureau_leader", "staff", "bureau_viewer"):
            assert not can(_actor(db, world, role), "hazard.rectify", hazard), role
            assert not can(_actor(db, world, role), "hazard.downgrade_request", hazard), role
        assert not can(_actor(db, world, "principal"), "hazard.accept", hazard)
        assert can(_actor(db, world, "township_supervisor"), "hazard.accept", hazard)


def test_the_township_may_withdraw_only_its_own_upload(db, client, world):
    hazard = hazard_registered(db, world)
    with tenant_bound(world.a.id):
        school_photo, own_photo = evidence_ops.attachments_for(hazard)
        township = _actor(db, world, "township_supervisor")
        assert not can(township, "evidence.withdraw", school_photo)
        assert can(township, "evidence.withdraw", own_photo)
        assert can(_actor(db, world, "safety_officer"), "evidence.withdraw", own_photo)
    login(client, world.users["township_supervisor"])
    page = client.get(f"/hazards/{hazard.id}").get_data(as_text=True)
    assert f"/attachments/{school_photo.id}/withdraw" not in page and f"/attachments/{own_photo.id}/withdraw" in page
    refused = client.submit(f"/attachments/{school_photo.id}/withdraw", {"reason": "x"}, page=f"/hazards/{hazard.id}")
    assert refused.status_code == 403


def test_a_signed_inspection_says_it_is_sealed_and_where_to_correct(db, client, world):
    inspection = inspection_self_signed(db, world)
    url = f"/inspections/{inspection.id}"
    login(client, world.users["safety_officer"])
    for target in (url, f"{url}/finish"):
        response = client.submit(target, {"version_id": str(inspection.version_id), "summary": "改"}, page=url)
        assert response.status_code == 302
        (category, message), = flashes(client)
        assert "已签字封存" in message and f'href="{url}#amend">发起更正</a>' in message and "无权" not in message
        with client.session_transaction() as session:
            session.pop("_flashes", None)
    with tenant_bound(world.a.id), pytest.raises(inspection_ops.FrozenInspection, match="已签字封存"):
        inspection_ops.finish(inspection, actor=world.users["principal"], summary="", version_id=inspection.version_id)


def test_a_leaders_unannounced_visit_form_lists_only_assigned_units(db, client, world):
    leader = world.users["bureau_leader"]
    with tenant_bound(world.a.id):
        inspection_ops.assign_leader(leader=leader, unit=world.s3, actor=world.users["bureau_admin"])
    login(client, leader)
    page = client.get("/inspections/new?kind=unannounced").get_data(as_text=True)
    options = re.findall(r'<option[^>]*value="(\d+)"', page.split('name="unit_id"')[1].split("</select>")[0])
    assert options == [str(world.s3.id)]
    assert "仅列出分配给您的分包单位" in page
    joint = client.get("/inspections/new?kind=joint").get_data(as_text=True)
    assert str(world.s1.id) in joint.split('name="unit_id"')[1].split("</select>")[0]
    # a forged choice of an unassigned school is refused in words, nothing started
    refused = client.submit("/inspections/new", {"unit_id": str(world.s1.id), "kind": "unannounced",
                                                 "inspected_on": clock.today().isoformat(), "inspectors": "领导"},
                            page="/inspections/new?kind=unannounced")
    assert refused.status_code == 200
    with tenant_bound(world.a.id):
        assert not db.session.execute(sa.select(Inspection).where(Inspection.kind == "unannounced")).first()
    started = client.submit("/inspections/new", {"unit_id": str(world.s3.id), "kind": "unannounced",
                                                 "inspected_on": clock.today().isoformat(), "inspectors": "领导"},
                            page="/inspections/new?kind=unannounced")
    assert started.status_code == 302

