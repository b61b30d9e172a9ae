"""Layouts people make (#14): title blocks, two-level merged headers, footers, hidden columns,
several sheets, .xls and GBK/GB18030 .csv — read by the one layout reader of both imports."""
from __future__ import annotations

import io
from datetime import date

from openpyxl import Workbook

from hazardhub.hazards import excel
from hazardhub.orgs.unit_rows import read_table
from tests.fixtures.factories import login
from tests.import_corpus import xls
from tests.test_ledger_excel import hazards_of, text, upload


def messy_xlsx(with_second_sheet: bool = True) -> bytes:
    wb = Workbook()
    notes = wb.active
    notes.title = "填表说明"
    notes.append(["填表说明：每学期汇总一次。"])
    ws = wb.create_sheet("2025春季台账")
    ws.append(["城关小学2025年安全隐患排查治理台账"])
    ws.merge_cells("A1:I1")
    ws.append(["填报单位：城关小学", None, None, None, None, "填报日期：2025年6月30日"])
    ws.append(["序号", "排查日期", "排查人", "隐患部位", "隐患描述", "类别", "整改情况", None, None, None, "备注"])
    ws.append([None, None, None, None, None, None, "措施", "责任人", "时限", "完成情况"])
    ws.merge_cells("G3:J3")
    ws.append([1, date(2025, 4, 10), "王老师", "教学楼", "灭火器过期", "校园消防", "更换灭火器", "张三",
               date(2025, 4, 20), "已登记", "内部备注", "隐藏"])
    ws.append([2, date(2025, 4, 11), "王老师", "食堂", "燃气管老化", "食品安全", "更换燃气管", "李四",
               date(2025, 5, 20), "已登记"])
    ws.append(["合计", "2 项"])
    ws.append(["填表人：王五", None, None, "审核人：赵六"])
    ws.column_dimensions["L"].hidden = True
    if with_second_sheet:
        other = wb.create_sheet("秋季")
        other.append(["排查日期", "隐患部位", "隐患描述"])
        other.append([date(2025, 9, 1), "操场", "围栏松动"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_title_block_two_level_header_footers_hidden_columns_and_sheets_are_recognised():
    sheets = excel.read_ledger(messy_xlsx(), "台账.xlsx", 500)
    assert [s.name for s in sheets] == ["填表说明", "2025春季台账", "秋季"]
    assert sheets[0].score == 0 and "未识别" in sheets[0].describe()
    sheet = sheets[excel.best_sheet(sheets)]
    assert sheet.name == "2025春季台账" and sheet.header_line == 4
    assert sheet.headers[6:10] == ["整改情况/措施", "整改情况/责任人", "整改情况/时限", "整改情况/完成情况"]
    mapping = excel.guess_mapping(sheet.headers)
    assert {mapping[i] for i in range(6, 10)} == {"measures", "responsible_person", "deadline", "status"}
    assert [line for line, _ in sheet.rows] == [5, 6]
    assert all(len(values) <= 11 for _l, values in sheet.rows)  # the hidden column L is not read
    assert sheet.context == {"title": "城关小学2025年安全隐患排查治理台账", "unit": "城关小学",
                             "date": "2025-06-30", "year": "2025"}
    notes = " ".join(sheet.notes)
    assert "L 列" in notes and "第 7 行是合计行" in notes and "第 8 行是签字栏" in notes and "两级表头" in notes
    assert "2025春季台账：城关小学2025年安全隐患排查治理台账（表头在第 4 行，2 行数据）" == sheet.describe()


def test_the_view_imports_the_picked_sheet_with_sub_header_values(client, db, world):
    login(client, world.users["safety_officer"])
    response = upload(client, messy_xlsx(), "城关小学台账.xlsx", world.s1)
    assert response.status_code == 302
    page = text(client.get("/hazards/import/map"))
    assert "sheet-picker" in page and "▶ 2025春季台账" in page and "第 7 行是合计行" in page
    assert "城关小学" in page and "2025-06-30" in page
    # the picker switches to the autumn sheet and back
    assert "▶ 秋季" in text(client.get("/hazards/import/map?sheet=2"))
    assert "▶ 2025春季台账" in text(client.get("/hazards/import/map?sheet=1"))


def xls_bytes(rows) -> bytes:
    return xls(rows, hidden=(3,), title="台账")


def test_xls_is_read_with_dates_and_hidden_columns():
    data = xls_bytes([["东关中学隐患台账"], ["排查日期", "隐患部位", "隐患描述", "内部列"],
                      [date(2025, 3, 2), "实验室", "通风橱损坏", "x"], ["合计", 1]])
    (sheet,) = excel.read_ledger(data, "东关中学.xls", 500)
    assert sheet.headers == ["排查日期", "隐患部位", "隐患描述"]
    assert sheet.rows[0][0] == 3 and excel.parse_date(sheet.rows[0][1][0]) == date(2025, 3, 2)
    assert sheet.context["unit"] == "东关中学" and any("合计" in n for n in sheet.notes)


def test_csv_in_gbk_and_gb18030_is_detected_and_never_gets_the_xls_message():
    content = "排查日期,隐患部位,隐患描述\n2025/4/1,食堂,燃气泄漏\n"
    for encoding, label in (("gbk", "GBK"), ("utf-8-sig", "UTF-8"), ("gb18030", "GBK")):
        (sheet,) = excel.read_ledger(content.encode(encoding), "x.csv", 10)
        assert sheet.rows == [(2, ["2025/4/1", "食堂", "燃气泄漏"])] and f"编码：{label}" in sheet.notes[0]
    # a character outside GBK (𠮷) needs GB18030
    (sheet,) = excel.read_ledger((content + "2025/4/2,𠮷楼,漏水\n").encode("gb18030"), "x.csv", 10)
    assert "GB18030" in sheet.notes[0] and sheet.rows[1][1][1] == "𠮷楼"


def test_unit_lists_use_the_same_layout_reader():
    wb = Workbook()
    ws = wb.active
    ws.append(["某县学校名单（2025年秋季）"])
    ws.append(["单位代码", "上级单位代码", "单位名称", "类别"])
    ws.append(["S1", "ROOT", "一小", "学校"])
    ws.append(["填表人：张三"])
    buffer = io.BytesIO()
    wb.save(buffer)
    rows = read_table("名单.xlsx", io.BytesIO(buffer.getvalue()), 100)
    assert rows == [["单位代码", "上级单位代码", "单位名称", "类别"], ["S1", "ROOT", "一小", "学校"]]


def test_a_gbk_csv_ledger_uploads(client, db, world):
    login(client, world.users["safety_officer"])
    data = "排查日期,排查人,隐患部位,隐患描述,类别\n2025-04-01,王老师,食堂,燃气泄漏,食品安全\n".encode("gbk")
    response = upload(client, data, "台账.csv", world.s1)
    assert response.status_code == 302, text(response)
    assert "CSV 文件编码：GBK" in text(client.get("/hazards/import/map"))
    assert hazards_of(db, world.a.id, world.s1) == []
