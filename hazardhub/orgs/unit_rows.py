"""Reading unit rows from CSV or Excel and checking every row before anything is written.

Shared by the admin import page and ``flask tenants apply`` so both accept the same columns and
report the same row-level errors. Headers may be Chinese (what a clerk's spreadsheet has) or the
English keys used in tenants/*/units.csv.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import IO, Iterable

from hazardhub.orgs.models import OWNERSHIPS, SCHOOL_TYPES, UNIT_KINDS
from hazardhub import tables
from hazardhub.spreadsheets import ReadLimits, UnreadableFile, read_book

__all__ = ["COLUMNS", "REQUIRED", "HEADER_LABELS", "UnitRow", "ParseResult", "UnreadableFile", "read_table",
           "parse_unit_rows", "order_by_parents"]

#: column key -> accepted headers
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "单位代码"),
    "parent_code": ("parent_code", "上级单位代码"),
    "name": ("name", "单位名称", "名称"),
    "kind": ("kind", "类别", "单位类别"),
    "school_type": ("school_type", "学校类型"),
    "ownership": ("ownership", "办学性质"),
    "is_boarding": ("is_boarding", "寄宿制"),
    "enrolment": ("enrolment", "在校学生数", "学生数"),
    "staff_count": ("staff_count", "教职工数"),
    "address": ("address", "地址"),
    "contact_name": ("contact_name", "联系人"),
    "contact_phone": ("contact_phone", "联系电话"),
}
REQUIRED = ("code", "parent_code", "name", "kind")
HEADER_LABELS = {k: v[-1] if k != "name" else "单位名称" for k, v in COLUMNS.items()}
HEADER_LABELS.update({"code": "单位代码", "parent_code": "上级单位代码", "kind": "类别"})

_KIND_BY_LABEL = {label: key for key, label in UNIT_KINDS.items()}
_KIND_BY_LABEL.update({"学校": "school", "幼儿园": "school", "乡镇中心学校": "township_center",
                       "局属学校": "affiliated_school"})
_OWNERSHIP_BY_LABEL = {label: key for key, label in OWNERSHIPS.items()}
_TRUE = {"是", "y", "yes", "true", "1", "寄宿"}
_FALSE = {"否", "n", "no", "false", "0", "", "走读"}
#: the same rule as the unit form's code field
_CODE_RE = re.compile(r"^[A-Za-z0-9_\-]+$")
_LIMITS = {"code": 40, "name": 100, "address": 200, "contact_name": 40, "contact_phone": 30}


@dataclass
class UnitRow:
    line: int
    code: str
    parent_code: str
    name: str
    kind: str
    school_type: str | None = None
    ownership: str | None = None
    is_boarding: bool = False
    enrolment: int | None = None
    staff_count: int | None = None
    address: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None


@dataclass
class ParseResult:
    rows: list[UnitRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

    def error(self, line: int, message: str) -> None:
        self.errors.append((line, message))


def unit_field(header: str) -> str:
    """The unit column a header names, or ``""`` (spaces, brackets and a trailing * ignored)."""
    text = re.sub(r"[\s　()（）\[\]【】:：*＊]", "", header or "")
    for key, names in COLUMNS.items():
        if text in names or header.strip() in names:
            return key
    return ""


def read_table(filename: str, stream: IO[bytes], max_rows: int,
               limits: ReadLimits | None = None) -> list[list[str]]:
    """Return the rows (header first) of the unit table in a .csv, .xlsx or .xls upload as strings.

    The layout reader (:mod:`hazardhub.tables`) finds the table: a title block above the header,
    a two-level header, footers (合计, 填表人) and hidden columns are left out; of several sheets
    the one whose header names the most unit columns is read. ``max_rows`` bounds the data rows;
    ``limits`` (default: the config) bound every row read, blank ones included, and the seconds
    spent, so a sheet of a million empty rows is refused at once instead of tying up the web worker."""
    book = read_book(stream.read(), filename or "", limits)
    found = [tables.detect(sheet, unit_field) for sheet in book.sheets]
    best = max(found, key=lambda t: t.score) if found else None
    if best is None or not best.score:
        first = next((s for s in book.sheets if s.rows), None)
        return [] if first is None else [[_cell_text(v) if v is not None else "" for v in values]
                                          for _line, values in first.rows]
    if len(best.rows) > max_rows:
        raise UnreadableFile(f"行数超过上限 {max_rows} 行。")
    header = [h if unit_field(h) else "" for h in best.headers]
    return [header] + [["" if v is None else _cell_text(v) for v in values] for _line, values in best.rows]


def _cell_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_unit_rows(table: list[list[str]]) -> ParseResult:
    """Check the header and each row; collect every error instead of stopping at the first."""
    result = ParseResult()
    table = [r for r in table if any((c or "").strip() for c in r)]
    if not table:
        result.error(1, "文件为空。")
        return result
    header = [(h or "").strip() for h in table[0]]
    index: dict[str, int] = {}
    for key, names in COLUMNS.items():
        for i, h in enumerate(header):
            if h in names:
                index[key] = i
    missing = [HEADER_LABELS[k] for k in REQUIRED if k not in index]
    if missing:
        result.error(1, f"缺少必填列：{'、'.join(missing)}。")
        return result
    seen_codes: dict[str, int] = {}
    for line, raw in enumerate(table[1:], start=2):
        cell = lambda k: (raw[index[k]].strip() if k in index and index[k] < len(raw) else "")  # noqa: E731
        errors_before = len(result.errors)
        values = {k: cell(k) for k in COLUMNS}
        kind = _KIND_BY_LABEL.get(values["kind"], values["kind"])
        # a bureau row without a parent is the tree's root, as an export writes it; it is
        # accepted here and skipped by apply_unit_rows when it matches the importer's root
        is_root_row = kind == "bureau" and not values["parent_code"]
        for key in REQUIRED:
            if not values[key] and not (key == "parent_code" and is_root_row):
                result.error(line, f"“{HEADER_LABELS[key]}”不能为空。")
        for key, limit in _LIMITS.items():
            if len(values[key]) > limit:
                result.error(line, f"“{HEADER_LABELS[key]}”超过 {limit} 个字符。")
        if values["kind"] and kind not in UNIT_KINDS:
            result.error(line, f"类别“{values['kind']}”无效，应为：乡镇中心学校、局属学校、学校/幼儿园。")
        if kind == "bureau" and not is_root_row:
            result.error(line, "教育局本级单位由系统创建，不能导入。")
        school_type = values["school_type"] or None
        if school_type and school_type not in SCHOOL_TYPES:
            result.error(line, f"学校类型“{school_type}”无效，应为：{'、'.join(SCHOOL_TYPES)}。")
        if values["kind"] == "幼儿园" and not school_type:
            school_type = "幼儿园"
        ownership = values["ownership"] or None
        if ownership:
            ownership = _OWNERSHIP_BY_LABEL.get(ownership, ownership)
            if ownership not in OWNERSHIPS:
                result.error(line, f"办学性质“{values['ownership']}”无效，应为：公办、民办。")
        boarding_text = values["is_boarding"].lower()
        if boarding_text not in _TRUE | _FALSE:
            result.error(line, f"寄宿制“{values['is_boarding']}”无效，应为：是、否。")
        numbers = {}
        for key in ("enrolment", "staff_count"):
            text = values[key]
            if text and (not text.isdigit() or int(text) > 100000):
                result.error(line, f"“{HEADER_LABELS[key]}”应为 0–100000 的整数。")
            numbers[key] = int(text) if text.isdigit() and int(text) <= 100000 else None
        code = values["code"]
        if code:
            if not _CODE_RE.match(code):
                result.error(line, f"单位代码“{code}”无效：只能包含字母、数字、下划线和连字符。")
            if code in seen_codes:
                result.error(line, f"单位代码“{code}”与第 {seen_codes[code]} 行重复。")
            seen_codes.setdefault(code, line)
            if code == values["parent_code"]:
                result.error(line, "上级单位不能是自己。")
        if len(result.errors) == errors_before:
            result.rows.append(
                UnitRow(
                    line=line, code=code, parent_code=values["parent_code"], name=values["name"],
                    kind=kind, school_type=school_type, ownership=ownership,
                    is_boarding=boarding_text in _TRUE, enrolment=numbers["enrolment"],
                    staff_count=numbers["staff_count"], address=values["address"] or None,
                    contact_name=values["contact_name"] or None,
                    contact_phone=values["contact_phone"] or None,
                )
            )
    if len(table) == 1:
        result.error(1, "文件只有表头，没有数据行。")
    return result


def order_by_parents(rows: Iterable[UnitRow], known_codes: set[str]) -> tuple[list[UnitRow], list[tuple[int, str]]]:
    """Order rows so each parent comes before its children; report unknown parents and cycles."""
    pending = {r.code: r for r in rows}
    ordered: list[UnitRow] = []
    available = set(known_codes)
    progress = True
    while pending and progress:
        progress = False
        for code, row in list(pending.items()):
            if row.parent_code in available:
                ordered.append(row)
                available.add(code)
                del pending[code]
                progress = True
    errors = [
        (row.line, f"上级单位代码“{row.parent_code}”不存在（或不在您的管辖范围内）。")
        for row in sorted(pending.values(), key=lambda r: r.line)
    ]
    return ordered, errors
