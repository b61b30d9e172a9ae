"""Every route, walked from ``app.url_map``: login required, other tenants' ids → 404, subtree limits.

A new route with an id argument must be added to ``ID_SOURCES``; the test fails until it is, so
no route escapes these checks.
"""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from hazardhub.accounts.models import Membership
from hazardhub.runs.models import ReportRun
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login

#: endpoints an anonymous visitor may reach
ANONYMOUS_ALLOWED = {"static", "bootstrap.static", "web.healthz", "accounts.login"}
METHODS = ("GET", "POST")


def _membership_of(db, user):
    with tenant_bound(user.tenant_id):
        return db.session.execute(sa.select(Membership).where(Membership.user_id == user.id)).scalars().first()


def _run_for(db, user, unit):
    with tenant_bound(user.tenant_id):
        run = ReportRun(kind="unit_tree_xlsx", unit_id=unit.id, requested_by_id=user.id,
                        job_name="worker.jobs.export_unit_tree", status="failed", error="测试")
        db.session.add(run)
        db.session.commit()
        return run


def _foreign_catalogue(db) -> dict[str, int]:
    """A catalogue owned by another city: invisible to every user of the world's city."""
    from hazardhub.standards.models import RuleGroup, StandardItem
    from hazardhub.standards.operations import load_shipped
    from tests.fixtures.factories import make_tenant

    other_city = make_tenant(db, "othercity", kind="city")
    with tenant_bound(other_city.id):
        load_shipped(other_city.id, log=lambda m: None)
        db.session.commit()
        item = db.session.execute(sa.select(StandardItem).where(StandardItem.tenant_id == other_city.id)).scalars().first()
        group = db.session.execute(sa.select(RuleGroup).where(RuleGroup.tenant_id == other_city.id)).scalars().first()
        return {"group_id": group.id, "item_id": item.id}


def _attachment_for(db, hazard, user):
    from hazardhub.evidence.models import Attachment

    with tenant_bound(hazard.tenant_id):
        attachment = Attachment(tenant_id=hazard.tenant_id, hazard_id=hazard.id, stage="before", kind="image",
                                content_type="image/png", original_name="x.png", stored_name=f"t{hazard.id}x.png",
                                size=1, sha256="0" * 64, uploaded_by_id=user.id)
        db.session.add(attachment)
        db.session.commit()
        return attachment.id


def _learning_for(db, unit, user) -> int:
    from datetime import date

    from hazardhub.learning import operations as learning_ops

    with tenant_bound(unit.tenant_id):
        return learning_ops.record(unit=unit, actor=user, membership_ids=[], standard_ids=[], data={
            "level": "all_staff", "form": "video", "held_on": date.today(), "title": "消防安全全员学习",
            "hours": 1, "headcount": 10}).id


def _inspection_ids(db, unit, actor, leader_home) -> dict[str, int]:
    """An inspection at ``unit`` and a 分包 assignment in the same tenant."""
    from datetime import date

    from hazardhub.inspections import operations as inspection_ops
    from tests.fixtures.factories import make_user

    with tenant_bound(unit.tenant_id):
        inspection = inspection_ops.start(unit=unit, kind="self", actor=actor, inspected_on=date.today(),
                                          inspectors="检查组")
        inspection_id = inspection.id
    leader = make_user(db, leader_home, "bureau_leader")
    with tenant_bound(unit.tenant_id):
        assignment = inspection_ops.assign_leader(leader=leader, unit=unit, actor=actor)
        return {"inspection_id": inspection_id, "assignment_id": assignment.id}


def _campaign_ids(db, tenant, unit, actor) -> dict[str, int]:
    """A campaign of ``tenant`` from the template, one phase, ``unit``'s report and a file of it."""
    from hazardhub.campaigns import operations as campaign_ops
    from hazardhub.campaigns.models import Deliverable, DeliverableFile

    with tenant_bound(tenant.id):
        campaign = campaign_ops.create_from_template(tenant, 2025, actor)
        phase = campaign_ops.phases_of(campaign)[0]
        item = db.session.execute(sa.select(Deliverable).where(Deliverable.campaign_id == campaign.id,
                                                               Deliverable.unit_id == unit.id)).unique().scalars().first()
        record = DeliverableFile(tenant_id=tenant.id, deliverable_id=item.id, kind="pdf", stored_name=f"c{item.id}x.pdf",
                                 content_type="application/pdf", original_name="x.pdf", size=1, sha256="0" * 64,
                                 uploaded_by_id=actor.id)
        db.session.add(record)
        db.session.commit()
        return {"campaign_id": campaign.id, "phase_id": phase.id, "deliverable_id": item.id,
                "deliverable_file_id": record.id}


