"""The daily escalation sweep: overdue directives marked, overdue hazards recorded for the
supervising level, major ones escalated one level up (and on to the city), notifications sent,
and running it twice on one day changes nothing."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from hazardhub import clock
from hazardhub.directives import escalation as esc
from hazardhub.directives import operations as ops
from hazardhub.directives.models import Directive, Escalation
from hazardhub.tenancy import tenant_bound
from hazardhub.workdays import add_working_days
from tests.fixtures.factories import login, make_hazard


def _escalations(db, world):
    with tenant_bound(world.a.id):
        return db.session.execute(sa.select(Escalation).order_by(Escalation.id)).scalars().all()


def _notifications(db, world) -> int:
    from hazardhub.notifications.models import Notification
    from hazardhub.tenancy import TenantScope

    with tenant_bound(TenantScope.reading(None, [world.a.id, world.city.id])):
        return db.session.execute(sa.select(sa.func.count()).select_from(Notification)
                                  .where(Notification.kind == "overdue")).scalar_one()


def _sweep(world, day):
    """The escalation step of the daily pass (``hazardhub.platform.daily.run_daily``) for the
    tenant the setup lives in; its counts say what this step alone did."""
    with tenant_bound(world.a.id):
        return esc.sweep_tenant(world.a.id, day)


def _setup(db, world):
    """A major hazard under township 1 on an overdue directive, a general overdue hazard, and a
    major overdue hazard at the bureau-affiliated school."""
    today = clock.today()
    long_ago = today - timedelta(days=40)
    principal = world.users["principal"]
    major = make_hazard(db, world.s1, principal, items=["3.1.6"], found_on=long_ago,
                        deadline=today + timedelta(days=30), location="宿舍楼楼梯间")
    general = make_hazard(db, world.s1, principal, found_on=long_ago, deadline=today - timedelta(days=3),
                          location="食堂后门")
    affiliated = make_hazard(db, world.affiliated, world.users["bureau_admin"], items=["3.1.6"], found_on=long_ago,
                             deadline=today - timedelta(days=2), location="实验室")
    with tenant_bound(world.a.id):
        directive = ops.issue(issuer=world.t1, school=world.s1, actor=world.users["township_supervisor"],
                              hazard_ids=[major.id], requirements="限期整改", signer_name="李督导",
                              deadline=today - timedelta(days=1), issued_on=long_ago)
    return major, general, affiliated, directive


def test_sweep_marks_records_escalates_and_twice_on_one_day_creates_nothing(db, world):
    major, general, affiliated, directive = _setup(db, world)
    today = clock.today()
    first = _sweep(world, today)
    assert first["directives_marked"] == 1 and first["escalated"] == 2 and first["overdue_recorded"] == 3
    rows = _escalations(db, world)
    summary = sorted((r.hazard_id, r.kind, r.from_level, r.to_level) for r in rows)
    assert summary == sorted([
        (major.id, "overdue", "school", "township"), (major.id, "escalated", "township", "bureau"),
        (general.id, "overdue", "school", "township"),
        (affiliated.id, "overdue", "school", "bureau"), (affiliated.id, "escalated", "bureau", "city"),
    ])
    escalated = next(r for r in rows if r.hazard_id == major.id and r.kind == "escalated")
    assert escalated.directive_id == directive.id and escalated.deadline == directive.deadline
    with tenant_bound(world.a.id):
        d = db.session.execute(sa.select(Directive).where(Directive.id == directive.id)
                               .execution_options(populate_existing=True)).scalar_one()
    assert d.is_overdue and d.overdue_marked_on == today
    notified = _notifications(db, world)
    assert notified > 0 and first["notified"] == notified

    second = _sweep(world, today)
    assert second == {"directives_marked": 0, "overdue_recorded": 0, "escalated": 0, "notified": 0}
    assert len(_escalations(db, world)) == len(rows)
    assert _notifications(db, world) == notified


def test_a_major_hazard_still_overdue_at_the_bureau_goes_on_to_the_city(db, world):
    major, _general, _affiliated, _directive = _setup(db, world)
    today = clock.today()
    _sweep(world, today)
    _sweep(world, add_working_days(today, esc.ESCALATE_AGAIN_WORKING_DAYS - 1))
    assert not any(r.hazard_id == major.id and r.to_level == "city" for r in _escalations(db, world))
    later = add_working_days(today, esc.ESCALATE_AGAIN_WORKING_DAYS)
    assert _sweep(world, later)["escalated"] == 1
    assert _sweep(world, later)["escalated"] == 0
    city = [r for r in _escalations(db, world) if r.hazard_id == major.id and r.to_level == "city"]
    assert len(city) == 1 and city[0].from_level == "bureau" and city[0].escalated_on == later


def test_an_approved_extension_is_a_new_deadline_and_accepted_directives_are_left_alone(db, world):
    _major, _general, _affiliated, directive = _setup(db, world)
    today = clock.today()
    _sweep(world, today)
    with tenant_bound(world.a.id):
        d = db.session.execute(sa.select(Directive).where(Directive.id == directive.id)).scalar_one()
        ops.request_extension(d, actor=world.users["principal"], until=today + timedelta(days=10), reason="材料未到")
        ops.decide_extension(d, actor=world.users["township_supervisor"], approve=True, note="同意")
        assert d.is_overdue is False and not d.overdue_on(today)
    assert _sweep(world, today)["directives_marked"] == 0


def test_the_lists_show_escalations_to_each_level(db, client, world):
    major, general, affiliated, _directive = _setup(db, world)
    _sweep(world, clock.today())
    login(client, world.users["bureau_admin"])
    page = client.get("/directives/escalations").get_data(as_text=True)
    assert major.number in page and affiliated.number in page and "升级督办" in page
    login(client, world.users["township_supervisor"])
    page = client.get("/directives/escalations").get_data(as_text=True)
    assert major.number in page and general.number in page and affiliated.number not in page
    for role in ("city_admin", "city_viewer"):
        login(client, world.users[role])
        page = client.get("/directives/escalations").get_data(as_text=True)
        assert affiliated.number in page and general.number not in page  # the city sees what reached it
        assert general.number in client.get("/directives/escalations?to_level=all").get_data(as_text=True)
    login(client, world.users["principal"])
    assert client.get("/directives/escalations").status_code == 403
    login(client, world.b_admin)
    assert major.number not in client.get("/directives/escalations?to_level=all").get_data(as_text=True)
    assert "/directives/escalations" in client.get("/directives/").get_data(as_text=True)


def test_the_worker_job_sweeps_a_given_day(app, db, world):
    from worker.periodic import daily as run_daily

    _setup(db, world)
    result = run_daily(clock.today().isoformat())
    assert result["escalated"] == 2
    assert run_daily(clock.today().isoformat())["escalated"] == 0


def test_a_hazard_overdue_on_its_directive_says_whose_deadline_it_missed(db, world):
    """Issue #18: a notice never gives a hazard a deadline it never had — the directive's missed
    deadline is named as the directive's, not as the hazard's 整改期限."""
    from hazardhub.notifications.models import Notification

    major, _general, _affiliated, directive = _setup(db, world)
    with tenant_bound(world.a.id):
        esc.sweep_tenant(world.a.id, clock.today())
        texts = db.session.execute(sa.select(Notification.text).where(
            Notification.key == f"hazard-overdue:{major.id}:{directive.deadline.isoformat()}")).scalars().all()
    assert texts
    for text in texts:
        assert f"所列整改指令 {directive.number} 已逾期 1 天（指令整改期限 {directive.deadline.isoformat()}）" in text
        assert f"（整改期限 {directive.deadline.isoformat()}）" not in text
