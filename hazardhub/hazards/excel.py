"""The ledger as Excel: export in the usual column order, import of an existing school ledger.

Export: :func:`write_ledger` writes the 18 ledger columns (domain-reference §4.1 order) plus a
second sheet 说明 with the scope, export time (Beijing), row count and the audit-chain head, so a
printed ledger can be traced to the database state it came from. Schools, townships, acceptors and
citations are loaded in bulk (one query each), never per row. It is written through
:mod:`hazardhub.spreadsheets`, so no text (a school renamed ``=HYPERLINK(…)``) is ever a formula.

Import: :func:`read_ledger_xlsx` reads a clerk's .xlsx safely through
:func:`hazardhub.spreadsheets.read_xlsx` (magic bytes, zip size, every row counted — blank ones
too — against the row and time limits, values only, no formulas evaluated); the parsed sheet is
kept as JSON (:meth:`Sheet.dumps`) for the mapping step; the user maps each header to a field (:func:`guess_mapping`
proposes defaults); :func:`parse_ledger` checks every row and collects every error as
``(row, column header, Chinese message)``; :func:`import_rows` registers all rows through the
ledger's own rules in ONE versioned transaction whose meta carries the file's SHA-256, or nothing.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
import calendar
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

import sqlalchemy as sa

from hazardhub import clock, spreadsheets, tables
from hazardhub.accounts.models import User
from hazardhub.audit import chain_head, tx_meta
from hazardhub.extensions import db
from hazardhub.hazards import import_history
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import CATEGORIES, LEVELS, SOURCES, STATUSES, Hazard, HazardCitation
from hazardhub.hazards.models import ImportValueChoice
from hazardhub.notifications import operations as notes
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.spreadsheets import UnreadableFile
from hazardhub.standards import operations as catalogue
from hazardhub.web import local_time

__all__ = ["LEDGER_COLUMNS", "SYNC_EXPORT_LIMIT", "UnreadableFile", "write_ledger", "read_ledger_xlsx",
           "guess_mapping", "parse_ledger", "import_rows"]

#: the ledger's columns, in the order every school's paper ledger uses
LEDGER_COLUMNS = (
    "序号", "学校", "所属乡镇", "排查日期", "排查人", "隐患部位", "类别", "隐患描述", "等级", "判定依据",
    "整改措施", "责任人", "资金", "整改时限", "状态", "验收人", "验收日期", "销号日期",
    # after the paper ledger's 18 columns, everything else the import needs (export → import is identity)
    "检查类型", "责任部门", "临时管控措施", "应急预案", "整改完成日期",
)
_WIDTHS = (20, 22, 16, 12, 10, 26, 12, 44, 8, 44, 32, 10, 12, 12, 8, 10, 12, 12, 16, 12, 32, 32, 12)
_DATE_COLUMNS = {3, 13, 16, 17, 22}
_WRAP_COLUMNS = {7, 9, 10, 20, 21}
_FUNDS_COLUMN = 12
_HEADER_STYLE = spreadsheets.Style(bold=True, horizontal="center", vertical="center")
_ROW_STYLES = {
    **{i: spreadsheets.Style(number_format="yyyy-mm-dd") for i in _DATE_COLUMNS},
    **{i: spreadsheets.Style(wrap=True, vertical="top") for i in _WRAP_COLUMNS},
    _FUNDS_COLUMN: spreadsheets.Style(number_format="0.00"),
}

#: up to this many rows the web process writes the file at once; beyond, a background run
SYNC_EXPORT_LIMIT = 2000

#: an imported closed hazard keeps its acceptor's name here (the acceptor has no account)
ACCEPTOR_NOTE = "导入台账，原验收人："

XLSX_MIME = spreadsheets.XLSX_MIME


def _chunks(values: list, size: int = 900):
    for i in range(0, len(values), size):
        yield values[i:i + size]


# ---------------------------------------------------------------------------------------------
# export


def _path_ids(path: str) -> list[int]:
    return [int(p) for p in path.strip("/").split("/") if p]


def _township_name(path: str, units: dict[int, OrgUnit]) -> str:
    """The township central school above (or at) the unit; else 本级 (the bureau) or 局属."""
    chain = [units.get(i) for i in _path_ids(path)]
    for unit in reversed(chain):
        if unit is not None and unit.kind == "township_center":
            return unit.name
    own = chain[-1] if chain else None
    if own is not None and own.kind == "bureau":
        return "本级"
    return "局属"


def basis_text(numbers: list[str], rule: str | None) -> str:
    """判定依据: the cited item numbers, then the rule that decided the level (one line each)."""
    parts = []
    if numbers:
        parts.append("条目：" + "、".join(numbers))
    if rule:
        parts.append(rule)
    return "\n".join(parts)


def ledger_rows(hazards: list[Hazard]) -> list[tuple]:
    """The export rows as plain values, with everything they need loaded in bulk."""
    unit_ids = sorted({i for h in hazards for i in _path_ids(h.school_path)})
    units: dict[int, OrgUnit] = {}
    for chunk in _chunks(unit_ids):
        units.update({u.id: u for u in db.session.execute(sa.select(OrgUnit).where(OrgUnit.id.in_(chunk))).scalars()})

    user_ids = sorted({h.accepted_by_id for h in hazards if h.accepted_by_id})
    users: dict[int, str] = {}
    for chunk in _chunks(user_ids):
        users.update(dict(db.session.execute(
            sa.select(User.id, User.display_name).where(User.id.in_(chunk))).all()))
    numbers: dict[int, list[str]] = {}
    hazard_ids = [h.id for h in hazards]
    for chunk in _chunks(hazard_ids):
        for hazard_id, number in db.session.execute(
            sa.select(HazardCitation.hazard_id, HazardCitation.item_number)
            .where(HazardCitation.hazard_id.in_(chunk), HazardCitation.is_active.is_(True))
            .order_by(HazardCitation.id)
        ).all():
            numbers.setdefault(hazard_id, []).append(number)
    rows = []
    for h in hazards:
        school = units.get(h.school_id)
        acceptor = users.get(h.accepted_by_id) if h.accepted_by_id else None
        if acceptor is None and (h.acceptance_note or "").startswith(ACCEPTOR_NOTE):
            acceptor = h.acceptance_note[len(ACCEPTOR_NOTE):].strip()
        rows.append((
            h.number, school.name if school else "", _township_name(h.school_path, units), h.found_on,
            h.found_by_name, h.location, h.category, h.description, LEVELS.get(h.level, h.level),
            basis_text(numbers.get(h.id, []), h.determination_rule), h.measures or "",
            h.responsible_person or "", h.funds, h.deadline, STATUSES.get(h.status, h.status),
            acceptor or "", h.accepted_on, h.closed_on,
            SOURCES.get(h.source, h.source), h.responsible_dept or "", h.interim_controls or "",
            h.contingency_plan or "", h.rectified_on,
        ))
    return rows


def chain_heads(tenant_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    return {tid: chain_head(tid) for tid in sorted(set(tenant_ids))}


def format_head(head: tuple[int, str]) -> str:
    return f"{head[0]}:{head[1]}"


def write_ledger(hazards: list[Hazard], title: str, *, tenant_id: int, scope: str = "", filters: str = "",
                 heads: dict[int, tuple[int, str]] | None = None,
                 progress: Callable[[int], None] | None = None) -> bytes:
    """The ledger workbook as bytes.

    ``heads`` are the audit-chain heads to record (default: the tenant's and those of every
    tenant whose hazards are listed, as committed now). ``progress`` is called with 0..100 while
    rows are written; every value is read before the first call, so a callback that commits
    (expiring the session) costs no reloads.
    """
    from openpyxl.utils import get_column_letter

    rows = ledger_rows(hazards)
    if heads is None:
        heads = chain_heads({tenant_id} | {h.tenant_id for h in hazards})
    tenant_names = dict(db.session.execute(
        sa.select(Tenant.id, Tenant.name).where(Tenant.id.in_(list(heads)))).all()) if heads else {}

    book = spreadsheets.Book(title)
    ws = book.sheet("隐患台账", widths=_WIDTHS, freeze="A2")
    ws.append(LEDGER_COLUMNS, style=_HEADER_STYLE)
    total = len(rows)
    step = max(500, total // 20 or 1)
    for n, row in enumerate(rows, start=1):
        ws.append(row, style=_ROW_STYLES)
        if progress is not None and n % step == 0:
            progress(100 * n // total)
    ws.auto_filter(f"A1:{get_column_letter(len(LEDGER_COLUMNS))}{total + 1}")

    notes = book.sheet("说明", widths=(22, 90))
    notes.append(["标题", title])
    notes.append(["导出范围", scope])
    if filters:
        notes.append(["筛选条件", filters])
    notes.append(["导出时间（北京时间）", local_time(clock.utcnow(), "%Y-%m-%d %H:%M:%S")])
    notes.append(["记录数", total])
    for tid, head in heads.items():
        label = "审计链头" if len(heads) == 1 else f"审计链头（{tenant_names.get(tid, tid)}）"
        notes.append([label, format_head(head)])
    notes.append(["说明", "审计链头为导出时该单位审计哈希链的最新序号与哈希值，可在“审计链”页面核对本表导出时的数据状态。"])
    data = book.to_bytes()
    if progress is not None:
        progress(100)
    return data


# ---------------------------------------------------------------------------------------------
# import: reading the file

#: field key -> label shown in the mapping form
FIELD_LABELS: dict[str, str] = {
    "found_on": "排查日期",
    "found_by_name": "排查人",
    "source": "检查类型（来源）",
    "category": "隐患类别",
    "location": "隐患部位",
    "description": "隐患描述",
    "level": "隐患等级（一般/重大）",
    "items": "判定依据（条目编号）",
    "measures": "整改措施",
    "responsible_person": "整改责任人",
    "responsible_dept": "责任部门",
    "funds": "整改资金（元）",
    "deadline": "整改时限",
    "interim_controls": "临时管控措施",
    "contingency_plan": "应急预案",
    "status": "状态",
    "accepted_by_name": "验收人",
    "accepted_on": "验收日期",
    "closed_on": "销号日期",
    "rectified_on": "整改完成日期",
}
REQUIRED_FIELDS = ("found_on", "found_by_name", "category", "location", "description")

#: header texts recognised for each field (compared without spaces and brackets)
_ALIASES: dict[str, tuple[str, ...]] = {
    "found_on": ("排查日期", "检查日期", "发现日期", "排查时间", "检查时间"),
    "found_by_name": ("排查人", "检查人", "发现人", "排查人员", "检查人员"),
    "source": ("检查类型", "来源", "隐患来源", "检查方式", "排查类型", "检查类别"),
    "category": ("类别", "隐患类别", "隐患类型", "隐患分类"),
    "location": ("隐患部位", "部位", "隐患位置", "位置", "隐患地点", "地点"),
    "description": ("隐患描述", "隐患内容", "问题描述", "存在问题", "隐患情况", "隐患名称"),
    "level": ("等级", "隐患等级", "隐患级别", "级别"),
    "items": ("判定依据", "依据", "判定条目", "条目编号", "依据条目"),
    "measures": ("整改措施", "措施", "治理措施"),
    "responsible_person": ("责任人", "整改责任人", "责任人员"),
    "responsible_dept": ("责任部门", "责任单位", "整改部门"),
    "funds": ("资金", "整改资金", "经费", "整改经费", "资金元", "整改资金元"),
    "deadline": ("整改时限", "整改期限", "完成时限", "时限", "整改完成时限"),
    "interim_controls": ("临时管控措施", "管控措施", "临时措施", "临时管控"),
    "contingency_plan": ("应急预案", "预案"),
    "status": ("状态", "整改状态", "治理状态", "完成情况", "整改完成情况", "整改情况", "是否整改", "整改结果",
               "销号情况", "是否销号", "是否完成"),
    "accepted_by_name": ("验收人",),
    "accepted_on": ("验收日期", "验收时间"),
    "closed_on": ("销号日期", "销号时间", "完成日期", "完成时间"),
    "rectified_on": ("整改完成日期", "整改完成时间", "整改日期"),
}

_MAX_COLUMNS = 60


@dataclass
class Sheet:
    """One sheet's detected table: its header texts (a sub-header joined to its parent), the data
    rows with their sheet row numbers, and the title block's context and the reader's notes."""

    headers: list[str]
    rows: list[tuple[int, list[Any]]]
    header_line: int = 1
    name: str = ""
    context: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    score: int = 0
    #: (sheet row, why) of the footer rows left out
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        return {"headers": self.headers, "header_line": self.header_line, "name": self.name,
                "context": self.context, "notes": self.notes, "score": self.score,
                "skipped": [list(s) for s in self.skipped]}

    @classmethod
    def from_payload(cls, payload: dict[str, Any], rows: list) -> "Sheet":
        return cls(headers=[str(h) for h in payload["headers"]], rows=rows, header_line=int(payload["header_line"]),
                   name=str(payload.get("name") or ""), context=dict(payload.get("context") or {}),
                   notes=list(payload.get("notes") or []), score=int(payload.get("score") or 0),
                   skipped=[(int(a), str(b)) for a, b in payload.get("skipped") or []])

    def dumps(self) -> bytes:
        """The parsed sheet as JSON, kept between the upload and the mapping step so the file is
        read once (cell types survive: a date cell is still a date)."""
        return spreadsheets.dump_rows(self.payload(), self.rows)

    @classmethod
    def loads(cls, data: bytes) -> "Sheet":
        payload, rows = spreadsheets.load_rows(data)
        return cls.from_payload(payload, rows)

    def describe(self) -> str:
        if not self.score:
            return f"{self.name}：未识别出台账表格"
        title = self.context.get("title") or "表格"
        return f"{self.name}：{title}（表头在第 {self.header_line} 行，{len(self.rows)} 行数据）"

    def samples(self, column: int, n: int = 2) -> list[str]:
        out = []
        for _line, values in self.rows:
            if column < len(values) and values[column] not in (None, ""):
                out.append(_text(values[column])[:30])
                if len(out) == n:
                    break
        return out

    def distinct(self, column: int) -> list[str]:
        """The distinct non-empty texts of a column, in the order they first appear."""
        seen: dict[str, None] = {}
        for _line, values in self.rows:
            if column < len(values):
                text = _text(values[column])
                if text:
                    seen.setdefault(text, None)
        return list(seen)


def dump_sheets(sheets: list[Sheet]) -> bytes:
    return spreadsheets.dump_sheets([(s.payload(), s.rows) for s in sheets])


def load_sheets(data: bytes) -> list[Sheet]:
    return [Sheet.from_payload(payload, rows) for payload, rows in spreadsheets.load_sheets(data)]


def _normal(header: str) -> str:
    text = re.sub(r"[\s　]+", "", header or "")
    return re.sub(r"[()（）\[\]【】:：*＊]", "", text)


def _guess_one(h: str) -> str:
    if not h:
        return ""
    for key, names in _ALIASES.items():
        if h in names:
            return key
    best, best_len = "", 0
    for key, names in _ALIASES.items():
        for name in names:
            if len(name) >= 2 and name in h and len(name) > best_len:
                best, best_len = key, len(name)
    return best


def guess_field(header: str) -> str:
    """The field a header most likely means, or ``""``. A joined two-level header
    (“整改情况/措施”) is read by its sub-header first, then parent and sub together."""
    h = _normal(header)
    if "/" in h:
        parent, _, sub = h.rpartition("/")
        for candidate in (sub, parent + sub):
            for key, names in _ALIASES.items():
                if candidate in names:
                    return key
        return _guess_one(sub) or _guess_one(parent)
    return _guess_one(h)


def guess_mapping(headers: list[str]) -> dict[int, str]:
    """Column index -> field key; each field at most once (the first matching column)."""
    mapping: dict[int, str] = {}
    used: set[str] = set()
    for i, header in enumerate(headers):
        key = guess_field(header)
        if key and key not in used:
            mapping[i] = key
            used.add(key)
    return mapping


def read_ledger(data: bytes, filename: str, max_rows: int,
                limits: spreadsheets.ReadLimits | None = None) -> list[Sheet]:
    """Every sheet of an .xlsx, .xls or .csv upload with its detected ledger table (title block,
    two-level header, footers: :mod:`hazardhub.tables`), the best table first is NOT implied —
    sheets keep the workbook's order; :func:`best_sheet` picks the default.

    ``max_rows`` bounds the data rows; ``limits`` (default: the config) bound every row read,
    blank ones included, and the seconds spent."""
    book = spreadsheets.read_book(data, filename, limits)
    found = [tables.detect(raw, guess_field) for raw in book.sheets]
    if not any(t.score for t in found):
        # no header names two known columns: the first non-empty sheet's first row is the header
        found = [tables.detect(raw, guess_field, first_row=bool(raw.rows) and raw is next(
            (r for r in book.sheets if r.rows), None)) for raw in book.sheets]
    sheets = []
    for raw, table in zip(book.sheets, found):
        for line, values in raw.rows:
            if len(values) > _MAX_COLUMNS:
                raise UnreadableFile(f"工作表“{raw.name}”第 {line} 行超过 {_MAX_COLUMNS} 列，请只保留台账各列。")
        if len(table.rows) > max_rows:
            raise UnreadableFile(f"行数超过上限 {max_rows} 行，请分成几个文件导入。")
        notes = list(table.notes)
        if book.encoding:
            notes.insert(0, f"CSV 文件编码：{book.encoding}。")
        sheets.append(Sheet(headers=table.headers, rows=table.rows, header_line=table.header_line, name=table.sheet,
                            context=table.context, notes=notes, score=table.score, skipped=table.skipped))
    if not any(s.rows or s.headers for s in sheets):
        raise UnreadableFile("文件是空的。")
    return sheets


def best_sheet(sheets: list[Sheet]) -> int:
    """The index of the sheet whose table names the most ledger columns (the first on a tie)."""
    return max(range(len(sheets)), key=lambda i: (sheets[i].score, len(sheets[i].rows) > 0, -i)) if sheets else 0


def read_ledger_xlsx(data: bytes, max_rows: int, limits: spreadsheets.ReadLimits | None = None) -> Sheet:
    """The best sheet of an .xlsx upload (see :func:`read_ledger`)."""
    if not data.startswith(b"PK\x03\x04"):
        raise UnreadableFile("文件内容不是 Excel 文件（.xlsx），请用 Excel 另存为 .xlsx 后重新上传。")
    sheets = read_ledger(data, "ledger.xlsx", max_rows, limits)
    return sheets[best_sheet(sheets)]


# ---------------------------------------------------------------------------------------------
# import: values mapped, not only columns

#: the columns whose values are chosen from a fixed list: field -> {key: label}
VALUE_FIELDS: dict[str, dict[str, str]] = {
    "category": {c: c for c in CATEGORIES},
    "level": dict(LEVELS),
    "status": {k: v for k, v in STATUSES.items() if k != "voided"},
    "source": dict(SOURCES),
}
_SYNONYMS_PATH = Path(__file__).with_name("data") / "import_synonyms.json"


@lru_cache(maxsize=1)
def synonyms() -> dict[str, dict[str, str]]:
    """The shipped synonym table (hazardhub/hazards/data/import_synonyms.json), keys without spaces."""
    data = json.loads(_SYNONYMS_PATH.read_text(encoding="utf-8"))
    return {f: {re.sub(r"\s+", "", k): v for k, v in data.get(f, {}).items()} for f in VALUE_FIELDS}


def _value_key(field_key: str, text: str) -> str:
    """The value's key when the text already is one of the field's values (key or label)."""
    allowed = VALUE_FIELDS[field_key]
    if text in allowed:
        return text
    for key, label in allowed.items():
        if text == label or (field_key == "source" and text == re.sub(r"（.*?）", "", label)):
            return key
    return ""


def suggest_value(field_key: str, text: str, remembered: dict[str, str] | None = None) -> str:
    """What a value most likely means: itself if valid, the tenant's remembered choice, the
    synonym table, a category named inside it (“教学楼消防” → 校园消防); else ``""``."""
    text = (text or "").strip()
    if not text:
        return ""
    own = _value_key(field_key, text)
    if own:
        return own
    if remembered and remembered.get(text) in VALUE_FIELDS[field_key]:
        return remembered[text]
    compact = re.sub(r"\s+", "", text)
    table = synonyms()[field_key]
    if compact in table:
        return table[compact]
    for word in sorted(table, key=len, reverse=True):
        if len(word) >= 2 and word in compact:
            return table[word]
    return ""


def remembered_values(tenant_id: int) -> dict[str, dict[str, str]]:
    """The tenant's remembered choices: field -> {value: choice}."""
    out: dict[str, dict[str, str]] = {f: {} for f in VALUE_FIELDS}
    for row in db.session.execute(sa.select(ImportValueChoice).where(ImportValueChoice.tenant_id == tenant_id)).scalars():
        out.setdefault(row.field, {})[row.value] = row.choice
    return out


