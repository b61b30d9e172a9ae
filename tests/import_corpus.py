"""A corpus of realistic ledgers and a county school list, each with its expected outcome (#14).

Run ``python -m tests.import_corpus DIR`` to write the files for a look in Excel/WPS; the tests
(tests/test_import_corpus.py) build them in a temporary folder. The .xls file is written with
xlwt (a test dependency); nothing binary is checked in.

Every ledger is of the same school; ``expected`` lists the hazards it must produce, as
(location, category, level, status, found_on, deadline, deadline_working_days, funds, rectified_on,
closed_on, found_by_name), sorted by location. ``unmapped`` (values no suggestion covers) means the
command line imports nothing and reports them; the web page asks, and ``choose`` is the clerk's answer.
"""
from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import xlwt
from openpyxl import Workbook

D = date
UNKNOWN = "原台账未记录"  # 排查人 of a ledger without the column (hazardhub.hazards.bulk_import)


@dataclass
class Case:
    name: str
    data: bytes
    expected: list[tuple]
    skipped: int = 0
    unmapped: dict[str, list[str]] = field(default_factory=dict)
    choose: dict[tuple[str, str], str] = field(default_factory=dict)


def _xlsx(sheets: dict[str, list[list]], *, merges: dict[str, list[str]] | None = None,
          hidden: dict[str, list[str]] | None = None) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
        for ref in (merges or {}).get(title, []):
            ws.merge_cells(ref)
        for letter in (hidden or {}).get(title, []):
            ws.column_dimensions[letter].hidden = True
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def xls(rows: list[list], *, hidden: tuple[int, ...] = (), title: str = "隐患台账") -> bytes:
    """An Excel 97–2003 workbook (xlwt), dates as date cells, ``hidden`` columns (0-based) hidden."""
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet(title)
    for column in hidden:
        sheet.col(column).hidden = True
    dates = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write(r, c, value, dates if isinstance(value, date) else xlwt.Style.default_style)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _csv(rows: list[list], encoding: str) -> bytes:
    return "\r\n".join(",".join("" if v is None else str(v) for v in row) for row in rows).encode(encoding)


def _row(location, category, level="general", status="registered", found_on=D(2025, 4, 1), deadline=None,
         working_days=None, funds=None, rectified_on=None, closed_on=None, found_by="王老师"):
    return (location, category, level, status, found_on, deadline, working_days,
            None if funds is None else Decimal(funds), rectified_on, closed_on, found_by)


TITLE = ["城关第一小学2025年校园安全隐患排查治理台账"]
UNIT = ["填报单位：城关第一小学", None, None, None, "填报日期：2025年6月30日"]


