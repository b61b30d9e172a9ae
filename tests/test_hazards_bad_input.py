"""Bad input on the ledger's forms: a clear Chinese message (or 400/403/404), never a 500, and
nothing written."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy_continuum import version_class

from hazardhub import clock
from hazardhub.hazards.models import Hazard, HazardCitation
from hazardhub.standards import operations as catalogue
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, make_hazard


def _state(db, world):
    with tenant_bound(world.a.id):
        return (
            db.session.execute(sa.select(sa.func.count()).select_from(Hazard)).scalar_one(),
            db.session.execute(sa.select(sa.func.count()).select_from(version_class(Hazard))).scalar_one(),
            db.session.execute(sa.select(sa.func.count()).select_from(HazardCitation)).scalar_one(),
        )


def _valid(db, world):
    with tenant_bound(world.a.id):
        item = next(i.id for i in catalogue.items_for(world.a.id) if i.number == "3.1.3")
    return {"school_id": str(world.s1.id), "found_on": clock.today().isoformat(), "found_by_name": "郑校长",
            "source": "self", "category": "校园消防", "location": "食堂", "description": "彩钢板搭建储藏间",
            "level": "general", "items": [str(item)], "responsible_person": "张主任", "measures": "拆除",
            "funds": "100", "deadline": (clock.today() + timedelta(days=5)).isoformat(),
            "interim_controls": "停用", "contingency_plan": "预案"}


BAD_CREATE = [
    ("empty location", {"location": ""}, "具体部位"),
    ("empty description", {"description": ""}, "描述"),
    ("too long location", {"location": "长" * 300}, "不超过 200 字"),
    ("bad date", {"found_on": "2025-13-45"}, "日期"),
    ("future date", {"found_on": (clock.today() + timedelta(days=3)).isoformat()}, "不能晚于今天"),
    ("deadline before found", {"deadline": "2000-01-01"}, "不能早于排查日期"),
    ("letters in funds", {"funds": "abc"}, "数"),
    ("negative funds", {"funds": "-5"}, "资金"),
    ("bad working days", {"deadline_working_days": "9999"}, "工作日"),
    ("unknown source", {"source": "hacker"}, "不是有效的选择"),
    ("unknown category", {"category": "x"}, "不是有效的选择"),
    ("school outside the list", {"school_id": "999999"}, "不是有效的选择"),
    ("item of no catalogue", {"items": ["999999"]}, "不是有效的选择"),
    ("item id not a number", {"items": ["abc"]}, None),
]


@pytest.mark.parametrize("label,change,message", BAD_CREATE, ids=[c[0] for c in BAD_CREATE])
def test_register_refuses_bad_input_and_writes_nothing(db, client, world, label, change, message):
    login(client, world.users["principal"])
    before = _state(db, world)
    response = client.submit("/hazards/new", {**_valid(db, world), **change})
    assert response.status_code == 200, label
    body = response.get_data(as_text=True)
    if message:
        assert message in body, label
    assert "请更正" in body or "danger" in body
    assert _state(db, world) == before


def test_register_without_csrf_is_400(db, client, world):
    login(client, world.users["principal"])
    before = _state(db, world)
    response = client.post("/hazards/new", data=_valid(db, world))
    assert response.status_code == 400 and "校验码" in response.get_data(as_text=True)
    assert _state(db, world) == before


def test_register_for_a_school_out_of_reach_is_refused(db, client, world):
    login(client, world.users["principal"])
    before = _state(db, world)
    response = client.submit("/hazards/new", {**_valid(db, world), "school_id": str(world.s2.id)})
    assert response.status_code == 200 and "不是有效的选择" in response.get_data(as_text=True)
    response = client.submit("/hazards/new", {**_valid(db, world), "school_id": str(world.sb.id)})
    assert response.status_code == 200
    assert _state(db, world) == before


@pytest.mark.parametrize("path,data", [
    ("start", {"version_id": "abc"}),
    ("start", {"version_id": ""}),
    ("report", {"rectified_on": "", "note": "x"}),
    ("report", {"rectified_on": "2099-01-01", "note": "x"}),
    ("report", {"rectified_on": "2025-01-01", "note": ""}),
    ("void", {"reason": ""}),
    ("void", {"reason": "长" * 3000}),
    ("downgrade", {"reason": "x"}),
])
def test_transitions_refuse_bad_input_without_change(db, client, world, path, data):
    hazard = make_hazard(db, world.s1, world.users["principal"])
    login(client, world.users["principal"])
    before = _state(db, world)
    payload = {"version_id": str(hazard.version_id), **data}
    response = client.submit(f"/hazards/{hazard.id}/{path}", payload, page=f"/hazards/{hazard.id}",
                             follow_redirects=True)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "未执行" in body or "不能" in body or "只有" in body or "重大" in body
    assert _state(db, world) == before


def test_stale_version_on_a_transition_names_the_changes(db, client, world):
    hazard = make_hazard(db, world.s1, world.users["principal"])
    old_version = hazard.version_id
    login(client, world.users["principal"])
    client.submit(f"/hazards/{hazard.id}/start", {"version_id": str(old_version)}, page=f"/hazards/{hazard.id}")
    before = _state(db, world)
    response = client.submit(f"/hazards/{hazard.id}/void", {"version_id": str(old_version), "reason": "重复"},
                             page=f"/hazards/{hazard.id}", follow_redirects=True)
    body = response.get_data(as_text=True)
    assert "已被他人修改" in body and "整改中" in body or "rectifying" in body
    assert _state(db, world) == before


@pytest.mark.parametrize("url", ["/hazards/?unit_id=abc&status=x&level=y&date_from=zz&as_of=2025-99-01&page=-3",
                                 "/hazards/?q=" + "%" * 80, "/hazards/?sort=drop_table", "/hazards/listed?page=abc"])
def test_ledger_ignores_garbage_query_strings(db, client, world, url):
    login(client, world.users["bureau_admin"])
    assert client.get(url).status_code == 200