def remember_values(tenant_id: int, chosen: dict[str, dict[str, str]]) -> None:
    """Keep the clerk's choices for the tenant (added to the session; committed with the import)."""
    existing = {(r.field, r.value): r for r in db.session.execute(
        sa.select(ImportValueChoice).where(ImportValueChoice.tenant_id == tenant_id)).scalars()}
    for field_key, values in chosen.items():
        for value, choice in values.items():
            if not value or len(value) > 100 or choice not in VALUE_FIELDS.get(field_key, {}):
                continue
            if _value_key(field_key, value) == choice:
                continue  # nothing to remember: the file already wrote the value itself
            row = existing.get((field_key, value))
            if row is None:
                db.session.add(ImportValueChoice(tenant_id=tenant_id, field=field_key, value=value, choice=choice))
            elif row.choice != choice:
                row.choice = choice


def values_to_map(sheet: "Sheet", column_map: dict[int, str], remembered: dict[str, dict[str, str]]
                  ) -> dict[str, list[tuple[str, int, str]]]:
    """For each mapped value column: (distinct value, rows with it, suggestion) in file order."""
    out: dict[str, list[tuple[str, int, str]]] = {}
    for index, key in sorted(column_map.items()):
        if key not in VALUE_FIELDS:
            continue
        counts: dict[str, int] = {}
        for _line, values in sheet.rows:
            if index < len(values):
                text = _text(values[index])
                if text and text not in _EMPTY_WORDS:
                    counts[text] = counts.get(text, 0) + 1
        out[key] = [(text, n, suggest_value(key, text, remembered.get(key))) for text, n in counts.items()]
    return out


