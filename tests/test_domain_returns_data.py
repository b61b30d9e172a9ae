"""Domain code returns data (#13, item 4): operations, reminders and jobs need no request.

Operations and jobs return kinds, codes and ids; views and templates turn them into words and
links. The first test reads the source (by ``ast``, so a comment or a docstring does not count)
and fails when an operations module, the reminders or a job in ``worker/`` reaches for the web:
``url_for``, ``abort``, ``request`` or a request context. The others check that the data is data:
the compliance matrix's cells and the reminders carry codes and link targets (endpoint + ids),
what is due is decided by the codes (not by comparing Chinese words), and the links built without
a request are the ones ``url_for`` builds in a page.
"""
from __future__ import annotations

import ast
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from flask import has_request_context, url_for
from markupsafe import escape

from hazardhub import ROOT, clock
from hazardhub.channels import links
from hazardhub.channels.links import Target, to
from hazardhub.compliance import operations as compliance
from hazardhub.compliance.reminders import TEXTS, Reminder, reminders_for
from hazardhub.notifications import operations as notification_ops
from hazardhub.notifications.models import Notification
from hazardhub.orgs.operations import HomeCard, OutOfReach, home_cards, reading_roots_or_403
from hazardhub.tenancy import tenant_bound

DAY = date(2025, 3, 10)

#: what domain code may not use: building links, answering HTTP, the request and its user (``g``
#: and ``current_app`` are the app context, which jobs have)
WEB_NAMES = {"url_for", "abort", "request", "has_request_context", "test_request_context", "redirect",
             "flash", "make_response", "session", "current_user"}
WEB_MODULES = {"flask", "werkzeug.exceptions", "flask_login"}
#: attributes that open a request context or build a link, however the object was reached
WEB_ATTRIBUTES = {"test_request_context", "url_for", "has_request_context"}


def _domain_modules() -> list:
    """Every operations module, the reminders, and every module of ``worker/``."""
    paths = sorted((ROOT / "hazardhub").glob("**/operations.py"))
    paths += sorted((ROOT / "hazardhub").glob("**/reminders.py"))
    paths += sorted((ROOT / "worker").glob("*.py"))
    return paths


def _web_uses(path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in WEB_MODULES:
            found += [f"line {node.lineno}: from {node.module} import {a.name}"
                      for a in node.names if a.name in WEB_NAMES]
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if a.name == "werkzeug.exceptions"]
        elif isinstance(node, ast.Attribute) and node.attr in WEB_ATTRIBUTES:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr in {"abort", "request", "url_for"} \
                and isinstance(node.value, ast.Name) and node.value.id == "flask":
            found.append(f"line {node.lineno}: flask.{node.attr}")
    return found


def test_the_domain_modules_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in _domain_modules()}
    assert {"hazardhub/compliance/reminders.py", "hazardhub/notifications/operations.py",
            "hazardhub/orgs/operations.py", "hazardhub/runs/operations.py", "worker/jobs.py"} <= names


