"""The working-day bench's writers (#15 item 1): each write is a real, sealed operation.

``flask bench --writes-per-second`` runs :mod:`hazardhub.devtools.workday` in a writer process
while the readers measure the pages; that the writes do what users do is checked here on the test
world, without the process and without timing: a hazard registered with its plan, started,
reported by the school, accepted by the bureau; this month's self-inspection started, its
checklist saved, finished and signed by the school's own principal; an all-staff learning session
recorded — each write one commit, sealed on its district's chain with its actor, on the right
tenant. A refused write (the school already inspected this month, a hazard voided or an inspection
signed by someone else in the meantime) writes nothing and the stream goes on. The chain fixture
verifies every tenant whose head moved after each test.
"""
from __future__ import annotations

import sqlalchemy as sa

from hazardhub import clock
from hazardhub.audit import AuditChainHead
from hazardhub.devtools import workday
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import Hazard
from hazardhub.inspections import operations as inspection_ops
from hazardhub.inspections.models import Inspection, SignOff
from hazardhub.learning import operations as learning_ops
from hazardhub.learning.models import LearningSession
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import PASSWORD, make_unit, make_user, record_inspection

MIX = list(workday.MIX)


def _plan(world) -> dict[int, workday.District]:
    """The writers' districts of the test world (other tests' tenants left aside)."""
    return {d.tenant_id: d for d in workday.districts() if d.tenant_id in (world.a.id, world.b.id)}


def _head(db, tenant_id: int) -> int:
    return db.session.execute(sa.select(AuditChainHead.seq).where(AuditChainHead.tenant_id == tenant_id)).scalar_one()


def _last_actor(db, tenant_id: int) -> int | None:
    """The user on the transaction of the tenant's newest chain link."""
    return db.session.execute(sa.text(
        'SELECT t.user_id FROM audit_chain_links l JOIN "transaction" t ON t.id = l.transaction_id '
        "WHERE l.tenant_id = :tenant ORDER BY l.seq DESC LIMIT 1"), {"tenant": tenant_id}).scalar_one()


def _write(db, d: workday.District, serial: int) -> tuple[str, int | None]:
    """One writer call; it must commit exactly one link on its district's chain → (step, actor)."""
    before = _head(db, d.tenant_id)
    step = workday.write_once(d, serial)
    assert _head(db, d.tenant_id) == before + 1, f"{step}: not one committed, sealed write"
    return step, _last_actor(db, d.tenant_id)


def _made(db, tenant_id: int, model, *where):
    with tenant_bound(tenant_id):
        return db.session.execute(sa.select(model).where(model.tenant_id == tenant_id, *where)).scalars().all()


def _self_inspections(db, tenant_id: int, unit_id: int) -> list[Inspection]:
    return _made(db, tenant_id, Inspection, Inspection.kind == "self", Inspection.unit_id == unit_id,
                 Inspection.month == clock.month_of(clock.today()))


def test_a_district_cycle_is_what_users_do(db, world):
    plan = _plan(world)
    assert set(plan) == {world.a.id, world.b.id}
    a, b = plan[world.a.id], plan[world.b.id]
    principal, acceptor = world.users["principal"], world.users["bureau_admin"]
    # each school's own principal is found: s1's in district A (s2, s3 have none), SB's in B
    assert a.principals == {world.s1.id: principal.id} and b.principals == {world.sb.id: world.b_principal.id}
    assert a.acceptor_id == acceptor.id and b.acceptor_id == world.b_admin.id

    done = {a.tenant_id: [], b.tenant_id: []}
    for serial in range(len(MIX)):
        for d in (a, b):
            done[d.tenant_id].append(_write(db, d, serial))
    school_side = {a.tenant_id: principal.id, b.tenant_id: world.b_principal.id}
    for d in (a, b):
        steps = [step for step, _ in done[d.tenant_id]]
        assert steps == MIX  # the whole mix, in order, one write each
        by = dict(done[d.tenant_id])
        assert by["accept"] == d.acceptor_id  # the actor of each write is on its audit transaction
        assert {by[s] for s in MIX if s != "accept"} == {school_side[d.tenant_id]}

    for d, school, own in ((a, world.s1, principal), (b, world.sb, world.b_principal)):
        # the hazard's life, by the school's principal, accepted by the bureau
        (hazard,) = _made(db, d.tenant_id, Hazard, Hazard.description.like(f"%{workday.MARK}%"))
        assert hazard.status == "closed" and hazard.school_id == school.id
        assert hazard.rectified_by_id == own.id and hazard.accepted_by_id == d.acceptor_id
        assert hazard.measures and hazard.deadline  # registered with its plan
        # this month's self-inspection: every line saved, finished, signed by the school's principal
        (inspection,) = _self_inspections(db, d.tenant_id, school.id)
        assert inspection.status == "signed" and inspection.recorded_by_id == own.id
        assert workday.MARK in inspection.summary
        (signoff,) = _made(db, d.tenant_id, SignOff, SignOff.inspection_id == inspection.id)
        assert signoff.signed_by_id == own.id and not signoff.is_late
        with tenant_bound(d.tenant_id):
            lines = inspection_ops.lines_of(inspection)
            assert lines and {line.result for line in lines} == {"pass"}
            assert signoff.items_checked == len(lines) and signoff.items_failed == 0
            assert all(inspection_ops.verify_signoff(signoff, inspection).values())
        # the all-staff learning session, recorded by the school's principal
        (session,) = _made(db, d.tenant_id, LearningSession, LearningSession.summary.like(f"%{workday.MARK}%"))
        assert (session.level, session.unit_id, session.created_by_id) == ("all_staff", school.id, own.id)
        assert session.held_on == clock.today() and session.headcount > 0
    # nothing of one district landed on the other
    assert not _made(db, b.tenant_id, Hazard, Hazard.school_id == world.s1.id)


