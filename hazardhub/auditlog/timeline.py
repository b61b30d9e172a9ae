"""History pages in words: the one formatter every record's history goes through (issue #18).

A history page is the evidence a bureau shows when it is asked who did what and when, so it must
not speak in codes. Each versioned model declares once, in its ``models.py``, what its columns mean
(:class:`hazardhub.audit.HistorySpec`: labels, the Chinese of each code, hidden columns, how a row
is named, which child rows belong to its story); this module reads those declarations and turns
version rows into lines of words:

- a field's label, never its column name;
- a code in Chinese (``submitted`` → 已提交待审核), a boolean as 是/否;
- an id as the name of what it points to (found from the table's foreign keys: a user's name, a
  unit's name, a hazard's number, a standard item's number);
- a datetime in Beijing time to the minute (stored naive UTC, never shown so);
- child rows (an inspection's checklist lines, a hazard's citations and photos, a directive's
  hazards) inside their parent's entries, named, so "检查项“3.1（校门口）”的检查结果：未检查 → 不合格"
  says which line was marked what, and the entry says by whom;
- actors without an account and machine reasons in words.

Views call :func:`timeline` and render ``history.html``; no page formats values itself.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import sqlalchemy as sa

from hazardhub import clock
from hazardhub.audit import HistoryEntry, HistorySpec, histories, history
from hazardhub.db import Base
from hazardhub.extensions import db
from hazardhub.orgs.models import Tenant

#: columns no history shows (scoping, bookkeeping)
ALWAYS_HIDDEN = ("tenant_id", "created_at", "updated_at", "version_id")
#: more new rows of one kind in one change than this are counted, not listed
BULK = 6
#: machine reasons written by older code (before they were written in Chinese), in words
REASONS = (
    (re.compile(r"^tenants apply (?P<slug>\S+)$"), "按 tenants/ 配置开通：{tenant}"),
    (re.compile(r"^tenants apply(?P<rest>.*)$"), "按 tenants/ 配置导入单位{rest}"),
)


def spec_of(cls) -> HistorySpec:
    return getattr(cls, "__history__", None) or HistorySpec()


@cache
def _classes() -> dict[str, type]:
    return {m.class_.__name__: m.class_ for m in Base.registry.mappers}


@cache
def _class_of_table(table_name: str) -> type | None:
    return next((m.class_ for m in Base.registry.mappers if getattr(m.class_, "__tablename__", None) == table_name),
                None)


@cache
def ref_columns(cls) -> dict[str, type]:
    """Columns of ``cls`` holding another row's id → that row's class (foreign keys, then ``refs``)."""
    refs: dict[str, type] = {}
    for fk in cls.__table__.foreign_key_constraints:
        target = _class_of_table(fk.referred_table.name)
        for column in fk.columns:
            if column.name != "tenant_id" and target is not None:
                refs[column.name] = target
    for column, class_name in spec_of(cls).refs.items():
        refs[column] = _classes()[class_name]
    return refs


def all_codes() -> set[str]:
    """Every code any model declares (the history test fails when one is shown raw)."""
    return {str(code) for cls in _classes().values() for values in spec_of(cls).choices.values()
            for code in values}


def name_of(row) -> str:
    """How ``row`` is named where another record's history refers to it."""
    namer = spec_of(type(row)).name
    if namer is not None:
        return str(namer(row))
    for attr in ("display_name", "name", "title", "number"):
        value = getattr(row, attr, None)
        if value:
            return str(value)
    return "（无名称）"


def actor_words(user_name: str | None, source: str | None) -> str:
    """The person, or which part of the system acted when no account did."""
    if user_name:
        return user_name
    return {"cli": "系统管理员（服务器命令行）", "job": "系统（后台任务）"}.get(source or "", "系统")


def reason_words(reason: str | None) -> str | None:
    if not reason:
        return reason
    for pattern, words in REASONS:
        match = pattern.match(reason)
        if match:
            return words.format(tenant=_tenant_name(match.groupdict().get("slug")), **match.groupdict())
    return reason


def _tenant_name(slug: str | None) -> str | None:
    if not slug:
        return None
    name = db.session.execute(sa.select(Tenant.name).where(Tenant.slug == slug)).scalar_one_or_none()
    return name or slug


def _choice(choices: dict, value: Any) -> str:
    text = choices.get(value, value)
    return str(text[0] if isinstance(text, tuple) else text)


