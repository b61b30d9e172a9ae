"""Each role sees only its own actions, over the real demo (#18 item 4, "a role × page test over the demo").

tests/test_role_actions.py checks every state of every record kind over factory-built records;
this test checks the seeded demo as people meet it: for each demo account (one per role, the city
included) and a sample of each record page (hazards, directives, inspections, deliverables, 随手拍
reports: each status, at the demo's own school, elsewhere in its township and elsewhere in the
district), every action form the page shows is allowed by the policy for exactly the action its
POST authorises — so no button appears for an action the policy refuses — and, per page, one
action shown, posted as a user would fill it, succeeds with no error message. The demo is seeded
once for all of it (tests/fixtures/demo.py says why not once per session).
"""
from __future__ import annotations

import sqlalchemy as sa

from hazardhub.campaigns.models import Deliverable
from hazardhub.directives.models import Directive
from hazardhub.hazards.models import Hazard
from hazardhub.inspections.models import Inspection
from hazardhub.orgs.models import OrgUnit
from hazardhub.publicreports.models import PublicReport
from tests.fixtures.factories import login
from tests.fixtures.pageforms import PAGE, action_forms, allowed, fill, flashes, policy_action

#: one demo account per role (hazardhub/devtools/demo.py), the school ones at 将官池镇第一小学 (JA-D01)
ACCOUNTS = ("demo_city_admin", "demo_city_viewer", "demo_ja_admin", "demo_ja_leader", "demo_ja_viewer",
            "demo_ja_township", "demo_ja_principal", "demo_ja_safety", "demo_ja_staff")
#: each kind of record, with the column naming its unit
KINDS = {Hazard: Hazard.school_id, Directive: Directive.school_id, Inspection: Inspection.unit_id,
         Deliverable: Deliverable.unit_id, PublicReport: PublicReport.school_id}


def _sample(db, model, unit_column, tenant_id: int, school: OrgUnit) -> list[int]:
    """Per status (and kind, for inspections): one record of the demo school, one elsewhere in its
    township, one elsewhere — the pages each role meets."""
    paths = dict(db.session.execute(sa.select(OrgUnit.id, OrgUnit.path).where(OrgUnit.tenant_id == tenant_id)).all())
    township_path = paths[school.parent_id]
    group = [model.status] + ([model.kind] if model is Inspection else [])
    picked: dict[tuple, dict[str, int]] = {}
    for row in db.session.execute(sa.select(model.id, unit_column, *group).where(model.tenant_id == tenant_id)
                                  .order_by(model.id)):
        path = paths.get(row[1], "")
        where = "school" if row[1] == school.id else "township" if path.startswith(township_path) else "elsewhere"
        picked.setdefault(tuple(row[2:]), {}).setdefault(where, row[0])
    return sorted({record_id for places in picked.values() for record_id in places.values()})


def test_every_action_shown_over_the_demo_is_allowed_and_one_per_page_works(db, client, seeded_demo):
    jianan = seeded_demo.jianan
    school = db.session.execute(sa.select(OrgUnit).where(OrgUnit.tenant_id == jianan.id,
                                                         OrgUnit.code == "JA-D01")).scalar_one()
    users = {name: seeded_demo.user(name) for name in ACCOUNTS}
    samples = {model: _sample(db, model, column, jianan.id, school) for model, column in KINDS.items()}
    records = {model: {i: db.session.get(model, i) for i in ids} for model, ids in samples.items()}

    # 1. every form shown, on every sampled page, for every role, is one the policy allows
    actors: dict[tuple, list[str]] = {}  # (model, id) → the accounts shown at least one action
    seen = {model: 0 for model in KINDS}
    for name, user in users.items():
        login(client, user)
        for model, by_id in records.items():
            for record_id, obj in by_id.items():
                url = PAGE[model].format(record_id)
                response = client.get(url)
                if response.status_code in (403, 404):
                    continue
                assert response.status_code == 200, f"{name}: {url} → {response.status_code}"
                seen[model] += 1
                forms = action_forms(response.get_data(as_text=True), url)
                for form in forms:
                    action, target, target_id = policy_action(form.action, obj)
                    assert allowed(db, jianan.id, user, action, target, target_id), \
                        f"{name} is shown {form.action} ({action}) on {url}, which the policy refuses"
                if forms:
                    actors.setdefault((model, record_id), []).append(name)
    assert all(seen.values()), seen
    assert {model for model, _id in actors} == set(KINDS), "a kind of record where nobody is offered anything"
    assert {name for names in actors.values() for name in names} >= {
        "demo_ja_principal", "demo_ja_safety", "demo_ja_township", "demo_ja_admin"}

    # 2. per page, one action shown works when posted (the accounts taking turns); a page whose
    # actions an earlier post settled (a directive accepted closes its hazards) is read afresh
    posted = {model: 0 for model in KINDS}
    for turn, ((model, record_id), names) in enumerate(sorted(actors.items(), key=lambda a: (a[0][0].__name__, a[0][1]))):
        name = names[turn % len(names)]
        login(client, users[name])
        url = PAGE[model].format(record_id)
        forms = action_forms(client.get(url).get_data(as_text=True), url)
        if not forms:
            continue
        form = forms[0]
        with client.session_transaction() as session:
            session.pop("_flashes", None)
        response = client.post(form.action, data=fill(form),
                               content_type="multipart/form-data" if "multipart" in form.enctype else None)
        assert response.status_code == 302, f"{name}: {form.action} on {url} → {response.status_code}"
        bad = [m for category, m in flashes(client) if category in ("danger", "warning")]
        assert not bad, f"{name}: {form.action} on {url} failed: {bad}"
        posted[model] += 1
    assert all(posted.values()), posted
