"""History pages speak in words (issue #18): every history page of the seeded demo shows labels,
names for ids, Chinese for every declared code, Beijing time to the minute, and actors and reasons
in words — all from the one formatter (hazardhub/auditlog/timeline.py) reading what the models
declare."""
from __future__ import annotations

import html
import re

import sqlalchemy as sa

from hazardhub import clock
from hazardhub.accountability.models import AccountabilityFinding
from hazardhub.accounts.models import User
from hazardhub.auditlog.timeline import all_codes, reason_words, ref_columns, spec_of
from hazardhub.campaigns.models import Deliverable
from hazardhub.db import Base
from hazardhub.directives.models import Directive
from hazardhub.hazards.models import Hazard
from hazardhub.inspections.models import Inspection, InspectionItem
from hazardhub.learning.models import LearningSession
from hazardhub.orgs.models import OrgUnit
from hazardhub.standards.models import RuleGroup, StandardItem
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login

#: every history page: endpoint → (model, its id argument); the catalogue's pages are the city's
CITY_PAGES = ("standards.group", "standards.item")
PAGES = {
    "hazards.hazard_history": (Hazard, "hazard_id"),
    "inspections.inspection_history": (Inspection, "inspection_id"),
    "directives.directive_history": (Directive, "directive_id"),
    "campaigns.deliverable_history": (Deliverable, "deliverable_id"),
    "accountability.finding_history": (AccountabilityFinding, "finding_id"),
    "orgs.unit_history": (OrgUnit, "unit_id"),
    "accounts.user_history": (User, "user_id"),
    "learning.session_history": (LearningSession, "session_id"),
    "standards.group": (RuleGroup, "group_id"),
    "standards.item": (StandardItem, "item_id"),
}
#: pages per kind (spread over the ids, so every state the demo seeds is likely among them)
PER_KIND = 12

ROW_RE = re.compile(r'<tr><td>(.*?)</td><td class="text-muted">(.*?)</td><td>(.*?)</td></tr>', re.S)
ITEM_RE = re.compile(r'<li><span class="text-body-secondary">(.*?)</span>：(.*?) → (.*?)</li>', re.S)
IDENTIFIER = re.compile(r"^[a-z]+(_[a-z]+)*$")


def _changes(page: str) -> list[tuple[str, str, str]]:
    rows = ROW_RE.findall(page) + ITEM_RE.findall(page)
    return [tuple(html.unescape(v).strip() for v in row) for row in rows]


def _ref_labels() -> set[str]:
    labels = set()
    for mapper in Base.registry.mappers:
        spec = spec_of(mapper.class_)
        labels |= {spec.labels.get(c, c) for c in ref_columns(mapper.class_)}
    return labels


def _sample(db, model, tenant_id: int) -> list[int]:
    ids = db.session.execute(sa.select(model.id).where(model.tenant_id == tenant_id).order_by(model.id)).scalars().all()
    step = max(1, len(ids) // PER_KIND)
    return ids[::step][:PER_KIND]


def test_history_pages_are_all_known(app):
    """A new history page must join this test's list (and so the checks below)."""
    found = {rule.endpoint for rule in app.url_map.iter_rules()
             if rule.endpoint.endswith("history") and rule.endpoint != "auditlog.chain"}
    assert found <= set(PAGES), found - set(PAGES)


def test_every_history_page_of_the_demo_speaks_in_words(app, db, client, seeded_demo):
    from flask import url_for

    jianan, city = seeded_demo.jianan, seeded_demo.city
    clients = {jianan.id: client, city.id: app.test_client()}
    for tenant_id, username in ((jianan.id, "demo_ja_admin"), (city.id, "demo_city_admin")):
        login(clients[tenant_id], seeded_demo.user(username))
    codes = all_codes()
    ref_labels = _ref_labels()
    assert {"submitted", "accepted", "draft", "self", "open", "discovery_gap"} <= codes
    seen_codes_translated = 0
    pages = 0
    owner = {endpoint: city.id if endpoint in CITY_PAGES else jianan.id for endpoint in PAGES}
    samples = {endpoint: _sample(db, model, owner[endpoint]) for endpoint, (model, _arg) in PAGES.items()}
    with tenant_bound(jianan.id):
        failed_inspection = db.session.execute(
            sa.select(InspectionItem.inspection_id).where(InspectionItem.result == "fail")).scalars().first()
        deliverable = db.session.execute(
            sa.select(Deliverable).where(Deliverable.submitted_at.is_not(None))).scalars().first()
    samples["inspections.inspection_history"].append(failed_inspection)
    for endpoint, ids in samples.items():
        assert ids, f"the demo has no record for {endpoint}"
        for object_id in ids:
            with app.test_request_context():
                url = url_for(endpoint, **{PAGES[endpoint][1]: object_id})
            response = clients[owner[endpoint]].get(url)
            assert response.status_code == 200, url
            page = response.get_data(as_text=True)
            main = page[page.index("<main"):]
            pages += 1
            assert not re.search(r"\d:\d\d:\d\d", main), f"{url}: a time with seconds (or microseconds)"
            assert "UTC" not in main and "+00:00" not in main, url
            assert not re.search(r"操作人：系统（[A-Za-z]", main), f"{url}: a system actor as a login name"
            assert not re.search(r"(原因|依据)：[A-Za-z]", main), f"{url}: a machine reason"
            for label, old, new in _changes(page):
                assert not IDENTIFIER.match(label), f"{url}: column name {label!r} shown as a label"
                for value in (old, new):
                    if value in codes:
                        raise AssertionError(f"{url}: raw code {value!r} under {label!r}")
                    if label != "用户名" and IDENTIFIER.match(value):
                        raise AssertionError(f"{url}: code-like value {value!r} under {label!r}")
                    if label in ref_labels and value.isdigit():
                        raise AssertionError(f"{url}: bare id {value!r} under {label!r}")
                    seen_codes_translated += label.endswith("状态")
    assert pages >= 60
    assert seen_codes_translated, "no status change was seen: the sample missed the demo's lifecycles"

    # an inspection says which checklist line was marked what, by whom
    page = client.get(f"/inspections/{failed_inspection}/history").get_data(as_text=True)
    marked = [(label, old, new) for label, old, new in _changes(page) if label.startswith("检查项“")]
    assert ("不合格" in {new for _l, _o, new in marked}), marked
    assert any(label.endswith("的形成隐患") for label, _o, _n in marked), marked
    assert "无字段变化" not in page

    # a datetime inside an entry is Beijing time (8 hours after the stored UTC), to the minute
    page = client.get(f"/campaigns/deliverables/{deliverable.id}/history").get_data(as_text=True)
    submitted = dict((label, new) for label, _old, new in _changes(page) if new)["提交时间"]
    assert submitted == clock.local(deliverable.submitted_at).strftime("%Y-%m-%d %H:%M")
    assert submitted != deliverable.submitted_at.strftime("%Y-%m-%d %H:%M")


def test_machine_reasons_of_older_records_read_as_words(db, world):
    assert reason_words(f"tenants apply {world.a.slug}") == f"按 tenants/ 配置开通：{world.a.name}"
    assert reason_words("tenants apply：新增 3，更新 0") == "按 tenants/ 配置导入单位：新增 3，更新 0"
    assert reason_words("开始整改") == "开始整改"
