"""Reading unit rows from CSV or Excel and checking every row before anything is written.

Shared by the admin import page and ``flask tenants apply`` so both accept the same columns and
report the same row-level errors. Headers may be Chinese (what a clerk's spreadsheet has) or the
English keys used in tenants/*/units.csv.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import IO, Iterable

from hazardhub.orgs.models import OWNERSHIPS, SCHOOL_TYPES, UNIT_KINDS
from hazardhub import tables
from hazardhub.spreadsheets import ReadLimits, UnreadableFile, read_book

__all__ = ["COLUMNS", "REQUIRED", "HEADER_LABELS", "UnitRow", "ParseResult", "UnreadableFile", "read_table",
           "parse_unit_rows", "order_by_parents", "read_unit_table", "LABELS"]

#: column key -> accepted headers
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "单位代码", "学校代码", "学校标识码", "标识码", "机构代码"),
    "parent_code": ("parent_code", "上级单位代码"),
    "name": ("name", "单位名称", "名称", "学校名称", "学校", "学校全称", "单位"),
    # a county's own list names the township, not its code: resolved by name at import
    "parent_name": ("parent_name", "所属乡镇", "乡镇", "所属学区", "学区", "所属中心校", "所属乡镇街道", "乡镇街道",
                    "上级单位", "所属单位"),
    "kind": ("kind", "类别", "单位类别"),
    "school_type": ("school_type", "学校类型", "学段", "办学类型", "学校类别", "类型"),
    "ownership": ("ownership", "办学性质", "性质", "公办民办"),
    "is_boarding": ("is_boarding", "寄宿制", "是否寄宿", "是否寄宿制"),
    "enrolment": ("enrolment", "在校学生数", "学生数", "在校生数", "学生人数", "在校生", "学生"),
    "staff_count": ("staff_count", "教职工数", "教职工人数", "教师数", "教职工", "教师人数"),
    "address": ("address", "地址", "学校地址", "详细地址"),
    "contact_name": ("contact_name", "联系人"),
    "contact_phone": ("contact_phone", "联系电话", "电话", "校长电话", "手机", "联系方式"),
    # the principal's account is created with a one-time password (a file for the bureau)
    "principal": ("principal", "校长", "校长姓名", "负责人"),
}
#: at least these columns; code, parent and kind are derived when the file has no such column
REQUIRED = ("name",)
#: required per row when the file has the column
REQUIRED_IF_PRESENT = ("code", "parent_code", "kind")
#: the columns of the unit export (and so of a re-import), in order
HEADER_LABELS = {"code": "单位代码", "parent_code": "上级单位代码", "name": "单位名称",
                 "kind": "类别", "school_type": "学校类型", "ownership": "办学性质", "is_boarding": "寄宿制",
                 "enrolment": "学生数", "staff_count": "教职工数", "address": "地址", "contact_name": "联系人",
                 "contact_phone": "联系电话"}
#: every column's label, the ones a county's own list adds too
LABELS = {**HEADER_LABELS, "parent_name": "所属乡镇", "principal": "校长"}

#: what county lists write for 学段/类型 -> (school type, ownership or None)
_SCHOOL_TYPE_WORDS = {
    "小学": "小学", "完全小学": "小学", "完小": "小学", "村小": "小学", "教学点": "小学", "中心小学": "小学",
    "初中": "初中", "初级中学": "初中", "中学": "初中", "独立初中": "初中",
    "九年一贯制": "九年一贯制", "九年一贯制学校": "九年一贯制", "九年制": "九年一贯制", "一贯制": "九年一贯制",
    "幼儿园": "幼儿园", "幼儿": "幼儿园", "学前": "幼儿园", "学前教育": "幼儿园", "幼教": "幼儿园",
    "高中": "高中", "高级中学": "高中", "完全中学": "高中", "普通高中": "高中",
    "职业学校": "职业学校", "职高": "职业学校", "中职": "职业学校", "职业高中": "职业学校", "职教中心": "职业学校",
    "特殊教育": "特殊教育", "特殊教育学校": "特殊教育", "特校": "特殊教育",
}
_NUMBER_RE = re.compile(r"^(?:约|大约|近)?\s*([\d,，]+)\s*(?:余|多)?\s*(?:人|名)?$")

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
    #: a township named by the file instead of a parent code (resolved at import)
    parent_name: str | None = None
    principal: str | None = None


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


def read_unit_table(filename: str, stream: IO[bytes], max_rows: int,
                    limits: ReadLimits | None = None) -> tuple[list[list[str]], list[int]]:
    """The rows (header first) of the unit table in a .csv, .xlsx or .xls upload as strings, and
    each row's number in the sheet (so errors name the row the clerk sees).

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
        if first is None:
            return [], []
        return ([[_cell_text(v) if v is not None else "" for v in values] for _line, values in first.rows],
                [line for line, _values in first.rows])
    if len(best.rows) > max_rows:
        raise UnreadableFile(f"行数超过上限 {max_rows} 行。")
    header = [h if unit_field(h) else "" for h in best.headers]
    rows = [header] + [["" if v is None else _cell_text(v) for v in values] for _line, values in best.rows]
    return rows, [best.header_line] + [line for line, _values in best.rows]


