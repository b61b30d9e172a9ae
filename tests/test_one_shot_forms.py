"""One click, one document (issue #12, item 8): every one-shot POST is carried out once per rendered
form (hazardhub.formtokens). A second submission of the same form, sequential or simultaneous, does
nothing and is sent where the first one led; a POST without the form's token is refused."""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Callable

import pytest
import sqlalchemy as sa
from sqlalchemy_continuum import version_class

from hazardhub import clock
from hazardhub.directives import operations as directive_ops
from hazardhub.directives.models import Directive
from hazardhub.formtokens import REPLAYED, REPLAYED_ACTION, FormSubmission
from hazardhub.tenancy import tenant_bound
from tests.fixtures.app import CSRF_RE, FORM_RE, FORM_TOKEN_RE
from tests.fixtures.factories import PASSWORD, login, make_hazard, record_inspection


def page_tokens(client, page: str, url: str) -> dict[str, str]:
    """The CSRF token and the one-time token of the form on ``page`` that posts to ``url`` (the
    form must render one: this is what a browser would send)."""
    html = client.get(page).get_data(as_text=True)
    for attrs, body in FORM_RE.findall(html):
        action = re.search(r'action="([^"]*)"', attrs)
        if (action.group(1) if action else page).split("?")[0] == url:
            token = FORM_TOKEN_RE.search(body)
            assert token, f"the form posting to {url} on {page} renders no form token"
            return {"csrf_token": CSRF_RE.search(html).group(1), "form_token": token.group(1)}
    raise AssertionError(f"no form posting to {url} on {page}")


def flashes(client) -> list[str]:
    with client.session_transaction() as session:
        return [message for _category, message in session.get("_flashes", [])]


def count(db, world, model) -> int:
    with tenant_bound(world.a.id):
        return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def versions(db, world, model, obj_id: int) -> int:
    table = version_class(model).__table__
    return db.session.connection().execute(
        sa.select(sa.func.count()).select_from(table).where(table.c.id == obj_id)).scalar_one()


def directive_form(world, hazard_ids) -> dict:
    return {"issuer_id": str(world.t1.id), "school_id": str(world.s1.id), "doc_title": "隐患整改通知书",
            "hazard_ids": [str(i) for i in hazard_ids], "requirements": "立即清理楼梯间杂物。",
            "working_days": "10", "signer_name": "李督导"}


@pytest.fixture
def hazard(db, world):
    return make_hazard(db, world.s1, world.users["principal"], location="食堂后门", description="灭火器过期")


# ---------------------------------------------------------------------------------------------
# 下达整改指令: the case of the issue


def test_the_same_directive_form_posted_twice_issues_one_directive(db, client, world, hazard):
    login(client, world.users["township_supervisor"])
    page = f"/directives/new?school_id={world.s1.id}"
    data = {**directive_form(world, [hazard.id]), **page_tokens(client, page, "/directives/new")}
    first = client.post("/directives/new", data=data)
    second = client.post("/directives/new", data=data)
    assert first.status_code == 302 and second.status_code == 302, second.get_data(as_text=True)[-2000:]
    with tenant_bound(world.a.id):
        (directive,) = db.session.execute(sa.select(Directive)).scalars().all()
    assert first.headers["Location"] == second.headers["Location"] == f"/directives/{directive.id}"
    assert directive.seq == 1
    assert REPLAYED in flashes(client)
    # a new rendering of the form is a new form: it issues the next directive (for another hazard:
    # one under an open directive gets no second one)
    other = make_hazard(db, world.s1, world.users["principal"], location="食堂前门", description="地面湿滑")
    data = {**directive_form(world, [other.id]), **page_tokens(client, page, "/directives/new")}
    third = client.post("/directives/new", data=data)
    assert third.status_code == 302 and third.headers["Location"] != first.headers["Location"]
    assert count(db, world, Directive) == 2


