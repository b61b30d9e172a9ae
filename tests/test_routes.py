"""Every route, walked from ``app.url_map``: login required, other tenants' ids → 404, subtree limits.

A new route with an id argument must be added to ``ID_SOURCES``; the test fails until it is, so
no route escapes these checks.
"""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from hazardhub import clock
from hazardhub.accounts.models import Membership
from hazardhub.runs.models import ReportRun
from hazardhub.tenancy import tenant_bound
from tests.fixtures.app import form_token_for
from tests.fixtures.factories import login

#: endpoints an anonymous visitor may reach
ANONYMOUS_ALLOWED = {"static", "bootstrap.static", "web.healthz", "accounts.login"}
#: 随手拍's public blueprint (DESIGN §9): reached by anyone who scans a poster, without login, by
#: tokens only (a code's token, a receipt), never ids; its tenant is bound from the token's row.
#: Its own tests (tests/test_publicreports.py) check that a token reveals nothing of another school.
PUBLIC_BLUEPRINTS = ("publicreports_public.",)
ANONYMOUS_ALLOWED |= {"publicreports_public.report", "publicreports_public.lookup", "publicreports_public.status",
                      "publicreports_public.after_photo"}
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
            "level": "all_staff", "form": "video", "held_on": clock.today(), "title": "消防安全全员学习",
            "hours": 1, "headcount": 10}).id


