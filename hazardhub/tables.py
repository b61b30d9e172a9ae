"""Finding the table in a sheet as people lay it out: the layout reader of both imports.

A school's 台账 or a county's school list is rarely "headers in row 1, data below". It has a
title block (“××小学安全隐患排查治理台账”, a 填报单位 / 填报日期 line), a two-level merged header
(整改情况 over 措施 / 责任人 / 时限 / 完成情况: openpyxl and xlrd give the parent text in the first
cell of the merge and blanks beside it), and a footer (合计, 填表人：… 审核人：…, 注：…). Only the
values are read (:mod:`hazardhub.spreadsheets`), so the layout is recognised from the text:

* the header is the row (among the first 15) naming the most known columns — ``field_of`` says
  which column a header text means, so the ledger and the unit import each bring their own names;
* a next row whose texts sit under blank header cells (or under a parent followed by blanks) and
  look like names, not data, is the sub-header: each sub-header joins its parent (“整改情况/措施”);
* rows above the header are the title block, kept as :attr:`Table.context` (title, unit, date);
* footer rows are skipped, each with a note naming its row, so nothing is read as data silently.

Ground floor: imports only :mod:`hazardhub.spreadsheets`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable

from hazardhub.spreadsheets import RawBook, RawSheet, column_letter

__all__ = ["Table", "detect", "detect_book", "cell_text"]

_SCAN_ROWS = 15
_FOOTER_FIRST = re.compile(r"^\s*(合\s*计|总\s*计|小\s*计|共计)")
_FOOTER_SIGN = re.compile(r"(填表人|填报人|审核人|审核|制表人|制表|统计人|负责人|经办人|单位负责人|分管领导|校长签字|盖章)\s*[:：]")
_NOTE_LINE = re.compile(r"^\s*(注|说明|备注|填表说明)\s*[:：\d１-９、.]")
_UNIT_RE = re.compile(r"(?:填报单位|单位名称|学校名称|填报学校|学校|单位)\s*[:：]\s*([^\s:：]{2,40}?)(?=\s|填报|日期|时间|$|（|\()")
_DATE_RE = re.compile(r"(?:填报日期|填表日期|日期|填报时间|时间)\s*[:：]\s*(\d{4})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})")
_YEAR_RE = re.compile(r"((?:19|20)\d{2})\s*(?:年|学年|-\d{4}学年|年度)")
_SCHOOL_IN_TITLE = re.compile(r"^(.{2,40}?(?:中心学校|中心校|九年一贯制学校|完全小学|完小|小学|中学|学校|幼儿园|教学点|学院))")


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


@dataclass
class Table:
    """The detected table of one sheet."""

    sheet: str
    headers: list[str]
    rows: list[tuple[int, list[Any]]]
    header_line: int = 1
    #: what the title block says: title, unit (填报单位 or the school in the title), date (ISO), year
    context: dict[str, str] = field(default_factory=dict)
    #: what was skipped or noticed (footers, hidden columns, the sub-header)
    notes: list[str] = field(default_factory=list)
    #: how many distinct known columns the header names (0: no table found)
    score: int = 0
    #: (sheet row, why) of each row below the header left out (合计, 签字栏, 表注)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def describe(self) -> str:
        if not self.score:
            return f"{self.sheet}：未识别出表格"
        title = self.context.get("title") or "表格"
        return f"{self.sheet}：{title}（表头在第 {self.header_line} 行，{len(self.rows)} 行数据）"


def _texts(values: list[Any]) -> list[str]:
    return [cell_text(v) for v in values]


def _score(values: list[Any], field_of: Callable[[str], str]) -> int:
    return len({field_of(t) for t in _texts(values) if t and len(t) <= 30} - {""})


def _looks_like_name(text: str) -> bool:
    """A header text, not a datum: short, no digits-only, no date."""
    return bool(text) and len(text) <= 16 and not re.search(r"\d{2,}|\d+[./-]\d+", text)


def _sub_header(parent: list[str], sub_values: list[Any]) -> list[str] | None:
    """The joined header if ``sub_values`` is a sub-header row under ``parent``, else None."""
    sub = _texts(sub_values)
    if not any(sub) or any(not isinstance(v, str) for v in sub_values if v not in (None, "")):
        return None
    width = max(len(parent), len(sub))
    parent = parent + [""] * (width - len(parent))
    sub = sub + [""] * (width - len(sub))
    joined: list[str] = []
    under_blank = False
    current = ""
    for j in range(width):
        if parent[j]:
            current = parent[j]
            spans = j + 1 < width and not parent[j + 1] and bool(sub[j + 1])
            if sub[j] and not spans:
                return None  # a text under a single header cell: a data row
            joined.append(f"{current}/{sub[j]}" if sub[j] else current)
        else:
            if sub[j]:
                if not current or not _looks_like_name(sub[j]):
                    return None
                under_blank = True
                joined.append(f"{current}/{sub[j]}")
            else:
                joined.append("")
        if sub[j] and not _looks_like_name(sub[j]):
            return None
    return joined if under_blank else None


def _context(rows: list[tuple[int, list[Any]]]) -> dict[str, str]:
    context: dict[str, str] = {}
    for _line, values in rows:
        texts = [t for t in _texts(values) if t]
        line_text = "  ".join(texts)
        if not line_text:
            continue
        if "title" not in context and len(texts) == 1 and not re.search(r"[:：]", line_text):
            context["title"] = re.sub(r"\s+", "", line_text)[:80]
        unit = _UNIT_RE.search(line_text)
        if unit and "unit" not in context:
            context["unit"] = unit.group(1)
        when = _DATE_RE.search(line_text)
        if when and "date" not in context:
            try:
                context["date"] = date(int(when.group(1)), int(when.group(2)), int(when.group(3))).isoformat()
            except ValueError:
                pass
    title = context.get("title", "")
    if title and "unit" not in context:
        school = _SCHOOL_IN_TITLE.match(re.sub(r"^\d{4}(?:-\d{4})?(?:年度?|学年)?(?:度)?", "", title))
        if school:
            context["unit"] = school.group(1)
    year = _YEAR_RE.search(title)
    if year:
        context["year"] = year.group(1)
    elif context.get("date"):
        context["year"] = context["date"][:4]
    return context


def _footer_why(values: list[Any]) -> str:
    texts = [t for t in _texts(values) if t]
    if not texts:
        return ""
    if _FOOTER_FIRST.match(texts[0]):
        return "合计行"
    joined = " ".join(texts)
    if len(texts) <= 6 and _FOOTER_SIGN.search(joined):
        return "签字栏（填表人/审核人）"
    if len(texts) <= 2 and _NOTE_LINE.match(texts[0]):
        return "表注"
    return ""


def detect(sheet: RawSheet, field_of: Callable[[str], str], *, min_score: int = 2,
           first_row: bool = False) -> Table:
    """The sheet's table: header (joined with its sub-header), data rows, title block, footers.
    ``first_row``: no header recognised anywhere, so take the first row (the user maps by hand)."""
    best_at, best = -1, 0
    for i, (_line, values) in enumerate(sheet.rows[:_SCAN_ROWS]):
        score = _score(values, field_of)
        if score > best:
            best_at, best = i, score
    if first_row and best < min_score and sheet.rows:
        best_at, best, min_score = 0, 1, 1
    notes = list(sheet.notes)
    if best < min_score:
        return Table(sheet=sheet.name, headers=[], rows=[], notes=notes, score=0,
                     context=_context(sheet.rows[:_SCAN_ROWS]))
    header_line, header_values = sheet.rows[best_at]
    headers = [t[:40] for t in _texts(header_values)]
    data_from = best_at + 1
    if data_from < len(sheet.rows):
        joined = _sub_header(headers, sheet.rows[data_from][1])
        if joined is not None:
            notes.append(f"第 {header_line}–{sheet.rows[data_from][0]} 行为两级表头，子列已并入上级列名（如“{next(h for h in joined if '/' in h)}”）。")
            headers = [h[:60] for h in joined]
            header_line = sheet.rows[data_from][0]
            data_from += 1
    letters = sheet.letters
    headers = [h or f"（第 {letters[i] if i < len(letters) else column_letter(i)} 列）" for i, h in enumerate(headers)]
    rows = []
    skipped = []
    for line, values in sheet.rows[data_from:]:
        why = _footer_why(values)
        if why:
            skipped.append((line, why))
            notes.append(f"第 {line} 行是{why}，已跳过：“{' '.join(t for t in _texts(values) if t)[:40]}”。")
            continue
        rows.append((line, values))
    return Table(sheet=sheet.name, headers=headers, rows=rows, header_line=header_line,
                 context=_context(sheet.rows[:best_at]), notes=notes, score=best, skipped=skipped)


def detect_book(book: RawBook, field_of: Callable[[str], str]) -> list[Table]:
    """Every sheet's detected table, in the workbook's order."""
    return [detect(sheet, field_of) for sheet in book.sheets]