def _ids(db, world, target: str) -> dict[str, int]:
    """Ids for each route argument: objects of tenant B ('other') or outside s1 ('outside')."""
    from tests.fixtures.factories import make_hazard

    if target == "other":
        hazard = make_hazard(db, world.sb, world.b_principal, items=["3.1.6"])
        return {
            "unit_id": world.sb.id,
            "user_id": world.b_principal.id,
            "membership_id": _membership_of(db, world.b_principal).id,
            "run_id": _run_for(db, world.b_admin, world.sb).id,
            "hazard_id": hazard.id,
            "attachment_id": _attachment_for(db, hazard, world.b_principal),
            "session_id": _learning_for(db, world.sb, world.b_principal),
            **_inspection_ids(db, world.sb, world.b_principal, world.b_root),
            **_campaign_ids(db, world.b, world.tb, world.b_admin),
            **_foreign_catalogue(db),
        }
    hazard = make_hazard(db, world.s2, world.users["bureau_admin"], items=["3.1.6"])
    return {
        "unit_id": world.s2.id,
        "user_id": world.s2_staff.id,
        "membership_id": _membership_of(db, world.s2_staff).id,
        "run_id": _run_for(db, world.users["bureau_admin"], world.s2).id,
        "hazard_id": hazard.id,
        "attachment_id": _attachment_for(db, hazard, world.users["bureau_admin"]),
        "session_id": _learning_for(db, world.s2, world.s2_staff),
        **_inspection_ids(db, world.s2, world.s2_staff, world.a_root),
        **_campaign_ids(db, world.a, world.t2, world.users["bureau_admin"]),
        **_foreign_catalogue(db),
    }


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "bootstrap.static"):
            continue
        for method in METHODS:
            if method in rule.methods:
                yield rule, method


def _url(rule, ids):
    unknown = set(rule.arguments) - set(ids)
    assert not unknown, f"{rule.rule}: add {unknown} to the id sources of tests/test_routes.py"
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids[m.group(1)]), rule.rule)


def _request(client, method, url):
    if method == "GET":
        return client.get(url)
    token = client.csrf_token("/login" if not _logged_in(client) else "/password")
    return client.post(url, data={"csrf_token": token})


def _logged_in(client) -> bool:
    with client.session_transaction() as session:
        return "_user_id" in session


def test_anonymous_users_reach_only_the_allow_list(app, db, client, world):
    ids = _ids(db, world, "outside")
    checked = 0
    for rule, method in _routes(app):
        if rule.endpoint in ANONYMOUS_ALLOWED:
            continue
        response = _request(client, method, _url(rule, ids))
        assert response.status_code in (302, 401), (method, rule.rule, response.status_code)
        if response.status_code == 302:
            assert "/login" in response.headers["Location"], (method, rule.rule)
        checked += 1
    assert checked >= 25


def test_allow_listed_endpoints_answer_anonymous(client):
    assert client.get("/login").status_code == 200
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("role", ["bureau_admin", "bureau_viewer", "township_supervisor", "principal"])
def test_other_tenants_ids_answer_404_on_every_route(app, db, client, world, role):
    ids = _ids(db, world, "other")
    login(client, world.users[role])
    secrets = ("乙镇小学", "乙区教育局", world.b_principal.username, "教学楼一楼东侧楼梯间")
    checked = 0
    for rule, method in _routes(app):
        if not rule.arguments:
            continue
        url = _url(rule, ids)
        response = _request(client, method, url)
        assert response.status_code == 404, (role, method, url, response.status_code)
        body = response.get_data(as_text=True)
        assert not any(s in body for s in secrets), (method, url)
        checked += 1
    assert checked >= 15


def test_outside_the_subtree_is_403_or_404(app, db, client, world):
    ids = _ids(db, world, "outside")
    login(client, world.users["principal"])
    for rule, method in _routes(app):
        if not rule.arguments:
            continue
        url = _url(rule, ids)
        response = _request(client, method, url)
        assert response.status_code in (403, 404), (method, url, response.status_code)
        assert "一镇幼儿园" not in response.get_data(as_text=True), url


@pytest.mark.parametrize("role", ["city_admin", "city_viewer"])
def test_city_users_cannot_change_district_data(app, db, client, world, role):
    from tests.fixtures.factories import make_hazard

    hazard = make_hazard(db, world.s1, world.users["principal"], items=["3.1.6"])
    ids = {
        "unit_id": world.s1.id,
        "user_id": world.users["principal"].id,
        "membership_id": _membership_of(db, world.users["principal"]).id,
        "run_id": _run_for(db, world.users["bureau_admin"], world.s1).id,
        "hazard_id": hazard.id,
        "attachment_id": _attachment_for(db, hazard, world.users["principal"]),
        "session_id": _learning_for(db, world.s1, world.users["principal"]),
        **_inspection_ids(db, world.s1, world.users["principal"], world.a_root),
        **_campaign_ids(db, world.a, world.t1, world.users["bureau_admin"]),
        **_foreign_catalogue(db),
    }
    login(client, world.users[role])
    from sqlalchemy_continuum import version_class

    from hazardhub.orgs.models import OrgUnit

    def versions():
        with tenant_bound(world.a.id):
            return db.session.execute(sa.select(sa.func.count()).select_from(version_class(OrgUnit))).scalar()

    before = versions()
    for rule, method in _routes(app):
        if method != "POST" or not rule.arguments:
            continue
        url = _url(rule, ids)
        response = _request(client, method, url)
        assert response.status_code in (403, 404), (role, url, response.status_code)
    assert versions() == before
    # ... while reading works
    assert client.get(f"/units/{world.s1.id}").status_code == 200
    assert client.get(f"/units/{world.s1.id}/history").status_code == 200
    assert client.get(f"/units/{world.s1.id}/edit").status_code in (403, 404)


def test_ids_beyond_the_integer_range_are_404_not_500(app, db, client, world):
    login(client, world.users["bureau_admin"])
    for url in ("/hazards/99999999999", "/units/99999999999", f"/users/{2**40}", "/inspections/2147483648"):
        assert client.get(url).status_code == 404, url