def ledger_cases() -> list[Case]:
    cases = []
    # 1. title block and 填报单位 line above the header
    cases.append(Case("01-标题和填报单位.xlsx", _xlsx({"台账": [
        TITLE, UNIT,
        ["序号", "排查日期", "排查人", "隐患部位", "隐患描述", "隐患类别", "整改时限"],
        [1, D(2025, 4, 1), "王老师", "教学楼", "灭火器过期", "校园消防", D(2025, 4, 8)],
        [2, D(2025, 4, 2), "王老师", "食堂", "排烟罩油污", "食品安全", D(2025, 4, 30)],
    ]}), [_row("教学楼", "校园消防", deadline=D(2025, 4, 8)),
          _row("食堂", "食品安全", found_on=D(2025, 4, 2), deadline=D(2025, 4, 30))]))
    # 2. two-level merged header: 整改情况 over 措施/责任人/时限/完成情况
    cases.append(Case("02-两级表头.xlsx", _xlsx({"台账": [
        TITLE,
        ["序号", "排查日期", "排查人", "隐患部位", "隐患描述", "类别", "整改情况", None, None, None, "完成日期"],
        [None, None, None, None, None, None, "措施", "责任人", "时限", "完成情况", None],
        [1, D(2025, 4, 3), "李老师", "宿舍", "插座松动", "水电气热运行", "更换插座", "张主任", D(2025, 4, 10), "已整改",
         D(2025, 4, 9)],
        [2, D(2025, 4, 4), "李老师", "操场", "篮球架锈蚀", "设备设施", "除锈刷漆", "张主任", D(2025, 5, 4), "整改中", None],
    ]}, merges={"台账": ["A1:K1", "G2:J2", "A2:A3", "B2:B3", "K2:K3"]}),
        [_row("宿舍", "水电气热运行", status="closed", found_on=D(2025, 4, 3), deadline=D(2025, 4, 10),
              rectified_on=D(2025, 4, 9), closed_on=D(2025, 4, 9), found_by="李老师"),
         _row("操场", "设备设施", status="rectifying", found_on=D(2025, 4, 4), deadline=D(2025, 5, 4),
              found_by="李老师")]))
    # 3. footers: 合计, 注, 填表人/审核人
    cases.append(Case("03-合计和签字栏.xlsx", _xlsx({"台账": [
        ["排查日期", "排查人", "隐患部位", "隐患描述", "类别", "资金"],
        [D(2025, 5, 6), "赵老师", "围墙", "墙体开裂", "校舍安全", 3000],
        ["合计", None, None, None, None, 3000],
        ["注：本表每月报中心校。"],
        ["填表人：赵", None, "审核人：钱", None, "校长：孙"],
    ]}), [_row("围墙", "校舍安全", found_on=D(2025, 5, 6), funds="3000", found_by="赵老师")], skipped=3))
    # 4. several sheets: a notes sheet first, the ledger second with a hidden helper column
    cases.append(Case("04-多个工作表.xlsx", _xlsx({
        "填表说明": [["填表说明：一行一个隐患。"], ["类别按上级文件填写。"]],
        "春季排查": [["排查日期", "排查人", "隐患部位", "隐患描述", "类别", "内部备注"],
                 [D(2025, 3, 2), "周老师", "实验室", "试剂柜未上锁", "实验实训", "勿外传"]],
    }, hidden={"春季排查": ["F"]}), [_row("实验室", "实验实训", found_on=D(2025, 3, 2), found_by="周老师")]))
    # 5. an Excel 97–2003 .xls with a title
    cases.append(Case("05-旧版.xls", xls([
        TITLE,
        ["排查日期", "排查人", "隐患部位", "隐患描述", "类别", "等级"],
        [D(2025, 3, 10), "吴老师", "校门口", "减速带损坏", "校门口", "一般"],
    ]), [_row("校门口", "校门口", found_on=D(2025, 3, 10), found_by="吴老师")]))
    # 6. a GBK .csv (Excel on Chinese Windows), no 排查人 column
    cases.append(Case("06-GBK.csv", _csv([
        ["排查日期", "隐患部位", "隐患描述", "类别"],
        ["2025/4/15", "锅炉房", "压力表未校验", "特种设备"],
    ], "gbk"), [_row("锅炉房", "特种设备使用", found_on=D(2025, 4, 15), found_by=UNKNOWN)]))
    # 7. a GB18030 .csv with a character outside GBK
    cases.append(Case("07-GB18030.csv", _csv([
        ["排查日期", "排查人", "隐患部位", "隐患描述", "类别"],
        ["2025-04-16", "𠮷老师", "𠮷楼", "楼梯扶手松动", "校舍安全"],
    ], "gb18030"), [_row("𠮷楼", "校舍安全", found_on=D(2025, 4, 16), found_by="𠮷老师")]))
    # 8. deadlines and dates in words; dates without a year take the title's year
    cases.append(Case("08-时限的写法.xlsx", _xlsx({"台账": [
        TITLE,
        ["排查日期", "排查人", "隐患部位", "隐患描述", "类别", "整改时限"],
        ["4月10日", "郑老师", "一楼", "应急灯不亮", "校园消防", "立即"],
        ["2025年4月11号", "郑老师", "二楼", "疏散指示缺失", "校园消防", "5月底前"],
        ["2025.4.12", "郑老师", "三楼", "窗户限位器缺失", "校舍安全", "一周内"],
        ["2025-04-14", "郑老师", "四楼", "护栏偏低", "校舍安全", "3个工作日"],
        ["2025-04-15", "郑老师", "五楼", "墙皮脱落", "校舍安全", "长期"],
    ]}), [_row("一楼", "校园消防", found_on=D(2025, 4, 10), deadline=D(2025, 4, 10), found_by="郑老师"),
          _row("三楼", "校舍安全", found_on=D(2025, 4, 12), deadline=D(2025, 4, 19), found_by="郑老师"),
          _row("二楼", "校园消防", found_on=D(2025, 4, 11), deadline=D(2025, 5, 31), found_by="郑老师"),
          _row("五楼", "校舍安全", found_on=D(2025, 4, 15), found_by="郑老师"),
          _row("四楼", "校舍安全", found_on=D(2025, 4, 14), deadline=D(2025, 4, 17), working_days=3,
               found_by="郑老师")]))
    # 9. historical statuses with their dates
    cases.append(Case("09-历史状态.xlsx", _xlsx({"台账": [
        ["排查日期", "排查人", "隐患部位", "隐患描述", "类别", "整改完成情况", "完成日期"],
        [D(2025, 2, 20), "冯老师", "厕所", "地面湿滑", "预防拥挤踩踏", "整改中", None],
        [D(2025, 2, 21), "冯老师", "楼梯", "防滑条脱落", "预防拥挤踩踏", "待验收", D(2025, 2, 25)],
        [D(2025, 2, 22), "冯老师", "电梯", "年检过期", "特种设备使用", "已完成", D(2025, 3, 1)],
    ]}), [_row("厕所", "预防拥挤踩踏", status="rectifying", found_on=D(2025, 2, 20), found_by="冯老师"),
          _row("楼梯", "预防拥挤踩踏", status="awaiting_acceptance", found_on=D(2025, 2, 21),
               rectified_on=D(2025, 2, 25), found_by="冯老师"),
          _row("电梯", "特种设备使用", status="closed", found_on=D(2025, 2, 22), rectified_on=D(2025, 3, 1),
               closed_on=D(2025, 3, 1), found_by="冯老师")]))
    # 10. everyday category and level words
    cases.append(Case("10-日常用语.xlsx", _xlsx({"台账": [
        ["排查日期", "排查人", "隐患部位", "隐患描述", "隐患类型", "隐患级别"],
        [D(2025, 5, 1), "陈老师", "配电室", "电线裸露", "用电安全", "较大"],
        [D(2025, 5, 1), "陈老师", "门卫室", "监控损坏", "安全保卫", "低"],
        [D(2025, 5, 1), "陈老师", "校车", "安全带缺失", "交通安全", "一般"],
    ]}), [_row("校车", "校车校园交通", found_on=D(2025, 5, 1), found_by="陈老师"),
          _row("配电室", "水电气热运行", found_on=D(2025, 5, 1), found_by="陈老师"),
          _row("门卫室", "校门口", found_on=D(2025, 5, 1), found_by="陈老师")]))
    # 11. a major hazard without plan columns: imported as 重大, plan 待补充
    cases.append(Case("11-重大隐患无五落实列.xlsx", _xlsx({"台账": [
        ["排查日期", "排查人", "隐患部位", "隐患描述", "类别", "等级", "整改时限"],
        [D(2025, 6, 2), "褚老师", "宿舍楼", "疏散门上锁", "校园消防", "Ⅰ级", "立即"],
    ]}), [_row("宿舍楼", "校园消防", level="major", found_on=D(2025, 6, 2), deadline=D(2025, 6, 2),
               found_by="褚老师")]))
    # 12. money as written: 0.5万, 1,200元, 无, 待定
    cases.append(Case("12-资金写法.xlsx", _xlsx({"台账": [
        ["排查日期", "排查人", "隐患部位", "隐患描述", "类别", "整改资金"],
        [D(2025, 6, 3), "卫老师", "东门", "门禁失灵", "校门口", "0.5万"],
        [D(2025, 6, 3), "卫老师", "西门", "护栏松动", "校门口", "1,200元"],
        [D(2025, 6, 3), "卫老师", "南门", "标线模糊", "校门口", "无"],
        [D(2025, 6, 3), "卫老师", "北门", "灯不亮", "校门口", "待定"],
    ]}), [_row("东门", "校门口", found_on=D(2025, 6, 3), funds="5000.00", found_by="卫老师"),
          _row("北门", "校门口", found_on=D(2025, 6, 3), found_by="卫老师"),
          _row("南门", "校门口", found_on=D(2025, 6, 3), found_by="卫老师"),
          _row("西门", "校门口", found_on=D(2025, 6, 3), funds="1200.00", found_by="卫老师")]))
    # 13. a value no suggestion covers: the page asks; the command line reports it
    cases.append(Case("13-需人工对应.xlsx", _xlsx({"台账": [
        ["排查日期", "排查人", "隐患部位", "隐患描述", "类别"],
        [D(2025, 6, 4), "蒋老师", "体育馆", "看台松动", "体育"],
    ]}), [_row("体育馆", "设备设施", found_on=D(2025, 6, 4), found_by="蒋老师")],
        unmapped={"类别": ["体育"]}, choose={("category", "体育"): "设备设施"}))
    return cases


def county_list() -> bytes:
    """A county's own school list: title, 所属乡镇 by name, 学段 words, counts with words, principals."""
    return _xlsx({"学校名单": [
        ["某县2025年秋季学校基本情况表"],
        ["序号", "学校名称", "所属乡镇", "学段", "在校学生数", "教职工数", "校长"],
        [1, "河西镇中心学校", None, None, None, "15", None],
        [2, "河西镇第一完全小学", "河西镇", "完全小学", "1,200", "66", "韩校长"],
        [3, "河西镇杨村教学点", "河西", "教学点", "约40", "3人", None],
        [4, "河西镇博雅幼儿园", "河西镇中心学校", "民办幼儿园", "156人", "18", "杨园长"],
        ["合计", None, None, None, "1396", "102"],
    ]})


def main(folder: str) -> None:
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for case in ledger_cases():
        (target / case.name).write_bytes(case.data)
    (target / "14-县学校名单.xlsx").write_bytes(county_list())
    print(f"wrote {len(ledger_cases()) + 1} files to {target}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "import-corpus")
