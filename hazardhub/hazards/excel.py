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

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable

import sqlalchemy as sa

from hazardhub import clock, spreadsheets, tables
from hazardhub.audit import chain_head, tx_meta
from hazardhub.extensions import db
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import CATEGORIES, LEVELS, SOURCES, STATUSES, Hazard, HazardCitation
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.spreadsheets import UnreadableFile

__all__ = ["LEDGER_COLUMNS", "SYNC_EXPORT_LIMIT", "UnreadableFile", "write_ledger", "read_ledger_xlsx",
           "guess_mapping", "parse_ledger", "import_rows"]

#: the ledger's columns, in the order every school's paper ledger uses
LEDGER_COLUMNS = (
    "序号", "学校", "所属乡镇", "排查日期", "排查人", "隐患部位", "类别", "隐患描述", "等级", "判定依据",
    "整改措施", "责任人", "资金", "整改时限", "状态", "验收人", "验收日期", "销号日期",
)
_WIDTHS = (20, 22, 16, 12, 10, 26, 12, 44, 8, 44, 32, 10, 12, 12, 8, 10, 12, 12)
_DATE_COLUMNS = {3, 13, 16, 17}
_WRAP_COLUMNS = {7, 9, 10}
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
    from hazardhub.accounts.models import User

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

    from hazardhub.web import local_time

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
    "closed_on": ("销号日期", "销号时间", "完成日期", "完成时间", "整改完成日期", "整改完成时间"),
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

    def payload(self) -> dict[str, Any]:
        return {"headers": self.headers, "header_line": self.header_line, "name": self.name,
                "context": self.context, "notes": self.notes, "score": self.score}

    @classmethod
    def from_payload(cls, payload: dict[str, Any], rows: list) -> "Sheet":
        return cls(headers=[str(h) for h in payload["headers"]], rows=rows, header_line=int(payload["header_line"]),
                   name=str(payload.get("name") or ""), context=dict(payload.get("context") or {}),
                   notes=list(payload.get("notes") or []), score=int(payload.get("score") or 0))

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
                            context=table.context, notes=notes, score=table.score))
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


@dataclass
class LedgerParse:
    rows: list[LedgerRow] = field(default_factory=list)
    #: (sheet row, column header, message)
    errors: list[tuple[int, str, str]] = field(default_factory=list)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    return tables.cell_text(value)


_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$")


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
_WORKDAYS_RE = re.compile(r"^(\d{1,3})\s*个?\s*工作日$")


