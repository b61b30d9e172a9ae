"""Bulk migration of school ledgers from the command line (``flask import ledger``, #14).

A bureau's IT person migrates a folder of school files at once. Each file goes through exactly
what the web import does — the layout reader, the guessed column mapping, the value mapping
(the tenant's remembered choices, then the shipped synonym table), the row checks, duplicates —
with no one to ask, so what the page would ask becomes part of the report instead:

* the school: ``--school CODE``, ``--school-name NAME``, else the title block's 填报单位 or the
  school named in the title, else a school whose name is in the file's name;
* a value no suggestion covers is reported under ``unmapped`` (the file is not imported);
* a ledger without 排查人 gets :data:`UNKNOWN_FINDER` (the web page asks for a constant);
  without 排查日期 the title block's 填报日期;
* rows already in the ledger (and every row of a file imported before) are skipped, never doubled.

Without ``dry_run`` each file whose ``errors`` and ``unmapped`` are empty is imported in its own
transaction (:func:`hazardhub.hazards.excel.import_rows`: one audited transaction per file, the
file's SHA-256 in its reason).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hazardhub.extensions import db
from hazardhub.hazards import excel
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.tenancy import tenant_bound
from hazardhub.errors import DomainError

#: 排查人 of a ledger that has no such column, when imported from the command line
UNKNOWN_FINDER = "原台账未记录"
DEFAULT_MAX_ROWS = 5000


class BulkImportError(DomainError):
    """A problem with the command's arguments (unknown tenant, unknown school)."""


@dataclass
class FileReport:
    file: str
    sheet: str = ""
    school: str = ""
    rows_ready: int = 0
    rows_skipped: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    unmapped: dict[str, list[str]] = field(default_factory=dict)
    imported: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "sheet": self.sheet, "school": self.school, "rows_ready": self.rows_ready,
                "rows_skipped": self.rows_skipped, "errors": self.errors, "unmapped": self.unmapped,
                "imported": self.imported}

    def error(self, row: int, column: str, message: str) -> None:
        self.errors.append({"row": row, "column": column, "message": message})