# ---------------------------------------------------------------------------------------------
# import: checking the rows


@dataclass
class LedgerRow:
    """One checked row, ready for :func:`import_rows`."""

    line: int
    data: dict[str, Any]
    item_ids: list[int]
    level: str = "general"
    status: str = "registered"
    accepted_on: date | None = None
    closed_on: date | None = None
    accepted_by_name: str | None = None
    #: plan items a major hazard's ledger lacked (marked 待补充; the school is reminded)
    plan_missing: list[str] = field(default_factory=list)
    rectified_on: date | None = None


@dataclass
class LedgerParse:
    rows: list[LedgerRow] = field(default_factory=list)
    #: (sheet row, column header, message)
    errors: list[tuple[int, str, str]] = field(default_factory=list)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    return tables.cell_text(value)


_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$")
#: a date without its year (4月10日, 4月10号, 4.10): the year comes from the file's context
_NO_YEAR_RE = re.compile(r"^(\d{1,2})\s*[月.]\s*(\d{1,2})\s*[日号]?$")
#: written in a ledger where nothing is known yet: the cell counts as empty
_EMPTY_WORDS = frozenset({"无", "待定", "暂无", "未定", "/", "-", "—", "——", "－", "无无", "不详", "空"})
_IMMEDIATE = frozenset({"立即", "即查即改", "立即整改", "当场整改", "马上整改", "现场整改", "立行立改", "已当场整改", "当天"})
_LONG_TERM = frozenset({"长期", "长期整改", "持续整改", "长期坚持", "持续"})
#: the note 长期 leaves in the plan (the decision: no fixed deadline; see the README)
LONG_TERM_NOTE = "（原表整改时限：长期）"
_MONTH_END_RE = re.compile(r"^(?:(\d{4})\s*年)?\s*(\d{1,2})\s*月\s*(?:底|末|份)\s*(?:前|之前)?(?:完成)?$")
_WITHIN_RE = re.compile(r"^([一二两三四五六七八九十\d]{1,3})\s*(个)?\s*(天|日|周|星期|个?月)\s*(?:内|之内)(?:完成)?$")
_CN_NUMBER = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