def parse_ledger(sheet: Sheet, column_map: dict[int, str], *, tenant_id: int, default_source: str = "self",
                 today: date | None = None) -> LedgerParse:
    """Check every row under the mapping; collect all errors instead of stopping at the first."""
    result = LedgerParse()
    today = today or clock.today()
    by_field = {key: i for i, key in column_map.items() if key}
    header_of = {key: sheet.headers[i] for key, i in by_field.items()}

    def column(key: str) -> str:
        return header_of.get(key) or f"{FIELD_LABELS[key]}（表中无此列）"

    missing_columns = [FIELD_LABELS[k] for k in REQUIRED_FIELDS if k not in by_field]
    if missing_columns:
        result.errors.append((sheet.header_line, "（表头）", f"缺少必填列：{'、'.join(missing_columns)}。请在上方为这些字段选择对应的列。"))
        return result
    if not sheet.rows:
        result.errors.append((sheet.header_line, "（表头）", "文件只有表头，没有数据行。"))
        return result

    from hazardhub.standards import operations as catalogue

    items_by_number: dict[str, Any] = {}
    for item in catalogue.items_for(tenant_id):
        items_by_number.setdefault(item.number, item)
    sources = _source_lookup()

    for line, values in sheet.rows:
        errors_before = len(result.errors)

        def raw(key: str) -> Any:
            i = by_field.get(key)
            return values[i] if i is not None and i < len(values) else None

        def err(key: str, message: str) -> None:
            result.errors.append((line, column(key), message))

        texts = {key: _text(raw(key)) for key in FIELD_LABELS}
        if not any(texts.values()):
            continue  # a row with nothing in any mapped column (e.g. a 合计 row's blanks)
        for key in REQUIRED_FIELDS:
            if not texts[key]:
                err(key, f"“{FIELD_LABELS[key]}”不能为空。")
        for key, limit in _LIMITS.items():
            if len(texts[key]) > limit:
                err(key, f"“{FIELD_LABELS[key]}”超过 {limit} 个字符。")

        dates: dict[str, date | None] = {}
        for key in ("found_on", "accepted_on", "closed_on"):
            dates[key] = None
            if texts[key]:
                dates[key] = parse_date(raw(key))
                if dates[key] is None:
                    err(key, f"日期“{texts[key]}”无法识别，请写成 2025-04-12 或 2025/4/12 的格式。")
                elif dates[key] > today:
                    err(key, f"“{FIELD_LABELS[key]}”不能晚于今天。")
        found_on = dates["found_on"]

        deadline, working_days = None, None
        if texts["deadline"]:
            match = _WORKDAYS_RE.match(texts["deadline"])
            if match:
                working_days = int(match.group(1))
                if not 1 <= working_days <= 365:
                    err("deadline", "整改时限的工作日数应为 1–365。")
                    working_days = None
            else:
                deadline = parse_date(raw("deadline"))
                if deadline is None:
                    err("deadline", f"整改时限“{texts['deadline']}”无法识别，请写成日期（2025-04-12）或“N个工作日”。")
                elif found_on and deadline < found_on:
                    err("deadline", "整改时限不能早于排查日期。")
        for key in ("accepted_on", "closed_on"):
            if dates[key] and found_on and dates[key] < found_on:
                err(key, f"“{FIELD_LABELS[key]}”不能早于排查日期。")
        if dates["accepted_on"] and dates["closed_on"] and dates["accepted_on"] > dates["closed_on"]:
            err("accepted_on", "验收日期不能晚于销号日期。")

        category = texts["category"]
        if category and category not in CATEGORIES:
            err("category", f"类别“{category}”无效，应为：{'、'.join(CATEGORIES)}。")

        source = default_source
        if texts["source"]:
            source = sources.get(texts["source"], "")
            if not source:
                err("source", f"检查类型“{texts['source']}”无效，应为：{'、'.join(SOURCES.values())}。")

        level = "general"
        if texts["level"]:
            level = _LEVEL_WORDS.get(texts["level"].lower() if texts["level"].isascii() else texts["level"], "")
            if not level:
                err("level", f"等级“{texts['level']}”无效，应为：一般、重大。")

        items = []
        for number in split_item_numbers(texts["items"]):
            item = items_by_number.get(number)
            if item is None:
                err("items", f"判定条目“{number}”在标准目录中不存在或已停用（应填条目编号，如 3.1.6，多个用逗号分隔）。")
            else:
                items.append(item)

        funds = None
        if texts["funds"]:
            cleaned = re.sub(r"[,，\s元¥￥]", "", texts["funds"])
            try:
                funds = Decimal(cleaned)
                if not funds.is_finite():
                    raise InvalidOperation
            except InvalidOperation:
                funds = None
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
            key = _STATUS_BY_LABEL.get(label, label if label in STATUSES else "")
            if not key:
                err("status", f"状态“{label}”无效，应为：{'、'.join(STATUSES.values())}。")
            elif key == "voided":
                err("status", "已作废的隐患不导入，请删除该行。")
            elif key == "closed":
                if dates["closed_on"] is None:
                    if not texts["closed_on"]:
                        err("closed_on", "状态为“已销号”的隐患必须填写销号日期。")
                else:
                    status = "closed"

        is_major = level == "major" or any(i.group.kind == "direct" for i in items)
        if is_major:
            present = {
                "responsible_person": bool(texts["responsible_person"]),
                "measures": bool(texts["measures"]),
                "funds": bool(texts["funds"]),
                "deadline": bool(texts["deadline"]),
                "interim_controls": bool(texts["interim_controls"]),
                "contingency_plan": bool(texts["contingency_plan"]),
            }
            why = "等级为重大" if level == "major" else "引用了直接判定条目，属重大事故隐患"
            for key in _PLAN_FIELDS:
                if present[key]:
                    continue
                if key in by_field:
                    err(key, f"{why}，必须落实“五落实”：“{FIELD_LABELS[key]}”不能为空。")
                else:
                    err(key, f"{why}，必须落实“五落实”，但表格中没有“{FIELD_LABELS[key]}”列；请补充该列后重新上传，或改在系统中逐条登记。")

        if len(result.errors) == errors_before:
            data = {
                "found_on": found_on, "found_by_name": texts["found_by_name"], "source": source,
                "category": category, "location": texts["location"], "description": texts["description"],
                "responsible_person": texts["responsible_person"], "responsible_dept": texts["responsible_dept"],
                "measures": texts["measures"], "funds": funds, "deadline": deadline,
                "deadline_working_days": working_days, "interim_controls": texts["interim_controls"],
                "contingency_plan": texts["contingency_plan"],
            }
            result.rows.append(LedgerRow(
                line=line, data=data, item_ids=[i.id for i in items], level=level, status=status,
                accepted_on=dates["accepted_on"] or dates["closed_on"] if status == "closed" else None,
                closed_on=dates["closed_on"] if status == "closed" else None,
                accepted_by_name=texts["accepted_by_name"] or None,
            ))
    result.errors.sort(key=lambda e: e[0])
    return result


# ---------------------------------------------------------------------------------------------
# import: writing


@dataclass
class ImportResult:
    numbers: list[str] = field(default_factory=list)
    #: (sheet row, column header, message); when set, nothing was imported
    errors: list[tuple[int, str, str]] = field(default_factory=list)


def import_rows(school: OrgUnit, actor, rows: list[LedgerRow], file_sha256: str, *,
                file_name: str | None = None) -> ImportResult:
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
        for row in rows:
            try:
                hazard = hazard_ops.build_registration(school=school, actor=actor, data=row.data,
                                                       item_ids=row.item_ids, level=row.level)
                if row.status == "closed":
                    hazard.status = "closed"
                    hazard.accepted_on = row.accepted_on
                    hazard.closed_on = row.closed_on
                    if row.accepted_by_name:
                        hazard.acceptance_note = ACCEPTOR_NOTE + row.accepted_by_name
                result.numbers.append(hazard.number)
            except hazard_ops.HazardError as exc:
                result.errors.append((row.line, "", str(exc)))
        if result.errors:
            db.session.rollback()
            result.numbers = []
            return result
        tx_meta(reason=f"导入台账（{len(rows)} 条）", file_sha256=file_sha256,
                file_name=(file_name or "")[:200] or None)
        hazard_ops.commit()
    except hazard_ops.HazardError as exc:
        db.session.rollback()
        return ImportResult(errors=[(0, "", str(exc))])
    except Exception:
        db.session.rollback()
        raise
    return result
