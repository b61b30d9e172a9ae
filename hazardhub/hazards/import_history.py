"""An imported ledger row's past, written as back-dated versions (issue #14, "history comes with the row").

Why: a school's ledger says a hazard was found on 03-10 and closed on 04-20. The ledger "as of" a
day and the phase reports read the version tables by the transaction's ``issued_at``
(``hazards/views.py``, ``reports/figures.py``); an import that only wrote today's state would show
that hazard as nonexistent on every earlier day, and as closed from the day of the import instead
of 04-20. So, in the import's own database transaction, each new hazard gets the steps its row
implies, each at the date the file gives:

* 登记 at 排查日期 (09:00 Beijing), for every row;
* 整改中 at 排查日期 (09:30): the file has no start date, and work starts when a hazard is found;
* 待验收 at 整改完成日期 (16:00; the 排查日期 when the file has none);
* 销号 at 销号日期 (17:00), with the 验收 date and acceptor the file names.

A step that a later one follows on the same day is left out: the ledger "as of" a day shows the
state at its end, and the file says nothing of the hours (so a hazard found and put in hand on
03-10 has one version, 整改中 from 03-10; one found, fixed and closed the same day, one, 已销号).
This also keeps a 1,000-row import within its three seconds.

Steps of the same kind on the same day share one Continuum transaction (one version per hazard
each, as Continuum requires), so a 1,000-row ledger adds a few dozen transactions, not thousands.
Every one carries the import's reason and the file's SHA-256 (``meta.file_sha256``), and is sealed
on the tenant's chain by :class:`hazardhub.audit.BulkChainWriter` — the audit module's one path for
back-dated history — before the import's own transaction (stamped now, holding the live rows as
the operations wrote them) is sealed last at commit; so the live rows equal their latest versions
by chain order, and ``audit verify`` passes. A date later than now is taken as now.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from hazardhub import clock
from hazardhub.audit import BulkChainWriter, VersionedTable, change_source
from hazardhub.extensions import db
from hazardhub.hazards.models import STATUSES, Hazard

if TYPE_CHECKING:  # pragma: no cover - types only
    from hazardhub.hazards.excel import LedgerRow

#: the lifecycle in order: (status, what the step is called, which date of the row, Beijing time)
STEPS = (
    ("registered", "登记", "排查日期", time(9, 0)),
    ("rectifying", "开始整改", "排查日期", time(9, 30)),
    ("awaiting_acceptance", "报告整改完成", "整改完成日期", time(16, 0)),
    ("closed", "验收销号", "销号日期", time(17, 0)),
)
_ORDER = {status: index for index, (status, *_rest) in enumerate(STEPS)}
#: filled in by later steps only: an earlier step's version has them empty
_CLOSING = ("accepted_on", "closed_on", "acceptance_note", "accepted_by_id")
_REPORTING = ("rectified_on", "rectified_by_id", "rectification_note")


def _steps(row: "LedgerRow") -> list[tuple[int, date]]:
    """``(step, day)`` of each step the row reaches (a day never earlier than the one before),
    those a later step reaches the same day left out."""
    found = row.data["found_on"]
    reported = max(row.rectified_on or found, found)
    days = [found, found, reported, max(row.closed_on or reported, reported)][:_ORDER[row.status] + 1]
    return [(index, day) for index, day in enumerate(days) if index + 1 == len(days) or days[index + 1] != day]


def _moment(index: int, day: date, now: datetime) -> datetime:
    """Naive UTC of step ``index`` on ``day``; a moment after now is taken as just before now,
    keeping the steps in order (a minute apart)."""
    at = clock.naive_utc(datetime.combine(day, STEPS[index][3], clock.SHANGHAI))
    return min(at, now - timedelta(minutes=len(STEPS) - index))


def _step_row(live: dict, index: int, final_index: int) -> dict:
    """The live row as it stood after step ``index``."""
    if index == final_index:
        return dict(live)
    row = dict(live, status=STEPS[index][0])
    row.update({key: None for key in _CLOSING})
    if index < _ORDER["awaiting_acceptance"]:
        row.update({key: None for key in _REPORTING})
    return row


def write_lifecycles(tenant_id: int, actor_id: int | None, rows: list["LedgerRow"], hazard_ids: list[int],
                     file_sha256: str, file_name: str | None = None) -> int:
    """Write the back-dated versions of the imported hazards ``hazard_ids`` (flushed, in ``rows``'
    order) and seal them on the tenant's chain, in the current database transaction; the caller
    commits. Returns the number of version rows written."""
    if not hazard_ids:
        return 0
    conn = db.session.connection()
    table = VersionedTable(Hazard)
    live: dict[int, dict] = {}
    for start in range(0, len(hazard_ids), 900):
        chunk = hazard_ids[start:start + 900]
        for r in conn.execute(sa.select(table.live).where(table.live.c.id.in_(chunk))):
            live[r.id] = dict(r._mapping)
    now = clock.utcnow()
    writer = BulkChainWriter(conn, tenant_id, source=change_source())
    transactions: dict[tuple[int, datetime], object] = {}
    for row, hazard_id in zip(rows, hazard_ids):
        final_index = _ORDER[row.status]
        previous = None
        for index, day in _steps(row):
            at = _moment(index, day, now)
            tx = transactions.get((index, at))
            if tx is None:
                status, label, date_label, _hour = STEPS[index]
                tx = transactions[(index, at)] = writer.transaction(
                    at, actor_id,
                    reason=f"导入台账：{label}（{STATUSES[status]}，原表{date_label} {day.isoformat()}，"
                           f"文件 SHA-256 {file_sha256}）",
                    file_sha256=file_sha256, file_name=(file_name or "")[:200] or None)
            version = dict(_step_row(live[hazard_id], index, final_index), updated_at=at)
            changed = None if previous is None else {c for c in table.mod_columns if previous[c] != version[c]}
            tx.add(table.version, table.version_row(version, 0 if previous is None else 1, changed))
            previous = version
    writer.seal()
    return writer.write()
