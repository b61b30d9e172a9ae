"""The one spreadsheet writer of every export, and the guarded reader of every import.

Why one writer: openpyxl turns any ``str`` that begins with ``=`` into a live formula, so a unit
renamed to ``=HYPERLINK("http://…","点击查看")`` became a clickable link in every export that
appended names with ``ws.append``. Excel, WPS and LibreOffice evaluate a cell the user *edits*
when it begins with ``= + - @`` (and the same after a tab, line break or spaces, which some
programs strip), and CSV importers do so on opening. So every text value goes through
:func:`_text_cell`: control characters removed, type forced to string (never a formula, never an
error code such as ``#N/A``), and a formula-looking text additionally gets ``quotePrefix`` and
the text number format ``@`` — Excel and WPS keep such a cell text even after it is edited
(the formula bar shows the leading apostrophe), LibreOffice keeps it text through the format.
The text itself is never changed, so an export still round-trips through the imports. Numbers,
dates and booleans stay typed. Exports build their workbooks only through :class:`Book`;
``tests/test_export_safety.py`` walks every export and fails if a module writes with openpyxl
directly.

Why one reader: an .xlsx of 1.5 million blank rows kept a web worker busy for 150 s, because a
reader that skips blank rows before counting never stops, and openpyxl trusts the sheet's
``<dimension>`` (a small one hides rows, a huge one pads every row with empty cells). So
:func:`read_xlsx` resets the dimension, counts every row it reads, blank ones included, and
stops at :class:`ReadLimits` (rows and seconds, from the config) with a Chinese message.

Ground floor: imports nothing from ``hazardhub``.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import re
import time
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["XLSX_MIME", "Book", "Sheet", "Style", "Cell", "clean_text", "is_formula_like", "sheet_title",
           "UnreadableFile", "ReadLimits", "RowGuard", "read_xlsx", "read_book", "RawBook", "RawSheet", "decode_text",
           "column_letter", "dump_rows", "load_rows", "dump_sheets", "load_sheets"]

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: Excel's limit for one cell's text
MAX_CELL_TEXT = 32767

#: removed from every text written: C0 controls except tab and line feed (carriage returns are
#: turned into line feeds first), DEL, the C1 controls, lone surrogates (not encodable) and the
#: two non-characters XML forbids. openpyxl refuses [\x00-\x08\x0b\x0c\x0e-\x1f] outright; the
#: others are accepted by XML but are invisible garbage in a cell.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
#: what spreadsheet programs take as the start of a formula (full-width forms too: the Chinese
#: input method types them, and WPS accepts ＝ as =)
_FORMULA_START = frozenset("=+-@＝＋－＠")
#: leading characters some programs strip before looking for a formula
_LEADING_BLANKS = " \t\n\u3000\u00a0"
#: Excel forbids these in a sheet name
_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def clean_text(value: Any) -> str:
    """The text as a cell may hold it: line breaks as ``\\n``, control characters removed,
    at most Excel's 32,767 characters."""
    text = value if isinstance(value, str) else str(value)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    return text[:MAX_CELL_TEXT]


def is_formula_like(text: str) -> bool:
    """Would a spreadsheet program evaluate this text if the user edited the cell (or opened it
    as CSV)? Starts with ``= + - @``, or with a tab or line break, or has one of them after
    leading blanks."""
    if not text:
        return False
    if text[0] in "\t\n\r":
        return True
    stripped = text.lstrip(_LEADING_BLANKS)
    return bool(stripped) and stripped[0] in _FORMULA_START


def sheet_title(title: str) -> str:
    """A sheet name Excel accepts: no control or forbidden characters, at most 31 characters."""
    text = _TITLE_FORBIDDEN.sub("_", clean_text(title).replace("\n", " ")).strip().strip("'")
    return text[:31] or "Sheet"


# ---------------------------------------------------------------------------------------------
# writing


@dataclass(frozen=True)
class Style:
    """How a cell looks; hashable, so the openpyxl objects are built once per distinct style."""

    bold: bool = False
    size: float | None = None
    fill: str | None = None  #: RGB hex, e.g. "C6EFCE"
    horizontal: str | None = None
    vertical: str | None = None
    wrap: bool = False
    number_format: str | None = None


