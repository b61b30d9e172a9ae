"""Importing units from CSV and .xlsx at /units/import, and the export → import round trip."""
from __future__ import annotations

import io
import re
import zipfile

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from hazardhub.orgs.unit_rows import HEADER_LABELS
from tests.fixtures.factories import login

HEADER = ["单位代码", "上级单位代码", "单位名称", "类别", "学校类型", "办学性质", "寄宿制", "在校学生数",
          "教职工数", "地址", "联系人", "联系电话"]
ERROR_ROW = re.compile(r"<tr>\s*<td[^>]*>\s*(\d+|—)\s*</td>\s*<td[^>]*>(.*?)</td>\s*</tr>", re.S)


def text(response) -> str:
    return response.get_data(as_text=True)


def good_rows(w) -> list[list[str]]:
    """A new township with a school and a kindergarten (child listed before its parent),
    a bureau-affiliated school, and a new school under the existing township T1."""
    root = w.a_root.code
    return [
        ["N9-S1", "N9", "九镇第一小学", "学校/幼儿园", "小学", "公办", "是", "300", "25", "九镇一街", "张三", "0374-1234567"],
        ["N9", root, "九镇中心学校", "乡镇中心学校", "", "公办", "否", "", "", "九镇", "", ""],
        ["N9-K1", "N9", "九镇幼儿园", "幼儿园", "", "民办", "否", "80", "10", "", "", ""],
        ["AFF9", root, "区第九中学", "局属学校", "初中", "公办", "否", "900", "70", "", "", ""],
        ["T1-S9", w.t1.code, "一镇第九小学", "学校/幼儿园", "小学", "", "", "120", "", "", "", ""],
    ]


def csv_bytes(rows, header=HEADER, encoding="utf-8") -> bytes:
    out = io.StringIO()
    import csv

    writer = csv.writer(out)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows, header=HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append([int(v) if v.isdigit() and i in (7, 8) else v for i, v in enumerate(row)])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def upload(client, data: bytes, filename: str):
    return client.submit("/units/import", {"file": (io.BytesIO(data), filename)})


def errors_of(response) -> list[tuple[str, str]]:
    return ERROR_ROW.findall(text(response))


def units_by_code(db, tenant_id: int) -> dict:
    from hazardhub.orgs.models import OrgUnit
    from hazardhub.tenancy import tenant_bound

    with tenant_bound(tenant_id):
        return {u.code: u for u in db.session.execute(
            sa.select(OrgUnit).execution_options(populate_existing=True)).scalars()}


def version_rows(db) -> list[tuple]:
    """Every unit version row and every transaction (unscoped Core read)."""
    from sqlalchemy_continuum import version_class, versioning_manager

    from hazardhub.orgs.models import OrgUnit

    conn = db.session.connection()
    vt = version_class(OrgUnit).__table__
    tx = versioning_manager.transaction_cls.__table__
    return [tuple(r) for r in conn.execute(sa.select(vt).order_by(vt.c.transaction_id, vt.c.id))] + [
        tuple(r) for r in conn.execute(sa.select(tx.c.id).order_by(tx.c.id))
    ]


def unit_state(db, tenant_id: int) -> dict:
    return {code: (u.parent_id, u.name, u.kind, u.path, u.school_type, u.ownership, u.is_boarding,
                   u.enrolment, u.staff_count, u.address, u.contact_name, u.contact_phone, u.version_id)
            for code, u in units_by_code(db, tenant_id).items()}


@pytest.fixture
def admin(client, world):
    login(client, world.users["bureau_admin"])
    return client