@pytest.mark.parametrize("token", [None, "", "short", "x" * 65, "含中文的标记含中文的标记含中文的标记"])
def test_a_one_shot_post_without_a_usable_token_is_400_and_writes_nothing(db, client, world, hazard, token):
    login(client, world.users["township_supervisor"])
    data = {**directive_form(world, [hazard.id]), **page_tokens(client, "/directives/new", "/directives/new")}
    if token is None:
        del data["form_token"]
    else:
        data["form_token"] = token
    response = client.post("/directives/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "请求已失效" in html and "页面已过期" in html
    assert count(db, world, Directive) == 0 and count(db, world, FormSubmission) == 0


def test_a_refused_submission_leaves_its_token_unspent(db, client, world, hazard):
    """Invalid input writes nothing, the claim included: the same form, corrected, goes through."""
    login(client, world.users["township_supervisor"])
    data = {**directive_form(world, [hazard.id]), **page_tokens(client, "/directives/new", "/directives/new")}
    refused = client.post("/directives/new", data={**data, "requirements": ""})
    assert refused.status_code == 200 and count(db, world, FormSubmission) == 0
    accepted = client.post("/directives/new", data=data)
    assert accepted.status_code == 302 and count(db, world, Directive) == 1


def test_a_duplicate_that_loses_the_race_on_the_key_gets_the_first_answer(db, client, world, hazard, monkeypatch):
    """The concurrent loser's path on any database: its early look-up missed the winner's row (not
    yet committed), its INSERT fails on the key; it rolls back and answers with the winner's page."""
    from hazardhub import formtokens

    login(client, world.users["township_supervisor"])
    data = {**directive_form(world, [hazard.id]), **page_tokens(client, "/directives/new", "/directives/new")}
    first = client.post("/directives/new", data=data)
    real_find, calls = formtokens._find, []

    def find_late(key):
        calls.append(key)
        return None if len(calls) == 1 else real_find(key)

    monkeypatch.setattr(formtokens, "_find", find_late)
    second = client.post("/directives/new", data=data)
    assert len(calls) == 2, "looked up again after losing on the key"
    assert second.status_code == 302 and second.headers["Location"] == first.headers["Location"]
    assert count(db, world, Directive) == 1
    assert REPLAYED in flashes(client)


@pytest.mark.postgres_only
def test_two_simultaneous_identical_directive_posts_issue_one_directive(app, committed_db):
    """Two requests with the same form at the same moment (two threads, two connections): the
    second INSERT of the claim waits for the first transaction and loses on the key."""
    from hazardhub.accounts.models import User
    from hazardhub.hazards import operations as hazard_ops
    from hazardhub.orgs.operations import root_unit
    from hazardhub.standards.operations import load_shipped
    from tests.fixtures.factories import make_tenant, make_unit, make_user

    db, created = committed_db
    city = make_tenant(db, "once-city", kind="city")
    district = make_tenant(db, "once-district", parent=city)
    created.extend([district.id, city.id])
    district_id = district.id
    with tenant_bound(city.id):
        load_shipped(city.id, log=lambda m: None)
        db.session.commit()
    with tenant_bound(district.id):
        township = make_unit(db, root_unit(district.id), kind="township_center", name="同时镇中心学校")
        school = make_unit(db, township, name="同时小学")
        supervisor = make_user(db, township, "township_supervisor")
        hazard_id = hazard_ops.register(school=school, actor=supervisor, item_ids=[], data={
            "found_on": clock.today(), "found_by_name": "并发", "source": "township", "category": "其他",
            "location": "操场", "description": "围墙开裂"}).id
        ids = (township.id, school.id, supervisor.id)
    user = db.session.execute(sa.select(User).where(User.id == ids[2])
                              .execution_options(all_tenants=True)).scalar_one()
    client = app.test_client()
    login(client, user)
    db.session.commit()
    data = {"issuer_id": str(ids[0]), "school_id": str(ids[1]), "doc_title": "隐患整改通知书",
            "hazard_ids": [str(hazard_id)], "requirements": "立即修复围墙。", "working_days": "10",
            "signer_name": "同时督导", **page_tokens(client, "/directives/new", "/directives/new")}
    db.session.remove()
    cookie = client.get_cookie("session").value
    barrier = threading.Barrier(2)
    responses: list[Any] = [None, None]
    errors: list[BaseException] = []

    def post(n: int) -> None:
        try:
            own = app.test_client()
            own.set_cookie("session", cookie)
            barrier.wait(timeout=30)
            responses[n] = own.post("/directives/new", data=data)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    with tenant_bound(district_id):
        rows = db.session.execute(sa.select(Directive.id, Directive.seq)).all()
    assert len(rows) == 1, rows
    assert [r.status_code for r in responses] == [302, 302], [r.get_data(as_text=True)[-1500:] for r in responses]
    assert {r.headers["Location"] for r in responses} == {f"/directives/{rows[0].id}"}


# ---------------------------------------------------------------------------------------------
# every other kind of one-shot form


@dataclass
class Case:
    who: str
    setup: Callable  # (db, world) -> context
    page: Callable  # context -> the page that renders the form
    url: Callable  # context -> where it posts
    data: Callable  # (world, context) -> the form's fields
    effect: Callable  # (db, world, context) -> what one submission changes
    creates: bool = True


def _directive(db, world, hazard_ids):
    with tenant_bound(world.a.id):
        return directive_ops.issue(issuer=world.t1, school=world.s1, actor=world.users["township_supervisor"],
                                   hazard_ids=hazard_ids, requirements="立即整改", signer_name="李督导",
                                   working_days=10)


def _hazard_setup(db, world):
    return make_hazard(db, world.s1, world.users["principal"], location="食堂后门", description="灭火器过期")


def _finished_self_inspection(db, world):
    with tenant_bound(world.a.id):
        return record_inspection(world.s1, "self", world.users["principal"], clock.today())


def _deliverable_with_text(db, world):
    from hazardhub.campaigns import operations as campaign_ops
    from hazardhub.campaigns.models import Deliverable

    with tenant_bound(world.a.id):
        campaign = campaign_ops.create_from_template(world.a, 2025, world.users["bureau_admin"])
        item = next(d for d in db.session.execute(sa.select(Deliverable).where(
            Deliverable.campaign_id == campaign.id, Deliverable.unit_id == world.t1.id)).unique().scalars()
            if d.spec.name == "实施方案")
        campaign_ops.save_text(item, text="召开动员部署会，制定实施方案", actor=world.users["township_supervisor"],
                               version_id=item.version_id)
    return item


def _models():
    from hazardhub.campaigns.models import Deliverable
    from hazardhub.hazards.models import Hazard
    from hazardhub.inspections.models import Inspection, SignOff
    from hazardhub.learning.models import LearningSession
    from hazardhub.runs.models import ReportRun

    return Deliverable, Hazard, Inspection, SignOff, LearningSession, ReportRun


def _cases() -> dict[str, Case]:
    Deliverable, Hazard, Inspection, SignOff, LearningSession, ReportRun = _models()
    today = clock.today().isoformat()
    return {
        "hazard registration": Case(
            "principal", lambda db, w: None, lambda c: "/hazards/new", lambda c: "/hazards/new",
            lambda w, c: {"school_id": str(w.s1.id), "found_on": today, "found_by_name": "郑校长", "source": "self",
                          "category": "校园消防", "location": "宿舍楼楼梯间", "description": "堆放杂物",
                          "level": "general"},
            lambda db, w, c: count(db, w, Hazard)),
        "inspection start": Case(
            "township_supervisor", lambda db, w: None, lambda c: "/inspections/new", lambda c: "/inspections/new",
            lambda w, c: {"unit_id": str(w.s1.id), "kind": "township", "inspected_on": today,
                          "inspectors": "检查组", "agencies": ""},
            lambda db, w, c: count(db, w, Inspection)),
        "learning record": Case(
            "principal", lambda db, w: None, lambda c: "/learning/new", lambda c: "/learning/new",
            lambda w, c: {"unit_id": str(w.s1.id), "level": "all_staff", "form": "case_study", "held_on": today,
                          "title": "校园消防安全案例分析", "hours": "1.5", "headcount": "35"},
            lambda db, w, c: count(db, w, LearningSession)),
        "export run": Case(
            "bureau_admin", lambda db, w: None, lambda c: f"/units/{c}", lambda c: f"/runs/unit-tree/{c}",
            lambda w, c: {}, lambda db, w, c: count(db, w, ReportRun)),
        "directive receipt": Case(
            "principal", lambda db, w: _directive(db, w, [_hazard_setup(db, w).id]),
            lambda d: f"/directives/{d.id}", lambda d: f"/directives/{d.id}/acknowledge",
            lambda w, d: {"version_id": str(d.version_id), "signer_name": "王校长"},
            lambda db, w, d: versions(db, w, Directive, d.id), creates=False),
        "rectification report": Case(
            "principal", _hazard_setup, lambda h: f"/hazards/{h.id}", lambda h: f"/hazards/{h.id}/report",
            lambda w, h: {"version_id": str(h.version_id), "rectified_on": today, "note": "已更换灭火器"},
            lambda db, w, h: versions(db, w, Hazard, h.id), creates=False),
        "sign-off": Case(
            "principal", _finished_self_inspection, lambda i: f"/inspections/{i.id}/sign",
            lambda i: f"/inspections/{i.id}/sign", lambda w, i: {"password": PASSWORD, "version_id": str(i.version_id)},
            lambda db, w, i: count(db, w, SignOff), creates=False),
        "deliverable submission": Case(
            "township_supervisor", _deliverable_with_text, lambda d: f"/campaigns/deliverables/{d.id}",
            lambda d: f"/campaigns/deliverables/{d.id}/submit", lambda w, d: {"version_id": str(d.version_id)},
            lambda db, w, d: versions(db, w, Deliverable, d.id), creates=False),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_a_one_shot_form_submitted_twice_takes_effect_once(db, client, world, name):
    case = _cases()[name]
    context = case.setup(db, world)
    if name == "export run":
        context = world.s1.id
    login(client, world.users[case.who])
    url = case.url(context)
    data = {**case.data(world, context), **page_tokens(client, case.page(context), url)}
    before = case.effect(db, world, context)
    first = client.post(url, data=data)
    assert first.status_code == 302, first.get_data(as_text=True)[-3000:]
    once = case.effect(db, world, context)
    assert once != before, "the first submission took effect"
    second = client.post(url, data=data)
    assert second.status_code == 302, second.get_data(as_text=True)[-3000:]
    assert second.headers["Location"] == first.headers["Location"]
    assert case.effect(db, world, context) == once, "the second submission changed nothing"
    assert (REPLAYED if case.creates else REPLAYED_ACTION) in flashes(client)


def test_a_token_is_bound_to_its_user_and_its_form(db, client, world, hazard):
    """The same token sent by another user, or to another form, is simply a fresh token there."""
    from hazardhub.hazards.models import Hazard

    login(client, world.users["principal"])
    tokens = page_tokens(client, f"/hazards/{hazard.id}", f"/hazards/{hazard.id}/report")
    report = {"version_id": str(hazard.version_id), "rectified_on": clock.today().isoformat(), "note": "已整改"}
    assert client.post(f"/hazards/{hazard.id}/start", data={**tokens, "version_id": str(hazard.version_id)}
                       ).status_code == 302
    with tenant_bound(world.a.id):
        hazard = db.session.execute(sa.select(Hazard).where(Hazard.id == hazard.id)
                                    .execution_options(populate_existing=True)).scalar_one()
    assert hazard.status == "rectifying"
    assert client.post(f"/hazards/{hazard.id}/report", data={**report, **tokens, "version_id": str(hazard.version_id)}
                       ).status_code == 302
    with tenant_bound(world.a.id):
        hazard = db.session.execute(sa.select(Hazard).where(Hazard.id == hazard.id)
                                    .execution_options(populate_existing=True)).scalar_one()
    assert hazard.status == "awaiting_acceptance", "the token spent on 'start' was fresh for 'report'"
    assert count(db, world, FormSubmission) == 2


def test_every_one_shot_view_is_marked_and_its_forms_render_the_token(app):
    """Every view decorated with ``one_shot`` has its forms (posting to it by ``url_for``) render
    ``form_token()``: a form that forgot it would be refused with a 400."""
    from pathlib import Path

    from hazardhub import TEMPLATES

    one_shot = {name for name, view in app.view_functions.items() if getattr(view, "_hazardhub_one_shot", False)}
    assert {"directives.create", "directives.acknowledge", "directives.respond", "directives.accept",
            "inspections.sign", "inspections.start", "hazards.create", "hazards.report", "hazards.accept",
            "learning.create", "campaigns.submit", "campaigns.upload", "reports.request_report",
            "runs.export_unit_tree", "evidence.upload"} <= one_shot
    checked = 0
    for path in TEMPLATES.rglob("*.html"):
        for attrs, body in FORM_RE.findall(path.read_text()):
            target = re.search(r"""action="\{\{ url_for\('([\w.]+)'""", attrs)
            if target and target.group(1) in one_shot:
                assert "form_token()" in body, f"{path.relative_to(TEMPLATES)}: form to {target.group(1)}"
                checked += 1
    assert checked >= 15