@lru_cache(maxsize=256)
def _openpyxl_style(style: Style) -> tuple:
    from openpyxl.styles import Alignment, Font, PatternFill

    font = Font(bold=True if style.bold else None, size=style.size) if (style.bold or style.size) else None
    alignment = None
    if style.horizontal or style.vertical or style.wrap:
        alignment = Alignment(horizontal=style.horizontal, vertical=style.vertical,
                              wrap_text=True if style.wrap else None)
    fill = PatternFill("solid", fgColor=style.fill) if style.fill else None
    return font, alignment, fill


@dataclass
class Cell:
    """A value with its own style and/or a comment (otherwise a plain value is enough)."""

    value: Any
    style: Style | None = None
    comment: str | None = None


RowStyle = Style | Sequence[Style | None] | Mapping[int, Style] | None


class Sheet:
    """One worksheet, written row by row (openpyxl write-only: constant memory, so a background
    export of a whole district costs no more than a page). Column widths, frozen panes and row
    heights belong to the sheet's top, so they are given to :meth:`Book.sheet`; the filter range
    may be set at any time before saving."""

    def __init__(self, ws, *, widths, freeze, row_heights) -> None:
        from openpyxl.utils import get_column_letter

        self._ws = ws
        self.rows_written = 0
        items = widths.items() if isinstance(widths, Mapping) else enumerate(widths or (), start=1)
        for column, width in items:
            letter = get_column_letter(column) if isinstance(column, int) else column
            ws.column_dimensions[letter].width = width
        if freeze:
            ws.freeze_panes = freeze
        for row, height in (row_heights or {}).items():
            ws.row_dimensions[row].height = height

    def append(self, values: Iterable[Any], style: RowStyle = None) -> None:
        """Append one row. ``style`` is one :class:`Style` for every cell, or one per column (a
        sequence, or a mapping of 0-based column index → style); a :class:`Cell` brings its own.
        Empty values (``None``, ``""``) stay empty cells without style."""
        row = []
        for index, value in enumerate(values):
            if isinstance(style, Style) or style is None:
                column_style = style
            elif isinstance(style, Mapping):
                column_style = style.get(index)
            else:
                column_style = style[index] if index < len(style) else None
            row.append(self._cell(value, column_style))
        self._ws.append(row)
        self.rows_written += 1

    def auto_filter(self, ref: str) -> None:
        self._ws.auto_filter.ref = ref

    def _cell(self, value: Any, style: Style | None):
        from openpyxl.cell import WriteOnlyCell

        comment = None
        if isinstance(value, Cell):
            value, style, comment = value.value, value.style or style, value.comment
            explicit = True
        else:
            explicit = False
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        elif isinstance(value, Decimal) and not value.is_finite():
            value = None
        if value is None or value == "":
            if not explicit:
                return None
            cell = WriteOnlyCell(self._ws, value=None)
        elif isinstance(value, (bool, int, float, Decimal, datetime, date, dt_time, timedelta)):
            cell = WriteOnlyCell(self._ws, value=value)
        else:
            cell = _text_cell(self._ws, value)
        if style is not None:
            font, alignment, fill = _openpyxl_style(style)
            if font is not None:
                cell.font = font
            if alignment is not None:
                cell.alignment = alignment
            if fill is not None:
                cell.fill = fill
            if style.number_format and cell.data_type != "s":
                cell.number_format = style.number_format
        if cell.data_type == "s" and is_formula_like(cell.value or ""):
            cell.quotePrefix = True
            cell.number_format = "@"
        if comment:
            from openpyxl.comments import Comment

            cell.comment = Comment(clean_text(comment), "HazardHub")
        return cell


