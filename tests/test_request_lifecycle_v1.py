"""One request lifecycle (#13 item 3) in the ledger's areas: hazards (with the Excel pages),
directives, inspections, evidence, standards, accountability and learning.

By source inspection: no view module of these areas rolls back or catches an area's refusal
itself, every POST route goes through :mod:`hazardhub.requestflow`, forms live in each area's
``forms.py`` and the views import hazardhub modules at module level. By behaviour: a refused
operation leaves no row written (nor the one-shot claim) and tells the user why, in the words and
with the prefix the page always used.
"""
from __future__ import annotations

import ast
import io
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy_continuum import version_class

from hazardhub import clock
from hazardhub.directives import operations as directive_ops
from hazardhub.directives.models import Directive
from hazardhub.errors import DomainError
from hazardhub.formtokens import FormSubmission
from hazardhub.hazards.models import Hazard
from hazardhub.inspections import operations as inspection_ops
from hazardhub.inspections.models import SignOff
from hazardhub.runs.operations import QueueUnavailable
from hazardhub.standards import operations as catalogue
from hazardhub.standards.models import RuleGroup, StandardItem
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, make_hazard

PACKAGE = Path(__file__).resolve().parent.parent / "hazardhub"
AREAS = ("hazards", "directives", "inspections", "evidence", "standards", "accountability", "learning")
VIEW_MODULES = [PACKAGE / area / "views.py" for area in AREAS] + [PACKAGE / "hazards" / "excel_views.py"]
#: the lifecycle's entry points (``_button``: hazards' ``act`` with the page's options bound)
LIFECYCLE = {"submit", "act", "perform", "_button"}
#: POST routes that apply nothing through an operation that refuses
NOT_THROUGH_LIFECYCLE = {
    # the import writes through excel.import_rows, which answers with row errors shown in the
    # page's table (and rolls its own batch back) instead of raising a refusal
    ("excel_views.py", "import_map"),
}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _refusal_names() -> set[str]:
    names, todo = {"DomainError", QueueUnavailable.__name__}, [DomainError]
    while todo:
        for sub in todo.pop().__subclasses__():
            names.add(sub.__name__)
            todo.append(sub)
    return names


def _name(node) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _post_routes(tree: ast.Module):
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call) and _name(deco.func) == "route":
                methods = next((k.value for k in deco.keywords if k.arg == "methods"), None)
                if methods is not None and "POST" in ast.literal_eval(methods):
                    yield node


@pytest.mark.parametrize("path", VIEW_MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_view_rolls_back_or_catches_a_refusal(path):
    refusals = _refusal_names()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call):
            assert _name(node.func) != "rollback", f"{path.name}:{node.lineno} rolls back (requestflow does)"
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            types = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            caught = {_name(t) for t in types} & refusals
            assert not caught, f"{path.name}:{node.lineno} catches {caught} (requestflow does)"


