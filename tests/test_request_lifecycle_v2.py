"""One request lifecycle (#13, item 3) in the areas of campaigns, channels, reports, orgs, accounts,
runs, citywide, 随手拍, compliance, notifications and the audit log.

Read from the source (ast): no view module of these areas rolls back or catches a refusal (a
``DomainError``) in a POST view — :mod:`hazardhub.requestflow` does both; every area keeps its
forms in ``forms.py`` and its views module defines no class; no hazardhub import is written
inside a view function. Then, through the pages: a refused operation writes nothing (not the
record, not the audit chain, not even the one-time form claim) and says why.
"""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from hazardhub import ROOT
from hazardhub.audit import chain_head
from hazardhub.campaigns import operations as campaign_ops
from hazardhub.campaigns.models import Deliverable
from hazardhub.errors import DomainError
from hazardhub.formtokens import FormSubmission
from hazardhub.accounts.models import Membership
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login

AREAS = ("campaigns", "channels", "reports", "orgs", "accounts", "runs", "citywide", "publicreports",
         "compliance", "notifications", "auditlog")


def _views(area: str) -> tuple[Path, ast.Module]:
    path = ROOT / "hazardhub" / area / "views.py"
    return path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_post_view(func: ast.FunctionDef) -> bool:
    for decorator in func.decorator_list:
        if isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute) \
                and decorator.func.attr == "route":
            for keyword in decorator.keywords:
                if keyword.arg == "methods" and "POST" in ast.unparse(keyword.value):
                    return True
    return False


@pytest.mark.parametrize("area", AREAS)
def test_no_view_of_the_area_rolls_back(area):
    path, tree = _views(area)
    calls = [node.lineno for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "rollback"]
    assert not calls, f"{path.name} of {area} rolls back at lines {calls}: use hazardhub.requestflow"


@pytest.mark.parametrize("area", AREAS)
def test_no_post_view_of_the_area_catches_a_refusal(area):
    """``except CampaignError: flash…`` is requestflow's job; other handlers (a date that does not
    parse: ``ValueError``; the queue being down) wrap no operation's refusal and may stay."""
    _path, tree = _views(area)
    module = importlib.import_module(f"hazardhub.{area}.views")
    found = []
    for func in (n for n in tree.body if isinstance(n, ast.FunctionDef) and _is_post_view(n)):
        for handler in (n for n in ast.walk(func) if isinstance(n, ast.ExceptHandler) and n.type is not None):
            caught = eval(compile(ast.Expression(handler.type), "<except>", "eval"), vars(module))  # noqa: S307
            caught = caught if isinstance(caught, tuple) else (caught,)
            if any(issubclass(c, DomainError) for c in caught):
                found.append(f"{func.name}:{handler.lineno}")
    assert not found, f"{area} views catch refusals themselves: {found}"


#: POST views that apply no operation that can refuse: signing in and out (the login's own throttle
#: and lockout answer in their own words and codes), a password reset that shows the new password,
#: and the audit-chain page's read-only verification, rendered on the page
NO_REFUSAL = {("accounts", "login"), ("accounts", "logout"), ("accounts", "reset_password"), ("auditlog", "chain")}


@pytest.mark.parametrize("area", AREAS)
def test_every_post_view_of_the_area_goes_through_requestflow(area):
    _path, tree = _views(area)
    lifecycle = {"act", "submit", "submit_form", "perform"}
    missing = [func.name for func in tree.body
               if isinstance(func, ast.FunctionDef) and _is_post_view(func) and (area, func.name) not in NO_REFUSAL
               and not any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in lifecycle
                           for n in ast.walk(func))]
    assert not missing, f"{area} POST views outside hazardhub.requestflow: {missing}"


@pytest.mark.parametrize("area", AREAS)
def test_the_area_keeps_its_forms_in_forms_py(area):
    path, tree = _views(area)
    assert (ROOT / "hazardhub" / area / "forms.py").is_file(), f"{area} has no forms.py"
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert not classes, f"{area}/views.py defines {classes}: forms belong in forms.py"
    helpers = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_first_error"]
    assert not helpers, f"{area}/views.py has its own _first_error (hazardhub.forms.first_error)"


@pytest.mark.parametrize("area", AREAS)
def test_the_area_views_import_hazardhub_at_module_level(area):
    path, tree = _views(area)
    inner = [f"{func.name}:{node.lineno}"
             for func in ast.walk(tree) if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
             for node in ast.walk(func)
             if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hazardhub")
             or isinstance(node, ast.Import) and any(a.name.startswith("hazardhub") for a in node.names)]
    assert not inner, f"{path.name} of {area} imports hazardhub inside functions: {inner}"


# ---------------------------------------------------------------------------------------------
# through the pages


def _flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return list(session.get("_flashes", []))


def _claims(tenant_id: int) -> int:
    from hazardhub.extensions import db

    with tenant_bound(tenant_id):
        return db.session.execute(sa.select(sa.func.count()).select_from(FormSubmission)).scalar_one()


def test_a_refused_submission_writes_nothing_and_says_why(db, client, world):
    """A township submits its implementation plan with nothing in it: refused by the operation
    after the one-shot claim was flushed; the claim, the record and the chain stay as they were."""
    supervisor = world.users["township_supervisor"]
    with tenant_bound(world.a.id):
        campaign = campaign_ops.create_from_template(world.a, 2025, world.users["bureau_admin"])
        item = next(d for d in campaign_ops.deliverables_of(campaign)
                    if d.unit_id == world.t1.id and d.spec.name == "实施方案")
        item_id, version = item.id, item.version_id
    head, claims = chain_head(world.a.id), _claims(world.a.id)
    login(client, supervisor)
    page = f"/campaigns/deliverables/{item_id}"
    response = client.submit(f"{page}/submit", {"version_id": str(version)}, page=page)
    assert response.status_code == 302 and response.headers["Location"].endswith(page)
    flashes = _flashes(client)
    assert len(flashes) == 1 and flashes[0][0] == "danger" and flashes[0][1].startswith("请先填写报送内容"), flashes
    assert chain_head(world.a.id) == head, "a refusal seals nothing onto the chain"
    assert _claims(world.a.id) == claims, "the one-time form claim was rolled back with the refusal"
    with tenant_bound(world.a.id):
        again = db.session.execute(sa.select(Deliverable).where(Deliverable.id == item_id)
                                   .execution_options(populate_existing=True)).unique().scalar_one()
        assert (again.status, again.version_id, again.submitted_at) == ("draft", version, None)


def test_a_refused_grant_writes_nothing_and_says_why(db, client, world):
    """The same role twice on the same unit: the second grant is refused, flashed, nothing written."""
    admin, principal = world.users["bureau_admin"], world.users["principal"]
    with tenant_bound(world.a.id):
        held = db.session.execute(sa.select(Membership).where(Membership.user_id == principal.id,
                                                              Membership.is_active.is_(True))).scalars().first()
        unit_id, role = held.unit_id, held.role
        count = db.session.execute(sa.select(sa.func.count()).select_from(Membership)).scalar_one()
    head = chain_head(world.a.id)
    login(client, admin)
    response = client.submit(f"/users/{principal.id}/memberships", {"unit_id": str(unit_id), "role": role},
                             page=f"/users/{principal.id}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/users/{principal.id}")
    assert _flashes(client) == [("danger", "该用户已在此单位担任此角色。")]
    assert chain_head(world.a.id) == head
    with tenant_bound(world.a.id):
        assert db.session.execute(sa.select(sa.func.count()).select_from(Membership)).scalar_one() == count