class ImpossibleDate(ValueError):
    """Written like a date, but no such day exists (2025.4.31)."""


def read_date(value: Any, *, year: int | None = None) -> date | None:
    """:func:`parse_date`, plus dates without a year (4月10日, 4.10 — ``year`` from the file's
    context) and 号 for 日; raises :class:`ImpossibleDate` for a day that does not exist."""
    text = _text(value)
    match = _DATE_RE.match(text) if isinstance(value, str) else None
    no_year = _NO_YEAR_RE.match(text) if isinstance(value, str) and year else None
    if match or no_year:
        y, m, d = (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else (
            year, int(no_year.group(1)), int(no_year.group(2)))
        try:
            return date(y, m, d)
        except ValueError:
            raise ImpossibleDate(text) from None
    return parse_date(value)


def _chinese_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if text.startswith("十"):
        return 10 + _CHINESE_DIGIT(text[1:])
    if "十" in text:
        tens, _, ones = text.partition("十")
        return _CHINESE_DIGIT(tens) * 10 + (_CHINESE_DIGIT(ones) if ones else 0)
    return _CHINESE_DIGIT(text)


def _CHINESE_DIGIT(text: str) -> int:  # noqa: N802 - reads as the table it is
    return _CN_NUMBER.get(text, 0)


def read_deadline(value: Any, found_on: date | None, *, year: int | None = None
                  ) -> tuple[date | None, int | None, str]:
    """A 整改时限 as people write it: (deadline, working days, note); raises ValueError with the
    Chinese reason when it cannot be read. 立即 / 即查即改 = the 排查 date; “5月底前” = the month's
    last day; “一周内”, “3天内”, “一个月内” from the 排查 date; “N个工作日” counted later on the
    holiday calendar; 长期 = no fixed deadline (the note keeps the original wording)."""
    text = re.sub(r"\s+", "", _text(value))
    if text in _IMMEDIATE:
        if found_on is None:
            raise ValueError(f"整改时限“{text}”按排查日期计算，但排查日期为空。")
        return found_on, None, ""
    if text in _LONG_TERM:
        return None, None, LONG_TERM_NOTE
    match = _WORKDAYS_RE.match(text)
    if match:
        days = int(match.group(1))
        if not 1 <= days <= 365:
            raise ValueError("整改时限的工作日数应为 1–365。")
        return None, days, ""
    match = _MONTH_END_RE.match(text)
    if match:
        month = int(match.group(2))
        y = int(match.group(1)) if match.group(1) else (found_on.year if found_on else year)
        if not y or not 1 <= month <= 12:
            raise ValueError(f"整改时限“{text}”无法确定年份或月份。")
        if not match.group(1) and found_on and month < found_on.month:
            y += 1  # “3月底前” written in November means next March
        return date(y, month, calendar.monthrange(y, month)[1]), None, ""
    match = _WITHIN_RE.match(text)
    if match:
        n = _chinese_number(match.group(1))
        if found_on is None or not 1 <= n <= 365:
            raise ValueError(f"整改时限“{text}”需要排查日期才能计算。" if found_on is None else "整改时限的天数应为 1–365。")
        unit = match.group(3)
        if unit in ("天", "日"):
            return found_on + timedelta(days=n), None, ""
        if unit in ("周", "星期"):
            return found_on + timedelta(days=7 * n), None, ""
        month = found_on.month - 1 + n
        y, m = found_on.year + month // 12, month % 12 + 1
        return date(y, m, min(found_on.day, calendar.monthrange(y, m)[1])), None, ""
    when = found_on.year if found_on else year
    try:
        deadline = read_date(value, year=when)
    except ImpossibleDate:
        raise ValueError(f"整改时限“{text}”是不存在的日期。") from None
    if deadline is None:
        raise ValueError(f"整改时限“{text}”无法识别，请写成日期（2025-04-12）、“N个工作日”、“一周内”、“5月底前”或“立即”。")
    if found_on and deadline < found_on and not re.match(r"^\d{4}", text) and not isinstance(value, (date, datetime)):
        deadline = deadline.replace(year=deadline.year + 1)  # “1月10日” in a December ledger
    return deadline, None, ""


def read_money(value: Any) -> Decimal | None:
    """1200, “1,200.50”, “¥300元”, “0.5万”, “1.2万元”; None when not a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    text = re.sub(r"[,，\s元¥￥]", "", _text(value))
    factor = Decimal(1)
    if text.endswith("万"):
        text, factor = text[:-1], Decimal(10000)
    try:
        amount = Decimal(text) * factor
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def parse_date(value: Any) -> date | None:
    """2025-04-12, 2025/4/12, 2025.4.12, 2025年4月12日, 20250412, an Excel date cell or serial."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 1 <= value < 2958466:  # Excel's serial day numbers (1900 system)
            from openpyxl.utils.datetime import from_excel

            try:
                converted = from_excel(value)
            except (ValueError, OverflowError):
                return None
            result = converted.date() if isinstance(converted, datetime) else converted
            if 1990 <= result.year <= 2100:
                return result
        return None
    text = _text(value)
    match = _DATE_RE.match(text)
    if match is None and re.fullmatch(r"\d{8}", text):
        match = re.match(r"(\d{4})(\d{2})(\d{2})", text)
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


_LEVEL_WORDS = {"一般": "general", "一般隐患": "general", "一般事故隐患": "general", "general": "general",
                "重大": "major", "重大隐患": "major", "重大事故隐患": "major", "major": "major"}
_STATUS_BY_LABEL = {label: key for key, label in STATUSES.items()}
_RULE_PREFIXES = ("人工定级", "直接判定", "综合判定", "经上级批准", "经批准")
_SPLIT = re.compile(r"[,，、;；\s]+")


def _source_lookup() -> dict[str, str]:
    out = {}
    for key, label in SOURCES.items():
        out[key] = key
        out[label] = key
        out[re.sub(r"（.*?）", "", label)] = key
    return out


def split_item_numbers(text: str) -> list[str]:
    """Item numbers of a 判定依据 cell; the rule line our own export adds is skipped."""
    numbers: list[str] = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith(_RULE_PREFIXES):
            continue
        for prefix in ("条目：", "条目:", "条目"):
            if line.startswith(prefix):
                line = line[len(prefix):]
                break
        numbers.extend(t for t in _SPLIT.split(line) if t)
    return list(dict.fromkeys(numbers))


_LIMITS = {"found_by_name": 60, "location": 200, "responsible_person": 60, "responsible_dept": 60,
           "description": 4000, "measures": 4000, "interim_controls": 4000, "contingency_plan": 4000,
           "accepted_by_name": 40}
_PLAN_FIELDS = ("responsible_person", "measures", "funds", "deadline", "interim_controls", "contingency_plan")
_PLAN_TEXT_FIELDS = ("responsible_person", "measures", "interim_controls", "contingency_plan")
#: what an imported major hazard shows for a plan item its ledger did not have
PENDING = "待补充"


def _plan_text(text: str, note: str) -> str:
    return f"{text}{note}" if note and text else (note.strip("（）") if note else text)
_WORKDAYS_RE = re.compile(r"^(\d{1,3})\s*个?\s*工作日$")


def parse_ledger(sheet: Sheet, column_map: dict[int, str], *, tenant_id: int, default_source: str = "self",
                 today: date | None = None, values: dict[str, dict[str, str]] | None = None,
                 fill: dict[str, Any] | None = None) -> LedgerParse:
    """Check every row under the mapping; collect all errors instead of stopping at the first.

    ``values``: field -> {value written in the file: chosen key} (the mapping step's choices);
    a value that is neither chosen nor already valid is an error naming it. ``fill``: field ->
    constant for a column the file lacks or leaves empty (排查人, 排查日期 from the title block)."""
    result = LedgerParse()
    today = today or clock.today()
    values = values or {}
    by_field = {key: i for i, key in column_map.items() if key}
    # a constant fills a column the file does not have (an empty cell of a mapped column stays empty)
    fill = {k: v for k, v in (fill or {}).items() if v not in (None, "") and k not in by_field}
    header_of = {key: sheet.headers[i] for key, i in by_field.items()}
    context_year = int(sheet.context["year"]) if str(sheet.context.get("year", "")).isdigit() else None

    def column(key: str) -> str:
        return header_of.get(key) or f"{FIELD_LABELS[key]}（表中无此列）"

    missing_columns = [FIELD_LABELS[k] for k in REQUIRED_FIELDS if k not in by_field and k not in fill]
    if missing_columns:
        result.errors.append((sheet.header_line, "（表头）", f"缺少必填列：{'、'.join(missing_columns)}。请在上方为这些字段选择对应的列。"))
        return result
    if not sheet.rows:
        result.errors.append((sheet.header_line, "（表头）", "文件只有表头，没有数据行。"))
        return result

    items_by_number: dict[str, Any] = {}
    for item in catalogue.items_for(tenant_id):
        items_by_number.setdefault(item.number, item)
    sources = _source_lookup()

    def mapped(key: str, text: str) -> str:
        return values.get(key, {}).get(text) or _value_key(key, text)

    for line, row_values in sheet.rows:
        errors_before = len(result.errors)
        cells: dict[str, Any] = {}
        for key in FIELD_LABELS:
            i = by_field.get(key)
            value = row_values[i] if i is not None and i < len(row_values) else None
            cells[key] = None if _text(value) in _EMPTY_WORDS or _text(value) == "" else value
        if not any(v is not None for v in cells.values()):
            continue  # a row with nothing in any mapped column (e.g. a 合计 row's blanks)
        for key, constant in fill.items():
            if cells.get(key) is None:
                cells[key] = constant

        def raw(key: str) -> Any:
            return cells[key]

        def err(key: str, message: str) -> None:
            result.errors.append((line, column(key), message))

        texts = {key: _text(cells[key]) for key in FIELD_LABELS}
        for key in REQUIRED_FIELDS:
            if not texts[key]:
                err(key, f"“{FIELD_LABELS[key]}”不能为空。")
        for key, limit in _LIMITS.items():
            if len(texts[key]) > limit:
                err(key, f"“{FIELD_LABELS[key]}”超过 {limit} 个字符。")

        dates: dict[str, date | None] = {}
        for key in ("found_on", "accepted_on", "closed_on", "rectified_on"):
            dates[key] = None
            if texts[key]:
                try:
                    dates[key] = read_date(raw(key), year=context_year or today.year)
                except ImpossibleDate:
                    err(key, f"日期“{texts[key]}”是不存在的日期，请核对月份和日。")
                    continue
                if dates[key] is None:
                    err(key, f"日期“{texts[key]}”无法识别，请写成 2025-04-12 或 2025/4/12 的格式。")
                elif dates[key] > today:
                    err(key, f"“{FIELD_LABELS[key]}”不能晚于今天。")
        found_on = dates["found_on"]

        deadline, working_days, deadline_note = None, None, ""
        if texts["deadline"]:
            try:
                deadline, working_days, deadline_note = read_deadline(
                    raw("deadline"), found_on, year=context_year or today.year)
            except ValueError as exc:
                err("deadline", str(exc))
            else:
                if deadline and found_on and deadline < found_on:
                    err("deadline", "整改时限不能早于排查日期。")
        for key in ("accepted_on", "closed_on"):
            if dates[key] and found_on and dates[key] < found_on:
                err(key, f"“{FIELD_LABELS[key]}”不能早于排查日期。")
        if dates["accepted_on"] and dates["closed_on"] and dates["accepted_on"] > dates["closed_on"]:
            err("accepted_on", "验收日期不能晚于销号日期。")

        category = texts["category"] and mapped("category", texts["category"])
        if texts["category"] and not category:
            err("category", f"类别“{texts['category']}”未对应到系统类别，请在“值的对应”中为它选择（{'、'.join(CATEGORIES)}）。")

        source = default_source
        if texts["source"]:
            source = mapped("source", texts["source"]) or sources.get(texts["source"], "")
            if not source:
                err("source", f"检查类型“{texts['source']}”未对应，请在“值的对应”中选择（{'、'.join(SOURCES.values())}）。")

        level = "general"
        if texts["level"]:
            level = mapped("level", texts["level"]) or _LEVEL_WORDS.get(texts["level"].lower(), "")
            if not level:
                err("level", f"等级“{texts['level']}”未对应，请在“值的对应”中选择：一般、重大。")

        items = []
        for number in split_item_numbers(texts["items"]):
            item = items_by_number.get(number)
            if item is None:
                err("items", f"判定条目“{number}”在标准目录中不存在或已停用（应填条目编号，如 3.1.6，多个用逗号分隔）。")
            else:
                items.append(item)

        funds = None
        if texts["funds"]:
            funds = read_money(raw("funds"))
            if funds is None:
                err("funds", f"资金“{texts['funds']}”不是数字。")
            else:
                if funds < 0:
                    err("funds", "资金不能为负数。")
                elif funds >= Decimal("10000000000"):
                    err("funds", "资金数额过大。")
                funds = funds.quantize(Decimal("0.01"))

        status = "registered"
        if texts["status"]:
            label = texts["status"]
            key = "voided" if label == STATUSES["voided"] else mapped("status", label)
            if not key:
                err("status", f"状态“{label}”未对应，请在“值的对应”中选择：{'、'.join(VALUE_FIELDS['status'].values())}。")
            elif key == "voided":
                err("status", "已作废的隐患不导入，请删除该行。")
            elif key == "closed":
                if dates["closed_on"] is None:
                    if not texts["closed_on"]:
                        err("closed_on", f"状态为“{label}”（已销号）的隐患必须有完成/销号日期，请为“销号日期”选择对应的列。")
                else:
                    status = "closed"
            else:
                status = key

        # a major hazard whose ledger lacks plan items imports as 重大 all the same: the missing
        # items are marked 待补充 and the school is reminded to complete them (not refused)
        plan_missing: list[str] = []
        if level == "major" or any(i.group.kind == "direct" for i in items):
            for key in _PLAN_FIELDS:
                if key == "deadline" and (deadline or working_days):
                    continue
                if not texts[key] or (key == "deadline" and deadline_note):
                    plan_missing.append(key)

        if len(result.errors) == errors_before:
            data = {
                "found_on": found_on, "found_by_name": texts["found_by_name"], "source": source,
                "category": category, "location": texts["location"], "description": texts["description"],
                "responsible_person": texts["responsible_person"], "responsible_dept": texts["responsible_dept"],
                "measures": _plan_text(texts["measures"], deadline_note), "funds": funds, "deadline": deadline,
                "deadline_working_days": working_days, "interim_controls": texts["interim_controls"],
                "contingency_plan": texts["contingency_plan"],
            }
            for key in plan_missing:
                if key in _PLAN_TEXT_FIELDS:
                    data[key] = (data[key] or "") + PENDING if not data[key] else data[key]
            result.rows.append(LedgerRow(
                line=line, data=data, item_ids=[i.id for i in items], level=level, status=status,
                accepted_on=dates["accepted_on"] or dates["closed_on"] if status == "closed" else None,
                closed_on=dates["closed_on"] if status == "closed" else None,
                accepted_by_name=texts["accepted_by_name"] or None, plan_missing=plan_missing,
                rectified_on=(dates["rectified_on"] or dates["closed_on"] or dates["accepted_on"])
                if status in ("awaiting_acceptance", "closed") else dates["rectified_on"] if status == "rectifying" else None,
            ))
    result.errors.sort(key=lambda e: e[0])
    return result


# ---------------------------------------------------------------------------------------------
# import: duplicates


def _same(text: str | None) -> str:
    return re.sub(r"[\s　，,。.;；]+", "", text or "")


def find_duplicates(school: OrgUnit, rows: list[LedgerRow]) -> dict[int, Hazard]:
    """Rows already in the school's ledger (same 排查日期, 隐患部位 and 隐患描述, voided ones aside):
    sheet row -> the existing hazard."""
    days = sorted({r.data["found_on"] for r in rows if r.data.get("found_on")})
    existing: dict[tuple, Hazard] = {}
    for chunk in _chunks(days):
        for hazard in db.session.execute(sa.select(Hazard).where(
                Hazard.school_id == school.id, Hazard.found_on.in_(chunk), Hazard.status != "voided")).scalars():
            existing.setdefault((hazard.found_on, _same(hazard.location), _same(hazard.description)), hazard)
    out = {}
    for row in rows:
        hit = existing.get((row.data["found_on"], _same(row.data["location"]), _same(row.data["description"])))
        if hit is not None:
            out[row.line] = hit
    return out


def file_imported_before(tenant_id: int, file_sha256: str) -> bool:
    """Was a file with this SHA-256 imported into the tenant's ledger before (the import's audit meta)?"""
    from sqlalchemy_continuum import version_class, versioning_manager

    meta = versioning_manager.transaction_meta_cls
    versions = version_class(Hazard)
    return db.session.execute(sa.select(meta.transaction_id).where(
        meta.key == "file_sha256", meta.value == file_sha256,
        meta.transaction_id.in_(sa.select(versions.transaction_id).where(versions.tenant_id == tenant_id)),
    ).limit(1)).first() is not None


_UPDATABLE = ("source", "category", "found_by_name", "responsible_person", "responsible_dept", "measures", "funds",
              "deadline", "deadline_working_days", "interim_controls", "contingency_plan")


def _update_from_row(hazard: Hazard, row: LedgerRow) -> None:
    """The ledger row's plan and state written over an existing hazard (the clerk chose “update”)."""
    for key in _UPDATABLE:
        if key in row.data and row.data[key] not in (None, ""):
            setattr(hazard, key, row.data[key])
    if hazard.status != "closed":
        hazard.status = row.status
        hazard.rectified_on = row.rectified_on or hazard.rectified_on
        if row.status == "closed":
            hazard.accepted_on, hazard.closed_on = row.accepted_on, row.closed_on
            if row.accepted_by_name:
                hazard.acceptance_note = ACCEPTOR_NOTE + row.accepted_by_name


# ---------------------------------------------------------------------------------------------
# import: writing


@dataclass
class ImportResult:
    numbers: list[str] = field(default_factory=list)
    #: (sheet row, column header, message); when set, nothing was imported
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    #: imported major hazards whose plan is marked 待补充
    pending_plans: int = 0
    #: numbers of existing hazards updated from their duplicate rows
    updated: list[str] = field(default_factory=list)


def _remind_plans(school: OrgUnit, pending: list[tuple[Hazard, list[str]]]) -> None:
    """One reminder per imported major hazard whose plan items are 待补充, to the school's
    principal and safety officer (the same transaction as the import)."""
    for hazard, missing in pending:
        items = "、".join(FIELD_LABELS[k] for k in missing)
        notes.notify(school.tenant_id, kind="import_plan", key=f"import-plan-{hazard.id}", level="warning",
                     text=f"导入的重大隐患 {hazard.number}（{hazard.location}）缺少五落实：{items}，已标为“待补充”，请尽快补全。",
                     url=f"/hazards/{hazard.id}", unit_id=school.id, roles=("principal", "safety_officer"))


def import_rows(school: OrgUnit, actor, rows: list[LedgerRow], file_sha256: str, *,
                file_name: str | None = None, updates: dict[int, Hazard] | None = None) -> ImportResult:
    """Register every row in ``school`` in ONE transaction (reason 导入台账, the file's SHA-256 in
    its meta), through the same rules as :func:`hazards.operations.register`; or nothing."""
    result = ImportResult()
    if not school.is_active:
        result.errors.append((0, "", "该单位已停用，不能导入隐患。"))
        return result
    if not rows:
        result.errors.append((0, "", "没有可导入的数据行。"))
        return result
    try:
        pending_plans = []
        new_rows = [row for row in rows if not (updates and row.line in updates)]
        for row in rows:
            if updates and row.line in updates:
                _update_from_row(updates[row.line], row)
                result.updated.append(updates[row.line].number)
        def finish(index: int, hazard: Hazard) -> None:
            # history comes with the row: the state and dates the ledger records
            row = new_rows[index]
            hazard.status = row.status
            hazard.rectified_on = row.rectified_on
            if row.status == "closed":
                hazard.accepted_on = row.accepted_on
                hazard.closed_on = row.closed_on
                if row.accepted_by_name:
                    hazard.acceptance_note = ACCEPTOR_NOTE + row.accepted_by_name

        tx_meta(reason=f"导入台账（新增 {len(new_rows)} 条，更新 {len(result.updated)} 条，文件 SHA-256 {file_sha256}）",
                file_sha256=file_sha256, file_name=(file_name or "")[:200] or None)
        hazards, refused = hazard_ops.build_registrations(
            school=school, actor=actor, finish=finish,
            rows=[(row.data, row.item_ids, row.level, not row.plan_missing) for row in new_rows])
        result.errors.extend((new_rows[index].line, "", str(exc)) for index, exc in refused)
        for row, hazard in zip(new_rows, hazards):
            if hazard is not None:
                if row.plan_missing and row.status != "closed":
                    pending_plans.append((hazard, row.plan_missing))
                result.numbers.append(hazard.number)
        if result.errors:
            db.session.rollback()
            result.numbers = []
            return result
        import_history.write_lifecycles(
            school.tenant_id, getattr(actor, "id", None), [row for row, h in zip(new_rows, hazards) if h is not None],
            [h.id for h in hazards if h is not None], file_sha256, file_name)
        if pending_plans:
            db.session.flush()
            _remind_plans(school, pending_plans)
        result.pending_plans = len(pending_plans)
        hazard_ops.commit()
    except hazard_ops.HazardError as exc:
        db.session.rollback()
        return ImportResult(errors=[(0, "", str(exc))])
    except Exception:
        db.session.rollback()
        raise
    return result
