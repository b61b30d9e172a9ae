"""The comparison as an Excel workbook (the page's table, the city average and the definitions)."""
from __future__ import annotations

from hazardhub import spreadsheets
from hazardhub.citywide.operations import MIN_SAMPLE, Comparison
from hazardhub.clock import utcnow
from hazardhub.web import local_time

SMALL_FILL = "EEEEEE"
CITY_FILL = "DDEBF7"
NUMBER_FORMATS = {"rate": "0.0%", "per100": "0.0", "days": "0.0", "count": "0"}


def comparison_workbook(comparison: Comparison, *, city_name: str, heads: dict[int, str] | None = None) -> bytes:
    """Sheet 1: one row per district, one column per figure (numbers, formatted), flagged cells
    grey with 样本不足 in the last column; then the city average. Sheet 2: what each figure means.

    :param heads: the districts' audit-chain heads (``seq:hash``) at export, printed per row
    """
    Style, Cell = spreadsheets.Style, spreadsheets.Cell
    columns = comparison.columns
    book = spreadsheets.Book()
    widths = [20] + [11] * len(columns) + [28, 30]
    ws = book.sheet("县区对比", widths=widths, freeze="B3", row_heights={2: 42})
    ws.append([f"{city_name} · 各县（市、区）对比 · {comparison.period.label}"], style=Style(bold=True, size=13))
    header = Style(bold=True, horizontal="center", vertical="center", wrap=True)
    ws.append(["县（市、区）"] + [Cell(c.label, comment=c.help) for c in columns] + ["样本不足的指标", "审计链头"],
              style=header)
    for row in comparison.sorted_rows(None):
        values: list = [row.tenant.name]
        small = []
        for column in columns:
            figure = row.figures[column.key]
            flagged = figure.small and column.kind != "count" and figure.value is not None
            values.append(Cell(figure.value, Style(number_format=NUMBER_FORMATS[column.kind],
                                                   fill=SMALL_FILL if flagged else None)))
            if flagged:
                small.append(column.label)
        values.append("、".join(small) if small else "")
        values.append((heads or {}).get(row.tenant.id, ""))
        ws.append(values)
    city = Style(bold=True, fill=CITY_FILL)
    ws.append([Cell("全市平均", city)]
              + [Cell(comparison.city[c.key].value,
                      Style(bold=True, fill=CITY_FILL, number_format=NUMBER_FORMATS[c.kind])) for c in columns]
              + ["", ""])

    notes = book.sheet("指标说明", widths=(22, 90))
    notes.append(["对比期间", comparison.period.label])
    notes.append(["统计月份", "、".join(comparison.period.months) or "—"])
    notes.append(["导出时间（北京时间）", local_time(utcnow())])
    notes.append(["样本不足", f"分母小于 {MIN_SAMPLE} 的指标标为“样本不足”，不参与排名（表中灰底）"])
    notes.append(["全市平均", "各县区分子之和 ÷ 分母之和（每所学校权重相同）"])
    notes.append([])
    notes.append(["指标", "口径"])
    for column in columns:
        notes.append([column.label, column.help])
    return book.to_bytes()