# ---------------------------------------------------------------------------------------------
# valid files


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "csv-gbk", "csv-bom"])
def test_valid_file_creates_units_under_their_parents(admin, world, db, fmt):
    from sqlalchemy_continuum import version_class

    from hazardhub.orgs.models import OrgUnit

    rows = good_rows(world)
    data, name = {
        "csv": (csv_bytes(rows), "units.csv"),
        "xlsx": (xlsx_bytes(rows), "units.xlsx"),
        "csv-gbk": (csv_bytes(rows, encoding="gbk"), "单位.csv"),
        "csv-bom": (csv_bytes(rows, encoding="utf-8-sig"), "UNITS.CSV"),
    }[fmt]
    before_versions = len(version_rows(db))
    response = upload(admin, data, name)
    assert response.status_code == 200
    assert "导入完成：新增 5 个单位，更新 0 个单位" in text(response), text(response)

    units = units_by_code(db, world.a.id)
    n9, s1, k1, aff, t1s9 = (units[c] for c in ("N9", "N9-S1", "N9-K1", "AFF9", "T1-S9"))
    assert n9.parent_id == world.a_root.id and n9.kind == "township_center"
    assert s1.parent_id == n9.id and k1.parent_id == n9.id
    assert aff.parent_id == world.a_root.id and aff.kind == "affiliated_school"
    assert t1s9.parent_id == world.t1.id
    assert n9.path == f"{world.a_root.path}{n9.id}/" and n9.depth == 1
    assert s1.path == f"{n9.path}{s1.id}/" and s1.depth == 2
    assert t1s9.path == f"{world.t1.path}{t1s9.id}/"
    assert (s1.name, s1.school_type, s1.ownership, s1.is_boarding, s1.enrolment, s1.staff_count,
            s1.address, s1.contact_name, s1.contact_phone) == (
        "九镇第一小学", "小学", "public", True, 300, 25, "九镇一街", "张三", "0374-1234567")
    assert (k1.kind, k1.school_type, k1.ownership) == ("school", "幼儿园", "private")
    assert t1s9.ownership is None and t1s9.is_boarding is False
    assert not any(u.is_demo for u in (n9, s1, k1, aff, t1s9))

    # one version row per new unit, all in one transaction with the import's reason
    vt = version_class(OrgUnit).__table__
    conn = db.session.connection()
    new_ids = [u.id for u in (n9, s1, k1, aff, t1s9)]
    versions = conn.execute(sa.select(vt.c.id, vt.c.path, vt.c.name, vt.c.transaction_id)
                            .where(vt.c.id.in_(new_ids))).all()
    assert sorted(v.id for v in versions) == sorted(new_ids)
    assert {(v.id, v.path, v.name) for v in versions} == {(u.id, u.path, u.name) for u in (n9, s1, k1, aff, t1s9)}
    assert len({v.transaction_id for v in versions}) == 1
    assert len(version_rows(db)) == before_versions + 5 + 1  # five versions, one transaction
    history = text(admin.get(f"/units/{s1.id}/history"))
    assert "Excel/CSV 导入单位" in history

    # re-importing the same file changes nothing and writes no version
    state, versions_now = unit_state(db, world.a.id), version_rows(db)
    response = upload(admin, data, name)
    assert "导入完成：新增 0 个单位，更新 0 个单位" in text(response)
    assert unit_state(db, world.a.id) == state
    assert version_rows(db) == versions_now


def test_reimport_with_a_change_updates_in_place(admin, world, db):
    rows = good_rows(world)
    upload(admin, csv_bytes(rows), "units.csv")
    versions = len(version_rows(db))
    rows[0][7] = "333"  # N9-S1 enrolment
    rows[4][2] = "一镇第九小学（新址）"
    response = upload(admin, csv_bytes(rows), "units.csv")
    assert "新增 0 个单位，更新 2 个单位" in text(response)
    units = units_by_code(db, world.a.id)
    assert units["N9-S1"].enrolment == 333
    assert units["T1-S9"].name == "一镇第九小学（新址）"
    assert len(version_rows(db)) == versions + 2 + 1


def test_existing_units_can_be_updated_by_code(admin, world, db):
    rows = [[world.s1.code, world.t1.code, "一镇第一小学", "学校/幼儿园", "小学", "公办", "否", "520", "", "", "", ""]]
    response = upload(admin, csv_bytes(rows), "units.csv")
    assert "新增 0 个单位，更新 1 个单位" in text(response)
    assert units_by_code(db, world.a.id)[world.s1.code].enrolment == 520