@pytest.mark.parametrize("path", _domain_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_operation_reminder_or_job_reaches_for_the_web(path):
    assert _web_uses(path) == [], f"{path.relative_to(ROOT)} uses the web; return data instead"


def test_the_source_check_sees_what_it_forbids(tmp_path):
    """The checker itself: each forbidden way in is caught, a docstring mentioning them is not."""
    bad = tmp_path / "operations.py"
    bad.write_text('"""Not url_for, abort or request here."""\n'
                   "from flask import abort, current_app, url_for\n"
                   "import flask\n"
                   "def f():\n"
                   "    with current_app.test_request_context('/'):\n"
                   "        return flask.request\n", encoding="utf-8")
    found = _web_uses(bad)
    assert len(found) == 4, found
    good = tmp_path / "reminders.py"
    good.write_text('"""A request is mentioned; url_for too."""\nfrom flask import current_app\n', encoding="utf-8")
    assert _web_uses(good) == []


# ---------------------------------------------------------------------------------------------
# the compliance matrix: codes, with the words in one mapping


def test_every_cell_carries_a_code_and_its_words_come_from_the_one_mapping(db, world):
    with tenant_bound(world.a.id):
        matrix = compliance.build([world.a_root], "2025-03", DAY)
    cells = [c for row in matrix.schools
             for c in (row.self_check, row.township_check, row.staff_learning, row.principal_learning)]
    cells += [row.principals_session for row in matrix.townships] + [row.cell for row in matrix.leaders]
    cells += [c for _, c in matrix.bureau_learning]
    assert cells
    for cell in cells:
        assert cell.code in compliance.CELL_LABELS
        assert cell.text == compliance.CELL_LABELS[cell.code].format(n=cell.count)
    rows = {r.unit.name: r for r in matrix.schools}
    assert rows["一镇第一小学"].self_check.code == "self_due"  # the month is running: amber, not missing
    assert rows["区实验中学"].township_check.code == "not_applicable"  # no township above it
    with tenant_bound(world.a.id):
        after = compliance.build([world.a_root], "2025-03", date(2025, 4, 2))
    assert {r.unit.name: r for r in after.schools}["一镇第一小学"].self_check.code == "self_missing"


def test_every_cell_code_has_words_and_every_missing_code_a_due_twin():
    for code, words in compliance.CELL_LABELS.items():
        assert words.format(n=3)
        if code.endswith("_missing"):
            assert code.removesuffix("_missing") + "_due" in compliance.CELL_LABELS


# ---------------------------------------------------------------------------------------------
# reminders: kind, values, target and key


def _as(user):
    from hazardhub.accounts.auth import load_user_for_job

    return load_user_for_job(user.id)


def test_a_reminder_is_a_kind_a_target_and_a_key_and_needs_no_request(app, db, world):
    assert not has_request_context()
    with tenant_bound(world.a.id):
        due = reminders_for(_as(world.users["principal"]), DAY)
    selfcheck = next(r for r in due if r.kind == "selfcheck")
    assert selfcheck == Reminder("warning", "selfcheck",
                                 Target("inspections.start", {"unit_id": world.s1.id, "kind": "self"}),
                                 f"selfcheck:2025-03:{world.s1.id}", {"unit": "一镇第一小学"})
    assert selfcheck.text == "一镇第一小学：本月校长带队重大事故隐患自查尚未开展"
    assert not hasattr(selfcheck, "url"), "the link is built by whoever shows the reminder"
    for reminder in due:
        assert reminder.kind in TEXTS and isinstance(reminder.target, Target) and reminder.key
        assert all(isinstance(v, (str, int, date)) for v in reminder.params.values())


def test_what_is_due_is_decided_by_the_cell_code_not_its_words(app, db, world, monkeypatch):
    """Rewording a cell changes what the matrix says, not what is due."""
    monkeypatch.setitem(compliance.CELL_LABELS, "self_due", "（改写后的措辞）")
    monkeypatch.setitem(compliance.CELL_LABELS, "visit_due", "（改写后的措辞）")
    with tenant_bound(world.a.id):
        principal = reminders_for(_as(world.users["principal"]), DAY)
        admin = reminders_for(_as(world.users["bureau_admin"]), DAY)
        matrix = compliance.build([world.a_root], "2025-03", DAY)
    assert {r.unit.name: r for r in matrix.schools}["一镇第一小学"].self_check.text == "（改写后的措辞）"
    assert [r.key for r in principal if r.kind == "selfcheck"] == [f"selfcheck:2025-03:{world.s1.id}"]
    assert any(r.kind == "selfcheck_all" and r.params["pending"] >= 1 for r in admin)


def test_every_reminder_kind_has_its_sentence_and_no_sentence_is_compared():
    source = (ROOT / "hazardhub" / "compliance" / "reminders.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    compared = [node for node in ast.walk(tree) if isinstance(node, ast.Compare)
                for value in [node.left, *node.comparators]
                if isinstance(value, ast.Constant) and isinstance(value.value, str)
                and any("\u4e00" <= ch <= "\u9fff" for ch in value.value)]
    assert compared == [], "decide by codes, not by comparing Chinese words"
    kinds = {node.args[1].value for node in ast.walk(tree)
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Reminder"
             and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)}
    assert kinds and kinds <= set(TEXTS)


# ---------------------------------------------------------------------------------------------
# links: built without a request, the same as url_for in a page


