"""Imports cannot tie up a worker (issue #12, item 7).

An .xlsx of 1.5 million blank rows kept a web worker busy for 150 s (blank rows were skipped
before they were counted), and the mapping page re-read the pending file on every request. Now
every row read counts, blank ones too, reading stops at the configured rows and seconds with a
Chinese message and nothing written, the sheet's <dimension> is not trusted, and the mapping step
works on the rows parsed at upload.
"""
from __future__ import annotations

import io
import re
import time
import zipfile
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import Workbook

from hazardhub import clock, spreadsheets
from hazardhub.hazards import excel
from tests.fixtures.factories import login
from tests.test_ledger_excel import (IMPORT_HEADER, default_mapping, hazards_of, import_rows_data, transaction_ids,
                                     upload)

BLANK_ROWS = 1_500_000

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"'
    ' Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="台账" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"'
    ' Target="worksheets/sheet1.xml"/></Relationships>')


def _cell(ref: str, value) -> str:
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'


def sheet_xlsx(rows: list[list], *, blank_rows: int = 0, dimension: str | None = None) -> bytes:
    """A workbook written as XML inside a zip (openpyxl would take minutes for a million rows):
    the given rows, then ``blank_rows`` empty formatted rows, under the claimed ``dimension``."""
    from openpyxl.utils import get_column_letter

    head = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">']
    if dimension:
        head.append(f'<dimension ref="{dimension}"/>')
    head.append("<sheetData>")
    for r, row in enumerate(rows, start=1):
        cells = "".join(_cell(f"{get_column_letter(c)}{r}", v) for c, v in enumerate(row, start=1) if v is not None)
        head.append(f'<row r="{r}">{cells}</row>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write("".join(head).encode("utf-8"))
            first = len(rows) + 1
            for start in range(first, first + blank_rows, 20000):
                stop = min(start + 20000, first + blank_rows)
                sheet.write("".join(f'<row r="{r}" spans="1:18" s="1" customFormat="1"/>'
                                    for r in range(start, stop)).encode("ascii"))
            sheet.write(b"</sheetData></worksheet>")
    return buffer.getvalue()


def ledger_rows(n: int = 2) -> list[list]:
    day = clock.today() - timedelta(days=3)
    return [list(IMPORT_HEADER[:5])] + [[day.isoformat(), "王老师", f"教学楼{i}楼", "校园消防", "灭火器过期"]
                                        for i in range(1, n + 1)]


def post_file(client, url: str, data: bytes, filename: str, fields: dict | None = None):
    """POST a form with one file, like ``client.submit``, but encoded in memory: for a body over
    500 kB Werkzeug's test client spools it to a temporary file it never closes."""
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    from tests.fixtures.app import CSRF_RE, form_token_for

    html = client.get(url).get_data(as_text=True)
    values = {"csrf_token": CSRF_RE.search(html).group(1), **(fields or {}),
              "file": FileStorage(io.BytesIO(data), filename=filename, content_type="application/octet-stream")}
    token = form_token_for(html, url, url)
    if token:
        values["form_token"] = token
    boundary, body = encode_multipart(values)
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def _imports_folder(app, world):
    from pathlib import Path

    return Path(app.config["HAZARDHUB_STORAGE_PATH"]) / "imports" / str(world.a.id)


def _files(folder) -> list[str]:
    return sorted(p.name for p in folder.glob("*")) if folder.exists() else []


@pytest.fixture(scope="module")
def blank_workbook() -> bytes:
    return sheet_xlsx(ledger_rows(1), blank_rows=BLANK_ROWS, dimension=f"A1:R{BLANK_ROWS + 2}")


# ---------------------------------------------------------------------------------------------
# the 1.5-million-blank-row workbook


def test_a_workbook_of_a_million_blank_rows_is_refused_at_once_by_the_ledger_import(app, client, db, world,
                                                                                      blank_workbook):
    limit = app.config["HAZARDHUB_IMPORT_MAX_SHEET_ROWS"]
    assert 1000 <= limit < BLANK_ROWS
    login(client, world.users["safety_officer"])
    folder = _imports_folder(app, world)
    files, transactions = _files(folder), transaction_ids(db)
    started = time.perf_counter()
    response = post_file(client, "/hazards/import", blank_workbook, "台账.xlsx", {"school_id": str(world.s1.id)})
    elapsed = time.perf_counter() - started
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"文件超过 {limit} 行（含空行），请删除多余的空行或分批导入" in page
    assert elapsed < 5, f"the refusal took {elapsed:.1f} s"
    # nothing written: no pending upload, no file, no hazard, no transaction
    assert client.get("/hazards/import/map").status_code == 302
    assert _files(folder) == files
    assert hazards_of(db, world.a.id) == []
    assert transaction_ids(db) == transactions


def test_a_workbook_of_a_million_blank_rows_is_refused_at_once_by_the_unit_import(app, client, db, world,
                                                                                   blank_workbook):
    from tests.test_unit_import import HEADER, unit_state, version_rows

    data = sheet_xlsx([HEADER, ["X1", world.a_root.code, "新学校", "学校/幼儿园"]], blank_rows=BLANK_ROWS)
    login(client, world.users["bureau_admin"])
    state, versions = unit_state(db, world.a.id), version_rows(db)
    started = time.perf_counter()
    response = post_file(client, "/units/import", data, "units.xlsx")
    elapsed = time.perf_counter() - started
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "导入未执行" in page
    assert f"文件超过 {app.config['HAZARDHUB_IMPORT_MAX_SHEET_ROWS']} 行（含空行）" in page, re.findall("<td>(.*?)</td>", page)
    assert elapsed < 5, f"the refusal took {elapsed:.1f} s"
    assert unit_state(db, world.a.id) == state
    assert version_rows(db) == versions


def test_a_csv_of_a_million_blank_lines_is_refused_by_the_unit_import(app, client, db, world):
    from tests.test_unit_import import HEADER, unit_state

    data = (",".join(HEADER) + "\n" + f"X1,{world.a_root.code},新学校,学校/幼儿园\n").encode() + b",,,\n" * BLANK_ROWS
    login(client, world.users["bureau_admin"])
    state = unit_state(db, world.a.id)
    started = time.perf_counter()
    response = post_file(client, "/units/import", data, "units.csv")
    assert time.perf_counter() - started < 5
    assert "行（含空行），请删除多余的空行或分批导入" in response.get_data(as_text=True)
    assert unit_state(db, world.a.id) == state


def test_blank_rows_count_below_the_limit_too(app, monkeypatch):
    """The limit counts rows read, not rows with data: 10 data rows under 100 blank ones pass at
    a limit of 200 and are refused at 50."""
    data = sheet_xlsx(ledger_rows(10), blank_rows=100)
    table = spreadsheets.read_xlsx(data, spreadsheets.ReadLimits(rows=200, seconds=30))
    assert [line for line, _values in table] == list(range(1, 12))
    with pytest.raises(spreadsheets.UnreadableFile, match="文件超过 50 行（含空行）"):
        spreadsheets.read_xlsx(data, spreadsheets.ReadLimits(rows=50, seconds=30))


def test_the_time_budget_stops_a_slow_read(app, client, db, world, monkeypatch):
    monkeypatch.setitem(app.config, "HAZARDHUB_IMPORT_MAX_SECONDS", 0.001)
    monkeypatch.setitem(app.config, "HAZARDHUB_IMPORT_MAX_SHEET_ROWS", 10 ** 9)
    login(client, world.users["safety_officer"])
    response = post_file(client, "/hazards/import", sheet_xlsx(ledger_rows(2), blank_rows=200_000), "台账.xlsx",
                         {"school_id": str(world.s1.id)})
    page = response.get_data(as_text=True)
    assert "文件读取超过 0.001 秒仍未完成" in page and "分批导入" in page
    assert client.get("/hazards/import/map").status_code == 302
    assert hazards_of(db, world.a.id) == []


# ---------------------------------------------------------------------------------------------
# a lying <dimension>


def test_a_small_dimension_does_not_hide_rows():
    """openpyxl stops at the claimed last row; every row is read all the same."""
    data = sheet_xlsx(ledger_rows(6), dimension="A1:E2")
    table = spreadsheets.read_xlsx(data, spreadsheets.ReadLimits(rows=100, seconds=30))
    assert len(table) == 7 and table[-1][1][2] == "教学楼6楼"


def test_a_huge_dimension_does_not_pad_rows():
    """A claimed A1:XFD1048576 makes openpyxl pad every row to 16,384 cells: 3,000 rows took
    about 9 s instead of 0.5 s."""
    data = sheet_xlsx(ledger_rows(3000), dimension="A1:XFD1048576")
    table = spreadsheets.read_xlsx(data, spreadsheets.ReadLimits(rows=10 ** 6, seconds=3))
    assert len(table) == 3001 and {len(values) for _line, values in table} == {5}


def test_too_many_shared_strings_are_refused_before_loading_them(monkeypatch):
    monkeypatch.setattr(spreadsheets, "MAX_SHARED_STRINGS", 3)
    wb = Workbook()
    for i in range(5):
        wb.active.append([f"文字{i}"])
    buffer = io.BytesIO()
    wb.save(buffer)
    # openpyxl writes inline strings; give the file a shared-string table as Excel writes one,
    # under a part name other than Excel's (the content types name it)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    override = ('<Override PartName="/xl/strings9.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')
    with zipfile.ZipFile(out, "w") as archive:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "[Content_Types].xml":
                content = content.replace(b"</Types>", override.encode() + b"</Types>")
            archive.writestr(item, content)
        archive.writestr("xl/strings9.xml", '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                         + "".join(f"<si><t>s{i}</t></si>" for i in range(4)) + "</sst>")
    with pytest.raises(spreadsheets.UnreadableFile, match="不同文字超过 3 项"):
        spreadsheets.read_xlsx(out.getvalue(), spreadsheets.ReadLimits())


# ---------------------------------------------------------------------------------------------
# parse once


def test_the_mapping_step_uses_the_rows_parsed_at_upload(app, client, db, world, monkeypatch):
    calls = []
    real = spreadsheets.read_book
    monkeypatch.setattr(spreadsheets, "read_book", lambda *a, **k: calls.append(1) or real(*a, **k))
    wb = Workbook()
    wb.active.append(list(IMPORT_HEADER))
    for row in import_rows_data(clock.today()):
        wb.active.append(list(row))
    buffer = io.BytesIO()
    wb.save(buffer)
    login(client, world.users["safety_officer"])
    folder = _imports_folder(app, world)
    before = set(_files(folder))  # other tests' unfinished uploads share the folder
    response = upload(client, buffer.getvalue(), "台账.xlsx", world.s1)
    assert response.status_code == 302 and calls == [1]
    # the upload itself is not kept: only the parsed rows wait for the mapping step
    kept = sorted(set(_files(folder)) - before)
    assert len(kept) == 1 and kept[0].endswith(".json"), kept
    mapping = default_mapping(client)
    page = client.get("/hazards/import/map").get_data(as_text=True)
    assert "灭火器过期" in page  # the samples come from the stored rows
    mapping["default_source"] = "self"
    done = client.submit("/hazards/import/map", mapping)
    assert "导入完成" in done.get_data(as_text=True), done.get_data(as_text=True)[-2000:]
    assert calls == [1], "the mapping step read the workbook again"
    hazards = hazards_of(db, world.a.id, world.s1)
    assert len(hazards) == len(import_rows_data(clock.today()))
    # a date cell (not a date text) survived the stored rows as a date
    assert clock.today() - timedelta(days=8) in {h.found_on for h in hazards}
    assert not (folder / kept[0]).exists()


def test_a_changed_pending_file_is_refused(app, client, db, world):
    login(client, world.users["safety_officer"])
    wb = Workbook()
    for row in ledger_rows(2):
        wb.active.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    folder = _imports_folder(app, world)
    before = set(_files(folder))
    assert upload(client, buffer.getvalue(), "台账.xlsx", world.s1).status_code == 302
    (name,) = set(_files(folder)) - before
    pending = folder / name
    pending.write_bytes(pending.read_bytes().replace("教学楼1楼".encode(), "教学楼9楼".encode()))
    response = client.get("/hazards/import/map")
    assert response.status_code == 302
    assert client.get("/hazards/import/map").status_code == 302  # and the pending state is gone
    assert hazards_of(db, world.a.id) == []


def test_stored_rows_keep_every_cell_type():
    rows = [(3, ["文字", 1, 2.5, True, None, datetime(2025, 4, 1, 8, 30), date(2025, 4, 2), Decimal("1.20"),
                 timedelta(hours=2)])]
    payload, back = spreadsheets.load_rows(spreadsheets.dump_rows({"headers": ["甲"]}, rows))
    assert payload == {"headers": ["甲"]}
    assert back == [(3, rows[0][1])]
    assert [type(v) for v in back[0][1]] == [type(v) for v in rows[0][1]]
    sheet = excel.Sheet(headers=["排查日期"], rows=[(2, [date(2025, 4, 2)])], header_line=1)
    assert excel.Sheet.loads(sheet.dumps()) == sheet


def test_the_limits_come_from_the_environment(monkeypatch, tmp_path):
    from hazardhub.config import load_config

    monkeypatch.setenv("HAZARDHUB_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("HAZARDHUB_IMPORT_MAX_SHEET_ROWS", "1234")
    monkeypatch.setenv("HAZARDHUB_IMPORT_MAX_SECONDS", "2.5")
    monkeypatch.setenv("HAZARDHUB_MAX_IMPORT_ROWS", "300")
    config = load_config(tmp_path)
    assert (config["HAZARDHUB_IMPORT_MAX_SHEET_ROWS"], config["HAZARDHUB_IMPORT_MAX_SECONDS"],
            config["HAZARDHUB_MAX_IMPORT_ROWS"]) == (1234, 2.5, 300)
    defaults = spreadsheets.ReadLimits()
    assert (defaults.rows, defaults.seconds) == (spreadsheets.DEFAULT_MAX_SHEET_ROWS, spreadsheets.DEFAULT_MAX_SECONDS)