def test_moving_a_school_by_import_rewrites_its_path(admin, world, db):
    rows = [[world.s1.code, world.t2.code, "一镇第一小学", "学校/幼儿园", "小学", "", "否", "500", "", "", "", ""]]
    response = upload(admin, csv_bytes(rows), "units.csv")
    assert "更新 1 个单位" in text(response)
    s1 = units_by_code(db, world.a.id)[world.s1.code]
    assert s1.parent_id == world.t2.id
    assert s1.path == f"{world.t2.path}{s1.id}/"


# ---------------------------------------------------------------------------------------------
# bad files: nothing is imported and every problem is listed with its line


def _bad(w, change):
    rows = good_rows(w)
    change(rows)
    return rows


BAD_ROW_CASES = {
    "bad_kind": (lambda r: r[2].__setitem__(3, "大学"), "4", "类别“大学”无效"),
    "unknown_parent": (lambda r: r[3].__setitem__(1, "NOPE"), "5", "上级单位代码“NOPE”不存在"),
    "duplicate_code": (lambda r: r[3].__setitem__(0, "N9-K1"), "5", "与第 4 行重复"),
    "bad_number": (lambda r: r[0].__setitem__(7, "三百"), "2", "“学生数”应为 0–100000 的整数"),
    "negative_number": (lambda r: r[0].__setitem__(8, "-3"), "2", "“教职工数”应为 0–100000 的整数"),
    "too_big_number": (lambda r: r[0].__setitem__(7, "100001"), "2", "应为 0–100000 的整数"),
    "bad_school_type": (lambda r: r[0].__setitem__(4, "大学"), "2", "学校类型“大学”无效"),
    "bad_ownership": (lambda r: r[0].__setitem__(5, "外资"), "2", "办学性质“外资”无效"),
    "bad_boarding": (lambda r: r[0].__setitem__(6, "也许"), "2", "寄宿制“也许”无效"),
    "empty_name": (lambda r: r[1].__setitem__(2, "  "), "3", "“单位名称”不能为空"),
    "empty_code": (lambda r: r[4].__setitem__(0, ""), "6", "“单位代码”不能为空"),
    "long_name": (lambda r: r[1].__setitem__(2, "长" * 101), "3", "“单位名称”超过 100 个字符"),
    "own_parent": (lambda r: r[3].__setitem__(1, "AFF9"), "5", "上级单位不能是自己"),
    "bad_code": (lambda r: r[3].__setitem__(0, "区 九中"), "5", "只能包含字母、数字、下划线和连字符"),
    "bureau_row": (lambda r: r[3].__setitem__(3, "教育局（安全股）"), "5", "教育局本级单位由系统创建"),
    "under_a_school": (lambda r: r[4].__setitem__(1, "N9-S1"), "6", "是学校，不能再设下级单位"),
    "other_district_parent": (None, "6", "不存在"),
    "change_the_root": (None, "7", "不能修改导入范围的根单位本身"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROW_CASES))
def test_one_bad_row_imports_nothing_and_names_the_line(admin, world, db, case):
    change, line, message = BAD_ROW_CASES[case]
    rows = good_rows(world)
    if case == "other_district_parent":
        rows[4][1] = world.tb.code  # a township of district B: not found in A's tree
    elif case == "change_the_root":
        rows.append([world.a_root.code, "", "改名的教育局", "教育局（安全股）", "", "", "否", "", "", "", "", ""])
    else:
        change(rows)
    state, versions = unit_state(db, world.a.id), version_rows(db)
    response = upload(admin, csv_bytes(rows), "units.csv")
    assert response.status_code == 200
    html = text(response)
    assert "导入未执行" in html and "未导入任何数据" in html
    errors = errors_of(response)
    assert any(ln == line and message in msg for ln, msg in errors), errors
    assert "导入完成" not in html
    assert unit_state(db, world.a.id) == state
    assert version_rows(db) == versions


def test_every_bad_row_is_listed(admin, world, db):
    rows = good_rows(world)
    rows[0][3] = "大学"
    rows[2][7] = "x"
    rows[4][1] = "NOPE"
    response = upload(admin, csv_bytes(rows), "units.csv")
    lines = {ln for ln, _ in errors_of(response)}
    assert {"2", "4"} <= lines
    assert "N9-S1" not in unit_state(db, world.a.id)


