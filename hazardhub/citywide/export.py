"""The comparison as an Excel workbook (the page's table, the city average and the definitions)."""
from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from hazardhub.citywide.operations import MIN_SAMPLE, Comparison
from hazardhub.db import utcnow
from hazardhub.web import local_time

SMALL_FILL = PatternFill("solid", fgColor="EEEEEE")
CITY_FILL = PatternFill("solid", fgColor="DDEBF7")
NUMBER_FORMATS = {"rate": "0.0%", "per100": "0.0", "days": "0.0", "count": "0"}


def comparison_workbook(comparison: Comparison, *, city_name: str, heads: dict[int, str] | None = None) -> bytes:
    """Sheet 1: one row per district, one column per figure (numbers, formatted), flagged cells
    grey with 样本不足 in the last column; then the city average. Sheet 2: what each figure means.

    :param heads: the districts' audit-chain heads (``seq:hash``) at export, printed per row
    """
    wb = Workbook()
    ws = wb.active
    ws.title = "县区对比"
    columns = comparison.columns
    ws.append([f"{city_name} · 各县（市、区）对比 · {comparison.period.label}"])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(["县（市、区）"] + [c.label for c in columns] + ["样本不足的指标", "审计链头"])
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for column_index, column in enumerate(columns, start=2):
        ws.cell(row=2, column=column_index).comment = Comment(column.help, "HazardHub")
    for row in comparison.sorted_rows(None):
        values = [row.tenant.name]
        small = []
        for column in columns:
            figure = row.figures[column.key]
            values.append(figure.value)
            if figure.small and column.kind != "count" and figure.value is not None:
                small.append(column.label)
        values.append("、".join(small) if small else "")
        values.append((heads or {}).get(row.tenant.id, ""))
        ws.append(values)
        for column_index, column in enumerate(columns, start=2):
            cell = ws.cell(row=ws.max_row, column=column_index)
            cell.number_format = NUMBER_FORMATS[column.kind]
            if row.figures[column.key].small and column.kind != "count" and row.figures[column.key].value is not None:
                cell.fill = SMALL_FILL
    ws.append(["全市平均"] + [comparison.city[c.key].value for c in columns] + ["", ""])
    for column_index, column in enumerate(columns, start=1):
        cell = ws.cell(row=ws.max_row, column=column_index)
        cell.fill = CITY_FILL
        cell.font = Font(bold=True)
        if column_index > 1:
            cell.number_format = NUMBER_FORMATS[columns[column_index - 2].kind]
    ws.cell(row=ws.max_row, column=len(columns) + 1).fill = CITY_FILL
    ws.column_dimensions["A"].width = 20
    for i in range(2, len(columns) + 2):
        ws.column_dimensions[get_column_letter(i)].width = 11
    ws.column_dimensions[get_column_letter(len(columns) + 2)].width = 28
    ws.column_dimensions[get_column_letter(len(columns) + 3)].width = 30
    ws.row_dimensions[2].height = 42
    ws.freeze_panes = "B3"

    notes = wb.create_sheet("指标说明")
    notes.append(["对比期间", comparison.period.label])
    notes.append(["统计月份", "、".join(comparison.period.months) or "—"])
    notes.append(["导出时间（北京时间）", local_time(utcnow())])
    notes.append(["样本不足", f"分母小于 {MIN_SAMPLE} 的指标标为“样本不足”，不参与排名（表中灰底）"])
    notes.append(["全市平均", "各县区分子之和 ÷ 分母之和（每所学校权重相同）"])
    notes.append([])
    notes.append(["指标", "口径"])
    for column in columns:
        notes.append([column.label, column.help])
    notes.column_dimensions["A"].width = 22
    notes.column_dimensions["B"].width = 90
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
