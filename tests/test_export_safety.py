"""Every spreadsheet export writes user text as inert text (issue #12, item 3).

A unit renamed ``=HYPERLINK("http://…","点击查看")`` used to become a live formula in the compliance
and unit-tree exports. Here every export the application has — found from the URL map and the
background-run kinds, so a new one that is not walked here fails — is produced with formula-like
names and text fields (with a control character inside), and every cell of every sheet is checked.
"""
from __future__ import annotations

import io
import re
import zipfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from hazardhub import clock, spreadsheets
from hazardhub.hazards import excel
from hazardhub.hazards.models import Hazard
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, make_hazard, make_tenant, make_unit

#: what an attacker types; each gets a bell character (\x07) inside before it is stored
EVIL = ('=HYPERLINK("http://evil.example","点击查看")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1")


def bell(text: str) -> str:
    return text[:2] + "\x07" + text[2:]


def shown(text: str) -> str:
    """What the cell must hold: the text minus control characters, a carriage return as a line break."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x07", "")


EXPECTED = [shown(t) for t in EVIL]
ROOT = Path(__file__).resolve().parent.parent


def formula_like(text: str) -> bool:
    """Independent of the writer's own rule: what Excel/WPS/LibreOffice would evaluate on edit."""
    return text[:1] in ("\t", "\n", "\r") or text.lstrip(" \t\n\u3000\u00a0")[:1] in tuple("=+-@＝＋－＠")


def check_workbook(data: bytes, must_contain: list[str], label: str) -> None:
    """No formula anywhere; every text cell a string, free of control characters, the formula-like
    ones kept text by quotePrefix; each expected text present as an exact cell."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                xml = archive.read(name).decode("utf-8")
                assert not re.search(r"<(\w+:)?f[ >/]", xml), f"{label}: a formula element in {name}"
    wb = load_workbook(io.BytesIO(data))  # formulas would come back as "=…" with data_type "f"
    texts: dict[str, object] = {}
    for ws in wb.worksheets:
        assert not re.search(r"[\x00-\x1f\x7f]", ws.title), (label, ws.title)
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (label, ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert cell.data_type == "s", (label, ws.title, cell.coordinate, cell.value)
                    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", cell.value), (label, cell.coordinate)
                    if formula_like(cell.value):
                        assert cell.quotePrefix, (label, ws.title, cell.coordinate, cell.value)
                    texts.setdefault(cell.value, cell)
    for text in must_contain:
        assert text in texts, f"{label}: {text!r} is not a cell (cells: {sorted(t for t in texts if len(t) < 60)[:40]})"


# ---------------------------------------------------------------------------------------------
# the writer itself


def test_the_writer_keeps_types_and_makes_text_inert():
    book = spreadsheets.Book(title="=标题\x07")
    sheet = book.sheet("说明:[1]\x07", widths=(10, 20), freeze="A2")
    sheet.append(["#N/A", " =1", "＝1", "普通文字", "-", 5, 2.5, Decimal("1.50"), date(2025, 4, 1), True,
                  float("nan"), None, ""])
    sheet.append([spreadsheets.Cell("=x", spreadsheets.Style(bold=True), comment="说明\x01")])
    wb = load_workbook(io.BytesIO(book.to_bytes()))
    assert wb.sheetnames == ["说明__1_"]
    assert wb.properties.title == "=标题"
    row = [c for c in wb.worksheets[0][1]]
    assert [(c.value, c.data_type) for c in row[:5]] == [("#N/A", "s"), (" =1", "s"), ("＝1", "s"), ("普通文字", "s"),
                                                         ("-", "s")]
    assert [c.quotePrefix for c in row[:5]] == [False, True, True, False, True]
    assert (row[5].value, row[6].value, row[7].value, row[9].value) == (5, 2.5, 1.5, True)
    assert row[5].data_type == row[7].data_type == "n" and row[8].value.date() == date(2025, 4, 1)
    assert len(row) == 10  # NaN, None and "" write no cell
    cell = wb.worksheets[0]["A2"]
    assert (cell.value, cell.data_type, cell.quotePrefix, cell.font.b) == ("=x", "s", True, True)
    assert cell.comment.text == "说明"
    assert spreadsheets.clean_text("a\r\nb\rc\x00\x1f\x7f\x85\ud800d\te\nf") == "a\nb\ncd\te\nf"


def test_no_module_writes_or_reads_spreadsheets_behind_the_writer():
    """One writer, one reader: no module but hazardhub/spreadsheets.py builds workbooks or cells
    with openpyxl (or loads a workbook) itself."""
    pattern = re.compile(r"\bWorkbook\s*\(|from openpyxl import[^\n]*\b(Workbook|load_workbook)\b|WriteOnlyCell"
                         r"|openpyxl\.(styles|comments|cell)\b|load_workbook\s*\(|csv\.writer|DictWriter")
    offenders = []
    for folder in ("hazardhub", "worker"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "hazardhub" / "spreadsheets.py":
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


# ---------------------------------------------------------------------------------------------
# every export


@pytest.fixture
def hostile(db, world):
    """Six schools, six districts, hazards, a leader and an acceptor, all with formula-like text."""
    u = world.users
    officer, principal, leader = u["safety_officer"], u["principal"], u["bureau_leader"]
    with tenant_bound(world.a.id):
        township = make_unit(db, world.a_root, kind="township_center", name=bell(EVIL[0]) + "镇")
        schools = [make_unit(db, township if i % 2 else world.t1, name=bell(text), address=bell(EVIL[(i + 1) % 6]),
                             contact_name=bell(EVIL[(i + 2) % 6])[:40], contact_phone=bell(EVIL[(i + 3) % 6])[:30])
                   for i, text in enumerate(EVIL)]
        for user, text in ((principal, EVIL[3]), (leader, EVIL[0]), (officer, EVIL[2])):
            user.display_name = bell(text)[:40]  # display names are at most 40 characters
        db.session.commit()
    hazards = []
    for i, school in enumerate(schools):
        text = bell(EVIL[i])
        hazards.append(make_hazard(db, school, u["bureau_admin"], found_by_name=text, location=text, description=text,
                                   measures=text, responsible_person=text[:60]))
    # accepted by the principal, whose display name is formula-like (the 验收人 column)
    from hazardhub.hazards import operations as hazard_ops

    with tenant_bound(world.a.id):
        hazard = make_hazard(db, world.s1, officer, found_on=clock.today() - timedelta(days=6))
        hazard_ops.report_rectification(hazard, actor=officer, rectified_on=hazard.found_on + timedelta(days=1),
                                        note="已整改", version_id=hazard.version_id)
        hazard_ops.accept(hazard, actor=principal, accepted_on=hazard.found_on + timedelta(days=2), note="合格",
                          version_id=hazard.version_id)
        from hazardhub.inspections import operations as inspection_ops

        inspection_ops.assign_leader(leader=leader, unit=schools[0], actor=u["bureau_admin"])
    for i, text in enumerate(EVIL):
        make_tenant(db, f"evil{i}x{world.city.id}", parent=world.city, name=bell(text))
    world.city.name = bell(EVIL[1])
    db.session.commit()
    from hazardhub.tenancy import invalidate_tenant_cache

    invalidate_tenant_cache()
    return {"schools": schools, "hazards": hazards}


def _run_file(client, db, world, drain_jobs, kind: str) -> bytes:
    from hazardhub.runs import operations as run_ops
    from hazardhub.runs.models import ReportRun

    with tenant_bound(world.a.id):
        run_id = run_ops.request_run(kind, user=world.users["bureau_admin"], unit=world.a_root).id
    drain_jobs()
    with tenant_bound(world.a.id):
        run = db.session.execute(sa.select(ReportRun).where(ReportRun.id == run_id)
                                 .execution_options(populate_existing=True)).scalar_one()
        assert run.status == "finished", run.error
    login(client, world.users["bureau_admin"])
    download = client.get(f"/runs/{run_id}/download")
    assert download.status_code == 200 and download.data[:2] == b"PK"
    return download.data


def _get(client, world, role: str, url: str) -> bytes:
    login(client, world.users[role])
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == spreadsheets.XLSX_MIME and response.data[:2] == b"PK"
    return response.data


#: every spreadsheet export: (URL endpoint or run kind) -> how to produce it
PRODUCERS = {
    "endpoint:ledger_excel.export": lambda c, db, w, dj: _get(c, w, "bureau_admin", "/hazards/export.xlsx"),
    "endpoint:compliance.export": lambda c, db, w, dj: _get(c, w, "bureau_admin", "/compliance/export.xlsx"),
    "endpoint:citywide.export": lambda c, db, w, dj: _get(
        c, w, "city_viewer", f"/citywide/export.xlsx?month={clock.today():%Y-%m}"),
    "run:ledger_xlsx": lambda c, db, w, dj: _run_file(c, db, w, dj, "ledger_xlsx"),
    "run:unit_tree_xlsx": lambda c, db, w, dj: _run_file(c, db, w, dj, "unit_tree_xlsx"),
    # the principals' one-time passwords of a unit import (its endpoint: tests/test_unit_onboarding.py)
    "endpoint:orgs.import_passwords": lambda c, db, w, dj: _passwords_file(),
}


def _passwords_file() -> bytes:
    from hazardhub.orgs.onboarding import Principals, passwords_workbook

    hostile = Principals(created=[(bell(t), f"S{i}", bell(t), f"xz-s{i}", "Pw-123456") for i, t in enumerate(EVIL)])
    return passwords_workbook(hostile, bell(EVIL[0]))


def test_every_spreadsheet_export_is_walked(app):
    found = {f"endpoint:{rule.endpoint}" for rule in app.url_map.iter_rules()
             if rule.rule.endswith((".xlsx", ".xls", ".csv"))}
    from hazardhub.runs.operations import RUN_KINDS

    found |= {f"run:{kind}" for kind, (_job, _title, suffix) in RUN_KINDS.items() if suffix in (".xlsx", ".xls", ".csv")}
    assert found == set(PRODUCERS), "a spreadsheet export this test does not walk (add it to PRODUCERS)"


@pytest.mark.parametrize("export", sorted(PRODUCERS))
def test_a_formula_like_name_is_inert_text_in_every_export(client, db, world, hostile, drain_jobs, export):
    data = PRODUCERS[export](client, db, world, drain_jobs)
    check_workbook(data, EXPECTED, export)


def test_a_formula_like_ledger_round_trips_through_the_import(client, db, world):
    """The export keeps the text exactly (no apostrophe added), so importing it restores it."""
    officer = world.users["safety_officer"]
    texts = EVIL[:4]
    for text in texts:
        make_hazard(db, world.s1, officer, found_by_name=text, location=text, description=text, measures=text,
                    responsible_person=text)
    login(client, world.users["bureau_admin"])
    data = client.get(f"/hazards/export.xlsx?unit_id={world.s1.id}").data
    check_workbook(data, list(texts), "ledger")
    from tests.test_ledger_excel import errors_of, import_file

    response = import_file(client, data, world.s2, name="export.xlsx")
    assert "导入完成" in response.get_data(as_text=True), errors_of(response)
    with tenant_bound(world.a.id):
        copies = db.session.execute(sa.select(Hazard).where(Hazard.school_id == world.s2.id)
                                    .execution_options(populate_existing=True)).scalars().all()
    assert sorted((h.found_by_name, h.location, h.description, h.measures, h.responsible_person) for h in copies) == \
        sorted((t, t, t, t, t) for t in texts)
    assert excel.XLSX_MIME == spreadsheets.XLSX_MIME