FILE_CASES = {
    # code, parent and kind are derived when absent (#14); a name column is needed, and a file
    # with codes needs its parents (by code or by township name)
    "missing_column": (lambda w: csv_bytes([r[:2] + r[3:4] for r in good_rows(w)], header=HEADER[:2] + HEADER[3:4]),
                       "units.csv", "缺少必填列：单位名称"),
    "codes_without_parents": (lambda w: csv_bytes([[r[0], r[2]] for r in good_rows(w)], header=["单位代码", "单位名称"]),
                              "units.csv", "缺少必填列：上级单位代码"),
    "empty_file": (lambda w: b"", "units.csv", "文件为空"),
    "blank_lines_only": (lambda w: b"\n\n,,,\n", "units.csv", "文件为空"),
    "header_only": (lambda w: csv_bytes([]), "units.csv", "文件只有表头"),
    "header_only_xlsx": (lambda w: xlsx_bytes([]), "units.xlsx", "文件只有表头"),
    "disguised_xlsx": (lambda w: csv_bytes(good_rows(w)), "units.xlsx", "内容不是 Excel 文件"),
    "zip_not_workbook": (lambda w: _zip_bytes(), "units.xlsx", "无法读取该 Excel 文件"),
    "exe": (lambda w: b"MZ\x90\x00\x03\x00\x00\x00", "setup.exe", "只支持 .xlsx、.xls 或 .csv 文件"),
    "txt": (lambda w: csv_bytes(good_rows(w)), "units.txt", "只支持 .xlsx、.xls 或 .csv 文件"),
    "no_extension": (lambda w: csv_bytes(good_rows(w)), "units", "只支持 .xlsx、.xls 或 .csv 文件"),
    "xls_broken": (lambda w: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "units.xls",
                   "无法读取该 .xls 文件"),
    "binary_csv": (lambda w: b"\x00\x01\x02code\x00", "units.csv", "可能不是文本文件"),
    # over the csv module's 131072-character field limit (and under the test client's 500 kB
    # spool threshold, whose temporary file Werkzeug never closes)
    "huge_cell_csv": (lambda w: csv_bytes([["X1", w.a_root.code, "x" * 140_000, "学校/幼儿园"]]), "units.csv",
                      "CSV 文件格式有误"),
}


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("readme.txt", "not a workbook")
    return buffer.getvalue()


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_unreadable_or_malformed_files_are_refused(admin, world, db, case):
    make, filename, message = FILE_CASES[case]
    state, versions = unit_state(db, world.a.id), version_rows(db)
    response = upload(admin, make(world), filename)
    assert response.status_code == 200
    html = text(response)
    assert "导入未执行" in html
    assert any(message in msg for _ln, msg in errors_of(response)), errors_of(response)
    assert unit_state(db, world.a.id) == state
    assert version_rows(db) == versions


def test_row_limit(admin, world, db, app, monkeypatch):
    monkeypatch.setitem(app.config, "HAZARDHUB_MAX_IMPORT_ROWS", 3)
    for data, name in ((csv_bytes(good_rows(world)), "units.csv"), (xlsx_bytes(good_rows(world)), "units.xlsx")):
        response = upload(admin, data, name)
        assert any("行数超过上限 3 行" in msg for _ln, msg in errors_of(response)), name
    assert "N9" not in unit_state(db, world.a.id)


def test_oversize_upload_is_413_in_chinese(admin, world, db, app, monkeypatch):
    token = admin.csrf_token("/units/import")
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2048)
    state, versions = unit_state(db, world.a.id), version_rows(db)
    data = csv_bytes(good_rows(world) * 20)
    assert len(data) > 2048
    response = admin.post("/units/import", data={"csrf_token": token, "file": (io.BytesIO(data), "units.csv")})
    assert response.status_code == 413
    assert "文件过大" in text(response)
    assert unit_state(db, world.a.id) == state
    assert version_rows(db) == versions


def test_post_without_a_file_is_refused(admin, world, db):
    response = admin.submit("/units/import", {})
    assert "请选择要导入的文件" in text(response)