TARGETS = [
    to("hazards.index", status="overdue"),
    to("hazards.index", status="awaiting_acceptance"),
    to("hazards.show", hazard_id=7),
    to("inspections.start", unit_id=3, kind="self"),
    to("inspections.start", kind="unannounced"),
    to("inspections.show", inspection_id=11),
    to("compliance.index", month="2025-03"),
    to("directives.show", directive_id=5),
    to("campaigns.deliverable", deliverable_id=9),
    to("campaigns.show", campaign_id=2),
    to("notifications.index"),
    to("orgs.show", unit_id=4),
]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.endpoint)
def test_a_path_built_without_a_request_is_the_pages_url(app, target):
    with app.app_context():
        assert not has_request_context()
        built = links.path(target)
    with app.test_request_context("/"):
        assert built == url_for(target.endpoint, **target.args)
    if target == to("hazards.index", status="overdue"):
        assert built == links.OVERDUE_HAZARDS
    if target.endpoint == "hazards.show":
        assert built == links.hazard(7)
    if target.endpoint == "directives.show":
        assert built == links.directive(5)
    if target.endpoint == "notifications.index":
        assert built == links.INBOX


def test_the_daily_refresh_stores_the_paths_the_page_links_without_a_request(app, db, world):
    assert not has_request_context()
    result = notification_ops.refresh_due(world.a.id, DAY)
    assert result["created"] > 0
    with tenant_bound(world.a.id):
        stored = db.session.execute(sa.select(Notification).where(
            Notification.user_id == world.users["principal"].id,
            Notification.key == f"due:selfcheck:2025-03:{world.s1.id}")).scalar_one()
    with app.test_request_context("/"):
        assert stored.url == url_for("inspections.start", unit_id=world.s1.id, kind="self")
    assert stored.text == "一镇第一小学：本月校长带队重大事故隐患自查尚未开展"


def test_home_cards_name_their_pages_and_the_home_page_links_them(app, db, client, world):
    from tests.fixtures.factories import login

    user = _as(world.users["bureau_admin"])
    with tenant_bound(world.a.id):
        cards = home_cards(user)
    assert cards and all(isinstance(c, HomeCard) and isinstance(c.target, Target) for c in cards)
    assert cards[0] == HomeCard("隐患排查治理台账", "登记、整改、验收销号；按单位、状态、等级筛选，导出 Excel",
                                Target("hazards.index", {}))
    login(client, world.users["bureau_admin"])
    page = client.get("/").get_data(as_text=True)
    with app.test_request_context("/"):
        hrefs = [url_for(c.target.endpoint, **c.target.args) for c in cards]
    positions = [page.index(f'href="{href}">\n      <div class="card-body">\n        '
                            f'<h2 class="h6 card-title text-primary">{card.title}</h2>')
                 for href, card in zip(hrefs, cards)]
    assert positions == sorted(positions), "the cards in their order, each with its link"


def test_the_home_page_words_and_links_each_reminder(app, db, client, world):
    from tests.fixtures.factories import login

    with clock.frozen(datetime(2025, 3, 10, 2, 0)):
        with tenant_bound(world.a.id):
            due = reminders_for(_as(world.users["principal"]), DAY)
        login(client, world.users["principal"])
        page = client.get("/").get_data(as_text=True)
    assert due
    with app.test_request_context("/"):
        for reminder in due:
            href = escape(url_for(reminder.target.endpoint, **reminder.target.args))
            assert f'href="{href}">{escape(reminder.text)}</a>' in page


# ---------------------------------------------------------------------------------------------
# a permission signal instead of abort(403)


def test_reaching_no_unit_is_a_domain_signal_the_app_answers_with_its_403_page(app, db, world):
    from werkzeug.exceptions import Forbidden

    class Nobody:
        active_memberships: list = []
        tenant_id = world.a.id
        memberships: list = []

    with tenant_bound(world.a.id), pytest.raises(OutOfReach):
        reading_roots_or_403(Nobody())
    with app.test_request_context("/hazards/"):
        signal = app.make_response(app.handle_user_exception(OutOfReach()))
        aborted = app.make_response(app.handle_user_exception(Forbidden()))
    assert signal.status_code == aborted.status_code == 403
    assert signal.get_data(as_text=True) == aborted.get_data(as_text=True)
    assert "无权操作" in signal.get_data(as_text=True)
