"""What one versioned write costs in statements, and that the seal hashes what it wrote.

Why a count and not a time: timings on a shared machine vary by 3x, a statement count does not,
and each statement is a round trip the user waits for. The seal hashes the flushed objects
instead of reading the transaction back (issue #15 item 3); when a value's stored form is not
certain it reads the rows back, and the chain still verifies either way.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from decimal import Decimal

import sqlalchemy as sa
from flask import g

from hazardhub.audit import tx_meta, verify_chain
from hazardhub.hazards.models import Hazard
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import make_hazard

#: SELECT the hazard, INSERT the Continuum transaction, UPDATE the hazard, INSERT its meta rows,
#: INSERT the version row, SELECT the chain head FOR UPDATE, move the head and INSERT the link
#: (one statement on PostgreSQL, two on SQLite). A regression that re-reads rows bites here.
MAX_STATEMENTS = 8

#: the test harness's own statements (each commit is a savepoint release there)
_HARNESS = re.compile(r"^\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b", re.I)


@contextmanager
def _statements(engine):
    seen: list[str] = []

    def record(conn, cursor, statement, params, context, executemany):
        if not _HARNESS.match(statement):
            seen.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _edit(db, hazard_id: int, **values) -> None:
    """A web-like edit: load with ``select()``, change, give a reason, commit."""
    hazard = db.session.execute(sa.select(Hazard).where(Hazard.id == hazard_id)).scalar_one()
    for key, value in values.items():
        setattr(hazard, key, value)
    tx_meta(reason="性能测试：修改隐患部位")
    db.session.commit()


def _reads_back(statements: list[str]) -> list[str]:
    return [s for s in statements
            if s.upper().startswith("SELECT") and re.search(r'FROM ("transaction"|transaction_meta|hazards_version)\b', s)]


def test_one_versioned_write_stays_within_a_fixed_number_of_statements(db, world):
    admin = world.users["bureau_admin"]
    hazard = make_hazard(db, world.s1, admin)
    g.audit_source, g.actor_id = "cli", admin.id
    with tenant_bound(world.a.id):
        _edit(db, hazard.id, location="教学楼二楼")  # warm: the first write of a session maps and compiles
        with _statements(db.engine) as seen:
            _edit(db, hazard.id, location="教学楼三楼")
    assert len(seen) <= MAX_STATEMENTS, "\n".join(seen)
    assert not _reads_back(seen), "the seal hashes the flushed state; it does not read it back"
    assert sum(s.upper().startswith("INSERT INTO HAZARDS_VERSION") for s in seen) == 1
    assert verify_chain(db.session.connection(), world.a.id).ok


def test_a_value_whose_stored_form_is_uncertain_is_read_back_and_the_chain_holds(db, world):
    admin = world.users["bureau_admin"]
    hazard = make_hazard(db, world.s1, admin)
    g.audit_source, g.actor_id = "cli", admin.id
    with tenant_bound(world.a.id):
        with _statements(db.engine) as seen:
            # three decimals in a Numeric(12, 2) column: the database rounds, so only it knows the value
            _edit(db, hazard.id, funds=Decimal("1234.565"))
        assert _reads_back(seen), "an uncertain value is hashed as the database holds it"
        with _statements(db.engine) as seen:
            _edit(db, hazard.id, funds=Decimal("1234.5"), location="配电室")
        assert not _reads_back(seen)
    report = verify_chain(db.session.connection(), world.a.id)
    assert report.ok, report.problems


def test_the_flushed_change_set_equals_what_verify_reads(db, world, monkeypatch):
    """The in-memory canonical form of a write (dates, decimals, booleans, None) is byte for byte
    the one computed from the tables."""
    from hazardhub import audit

    admin = world.users["bureau_admin"]
    hazard = make_hazard(db, world.s1, admin)
    g.audit_source, g.actor_id = "cli", admin.id
    captured = {}
    original = audit._flushed_change_set

    def capture(tx, uow, dialect):
        result = original(tx, uow, dialect)
        tables = sorted({vcls.__table__ for (vcls, _pk) in uow.version_objs}, key=lambda t: t.name)
        captured["memory"] = result
        captured["database"] = audit._load_transaction(db.session.connection(), tx.id, tables)
        return result

    monkeypatch.setattr(audit, "_flushed_change_set", capture)
    with tenant_bound(world.a.id):
        _edit(db, hazard.id, funds=1500, location="食堂操作间", interim_controls=None)
    assert captured["memory"] is not None
    memory, database = captured["memory"], captured["database"]
    assert audit.canonical_change_set(*memory) == audit.canonical_change_set(*database)


def test_only_values_whose_stored_form_is_certain_are_hashed_from_memory():
    """A value the database would round, pad, re-type or sign differently is left to the read-back."""
    from datetime import date, datetime, timezone

    from hazardhub import audit

    def stored(column_type, value):
        result = audit._stored_form(column_type)(value)
        return "unsure" if result is audit._UNSURE else result

    money = sa.Numeric(12, 2)
    assert stored(money, 1200) == Decimal("1200")
    assert stored(money, Decimal("1200.50")) == Decimal("1200.50")
    assert stored(money, 1200.5) == Decimal("1200.5")
    for rounded_or_signed in (Decimal("1.005"), 1.005, -0.0, Decimal("-0"), 12345678901234567):
        assert stored(money, rounded_or_signed) == "unsure"
    assert stored(sa.Integer(), True) == "unsure"
    assert stored(sa.Boolean(), 1) == "unsure"
    assert stored(sa.String(20), 5) == "unsure"
    assert stored(sa.Date(), datetime(2026, 1, 1)) == "unsure"
    assert stored(sa.DateTime(), datetime(2026, 1, 1, tzinfo=timezone.utc)) == "unsure"
    assert stored(sa.DateTime(), datetime(2026, 1, 1, 8, 30, 0, 123456)) == datetime(2026, 1, 1, 8, 30, 0, 123456)
    assert stored(sa.Date(), date(2026, 1, 1)) == date(2026, 1, 1)
    assert stored(sa.JSON(), {"a": 1}) == "unsure"
    assert stored(sa.CHAR(4), "ab") == "unsure"
