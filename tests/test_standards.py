"""The standards catalogue: shipped data as the reference confirms it, versioned edits by the
right people, and local overlays."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy_continuum import version_class

from hazardhub.standards.models import RuleGroup, Standard, StandardItem
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login


def _group(db, world, code):
    with tenant_bound(world.city.id):
        return db.session.execute(
            sa.select(RuleGroup).where(RuleGroup.tenant_id == world.city.id, RuleGroup.code == code)
            .execution_options(populate_existing=True)).scalar_one()


def test_shipped_catalogue_holds_only_what_the_reference_confirms(db, world):
    with tenant_bound(world.city.id):
        numbers = set(db.session.execute(
            sa.select(StandardItem.number).where(StandardItem.tenant_id == world.city.id)).scalars())
        standards = {s.code: s for s in db.session.execute(
            sa.select(Standard).where(Standard.tenant_id == world.city.id)).scalars()}
    assert {f"3.1.{n}" for n in range(1, 10)} <= numbers
    assert "3.1.10" not in numbers, "item 10 is truncated in every source: not shipped"
    assert {f"十项-{n}" for n in range(1, 11)} <= numbers
    assert standards["MOE-2024-20"].doc_number == "教发厅函〔2024〕20号"
    assert str(standards["MOE-2024-20"].issued_on) == "2024-06-24"
    composite = _group(db, world, "3-2")
    assert composite.kind == "composite" and composite.threshold is None, "no invented threshold"
    assert _group(db, world, "3-1").kind == "direct"
    for code in ("4", "5", "6", "7", "8"):
        assert _group(db, world, code).kind == "pending"


def test_city_admin_sets_a_threshold_and_it_is_versioned(db, client, world):
    group = _group(db, world, "3-2")
    login(client, world.users["city_admin"])
    response = client.submit(f"/standards/groups/{group.id}", {
        "kind": "composite", "threshold": "3", "window_days": "30", "note": "依据正式文件",
        "reason": "依据教发厅函〔2024〕20号正式文本", "version_id": str(group.version_id)})
    assert response.status_code == 302
    group = _group(db, world, "3-2")
    assert group.threshold == 3
    page = client.get(f"/standards/groups/{group.id}").get_data(as_text=True)
    assert "依据教发厅函〔2024〕20号正式文本" in page and world.users["city_admin"].display_name in page
    with tenant_bound(world.city.id):
        versions = db.session.execute(sa.select(sa.func.count()).select_from(version_class(RuleGroup))
                                      .where(version_class(RuleGroup).id == group.id)).scalar_one()
    assert versions == 2


def test_bad_threshold_and_missing_reason_change_nothing(db, client, world):
    group = _group(db, world, "3-2")
    login(client, world.users["city_admin"])
    for data in ({"threshold": "0", "reason": "x"}, {"threshold": "abc", "reason": "x"}, {"threshold": "2", "reason": ""}):
        response = client.submit(f"/standards/groups/{group.id}", {
            "kind": "composite", "window_days": "30", "note": "", "version_id": str(group.version_id), **data})
        assert response.status_code == 200
    assert _group(db, world, "3-2").threshold is None


def test_district_users_cannot_edit_the_city_catalogue(db, client, world):
    group = _group(db, world, "3-2")
    for role in ("bureau_admin", "principal", "city_viewer"):
        login(client, world.users[role])
        assert client.get(f"/standards/groups/{group.id}").status_code == 403
        response = client.submit(f"/standards/groups/{group.id}/items",
                                 {"number": "3.2.9", "text": "x", "reason": "x"}, page="/standards/")
        assert response.status_code == 403
    assert client.get("/standards/").status_code == 200


def test_district_overlay_is_its_own_and_visible_only_to_it(db, client, world):
    login(client, world.users["bureau_admin"])
    response = client.submit("/standards/overlay", {"code": "JA-DAILY", "title": "甲区学校日常安全检查要点",
                                                    "issuer": "甲区教育局", "note": "", "reason": "区局发文"},
                             page="/standards/")
    assert response.status_code == 302
    with tenant_bound(world.a.id):
        overlay = db.session.execute(sa.select(Standard).where(Standard.code == "JA-DAILY")).scalar_one()
        group = db.session.execute(sa.select(RuleGroup).where(RuleGroup.standard_id == overlay.id)).scalar_one()
    assert overlay.tenant_id == world.a.id and overlay.is_local
    client.submit(f"/standards/groups/{group.id}/items", {"number": "JA-1", "text": "校门口上下学时段须有护导。",
                                                          "tags": "校门口", "reason": "区局发文"},
                  page=f"/standards/?standard={overlay.id}")
    assert "校门口上下学时段须有护导" in client.get(f"/standards/?standard={overlay.id}").get_data(as_text=True)
    login(client, world.b_admin)
    assert "甲区学校日常安全检查要点" not in client.get("/standards/").get_data(as_text=True)
    assert client.get(f"/standards/groups/{group.id}").status_code == 404
