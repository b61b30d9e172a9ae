"""The demo's past: every seeded change is recorded at the moment the record claims.

Why: the ledger "as of" a day and the phase reports read the version tables by the transaction's
``issued_at`` (``hazardhub/reports/figures.py``). A demo whose records claim 2025 but whose
versions were all written at seeding time shows an empty ledger for every earlier day and a phase
report of zeros (issue #18). So the demo seeders run each operation inside :func:`past`, which
stops :mod:`hazardhub.clock` at the claimed moment: the operation validates against that day
("not in the future"), stamps ``created_at``/``*_at`` with it, and Continuum's ``issued_at``
(taken from the one clock, ``hazardhub/audit.py``) carries it into the transaction. The normal
seal then appends the transaction to the tenant's chain as usual.

The chain stays linear: links are numbered in commit order (``seq``) and ``audit verify`` checks
the hashes, the order of ``seq`` and every live row against its latest version by ``seq``; it
does not require ``issued_at`` to grow along the chain (the city-scale data set appends three
years of back-dated history after the demo too). What must hold, and what the seeders keep, is
that each record's own changes are made in their claimed order, so the latest version by
``seq`` is also the latest by ``issued_at``.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator

from hazardhub import clock
from hazardhub.audit import BulkChainWriter, VersionedTable, advance_sequences, bulk_insert
from hazardhub.extensions import db
from hazardhub.hazards.models import Hazard, OPEN_STATUSES
from hazardhub.inspections.models import Inspection, InspectionItem, KINDS, SignOff
from hazardhub.inspections.operations import canonical, checklist_for

#: when the demo's bureaus were provisioned and their people given accounts (Beijing time): before
#: the 2025 campaign's mobilisation phase, so its units exist "as of" any day the demo shows
EPOCH = datetime(2025, 2, 17, 9, 0, tzinfo=clock.SHANGHAI)


def moment(when: date | datetime, hour: int = 10) -> datetime:
    """``when`` as an aware instant: a date is ``hour`` o'clock Beijing time that day, a naive
    datetime is naive UTC (as every ``*_at`` column and parameter of the operations is)."""
    if isinstance(when, datetime):
        return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return datetime.combine(when, time(hour), clock.SHANGHAI)


@contextmanager
def past(when: date | datetime, hour: int = 10) -> Iterator[None]:
    """Run the enclosed operations as at ``when`` (see :func:`moment`), never later than now.

    A moment after the real now (a demo seeded early in a month) is taken as now, so nothing is
    recorded in the future.
    """
    real = clock.now_utc()
    at = min(moment(when, hour), real)
    with clock.frozen(at):
        yield


def day_after(day: date, days: int, *, not_after: date | None = None) -> date:
    """``day`` plus ``days``, not later than ``not_after`` (default: today)."""
    limit = not_after or clock.today()
    return min(day + timedelta(days=days), limit)



class PastInspections:
    """All-pass inspections and the principals' sign-offs of a district, written through the audit
    module's public bulk path (:class:`hazardhub.audit.BulkChainWriter`) at the dates they claim.

    Why: the demo's months of 三查 were two thirds of its seeding time as ORM
    operations (start, checklist, finish and signature: four commits of some forty versioned rows
    each). Here each inspection is one transaction (recorded with its checklist, as the city-scale
    data set simplifies it) and each signature one more, with the snapshot, its SHA-256 and the
    chain head just before it, exactly as ``inspections.operations.sign`` stores them; the seal is
    the audit module's, so ``audit verify`` passes. The school's open ledger in the snapshot is the
    one at writing time, as it was when the demo signed them through the operations. The city
    witnesses these heads when it verifies the districts' chains at the end of the seeding
    (``demo_citywide._verify_all``). Inspections with a failed line still go through the
    operations (the line becomes a hazard there).
    """

    def __init__(self, tenant_id: int):
        self.tenant_id = tenant_id
        self.t = {"inspection": VersionedTable(Inspection), "item": VersionedTable(InspectionItem),
                  "signoff": VersionedTable(SignOff)}
        self.pending: list[dict] = []
        self._checklists: dict[int, list[dict]] = {}

    def add(self, unit, kind: str, actor, day: date, inspectors: str | None = None) -> dict:
        """An inspection of ``unit`` by ``actor`` on ``day``, every line passed; returns its record."""
        if unit.id not in self._checklists:
            self._checklists[unit.id] = checklist_for(unit)
        record = {"unit": unit, "kind": kind, "actor_id": actor.id, "day": day,
                  "recorded_at": self.recorded_at(day),
                  "inspectors": inspectors or actor.display_name.split("·")[-1], "signed_at": None,
                  "signer_id": None}
        self.pending.append(record)
        return record

    @staticmethod
    def recorded_at(day: date) -> datetime:
        """When an inspection of ``day`` was recorded (naive UTC): 09:00 Beijing that day, or now
        when that is still to come (a demo seeded before 09:00). Never in the future, and taken
        once, when the inspection is added: the bulk writer orders transactions by their moment, so
        a sign-off clamped to "now" must not precede its own inspection's recording (the row would
        then differ from its last version: `audit verify` fails)."""
        return min(clock.naive_utc(moment(day, 9)), clock.utcnow())

    @staticmethod
    def sign(record: dict, actor, signed_at: datetime) -> None:
        """The principal signs ``record`` at ``signed_at`` (naive UTC): not before the inspection
        was recorded (09:00 Beijing on its day, plus two hours), never later than now."""
        recorded = record["recorded_at"]
        record["signed_at"] = min(max(signed_at, recorded + timedelta(hours=2)), clock.utcnow())
        record["signer_id"] = actor.id

    def write(self) -> int:
        """Write everything added, in one database transaction; returns the inspections written."""
        import hashlib

        import sqlalchemy as sa

        if not self.pending:
            return 0
        self._open = self._open_ledgers()
        conn = db.session.connection()
        ids = {key: conn.execute(sa.text(f'SELECT coalesce(max(id), 0) FROM "{name}"')).scalar_one()
               for key, name in (("inspection", "inspections"), ("item", "inspection_items"),
                                 ("signoff", "sign_offs"))}
        writer = BulkChainWriter(conn, self.tenant_id)
        live: dict[str, list[dict]] = {"inspection": [], "item": [], "signoff": []}
        summary = "按检查表逐项检查，未发现重大事故隐患。"
        for record in self.pending:
            unit, day = record["unit"], record["day"]
            at = record["recorded_at"]
            ids["inspection"] += 1
            insp = {"id": ids["inspection"], "tenant_id": self.tenant_id, "created_at": at, "kind": record["kind"],
                    "unit_id": unit.id, "unit_path": unit.path, "month": clock.month_of(day), "inspected_on": day,
                    "recorded_by_id": record["actor_id"], "inspectors": record["inspectors"], "agencies": None,
                    "summary": summary, "status": "recorded", "amends_id": None, "version_id": 1}
            tx = writer.transaction(at, record["actor_id"], reason=f"开始{KINDS[record['kind']]}")
            tx.add(self.t["inspection"].version, self.t["inspection"].version_row(insp, 0))
            items = []
            for sort, line in enumerate(self._checklists[unit.id], start=1):
                ids["item"] += 1
                item = {"id": ids["item"], "tenant_id": self.tenant_id, "created_at": at, "inspection_id": insp["id"],
                        **line, "result": "pass", "note": None, "hazard_id": None, "sort": sort}
                items.append(item)
                tx.add(self.t["item"].version, self.t["item"].version_row(item, 0))
            live["inspection"].append(insp)
            live["item"].extend(items)
            if record["signed_at"] is not None:
                live["signoff"].append(self._signoff(writer, insp, items, record, ids, canonical, hashlib))
        writer.seal()  # ids, links and the sign-offs' chain heads, before the live rows are written
        for key in ("inspection", "item", "signoff"):
            table = self.t[key]
            bulk_insert(conn, table.live, table.columns, (table.live_values(row) for row in live[key]))
        writer.write()
        advance_sequences(conn, ("inspections", "inspection_items", "sign_offs"))
        db.session.commit()
        written, self.pending = len(self.pending), []
        return written

    def _open_ledgers(self) -> dict[int, list[dict]]:
        """Each school's open hazards as ``inspections.operations.snapshot`` lists them (now)."""
        import sqlalchemy as sa

        out: dict[int, list[dict]] = {}
        for school_id, number, status, level, deadline in db.session.execute(
                sa.select(Hazard.school_id, Hazard.number, Hazard.status, Hazard.level, Hazard.deadline)
                .where(Hazard.tenant_id == self.tenant_id, Hazard.status.in_(OPEN_STATUSES))
                .order_by(Hazard.number)):
            out.setdefault(school_id, []).append({"number": number, "status": status, "level": level,
                                                  "deadline": deadline.isoformat() if deadline else None})
        return out

    def _signoff(self, writer, insp: dict, items: list[dict], record: dict, ids: dict, canonical, hashlib) -> dict:
        at = record["signed_at"]
        data = {
            "inspection": {"id": insp["id"], "kind": insp["kind"], "unit_id": insp["unit_id"], "month": insp["month"],
                           "inspected_on": insp["inspected_on"].isoformat(), "inspectors": insp["inspectors"],
                           "summary": insp["summary"] or "", "amends_id": None},
            "lines": [{"number": i["number"], "text": i["text"], "result": i["result"], "note": i["note"] or "",
                       "hazard_id": i["hazard_id"]} for i in items],
            "open_ledger": self._open.get(insp["unit_id"], []),
        }
        text = canonical(data)
        ids["signoff"] += 1
        signoff = {"id": ids["signoff"], "tenant_id": self.tenant_id, "created_at": at, "inspection_id": insp["id"],
                   "signed_by_id": record["signer_id"], "signed_at": at, "snapshot": text,
                   "snapshot_sha256": hashlib.sha256(text.encode()).hexdigest(), "chain_head": None,
                   "items_checked": len(items), "items_failed": 0,
                   "open_hazards": len(data["open_ledger"]),
                   "is_late": clock.local_date(at) > clock.month_end(insp["month"])}
        tx = writer.transaction(at, record["signer_id"], reason=f"校长签字：{insp['month']} 月度自查")
        signed = dict(insp, status="signed", version_id=2)
        tx.add(self.t["inspection"].version, self.t["inspection"].version_row(signed, 1, {"status", "version_id"}))
        version = tx.add(self.t["signoff"].version, self.t["signoff"].version_row(signoff, 0))

        def store_head(head: str) -> None:
            signoff["chain_head"] = version["chain_head"] = head

        tx.on_head = store_head
        insp.update(status="signed", version_id=2)  # the live row is the signed one
        return signoff