def read_table(filename: str, stream: IO[bytes], max_rows: int,
               limits: ReadLimits | None = None) -> list[list[str]]:
    """:func:`read_unit_table` without the row numbers."""
    return read_unit_table(filename, stream, max_rows, limits)[0]


def _cell_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def generated_code(parent: str, name: str) -> str:
    """A stable code for a unit whose list has none (the same list imported again updates it)."""
    return "U" + hashlib.sha1(f"{parent}/{name}".encode("utf-8")).hexdigest()[:8].upper()


def read_count(text: str) -> int | None:
    """“1,200”, “约80”, “156人”, “80余人” -> the number; None when it is not one."""
    match = _NUMBER_RE.match(text.strip())
    if not match:
        return None
    digits = re.sub(r"[,，]", "", match.group(1))
    return int(digits) if digits.isdigit() else None


def _kind_of(values: dict[str, str]) -> str:
    """The unit kind when the list has no 类别 column: a 中心学校 is the township's, else a school."""
    name = values["name"]
    if re.search(r"(中心学校|中心校|学区)$", name) and not values["school_type"]:
        return "township_center"
    return "school"


def parse_unit_rows(table: list[list[str]], lines: list[int] | None = None) -> ParseResult:
    """Check the header and each row; collect every error instead of stopping at the first.
    ``lines``: the sheet row number of each table row (header first), else 1, 2, 3, …"""
    result = ParseResult()
    if lines is None:
        kept = [(i, r) for i, r in enumerate(table, start=1) if any((c or "").strip() for c in r)]
    else:
        kept = [(n, r) for n, r in zip(lines, table) if any((c or "").strip() for c in r)]
    if not kept:
        result.error(1, "文件为空。")
        return result
    header_line, header_row = kept[0]
    header = [(h or "").strip() for h in header_row]
    index: dict[str, int] = {}
    for key, names in COLUMNS.items():
        for i, h in enumerate(header):
            if h in names or unit_field(h) == key:
                index.setdefault(key, i)
    missing = [LABELS[k] for k in REQUIRED if k not in index]
    if "code" in index and "parent_code" not in index and "parent_name" not in index:
        missing.append(LABELS["parent_code"])
    if missing:
        result.error(header_line, f"缺少必填列：{'、'.join(missing)}。")
        return result
    seen_codes: dict[str, int] = {}
    for line, raw in kept[1:]:
        cell = lambda k: (raw[index[k]].strip() if k in index and index[k] < len(raw) else "")  # noqa: E731
        errors_before = len(result.errors)
        values = {k: cell(k) for k in COLUMNS}
        written_type = values["school_type"]
        compact_type = re.sub(r"[\s（）()]", "", written_type.replace("民办", "").replace("公办", ""))
        if written_type and written_type not in SCHOOL_TYPES:
            values["school_type"] = _SCHOOL_TYPE_WORDS.get(compact_type, written_type)
        if "民办" in written_type and not values["ownership"]:
            values["ownership"] = "民办"
        if values["kind"] in _SCHOOL_TYPE_WORDS:  # 类别 written as 小学 / 初中 …
            values["school_type"] = values["school_type"] or _SCHOOL_TYPE_WORDS[values["kind"]]
            values["kind"] = "学校/幼儿园"
        if "kind" not in index:
            values["kind"] = UNIT_KINDS[_kind_of(values)]
        if "code" not in index and values["name"]:
            values["code"] = generated_code(values["parent_name"] or values["parent_code"], values["name"])
        kind = _KIND_BY_LABEL.get(values["kind"], values["kind"])
        # a bureau row without a parent is the tree's root, as an export writes it; it is
        # accepted here and skipped by apply_unit_rows when it matches the importer's root
        is_root_row = kind == "bureau" and not values["parent_code"]
        for key in REQUIRED + REQUIRED_IF_PRESENT:
            if key != "name" and key not in index:
                continue
            if key == "parent_code" and (is_root_row or values["parent_name"]):
                continue
            if not values[key]:
                result.error(line, f"“{LABELS[key]}”不能为空。")
        for key, limit in _LIMITS.items():
            if len(values[key]) > limit:
                result.error(line, f"“{LABELS[key]}”超过 {limit} 个字符。")
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
            number = read_count(text) if text else None
            if text and (number is None or number > 100000):
                result.error(line, f"“{LABELS[key]}”应为 0–100000 的整数（表中为“{text}”；可写 1,200、约80、156人）。")
            numbers[key] = number if number is not None and number <= 100000 else None
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
                    parent_name=values["parent_name"] or None, principal=values["principal"][:40] or None,
                )
            )
    if len(kept) == 1:
        result.error(header_line, "文件只有表头，没有数据行。")
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