def find_tenant(slug: str | None) -> Tenant:
    """The tenant named, else the only district."""
    if slug:
        tenant = db.session.execute(sa.select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
        if tenant is None:
            raise BulkImportError(f"没有租户“{slug}”。")
        return tenant
    districts = db.session.execute(sa.select(Tenant).where(Tenant.kind != "city")).scalars().all()
    if len(districts) != 1:
        raise BulkImportError("有多个租户，请用 --tenant 指定导入到哪个教育局。")
    return districts[0]


def _schools(tenant_id: int) -> list[OrgUnit]:
    return list(db.session.execute(sa.select(OrgUnit).where(
        OrgUnit.tenant_id == tenant_id, OrgUnit.kind != "bureau", OrgUnit.is_active.is_(True))).scalars())


def find_school(tenant_id: int, *, code: str | None, name: str | None, context_unit: str | None,
                file_name: str, schools: list[OrgUnit] | None = None) -> OrgUnit | None:
    """The school a file belongs to: the option, else the title block, else the file's name.

    :param schools: the candidates (default: the tenant's active schools); the web import passes
        the units its user may import into
    """
    schools = _schools(tenant_id) if schools is None else schools
    if code:
        return next((s for s in schools if s.code == code), None)
    for wanted in (name, context_unit):
        if wanted:
            hit = _named_in(schools, wanted, whole=True)
            if hit is not None or name:
                return hit
    return _named_in(schools, Path(file_name).stem, whole=False)


def _bare(name: str | None) -> str:
    """A unit's name without spaces and bracketed remarks: “将官池镇第一小学（演示）” → 将官池镇第一小学."""
    return re.sub(r"[（(][^）)]*[）)]|\s+", "", name or "")


def _named_in(schools: list[OrgUnit], text: str, *, whole: bool) -> OrgUnit | None:
    """The school ``text`` names: exactly, else by its bare name (remarks in brackets aside), else —
    the file's name always, a 填报单位 line that adds the county (“许昌市建安区将官池镇第一小学”) —
    the longest bare name found inside it."""
    text = text.strip()
    if whole:
        hit = next((s for s in schools if s.name == text), None) or \
            next((s for s in schools if _bare(s.name) and _bare(s.name) == _bare(text)), None)
        if hit is not None:
            return hit
    named = [s for s in schools if _bare(s.name) and _bare(s.name) in _bare(text)]
    return max(named, key=lambda s: len(_bare(s.name))) if named else None


def check_file(path: Path, tenant: Tenant, *, school_code: str | None = None, school_name: str | None = None,
               max_rows: int = DEFAULT_MAX_ROWS) -> tuple[FileReport, OrgUnit | None, list[excel.LedgerRow], str]:
    """Everything the web import checks, for one file; nothing written."""
    report = FileReport(file=str(path))
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        sheets = excel.read_ledger(data, path.name, max_rows)
    except excel.UnreadableFile as exc:
        report.error(0, "", str(exc))
        return report, None, [], sha256
    sheet = sheets[excel.best_sheet(sheets)]
    report.sheet = sheet.name
    report.rows_skipped = [{"row": line, "why": why} for line, why in sheet.skipped]
    school = find_school(tenant.id, code=school_code, name=school_name, context_unit=sheet.context.get("unit"),
                         file_name=path.name)
    if school is None:
        report.error(0, "", "无法确定学校：请用 --school 或 --school-name 指定，或在表头写明填报单位。")
        return report, None, [], sha256
    report.school = school.name
    column_map = excel.guess_mapping(sheet.headers)
    found = excel.values_to_map(sheet, column_map, excel.remembered_values(tenant.id))
    values = {key: {text: suggestion for text, _n, suggestion in rows if suggestion} for key, rows in found.items()}
    header_of = {key: sheet.headers[i] for i, key in column_map.items()}
    for key, rows in found.items():
        missing = [text for text, _n, suggestion in rows if not suggestion]
        if missing:
            report.unmapped[header_of[key]] = missing
    fill = {"found_by_name": UNKNOWN_FINDER, "found_on": sheet.context.get("date", "")}
    parsed = excel.parse_ledger(sheet, column_map, tenant_id=tenant.id, values=values, fill=fill)
    for line, column, message in parsed.errors:
        if any(f"“{value}”未对应" in message for value in report.unmapped.get(column, ())):
            continue  # reported once, under unmapped
        report.error(line, column, message)
    duplicates = excel.find_duplicates(school, parsed.rows)
    for line, hazard in sorted(duplicates.items()):
        report.rows_skipped.append({"row": line, "why": f"已在台账中（{hazard.number}），未重复登记"})
    rows = [r for r in parsed.rows if r.line not in duplicates]
    report.rows_skipped.sort(key=lambda s: s["row"])
    report.rows_ready = len(rows)
    return report, school, rows, sha256


def import_ledgers(paths: list[Path], *, tenant_slug: str | None = None, school_code: str | None = None,
                   school_name: str | None = None, dry_run: bool = False) -> list[FileReport]:
    """Check (and unless ``dry_run`` import) each file; one report per file, in the given order."""
    tenant = find_tenant(tenant_slug)
    reports = []
    with tenant_bound(tenant.id):
        for path in paths:
            report, school, rows, sha256 = check_file(path, tenant, school_code=school_code, school_name=school_name)
            if not dry_run and school is not None and rows and not report.errors and not report.unmapped:
                result = excel.import_rows(school, None, rows, sha256, file_name=path.name)
                for line, column, message in result.errors:
                    report.error(line, column, message)
                report.imported = result.numbers
            reports.append(report)
    return reports


def expand(paths: list[Path]) -> list[Path]:
    """Files as given, folders as their spreadsheets (sorted), so a folder migrates at once."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in (".xlsx", ".xls", ".csv")
                              and not p.name.startswith(("~$", "."))))
        else:
            out.append(path)
    return out