def test_import_without_csrf_is_400(admin, world, db):
    admin.get("/units/import")
    state = unit_state(db, world.a.id)
    response = admin.post("/units/import", data={"file": (io.BytesIO(csv_bytes(good_rows(world))), "units.csv")})
    assert response.status_code == 400
    assert "请求已失效" in text(response)
    assert unit_state(db, world.a.id) == state


@pytest.mark.parametrize("role", ["township_supervisor", "principal", "safety_officer", "staff", "bureau_viewer",
                                  "bureau_leader", "city_admin"])
def test_only_the_bureau_admin_may_import(client, world, db, role):
    login(client, world.users[role])
    assert client.get("/units/import").status_code == 403
    state = unit_state(db, world.a.id)
    token = client.csrf_token("/")
    response = client.post("/units/import", data={"csrf_token": token,
                                                  "file": (io.BytesIO(csv_bytes(good_rows(world))), "units.csv")})
    assert response.status_code == 403
    assert "无权操作" in text(response)
    assert unit_state(db, world.a.id) == state


def test_other_district_admin_imports_only_into_its_own_tree(client, world, db):
    login(client, world.b_admin)
    rows = [["B-NEW", world.t1.code, "越界学校", "学校/幼儿园", "小学", "", "", "", "", "", "", ""]]
    response = upload(client, csv_bytes(rows), "units.csv")
    assert any("不存在" in msg for _ln, msg in errors_of(response))
    assert "B-NEW" not in unit_state(db, world.b.id)
    assert "B-NEW" not in unit_state(db, world.a.id)


# ---------------------------------------------------------------------------------------------
# export → import round trip


def _export(client, db, unit, drain_jobs) -> bytes:
    response = client.submit(f"/runs/unit-tree/{unit.id}", {}, page=f"/units/{unit.id}")
    assert response.status_code == 302, text(response)
    run_page = response.headers["Location"]
    drain_jobs()
    page = text(client.get(run_page))
    match = re.search(r'href="(/runs/\d+/download)"', page)
    assert match, page
    download = client.get(match.group(1))
    assert download.status_code == 200
    assert download.data.startswith(b"PK")
    return download.data


@pytest.mark.parametrize("scope", ["root", "township"])
def test_exported_workbook_reimports_without_changes(admin, world, db, factories, drain_jobs, scope):
    # give the tree every kind of value the export writes
    factories.unit(world.t1, name="一镇寄宿小学", school_type="九年一贯制", ownership="private", is_boarding=True,
                   enrolment=1200, staff_count=90, address="一镇二街 8 号", contact_name="李四",
                   contact_phone="13800000000")
    factories.unit(world.t2, name="二镇幼儿园", school_type="幼儿园", enrolment=0)
    unit = world.a_root if scope == "root" else world.t1
    data = _export(admin, db, unit, drain_jobs)
    rows = list(load_workbook(io.BytesIO(data)).worksheets[0].iter_rows(values_only=True))
    assert list(rows[0]) == list(HEADER_LABELS.values())
    codes = {r[0] for r in rows[1:]}
    assert world.s1.code in codes and world.sb.code not in codes

    state, versions = unit_state(db, world.a.id), version_rows(db)
    response = upload(admin, data, "export.xlsx")
    assert "导入完成：新增 0 个单位，更新 0 个单位" in text(response), errors_of(response)
    assert unit_state(db, world.a.id) == state
    assert version_rows(db) == versions


def test_exported_workbook_edited_in_excel_updates_only_what_changed(admin, world, db, drain_jobs):
    data = _export(admin, db, world.a_root, drain_jobs)
    wb = load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    for row in ws.iter_rows(min_row=2):
        if row[0].value == world.s3.code:
            row[7].value = 810
    ws.append(["NEW-FROM-EXCEL", world.t2.code, "二镇新建小学", "学校/幼儿园", "小学", "公办", "否", 50, 5,
               None, None, None])
    buffer = io.BytesIO()
    wb.save(buffer)
    response = upload(admin, buffer.getvalue(), "edited.xlsx")
    assert "导入完成：新增 1 个单位，更新 1 个单位" in text(response), errors_of(response)
    units = units_by_code(db, world.a.id)
    assert units[world.s3.code].enrolment == 810
    assert units["NEW-FROM-EXCEL"].parent_id == world.t2.id
