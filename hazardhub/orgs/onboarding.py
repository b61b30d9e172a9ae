"""Onboarding a county from its own school list (#14): parents by township name, principals' accounts.

A county's list names each school's 所属乡镇 (not a code) and often its 校长. The rows parsed by
:mod:`hazardhub.orgs.unit_rows` get their parent codes here (a township in the same file or
already in the tree, matched by name with or without “中心学校”), are written by
:func:`hazardhub.orgs.operations.apply_unit_rows` (all or nothing), and then each named
principal gets an account with a one-time password; the passwords go to the bureau as one
spreadsheet (:func:`passwords_workbook`), never shown again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from hazardhub import spreadsheets
from hazardhub.accounts import operations as account_ops
from hazardhub.accounts.models import Membership
from hazardhub.extensions import db
from hazardhub.orgs.models import OrgUnit
from hazardhub.orgs.operations import apply_unit_rows, root_unit, subtree_query
from hazardhub.orgs.unit_rows import UnitRow, UnreadableFile, parse_unit_rows, read_unit_table

_SUFFIXES = ("中心学校", "中心校", "学区", "镇", "乡", "街道")


def _bare(name: str) -> str:
    """A township's name without what lists add or leave out (“城关镇中心学校” ~ “城关”)."""
    text = re.sub(r"\s+", "", name or "")
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text, changed = text[: -len(suffix)], True
    return text


def resolve_parent_names(rows: list[UnitRow], scope_root: OrgUnit) -> list[tuple[int, str]]:
    """Give every row without a parent code one: its 所属乡镇 by name (a township row of the file,
    else a unit already under ``scope_root``), or ``scope_root`` itself. Returns row errors."""
    existing = list(db.session.execute(subtree_query(scope_root)).scalars())
    by_name: dict[str, str] = {}
    for unit in existing:
        if not unit.is_school:
            by_name.setdefault(unit.name, unit.code)
            by_name.setdefault(_bare(unit.name), unit.code)
    for row in rows:
        if row.kind != "school":
            by_name[row.name] = row.code
            by_name.setdefault(_bare(row.name), row.code)
    errors = []
    for row in rows:
        if row.parent_code or row.kind == "bureau" or row.code == scope_root.code:
            continue  # an export's root row keeps its own (empty) parent
        if not row.parent_name:
            row.parent_code = scope_root.code
            continue
        code = by_name.get(row.parent_name) or by_name.get(_bare(row.parent_name))
        if code is None or code == row.code:
            errors.append((row.line, f"所属乡镇“{row.parent_name}”未找到：请在表中加入该乡镇中心学校，或先在系统中建立它。"))
        else:
            row.parent_code = code
    return errors


@dataclass
class Principals:
    #: (unit name, unit code, principal, username, one-time password)
    created: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    #: (unit name, why no account was made)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _username_for(code: str) -> str:
    base = "xz-" + re.sub(r"[^a-z0-9_-]+", "", code.lower())[:30]
    name, n = base, 1
    while account_ops.username_taken(name):
        n += 1
        name = f"{base}-{n}"
    return name


def create_principals(rows: list[UnitRow], scope_root: OrgUnit) -> Principals:
    """An account (role 校长, one-time password) for each row's named principal whose unit has no
    active principal yet. Each account is its own audited transaction, after the units'."""
    result = Principals()
    units = {u.code: u for u in db.session.execute(subtree_query(scope_root)).scalars()}
    for row in rows:
        if not row.principal:
            continue
        unit = units.get(row.code)
        if unit is None:
            continue
        has_one = db.session.execute(sa.select(Membership.id).where(
            Membership.unit_id == unit.id, Membership.role == "principal", Membership.is_active.is_(True))).first()
        if has_one is not None:
            result.skipped.append((unit.name, "已有校长账号"))
            continue
        try:
            user, password = account_ops.create_user(
                username=_username_for(unit.code), display_name=row.principal, phone=row.contact_phone,
                unit=unit, role="principal")
        except account_ops.AccountError as exc:
            result.skipped.append((unit.name, str(exc)))
            continue
        result.created.append((unit.name, unit.code, row.principal, user.username, password))
    return result


def passwords_workbook(principals: Principals, title: str) -> bytes:
    """The one-time passwords for the bureau (one sheet; each must be changed at first login)."""
    book = spreadsheets.Book(title)
    ws = book.sheet("校长账号", widths=(28, 16, 12, 22, 18), freeze="A2")
    ws.append(["单位", "单位代码", "校长", "用户名", "一次性密码"], style=spreadsheets.Style(bold=True))
    for row in principals.created:
        ws.append(row)
    notes = book.sheet("说明", widths=(90,))
    notes.append(["一次性密码只在本文件中出现一次，首次登录后必须修改。请逐人转交，转交后删除本文件。"])
    return book.to_bytes()


def import_units_file(path: Path, tenant_id: int, *, dry_run: bool = False, max_rows: int = 100000) -> dict:
    """``flask import units``: a county list checked, and unless ``dry_run`` applied (all or
    nothing) with principals' accounts; their one-time passwords are written beside the list
    (``<name>-校长一次性密码.xlsx``). Returns the report in the ``--json`` shape."""
    report: dict = {"file": str(path), "sheet": "", "rows_ready": 0, "rows_skipped": [], "errors": [],
                    "unmapped": {}, "created": [], "updated": [], "passwords_file": None}
    root = root_unit(tenant_id)
    try:
        with path.open("rb") as stream:
            table, lines = read_unit_table(path.name, stream, max_rows)
    except UnreadableFile as exc:
        report["errors"].append({"row": 0, "column": "", "message": str(exc)})
        return report
    parsed = parse_unit_rows(table, lines)
    errors = parsed.errors or resolve_parent_names(parsed.rows, root)
    report["rows_ready"] = len(parsed.rows)
    if not errors:
        result = apply_unit_rows(parsed.rows, root, reason=f"命令行导入单位：{path.name}", commit=not dry_run)
        errors = result.errors
        if dry_run:
            db.session.rollback()
        elif not errors:
            report["created"], report["updated"] = result.created, result.updated
            principals = create_principals(parsed.rows, root)
            if principals.created:
                target = path.with_name(f"{path.stem}-校长一次性密码.xlsx")
                target.write_bytes(passwords_workbook(principals, f"{root.name}校长账号（一次性密码）"))
                report["passwords_file"] = str(target)
    report["errors"] = [{"row": line, "column": "", "message": message} for line, message in errors]
    return report