@pytest.mark.parametrize("path", VIEW_MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_post_route_goes_through_the_lifecycle(path):
    for route in _post_routes(_tree(path)):
        if (path.name, route.name) in NOT_THROUGH_LIFECYCLE:
            continue
        called = {_name(n.func) for n in ast.walk(route) if isinstance(n, ast.Call)}
        assert called & LIFECYCLE, f"{path.name}:{route.name} does not use requestflow"


@pytest.mark.parametrize("area", AREAS)
def test_forms_live_in_forms_py_and_views_import_at_module_level(area):
    assert (PACKAGE / area / "forms.py").is_file()
    for path in [p for p in VIEW_MODULES if p.parent.name == area]:
        tree = _tree(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                assert not any(_name(b).endswith("Form") for b in node.bases), \
                    f"{path.name} defines the form {node.name}"
            if isinstance(node, ast.FunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("hazardhub"):
                        pytest.fail(f"{path.name}:{inner.lineno} imports {inner.module} inside {node.name}")


# ---------------------------------------------------------------------------------------------
# behaviour


def _flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return list(session.get("_flashes", []))


def _count(db, world, model) -> int:
    with tenant_bound(world.a.id):
        return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def _hazard_rows(db, world) -> tuple[int, int, int]:
    return _count(db, world, Hazard), _count(db, world, version_class(Hazard)), _count(db, world, FormSubmission)


def _major_without_plan(world) -> dict:
    with tenant_bound(world.a.id):
        item = next(i.id for i in catalogue.items_for(world.a.id) if i.number == "3.1.6")
    return {"school_id": str(world.s1.id), "found_on": clock.today().isoformat(), "found_by_name": "郑校长",
            "source": "self", "category": "校园消防", "location": "宿舍楼楼梯间", "description": "电动车楼内充电",
            "level": "major", "items": [str(item)]}


def test_a_refused_registration_writes_nothing_and_says_why_on_the_form(db, client, world):
    login(client, world.users["principal"])
    before = _hazard_rows(db, world)
    response = client.submit("/hazards/new", _major_without_plan(world))
    assert response.status_code == 200, "the form again, with the user's input"
    body = response.get_data(as_text=True)
    assert "重大事故隐患必须落实“五落实”" in body and "重大事故隐患必须填写此项。" in body
    assert "宿舍楼楼梯间" in body
    assert _hazard_rows(db, world) == before, "no hazard, no version, no spent form token"
    # the same form, completed, goes through (the refused token was not spent)
    plan = {"responsible_person": "张主任", "measures": "集中充电", "funds": "3000",
            "deadline": (clock.today() + timedelta(days=10)).isoformat(), "interim_controls": "禁止入楼",
            "contingency_plan": "火情处置预案"}
    response = client.submit("/hazards/new", {**_major_without_plan(world), **plan})
    assert response.status_code == 302
    assert [c for c, _m in _flashes(client)] == ["success", "warning"]
    assert _count(db, world, Hazard) == before[0] + 1


def test_a_refused_button_writes_nothing_and_flashes_the_refusal_in_its_own_words(db, client, world):
    hazard = make_hazard(db, world.s1, world.users["principal"])
    login(client, world.users["principal"])
    url = f"/hazards/{hazard.id}"
    old_version = hazard.version_id
    client.submit(f"{url}/start", {"version_id": str(old_version)}, page=url)
    with client.session_transaction() as session:
        session.pop("_flashes", None)
    before = _hazard_rows(db, world)
    stale = client.submit(f"{url}/void", {"version_id": str(old_version), "reason": "重复"}, page=url)
    assert stale.status_code == 302 and stale.headers["Location"].endswith(url)
    (category, message), = _flashes(client)
    assert category == "danger" and not message.startswith("操作未执行："), "a refusal is said as the operation says it"
    assert "已被他人修改" in message and "状态：" in message, "a stale button names what changed"
    assert _hazard_rows(db, world) == before


def test_an_invalid_button_keeps_the_pages_prefix(db, client, world):
    hazard = make_hazard(db, world.s1, world.users["principal"])
    login(client, world.users["principal"])
    url = f"/hazards/{hazard.id}"
    before = _hazard_rows(db, world)
    response = client.submit(f"{url}/void", {"version_id": str(hazard.version_id), "reason": ""}, page=url)
    assert response.status_code == 302
    assert _flashes(client) == [("danger", "操作未执行：请填写原因。")]
    assert _hazard_rows(db, world) == before


def test_a_refused_directive_button_flashes_with_the_prefix_and_writes_nothing(db, client, world):
    principal = world.users["principal"]
    hazard = make_hazard(db, world.s1, principal, items=["3.1.6"], location="楼梯间", description="电动车充电")
    with tenant_bound(world.a.id):
        directive = directive_ops.issue(issuer=world.t1, school=world.s1, actor=world.users["township_supervisor"],
                                        hazard_ids=[hazard.id], requirements="立即整改", signer_name="李督导",
                                        working_days=10)
        directive = directive_ops.acknowledge(directive, actor=principal, signer_name="王校长",
                                              version_id=directive.version_id) or directive
        version = directive.version_id
    login(client, principal)
    url = f"/directives/{directive.id}"
    before = (_count(db, world, version_class(Directive)), _count(db, world, FormSubmission))
    response = client.submit(f"{url}/respond", {"version_id": str(version), "note": "已整改",
                                                f"plan-{hazard.id}-funds": "很多钱"}, page=url)
    assert response.status_code == 302 and response.headers["Location"].endswith(url)
    assert _flashes(client) == [("danger", "操作未执行：整改资金应为数字（元）。")]
    assert (_count(db, world, version_class(Directive)), _count(db, world, FormSubmission)) == before
    with tenant_bound(world.a.id):
        assert db.session.execute(sa.select(Directive.status).where(Directive.id == directive.id)).scalar_one() \
            == "acknowledged"


def test_a_refused_catalogue_item_is_flashed_without_a_prefix_and_not_added(db, client, world):
    with tenant_bound(world.city.id):
        group = db.session.execute(sa.select(RuleGroup).where(RuleGroup.tenant_id == world.city.id,
                                                              RuleGroup.code == "3-1")).scalar_one()
        items = db.session.execute(sa.select(sa.func.count()).select_from(StandardItem)).scalar_one()
    login(client, world.users["city_admin"])
    response = client.submit(f"/standards/groups/{group.id}/items", {"number": "3.1.6", "text": "重复", "reason": "x"},
                             page="/standards/")
    assert response.status_code == 302
    assert _flashes(client) == [("danger", "条目编号“3.1.6”在本款中已存在。")]
    with tenant_bound(world.city.id):
        assert db.session.execute(sa.select(sa.func.count()).select_from(StandardItem)).scalar_one() == items


def test_a_refused_sign_off_is_said_beside_the_password_not_flashed(db, client, world):
    principal = world.users["principal"]
    with tenant_bound(world.a.id):
        inspection = inspection_ops.start(unit=world.s1, kind="self", actor=principal, inspected_on=clock.today(),
                                          inspectors="郑校长", agencies="")
        lines = inspection_ops.lines_of(inspection)
        inspection_ops.record_results(inspection, actor=principal, results={ln.id: ("pass", "") for ln in lines},
                                      findings={}, version_id=inspection.version_id)
        inspection_ops.finish(inspection, actor=principal, summary="", version_id=inspection.version_id)
        version = inspection.version_id
    login(client, principal)
    url = f"/inspections/{inspection.id}/sign"
    response = client.submit(url, {"password": "wrong-pass1", "version_id": str(version)})
    assert response.status_code == 200 and "密码不正确" in response.get_data(as_text=True)
    assert _flashes(client) == []
    assert _count(db, world, SignOff) == 0


def test_an_upload_refusal_is_flashed_as_the_storage_says_it(db, client, world):
    hazard = make_hazard(db, world.s1, world.users["principal"])
    login(client, world.users["principal"])
    url = f"/hazards/{hazard.id}"
    response = client.submit(f"{url}/attachments", {"stage": "before", "caption": "",
                                                    "file": (io.BytesIO(b"<html>no</html>"), "x.jpg")},
                             page=url, content_type="multipart/form-data")
    assert response.status_code == 302
    (category, message), = _flashes(client)
    assert category == "danger" and "操作未执行" not in message