def _text_cell(ws, value: Any):
    """A string cell that no spreadsheet program evaluates (see the module docstring)."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=None)
    cell.value = clean_text(value)
    cell.data_type = "s"  # openpyxl inferred "f" for "=…" and "e" for "#N/A"; a text is a text
    return cell


class Book:
    """A workbook of :class:`Sheet`s, saved to bytes.

    ``title`` is the document property (shown by Explorer and Excel's info pane)."""

    def __init__(self, title: str | None = None) -> None:
        from openpyxl import Workbook

        self._wb = Workbook(write_only=True)
        if title:
            self._wb.properties.title = clean_text(title).replace("\n", " ")[:200]

    def sheet(self, title: str, *, widths: Sequence[float] | Mapping[int | str, float] | None = None,
              freeze: str | None = None, row_heights: Mapping[int, float] | None = None) -> Sheet:
        """A new sheet; ``widths`` from column A (a sequence) or by column (1-based or letter)."""
        return Sheet(self._wb.create_sheet(sheet_title(title)), widths=widths, freeze=freeze,
                     row_heights=row_heights)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self._wb.save(buffer)
        return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# reading


class UnreadableFile(ValueError):
    """The upload is not a file we can read, or is over a limit (message in Chinese)."""


#: defaults of the import limits (config: HAZARDHUB_IMPORT_MAX_SHEET_ROWS, HAZARDHUB_IMPORT_MAX_SECONDS)
DEFAULT_MAX_SHEET_ROWS = 20000
DEFAULT_MAX_SECONDS = 10.0
#: everything unzipped (sheets, shared strings, images) — the declared sizes bound what zipfile reads
MAX_UNZIPPED = 200 * 1024 * 1024
#: openpyxl loads the shared-string table whole before the first row; 200,000 distinct texts
#: take about 1.5 s (a real ledger of 5,000 rows has at most tens of thousands)
MAX_SHARED_STRINGS = 200_000


@dataclass(frozen=True)
class ReadLimits:
    """How much one import may read: rows of the sheet (blank ones count) and wall-clock seconds."""

    rows: int = DEFAULT_MAX_SHEET_ROWS
    seconds: float = DEFAULT_MAX_SECONDS

    @classmethod
    def from_config(cls) -> "ReadLimits":
        from flask import current_app, has_app_context

        if not has_app_context():
            return cls()
        config = current_app.config
        return cls(rows=int(config.get("HAZARDHUB_IMPORT_MAX_SHEET_ROWS", DEFAULT_MAX_SHEET_ROWS)),
                   seconds=float(config.get("HAZARDHUB_IMPORT_MAX_SECONDS", DEFAULT_MAX_SECONDS)))


class RowGuard:
    """Counts the rows a reader takes from a file and stops it at the limits."""

    def __init__(self, limits: ReadLimits | None = None) -> None:
        self.limits = limits or ReadLimits.from_config()
        self.rows = 0
        self._deadline = time.monotonic() + self.limits.seconds

    def check_time(self) -> None:
        if time.monotonic() > self._deadline:
            raise UnreadableFile(
                f"文件读取超过 {self.limits.seconds:g} 秒仍未完成（通常是表格中有大量空行、空列或整行格式），"
                "请删除多余的空行和空列后重新上传，或分批导入。")

    def tick(self) -> None:
        """One more row read (blank or not)."""
        self.rows += 1
        if self.rows > self.limits.rows:
            raise UnreadableFile(f"文件超过 {self.limits.rows} 行（含空行），请删除多余的空行或分批导入。")
        if self.rows % 64 == 0:
            self.check_time()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _shared_string_count(archive: zipfile.ZipFile, names: set[str]) -> int:
    """The entries of the shared-string table (the part [Content_Types].xml names, as openpyxl
    finds it), counted in the raw bytes without parsing them."""
    from openpyxl.packaging.manifest import Manifest
    from openpyxl.xml.constants import ARC_CONTENT_TYPES, SHARED_STRINGS
    from openpyxl.xml.functions import fromstring

    if ARC_CONTENT_TYPES not in names:
        return 0
    part = Manifest.from_tree(fromstring(archive.read(ARC_CONTENT_TYPES))).find(SHARED_STRINGS)
    name = part.PartName[1:] if part is not None else ""
    if name not in names:
        return 0
    count, tail = 0, b""
    with archive.open(name) as stream:
        while chunk := stream.read(1 << 20):
            data = tail + chunk
            count += sum(data.count(tag) for tag in (b"<si>", b"<si ", b":si>", b":si "))
            tail = data[-3:]  # shorter than a tag: a tag split by the chunking is counted once
    return count


def _load_unsized(data: bytes):
    """``load_workbook(read_only=True, data_only=True)``, except that no sheet's ``<dimension>``
    is read. The dimension is whatever the writing program claimed: a small one makes openpyxl
    stop early (rows hidden), a huge one pads every row with empty cells up to column XFD, and
    a sheet with none is parsed to its end while the workbook opens — 1.5 million blank rows
    before the first row could be counted. (openpyxl is pinned to 3.1.*, whose reader this follows.)"""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    class UnsizedSheet(ReadOnlyWorksheet):
        def _get_size(self) -> None:
            pass  # unsized: rows are read as they are, up to the RowGuard's limits

    class Reader(ExcelReader):
        def read_worksheets(self) -> None:
            for sheet, rel in self.parser.find_sheets():
                if rel.target not in self.valid_files:
                    continue
                if "chartsheet" in rel.Type:
                    self.read_chartsheet(sheet, rel)
                    continue
                ws = UnsizedSheet(self.wb, sheet.name, rel.target, self.shared_strings)
                ws.sheet_state = sheet.state
                self.wb._sheets.append(ws)

    reader = Reader(io.BytesIO(data), read_only=True, data_only=True)
    reader.read()
    return reader.wb


def read_xlsx(data: bytes, limits: ReadLimits | None = None) -> list[tuple[int, list[Any]]]:
    """The non-blank rows of the first worksheet as ``(sheet row number, values)``, values only
    (no formula evaluated), trailing blank cells dropped; refuses what is not an .xlsx workbook
    and stops at the limits (every row read counts, blank ones too)."""
    return _read_xlsx_sheets(data, RowGuard(limits), first_only=True)[0].rows


@dataclass
class RawSheet:
    """One worksheet as read: its name, its non-blank rows (sheet row number, values; hidden
    columns already removed) and what the reader noticed (hidden columns left out)."""

    name: str
    rows: list[tuple[int, list[Any]]]
    notes: list[str]
    #: the sheet's own column letters of the values kept (hidden ones removed)
    letters: list[str]


@dataclass
class RawBook:
    """Every sheet of an uploaded file, and how it was read (format, text encoding)."""

    kind: str  #: "xlsx", "xls" or "csv"
    sheets: list[RawSheet]
    encoding: str | None = None


def column_letter(index: int) -> str:
    """0-based column index -> A, B, …, AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_COL_RE = re.compile(rb"<(?:\w+:)?col\b([^>]*)/?>")
_ATTR_RE = re.compile(rb'(\w+)="([^"]*)"')


def _hidden_columns(archive: zipfile.ZipFile, part: str) -> set[int]:
    """0-based indexes of the columns a sheet hides (``<col min max hidden="1">`` before its data)."""
    hidden: set[int] = set()
    try:
        with archive.open(part.lstrip("/")) as stream:
            head = stream.read(1 << 16)
    except KeyError:
        return hidden
    head = head.split(b"<sheetData", 1)[0]
    for match in _COL_RE.finditer(head):
        attrs = dict(_ATTR_RE.findall(match.group(1)))
        if attrs.get(b"hidden") in (b"1", b"true"):
            try:
                low, high = int(attrs.get(b"min", b"0")), int(attrs.get(b"max", b"0"))
            except ValueError:
                continue
            hidden.update(range(max(low, 1) - 1, min(high, 200)))
    return hidden


def _finish_sheet(name: str, rows: list[tuple[int, list[Any]]], hidden: set[int]) -> RawSheet:
    """Remove hidden columns and trailing blanks; keep non-blank rows."""
    notes: list[str] = []
    width = max((len(v) for _l, v in rows), default=0)
    keep = [i for i in range(width) if i not in hidden]
    if hidden and any(i < width for i in hidden):
        notes.append("隐藏的列未读取：" + "、".join(column_letter(i) for i in sorted(hidden) if i < width) + " 列。")
    out = []
    for line, values in rows:
        if hidden:
            values = [values[i] if i < len(values) else None for i in keep]
        while values and _blank(values[-1]):
            values.pop()
        if values:
            out.append((line, values))
    return RawSheet(name=name, rows=out, notes=notes, letters=[column_letter(i) for i in keep])


def _read_xlsx_sheets(data: bytes, guard: RowGuard, *, first_only: bool = False) -> list[RawSheet]:
    if not data.startswith(b"PK\x03\x04"):
        raise UnreadableFile("文件内容不是 Excel 文件（.xlsx），请用 Excel 另存为 .xlsx 后重新上传。")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            unzipped = sum(info.file_size for info in archive.infolist())
            if "xl/workbook.xml" not in names:
                raise UnreadableFile("无法读取该 Excel 文件：其中没有工作簿，请用 Excel 另存为 .xlsx 后重新上传。")
            if unzipped > MAX_UNZIPPED:
                raise UnreadableFile("文件解压后过大，请删除无关的工作表或图片后重新上传。")
            if _shared_string_count(archive, names) > MAX_SHARED_STRINGS:
                raise UnreadableFile(f"文件中的不同文字超过 {MAX_SHARED_STRINGS} 项，请只保留台账内容或分批导入。")
    except UnreadableFile:
        raise
    except Exception as exc:  # noqa: BLE001 - bad zip, CRC, encryption, unknown compression
        raise UnreadableFile("文件已损坏或不是 Excel（.xlsx）文件。") from exc
    try:
        wb = _load_unsized(data)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
        raise UnreadableFile("无法读取该 Excel 文件，请确认是 .xlsx 格式。") from exc
    sheets: list[RawSheet] = []
    stack = contextlib.ExitStack()
    try:
        guard.check_time()
        if not wb.worksheets:
            raise UnreadableFile("工作簿中没有工作表。")
        archive = stack.enter_context(zipfile.ZipFile(io.BytesIO(data)))
        for ws in wb.worksheets[:1] if first_only else wb.worksheets:
            if not hasattr(ws, "iter_rows"):
                continue
            table: list[tuple[int, list[Any]]] = []
            try:
                for line, row in enumerate(ws.iter_rows(values_only=True), start=1):
                    guard.tick()
                    values = list(row)
                    while values and _blank(values[-1]):
                        values.pop()
                    if values:
                        table.append((line, values))
            except UnreadableFile:
                raise
            except Exception as exc:  # noqa: BLE001 - malformed sheet XML
                raise UnreadableFile("无法读取该 Excel 文件的内容，请确认是 .xlsx 格式。") from exc
            hidden = set() if first_only else _hidden_columns(archive, getattr(ws, "_worksheet_path", ""))
            sheets.append(_finish_sheet(ws.title, table, hidden))
        guard.check_time()
    finally:
        stack.close()
        wb.close()
    return sheets


def _read_xls_sheets(data: bytes, guard: RowGuard) -> list[RawSheet]:
    """An Excel 97–2003 workbook (xlrd): values, dates as dates, hidden columns left out."""
    if not data.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnreadableFile("文件内容不是旧版 Excel 文件（.xls），请确认文件格式后重新上传。")
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, formatting_info=True, on_demand=True)
    except Exception:  # noqa: BLE001 - some writers' .xls have no formatting records xlrd can read
        try:
            book = xlrd.open_workbook(file_contents=data, on_demand=True)
        except Exception as exc:  # noqa: BLE001 - the user's file
            raise UnreadableFile("无法读取该 .xls 文件（可能已损坏或加密），请用 Excel 另存为 .xlsx 后重新上传。") from exc
    sheets: list[RawSheet] = []
    try:
        for index in range(book.nsheets):
            sh = book.sheet_by_index(index)
            table: list[tuple[int, list[Any]]] = []
            for r in range(sh.nrows):
                guard.tick()
                values: list[Any] = []
                for c in range(sh.ncols):
                    cell = sh.cell(r, c)
                    if cell.ctype == xlrd.XL_CELL_DATE:
                        try:
                            value: Any = xlrd.xldate.xldate_as_datetime(cell.value, book.datemode)
                        except (ValueError, OverflowError):
                            value = cell.value
                    elif cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
                        value = None
                    elif cell.ctype == xlrd.XL_CELL_BOOLEAN:
                        value = bool(cell.value)
                    else:
                        value = cell.value
                    values.append(value)
                while values and _blank(values[-1]):
                    values.pop()
                if values:
                    table.append((r + 1, values))
            hidden = {c for c, info in getattr(sh, "colinfo_map", {}).items() if getattr(info, "hidden", 0)}
            sheets.append(_finish_sheet(sh.name, table, hidden))
            book.unload_sheet(index)
    finally:
        book.release_resources()
    return sheets


def decode_text(data: bytes) -> tuple[str, str]:
    """A text file's contents and its encoding: UTF-8 (with or without BOM), else GBK, else
    GB18030 (WPS and Excel on a Chinese Windows save CSV in GBK)."""
    for encoding, label in (("utf-8-sig", "UTF-8"), ("gbk", "GBK"), ("gb18030", "GB18030")):
        try:
            return data.decode(encoding), label
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("无法识别 CSV 文件的编码（请使用 UTF-8 或 GBK 保存）。")


def _read_csv_sheets(data: bytes, guard: RowGuard, name: str) -> tuple[list[RawSheet], str]:
    import csv

    text, encoding = decode_text(data)
    if "\x00" in text:
        raise UnreadableFile("CSV 文件包含非法字符，可能不是文本文件。")
    sample = text[:4096]
    delimiter = max(",\t;", key=sample.count) if sample else ","
    table: list[tuple[int, list[Any]]] = []
    try:
        for line, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1):
            guard.tick()
            values: list[Any] = [cell.strip() or None for cell in row]
            while values and values[-1] is None:
                values.pop()
            if values:
                table.append((line, values))
    except csv.Error as exc:  # e.g. a cell longer than the csv module's field limit
        raise UnreadableFile("CSV 文件格式有误（单元格过长或引号不配对），请检查后重新上传。") from exc
    return [_finish_sheet(name, table, set())], encoding


def read_book(data: bytes, filename: str, limits: ReadLimits | None = None) -> RawBook:
    """Every sheet of an .xlsx, .xls or .csv upload (told apart by content, the name's extension
    only for the message), under the same row and time limits as :func:`read_xlsx`."""
    guard = RowGuard(limits)
    lower = (filename or "").lower()
    if data.startswith(b"PK\x03\x04"):
        return RawBook("xlsx", _read_xlsx_sheets(data, guard))
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        return RawBook("xls", _read_xls_sheets(data, guard))
    if lower.endswith((".xlsx", ".xlsm")):
        raise UnreadableFile("文件扩展名为 .xlsx，但内容不是 Excel 文件，请用 Excel 另存为 .xlsx 后重新上传。")
    if lower.endswith(".xls"):
        raise UnreadableFile("文件扩展名为 .xls，但内容不是 Excel 文件，请用 Excel 另存为 .xlsx 后重新上传。")
    if lower.endswith(".csv"):
        stem = re.sub(r"\.[^.]*$", "", filename.rsplit("/", 1)[-1]) or "CSV"
        sheets, encoding = _read_csv_sheets(data, guard, stem)
        return RawBook("csv", sheets, encoding)
    raise UnreadableFile("只支持 .xlsx、.xls 或 .csv 文件。")


# ---------------------------------------------------------------------------------------------
# parsed rows kept between the steps of an import


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, dt_time):
        return {"time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"seconds": value.total_seconds()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    return str(value)


def _decode(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    ((kind, text),) = value.items()
    return {"datetime": datetime.fromisoformat, "date": date.fromisoformat, "time": dt_time.fromisoformat,
            "seconds": lambda s: timedelta(seconds=s), "decimal": Decimal}[kind](text)


def dump_rows(payload: Mapping[str, Any], rows: list[tuple[int, list[Any]]]) -> bytes:
    """The rows a reader returned (with their sheet row numbers and cell types: a date cell stays
    a date) and any JSON ``payload`` (headers, …) as one JSON document."""
    document = dict(payload)
    document["rows"] = [[line, [_encode(v) for v in values]] for line, values in rows]
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def load_rows(data: bytes) -> tuple[dict[str, Any], list[tuple[int, list[Any]]]]:
    """The inverse of :func:`dump_rows`."""
    document = json.loads(data.decode("utf-8"))
    rows = [(int(line), [_decode(v) for v in values]) for line, values in document.pop("rows")]
    return document, rows


def dump_sheets(sheets: list[tuple[Mapping[str, Any], list[tuple[int, list[Any]]]]]) -> bytes:
    """Several sheets' rows (each with its JSON payload) as one JSON document."""
    documents = []
    for payload, rows in sheets:
        document = dict(payload)
        document["rows"] = [[line, [_encode(v) for v in values]] for line, values in rows]
        documents.append(document)
    return json.dumps({"sheets": documents}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def load_sheets(data: bytes) -> list[tuple[dict[str, Any], list[tuple[int, list[Any]]]]]:
    """The inverse of :func:`dump_sheets`."""
    out = []
    for document in json.loads(data.decode("utf-8"))["sheets"]:
        rows = [(int(line), [_decode(v) for v in values]) for line, values in document.pop("rows")]
        out.append((document, rows))
    return out