def value_text(cls, column: str, value: Any, names: dict[type, dict[int, str]]) -> str:
    """One stored value of ``cls.column`` in words."""
    if value is None or value == "":
        return ""
    spec = spec_of(cls)
    if column in spec.choices:
        return _choice(spec.choices[column], value)
    target = ref_columns(cls).get(column)
    if target is not None:
        return names.get(target, {}).get(value) or "（记录已不存在）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return clock.local(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def _label(cls, column: str) -> str:
    return spec_of(cls).labels.get(column, column)


def _is_default(cls, column: str, value: Any) -> bool:
    """Is ``value`` what a new row has anyway (nothing worth a line when the row is created)?"""
    if value is None or value == "":
        return True
    col = cls.__table__.c.get(column)
    default = getattr(getattr(col, "default", None), "arg", None)
    return default is not None and not callable(default) and default == value


def _names(raw: list[tuple[HistoryEntry, type, Any]]) -> dict[type, dict[int, str]]:
    """Names of every row the entries refer to, one query per referenced model."""
    wanted: dict[type, set[int]] = {}
    for entry, cls, _row in raw:
        refs = ref_columns(cls)
        for column, old, new in entry.changes:
            if column in refs:
                wanted.setdefault(refs[column], set()).update(v for v in (old, new) if v is not None)
    names: dict[type, dict[int, str]] = {}
    for target, ids in wanted.items():
        pk = sa.inspect(target).primary_key[0]
        rows = db.session.execute(
            sa.select(target).where(pk.in_(ids)).execution_options(all_tenants=True)  # names only
        ).unique().scalars()
        names[target] = {getattr(r, pk.key): name_of(r) for r in rows}
    return names


def _hidden(cls, *more: str) -> tuple[str, ...]:
    return (*ALWAYS_HIDDEN, *spec_of(cls).hidden, *more)


def timeline(obj) -> list[HistoryEntry]:
    """``obj``'s history and its declared children's, merged by change, newest first, in words."""
    cls = type(obj)
    spec = spec_of(cls)
    raw: list[tuple[HistoryEntry, type, Any]] = [(e, cls, None) for e in history(obj, hidden=_hidden(cls))]
    for child_name, column in spec.children:
        child_cls = _classes()[child_name]
        rows = db.session.execute(
            sa.select(child_cls).where(getattr(child_cls, column) == obj.id).order_by(child_cls.id)
        ).unique().scalars().all()
        by_id = histories(child_cls, [row.id for row in rows], hidden=_hidden(child_cls, column))
        for row in rows:
            raw.extend((e, child_cls, row) for e in by_id.get(row.id, []))
    names = _names(raw)
    merged: dict[int, HistoryEntry] = {}
    created: dict[tuple[int, type], list[str]] = {}
    for entry, entry_cls, row in raw:
        if row is None:
            lines = [(_label(entry_cls, c), value_text(entry_cls, c, old, names), value_text(entry_cls, c, new, names))
                     for c, old, new in entry.changes]
        else:
            lines = _child_lines(entry, entry_cls, row, names, created)
        target = merged.get(entry.transaction_id)
        if target is None:
            entry.changes = lines
            entry.actor = actor_words(entry.actor, entry.source)
            entry.reason = reason_words(entry.reason)
            if row is not None:
                entry.operation = "修改"  # a child row changed: the record's story moved on
            merged[entry.transaction_id] = entry
        else:
            target.changes.extend(lines)
            if row is None:
                target.operation = entry.operation
    for (tx_id, child_cls), new_names in created.items():
        label = spec_of(child_cls).child_label or child_cls.__name__
        if len(new_names) > BULK:
            merged[tx_id].changes.append((f"新增{label}", "", f"{len(new_names)} 项"))
        else:
            merged[tx_id].changes.extend((f"新增{label}", "", n) for n in new_names)
    # newest first by the moment each change claims (an imported ledger row's back-dated steps are
    # written after the import's own transaction: hazardhub/hazards/import_history.py)
    return sorted(merged.values(), key=lambda e: (e.issued_at or datetime.min, e.transaction_id), reverse=True)


def _child_lines(entry: HistoryEntry, cls, row, names, created) -> list[tuple[str, str, str]]:
    spec = spec_of(cls)
    row_name = name_of(row)
    changes = entry.changes
    if entry.operation == "创建":
        changes = [(c, old, new) for c, old, new in changes if not _is_default(cls, c, new)]
        if spec.brief or not changes:
            created.setdefault((entry.transaction_id, cls), []).append(row_name)
            return []
    label = spec.child_label or cls.__name__
    prefix = f"{label}“{row_name}”的" if spec.name is not None else f"{label}的"
    return [(prefix + _label(cls, c), value_text(cls, c, old, names), value_text(cls, c, new, names))
            for c, old, new in changes]