def test_a_school_inspected_this_month_is_passed_over(db, world):
    """The next school with a principal and no self-inspection this month is inspected; when there
    is none, the cycle goes on without one (and a school never gets a second one this month)."""
    s4 = make_unit(db, world.t2, name="二镇第二小学", school_type="小学")
    s4_principal = make_user(db, s4, "principal")
    with tenant_bound(world.a.id):  # s1's principal already did this month's
        record_inspection(world.s1, "self", world.users["principal"], clock.today())
    a = _plan(world)[world.a.id]
    assert a.principals == {world.s1.id: world.users["principal"].id, s4.id: s4_principal.id}

    steps = [_write(db, a, serial) for serial in range(2 * len(MIX) - 4)]
    # first cycle: the inspection at s4 by s4's principal; second: every school done, none
    assert [s for s, _ in steps] == MIX + [s for s in MIX if s not in workday.INSPECTION_STEPS]
    assert {actor for step, actor in steps[4:8]} == {s4_principal.id}
    assert len(_self_inspections(db, world.a.id, world.s1.id)) == 1
    (inspection,) = _self_inspections(db, world.a.id, s4.id)
    assert inspection.status == "signed" and inspection.recorded_by_id == s4_principal.id


def test_a_refused_write_is_skipped_and_the_stream_goes_on(db, world):
    a = _plan(world)[world.a.id]
    counts: dict[str, int] = {}
    head = _head(db, a.tenant_id)
    assert workday.attempt(a, 0, counts) == "register"
    # the bureau voids the hazard before the school starts it: the start is refused, nothing is
    # written, and the writer drops the hazard and goes on with this month's self-inspection
    with tenant_bound(a.tenant_id):
        hazard = db.session.get(Hazard, a.hazard_id)
        hazard_ops.void(hazard, actor=world.users["bureau_admin"], reason="登记有误", version_id=hazard.version_id)
    head = _head(db, a.tenant_id)
    assert workday.attempt(a, 1, counts) == "refused"
    assert _head(db, a.tenant_id) == head and a.hazard_id is None and hazard.status == "voided"
    assert [workday.attempt(a, n, counts) for n in (2, 3, 4)] == ["inspect", "checklist", "finish"]
    # the principal signs on the page first: the writer's sign-off is refused (already signed)
    with tenant_bound(a.tenant_id):
        inspection = db.session.get(Inspection, a.inspection_id)
        inspection_ops.sign(inspection, actor=world.users["principal"], password=PASSWORD,
                            version_id=inspection.version_id)
    head = _head(db, a.tenant_id)
    assert workday.attempt(a, 5, counts) == "refused"
    assert _head(db, a.tenant_id) == head and a.inspection_id is None
    assert len(_made(db, a.tenant_id, SignOff, SignOff.inspection_id == inspection.id)) == 1
    # the stream goes on: the learning session, then the next hazard's life
    assert [workday.attempt(a, n, counts) for n in range(6, 11)] == ["learn", "register", "start", "report", "accept"]
    assert _head(db, a.tenant_id) == head + 5
    assert counts == {"register": 2, "start": 1, "report": 1, "accept": 1, "inspect": 1, "checklist": 1,
                      "finish": 1, "learn": 1, "refused": 2}


def test_an_unexpected_error_is_logged_and_skipped(db, world, monkeypatch, capsys):
    a = _plan(world)[world.a.id]
    a.step = MIX.index("learn")

    def broken(**kwargs):
        raise RuntimeError("数据库连接中断")

    monkeypatch.setattr(learning_ops, "record", broken)
    counts: dict[str, int] = {}
    head = _head(db, a.tenant_id)
    assert workday.attempt(a, 0, counts) == "error"
    assert _head(db, a.tenant_id) == head
    err = capsys.readouterr().err
    assert f"tenant {a.tenant_id}" in err and "RuntimeError: 数据库连接中断" in err
    monkeypatch.undo()
    assert workday.attempt(a, 1, counts) == "register" and _head(db, a.tenant_id) == head + 1
    assert counts == {"error": 1, "register": 1}


def test_achieved_counts_only_committed_writes(app):
    writers = workday.Writers(app, 0, 0)
    writers.counts = {"register": 4, "sign": 2, "learn": 1, "refused": 3, "error": 2}
    writers.elapsed = 2.0
    assert writers.achieved == 3.5
