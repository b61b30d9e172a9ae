"""The compliance matrix as an Excel workbook (schools; townships and leaders), written through
:mod:`hazardhub.spreadsheets` so a unit or leader name is never a formula."""
from __future__ import annotations

from hazardhub import spreadsheets
from hazardhub.compliance import operations as ops

FILLS = {ops.GREEN: "C6EFCE", ops.AMBER: "FFEB9C", ops.RED: "FFC7CE", ops.NONE: "EEEEEE"}
_HEADER = spreadsheets.Style(bold=True, horizontal="center")
_WIDTHS = (30, 16, 16, 16, 16, 16)


def matrix_workbook(matrix) -> bytes:
    book = spreadsheets.Book()
    ws = book.sheet("学校", widths=_WIDTHS)
    ws.append(["学校", "所属乡镇", "校长带队自查", "乡镇检查", "全员学习", "校长参加学习"], style=_HEADER)
    for row in matrix.schools:
        cells = (row.self_check, row.township_check, row.staff_learning, row.principal_learning)
        ws.append([row.unit.name, row.township.name if row.township else "局属/直属"]
                  + [spreadsheets.Cell(c.text, spreadsheets.Style(fill=FILLS[c.state])) for c in cells])
    ws2 = book.sheet("乡镇与分包领导", widths=_WIDTHS)
    ws2.append(["乡镇中心学校", "学校数", "已检查", "检查覆盖率", "主要负责人学习"], style=_HEADER)
    for t in matrix.townships:
        ws2.append([t.unit.name, t.schools, t.checked, f"{t.share:.0%}", t.principals_session.text])
    ws2.append([])
    ws2.append(["分包领导", "分包单位", "暗访次数", "情况"], style=_HEADER)
    for leader in matrix.leaders:
        ws2.append([leader.leader.display_name, "、".join(leader.assigned), leader.visits, leader.cell.text])
    return book.to_bytes()