def _inspection_ids(db, unit, actor, leader_home) -> dict[str, int]:
    """An inspection at ``unit`` and a 分包 assignment in the same tenant."""
    from datetime import date

    from hazardhub.inspections import operations as inspection_ops
    from tests.fixtures.factories import make_user

    with tenant_bound(unit.tenant_id):
        inspection = inspection_ops.start(unit=unit, kind="self", actor=actor, inspected_on=clock.today(),
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


def _notification_for(db, user) -> int:
    """Someone else's notification: never reachable, not even inside the same tenant."""
    from hazardhub.notifications.models import Notification

    with tenant_bound(user.tenant_id):
        notification = Notification(tenant_id=user.tenant_id, user_id=user.id, key=f"test:{user.id}", kind="due",
                                    text="测试通知", url="/")
        db.session.add(notification)
        db.session.commit()
        return notification.id


def _finding_for(db, unit) -> int:
    from datetime import date

    from hazardhub.accountability.models import AccountabilityFinding

    with tenant_bound(unit.tenant_id):
        finding = AccountabilityFinding(tenant_id=unit.tenant_id, key=f"test:{unit.id}", kind="self_check_missing",
                                        unit_id=unit.id, unit_path=unit.path, period="2025-03",
                                        detected_on=date(2025, 4, 1), summary="测试线索")
        db.session.add(finding)
        db.session.commit()
        return finding.id


def _directive_ids(db, issuer, school, hazard, actor) -> dict[str, int]:
    """A directive to ``school`` for ``hazard`` and an after-photo row of it."""
    from hazardhub.directives import operations as directive_ops
    from hazardhub.directives.models import DirectivePhoto

    with tenant_bound(school.tenant_id):
        directive = directive_ops.issue(issuer=issuer, school=school, actor=actor, hazard_ids=[hazard.id],
                                        requirements="测试整改要求", signer_name="测试", working_days=5)
        photo = DirectivePhoto(tenant_id=school.tenant_id, directive_id=directive.id, round=1, content_type="image/png",
                               original_name="x.png", stored_name=f"d{directive.id}x.png", size=1, sha256="0" * 64,
                               uploaded_by_id=actor.id)
        db.session.add(photo)
        db.session.commit()
        return {"directive_id": directive.id, "photo_id": photo.id}


def _place_ids(db, *, tenant, township, school, member, admin, leader_home, reach_tenant, catalogue,
               issuer=None) -> dict[str, int]:
    """One id for every route argument, all of objects at ``school`` (and its township) of
    ``tenant``: ``member`` is a user of the school, ``admin`` the tenant's bureau admin."""
    from tests.fixtures.factories import make_hazard

    hazard = make_hazard(db, school, admin, items=["3.1.6"])
    return {
        "unit_id": school.id,
        "user_id": member.id,
        "membership_id": _membership_of(db, member).id,
        "run_id": _run_for(db, admin, school).id,
        "notification_id": _notification_for(db, member),
        "finding_id": _finding_for(db, school),
        "tenant_id": reach_tenant.id,  # citywide.district
        "hazard_id": hazard.id,
        "attachment_id": _attachment_for(db, hazard, admin),
        **_directive_ids(db, issuer or township, school, hazard, admin),
        "session_id": _learning_for(db, school, member),
        **_inspection_ids(db, school, member, leader_home),
        **_campaign_ids(db, tenant, township, admin),
        **_public_report_ids(db, school),
        **catalogue,
    }


def _public_report_ids(db, school) -> dict:
    """A 随手拍 code and report at ``school`` (the public routes take their token and receipt)."""
    from hazardhub.publicreports.models import PublicReport, ReportCode

    with tenant_bound(school.tenant_id):
        code = ReportCode(tenant_id=school.tenant_id, school_id=school.id, place="校门口",
                          token=f"routes-token-{school.id:012d}", is_active=True)
        db.session.add(code)
        db.session.flush()
        report = PublicReport(tenant_id=school.tenant_id, receipt=f"R{school.id:011d}"[:12], school_id=school.id,
                              school_path=school.path, code_id=code.id, kind="其他", place="校门口",
                              description="教学楼一楼东侧楼梯间", fingerprint="0" * 64, status="new")
        db.session.add(report)
        db.session.commit()
        return {"code_id": code.id, "report_id": report.id, "token": code.token, "receipt": report.receipt, "n": 0}


def _ids(db, world, target: str) -> dict[str, int]:
    """Ids for each route argument, of objects nobody testing with them may reach:

    - ``other``: district B (another tenant of the same city);
    - ``outside``: school S2 of district A (outside S1, where the school roles sit);
    - ``outside_township``: school S3 under township T2 (outside T1, the supervisor's township);
    - ``other_city``: a district of another city (outside every role of the world's city).
    """
    if target == "other":
        return _place_ids(db, tenant=world.b, township=world.tb, school=world.sb, member=world.b_principal,
                          admin=world.b_admin, leader_home=world.b_root, reach_tenant=world.b,
                          catalogue=_foreign_catalogue(db))
    if target in ("outside", "outside_township"):
        # a campaign and its phases are tenant-wide (every campaign reader of the district reads
        # them): outside-the-subtree checks take those two from district B
        tenant_wide = _campaign_ids(db, world.b, world.tb, world.b_admin)
        return {**_outside_ids(db, world, target),
                "campaign_id": tenant_wide["campaign_id"], "phase_id": tenant_wide["phase_id"]}
    return _other_city_ids(db)


def _outside_ids(db, world, target: str) -> dict[str, int]:
    from tests.fixtures.factories import make_user

    if target == "outside":
        return _place_ids(db, tenant=world.a, township=world.t2, school=world.s2, member=world.s2_staff,
                          admin=world.users["bureau_admin"], leader_home=world.a_root, reach_tenant=world.b,
                          catalogue=_foreign_catalogue(db), issuer=world.t1)
    member = make_user(db, world.s3, "staff")
    return _place_ids(db, tenant=world.a, township=world.t2, school=world.s3, member=member,
                      admin=world.users["bureau_admin"], leader_home=world.a_root, reach_tenant=world.b,
                      catalogue=_foreign_catalogue(db))


def _other_city_ids(db) -> dict[str, int]:
    from hazardhub.orgs import operations as org_ops
    from hazardhub.standards.models import RuleGroup, StandardItem
    from hazardhub.standards.operations import load_shipped
    from tests.fixtures.factories import make_tenant, make_unit, make_user

    city = make_tenant(db, "othercity", kind="city", name="外市教育局")
    district = make_tenant(db, "othercity-d", parent=city, name="外市某区教育局")
    with tenant_bound(city.id):
        load_shipped(city.id, log=lambda m: None)
        db.session.commit()
        item = db.session.execute(sa.select(StandardItem).where(StandardItem.tenant_id == city.id)).scalars().first()
        group = db.session.execute(sa.select(RuleGroup).where(RuleGroup.tenant_id == city.id)).scalars().first()
        catalogue = {"group_id": group.id, "item_id": item.id}
    with tenant_bound(district.id):
        root = org_ops.root_unit(district.id)
    township = make_unit(db, root, kind="township_center", name="外市镇中心学校")
    school = make_unit(db, township, name="外市小学")
    admin = make_user(db, root, "bureau_admin")
    member = make_user(db, school, "principal")
    return _place_ids(db, tenant=district, township=township, school=school, member=member, admin=admin,
                      leader_home=root, reach_tenant=district, catalogue=catalogue)


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
    # a one-time form token too (hazardhub.formtokens), so one-shot POSTs reach their authorisation
    return client.post(url, data={"csrf_token": token, "form_token": form_token_for("", url, url)})


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


NON_CITY_ROLES = ["bureau_admin", "bureau_leader", "bureau_viewer", "township_supervisor", "principal",
                  "safety_officer", "staff"]


@pytest.mark.parametrize("role", NON_CITY_ROLES)
def test_other_tenants_ids_answer_404_on_every_route(app, db, client, world, role):
    ids = _ids(db, world, "other")
    login(client, world.users[role])
    secrets = ("乙镇小学", "乙区教育局", world.b_principal.username, "教学楼一楼东侧楼梯间")
    checked = 0
    for rule, method in _routes(app):
        if not rule.arguments or rule.endpoint.startswith(PUBLIC_BLUEPRINTS):
            continue
        url = _url(rule, ids)
        response = _request(client, method, url)
        assert response.status_code == 404, (role, method, url, response.status_code)
        body = response.get_data(as_text=True)
        assert not any(s in body for s in secrets), (method, url)
        checked += 1
    assert checked >= 15


@pytest.mark.parametrize("role, target, secret", [
    ("principal", "outside", "一镇幼儿园"),
    ("safety_officer", "outside", "一镇幼儿园"),
    ("staff", "outside", "一镇幼儿园"),
    ("township_supervisor", "outside_township", "二镇初级中学"),
])
def test_outside_the_subtree_is_403_or_404(app, db, client, world, role, target, secret):
    """Every route, with ids of a school outside the role's subtree (same tenant)."""
    ids = _ids(db, world, target)
    login(client, world.users[role])
    checked = 0
    for rule, method in _routes(app):
        if not rule.arguments or rule.endpoint.startswith(PUBLIC_BLUEPRINTS):
            continue
        url = _url(rule, ids)
        response = _request(client, method, url)
        assert response.status_code in (403, 404), (role, method, url, response.status_code)
        assert secret not in response.get_data(as_text=True), (role, url)
        checked += 1
    assert checked >= 15


@pytest.mark.parametrize("role", ["city_admin", "city_viewer"])
def test_city_roles_get_404_for_another_citys_ids(app, db, client, world, role):
    """A city reads its own districts only: every route with another city's ids is 404."""
    ids = _ids(db, world, "other_city")
    login(client, world.users[role])
    secrets = ("外市小学", "外市镇中心学校", "外市某区教育局")
    checked = 0
    for rule, method in _routes(app):
        if not rule.arguments or rule.endpoint.startswith(PUBLIC_BLUEPRINTS):
            continue
        url = _url(rule, ids)
        response = _request(client, method, url)
        assert response.status_code == 404, (role, method, url, response.status_code)
        assert not any(x in response.get_data(as_text=True) for x in secrets), (role, url)
        checked += 1
    assert checked >= 15


@pytest.mark.parametrize("role", ["city_admin", "city_viewer"])
def test_city_users_cannot_change_district_data(app, db, client, world, role):
    from tests.fixtures.factories import make_hazard

    hazard = make_hazard(db, world.s1, world.users["principal"], items=["3.1.6"])
    ids = {
        "unit_id": world.s1.id,
        "user_id": world.users["principal"].id,
        "membership_id": _membership_of(db, world.users["principal"]).id,
        "run_id": _run_for(db, world.users["bureau_admin"], world.s1).id,
        "notification_id": _notification_for(db, world.users["principal"]),
        "finding_id": _finding_for(db, world.s1),
        "tenant_id": world.a.id,
        "hazard_id": hazard.id,
        "attachment_id": _attachment_for(db, hazard, world.users["principal"]),
        **_directive_ids(db, world.t1, world.s1, hazard, world.users["bureau_admin"]),
        "session_id": _learning_for(db, world.s1, world.users["principal"]),
        **_inspection_ids(db, world.s1, world.users["principal"], world.a_root),
        **_campaign_ids(db, world.a, world.t1, world.users["bureau_admin"]),
        **_public_report_ids(db, world.s1),
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
        if method != "POST" or not rule.arguments or rule.endpoint.startswith(PUBLIC_BLUEPRINTS):
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
