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
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from PIL import Image
from werkzeug.datastructures import FileStorage

from hazardhub import clock
from hazardhub.accounts.auth import load_memberships
from hazardhub.campaigns import operations as campaign_ops
from hazardhub.campaigns.models import Deliverable
from hazardhub.directives import operations as directive_ops
from hazardhub.directives.models import Directive
from hazardhub.evidence import operations as evidence_ops
from hazardhub.evidence.models import Attachment
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import Hazard
from hazardhub.inspections import operations as inspection_ops
from hazardhub.inspections.models import Inspection
from hazardhub.policy import can
from hazardhub.standards import operations as catalogue
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import PASSWORD, USER_NAMES, login, make_hazard, record_inspection


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 120, 200)).save(out, "PNG")
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# reading the forms of a page, and filling them as a user would


@dataclass
class Form:
    action: str
    enctype: str
    fields: list = field(default_factory=list)  # (kind, name, value, attrs)


class _Forms(HTMLParser):
    def __init__(self, page_url: str):
        super().__init__()
        self.page_url = page_url
        self.forms: list[Form] = []
        self.current: Form | None = None
        self.select: list | None = None
        self.textarea: list | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "get").lower() == "post":
            self.current = Form(action=a.get("action") or self.page_url, enctype=a.get("enctype") or "")
            self.forms.append(self.current)
        elif self.current is None:
            return
        elif tag == "input" and "disabled" not in a:
            self.current.fields.append(("input", a.get("name"), a.get("value"), a))
        elif tag == "textarea":
            self.textarea = ["textarea", a.get("name"), "", a]
        elif tag == "select":
            self.select = ["select", a.get("name"), None, a]
        elif tag == "option" and self.select is not None:
            if self.select[2] is None or "selected" in a:
                self.select[2] = a.get("value")

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[2] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.current = None
        elif tag == "textarea" and self.textarea is not None and self.current is not None:
            self.current.fields.append(tuple(self.textarea))
            self.textarea = None
        elif tag == "select" and self.select is not None and self.current is not None:
            self.current.fields.append(tuple(self.select))
            self.select = None


RECORD_PATHS = re.compile(r"^/(hazards|directives|inspections|campaigns/deliverables|attachments)/\d+")


def action_forms(html: str, page_url: str) -> list[Form]:
    parser = _Forms(page_url)
    parser.feed(html)
    return [f for f in parser.forms if RECORD_PATHS.match(f.action)]


def fill(form: Form) -> dict:
    data: dict = {}
    radios_done: set = set()
    file_done = False
    for kind, name, value, attrs in form.fields:
        if not name:
            continue
        typ = (attrs.get("type") or "text").lower() if kind == "input" else kind
        if typ == "radio":
            if name not in radios_done:
                data[name] = value
                radios_done.add(name)
        elif typ == "checkbox":
            if "checked" in attrs:
                data.setdefault(name, []).append(value)
        elif typ == "file":
            if not file_done:
                data[name] = [(io.BytesIO(_png()), "photo.png")]
                file_done = True
        elif typ == "password":
            data[name] = PASSWORD
        elif typ == "date":  # a requested extension runs past the deadline; other dates are today
            data[name] = value or (clock.today() + timedelta(days=90) if name == "until" else clock.today()).isoformat()
        elif value and value.strip():
            data[name] = value.strip()
        elif typ in ("hidden", "submit"):
            data[name] = value or ""
        elif "funds" in name:
            data[name] = "100"
        else:
            data[name] = "按要求办理"
    return data


# ---------------------------------------------------------------------------------------------
# which policy action each form's POST authorises, and on which object


def policy_action(path: str, obj):
    """(action, object) the view behind ``path`` authorises; unknown paths fail the test."""
    if m := re.match(r"^/attachments/(\d+)/withdraw$", path):
        return "evidence.withdraw", Attachment, int(m.group(1))
    suffix = re.sub(r"^/(hazards|directives|inspections|campaigns/deliverables)/\d+", "", path)
    table = {
        Hazard: {"/start": "hazard.rectify", "/report": "hazard.rectify", "/accept": "hazard.accept",
                 "/reject": "hazard.accept", "/void": "hazard.void", "/downgrade": "hazard.downgrade_request",
                 "/downgrade/decide": "hazard.downgrade_approve", "/attachments": "evidence.upload"},
        Directive: {"/acknowledge": "directive.acknowledge", "/respond": "directive.respond",
                    "/accept": "directive.verify", "/return": "directive.verify",
                    "/extension": "directive.extension_request", "/extension/decide": "directive.extension_decide",
                    "/pdf": "directive.pdf"},
        Inspection: {"": "inspection.edit", "/finish": "inspection.edit", "/amend": "inspection.amend"},
        Deliverable: {"": "deliverable.edit", "/files": "deliverable.edit", "/submit": "deliverable.edit",
                      "/review": "deliverable.review"},
    }[type(obj)]
    assert suffix in table, f"a form posts to {path}: which policy action does it authorise?"
    return table[suffix], type(obj), obj.id


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
    return FileStorage(io.BytesIO(_png()), filename="before.png", content_type="image/png")


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
            upload = FileStorage(io.BytesIO(_png()), filename="after.png", content_type="image/png")
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
PAGE = {Hazard: "/hazards/{}", Directive: "/directives/{}", Inspection: "/inspections/{}",
        Deliverable: "/campaigns/deliverables/{}"}


def _flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return list(session.get("_flashes", []))


def _can(db, world, user, action, model, object_id) -> bool:
    with tenant_bound(user.tenant_id):
        user.active_memberships = load_memberships(user)
    with tenant_bound(world.a.id):
        obj = db.session.execute(sa.select(model).where(model.id == object_id)).scalar_one()
        return can(user, action, obj)


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
            assert _can(db, world, user, action, model, object_id), f"{role} is shown {form.action} ({action}) on {record}"
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
            bad = [m for c, m in _flashes(client) if c in ("danger", "warning")]
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
        (category, message), = _flashes(client)
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

