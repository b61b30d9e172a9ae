"""Reminders per role, stored by the daily job: idempotent, resolved when done, private per user."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from hazardhub import clock
from hazardhub.campaigns import operations as campaign_ops
from hazardhub.campaigns.models import Deliverable
from hazardhub.compliance.reminders import reminders_for
from hazardhub.inspections import operations as inspection_ops
from hazardhub.notifications import operations as ops
from hazardhub.notifications.models import Notification
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import PASSWORD, login

DAY = date(2025, 3, 10)


def _inbox(db, user, **filters) -> dict[str, Notification]:
    with tenant_bound(user.tenant_id):
        rows = db.session.execute(sa.select(Notification).where(Notification.user_id == user.id)
                                  .execution_options(populate_existing=True)).scalars().all()
    return {n.key: n for n in rows}


def _as(user):
    """The user as a request would see them (with active memberships)."""
    from hazardhub.accounts.auth import load_user_for_job

    return load_user_for_job(user.id)


def _refresh(app, tenant_id, day=DAY):
    with app.test_request_context("/"):
        return ops.refresh_due(tenant_id, day)


def _self_check_done(world):
    """The principal's self-inspection of school 1 for DAY, checked and finished (not yet signed)."""
    principal = world.users["principal"]
    with tenant_bound(world.a.id):
        inspection = inspection_ops.start(unit=world.s1, kind="self", actor=principal, inspected_on=DAY,
                                          inspectors="校长、安全员")
        inspection_ops.record_results(inspection, actor=principal, findings={},
                                      results={ln.id: ("pass", None) for ln in inspection_ops.lines_of(inspection)},
                                      version_id=inspection.version_id)
        inspection_ops.finish(inspection, actor=principal, summary="", version_id=inspection.version_id)
    return inspection


def test_daily_refresh_stores_each_roles_duties_once(app, db, world):
    u = world.users
    first = _refresh(app, world.a.id)
    principal = _inbox(db, u["principal"])
    assert f"due:selfcheck:2025-03:{world.s1.id}" in principal
    assert principal[f"due:selfcheck:2025-03:{world.s1.id}"].text == "一镇第一小学：本月校长带队重大事故隐患自查尚未开展"
    supervisor = _inbox(db, u["township_supervisor"])
    assert f"due:township:2025-03:{world.t1.id}" in supervisor
    assert "本月还有 2 所学校未检查" in supervisor[f"due:township:2025-03:{world.t1.id}"].text
    assert "due:selfcheck-all:2025-03" in _inbox(db, u["bureau_admin"])
    assert _inbox(db, u["staff"]) == {}, "staff have no monthly duties"
    assert _inbox(db, world.b_principal) == {}, "another district's users are not touched"
    second = _refresh(app, world.a.id)
    assert first["created"] > 0 and second == {"users": first["users"], "created": 0, "resolved": 0}
    with tenant_bound(world.a.id):
        count = db.session.execute(sa.select(sa.func.count()).select_from(Notification)).scalar_one()
    assert count == first["created"], "a second run on the same day adds nothing"


def test_a_signed_self_inspection_resolves_the_reminder(app, db, world):
    u = world.users
    _refresh(app, world.a.id)
    key = f"due:selfcheck:2025-03:{world.s1.id}"
    inspection = _self_check_done(world)
    result = _refresh(app, world.a.id)
    inbox = _inbox(db, u["principal"])
    assert inbox[key].resolved_at is not None
    assert inbox[f"due:signoff:2025-03:{world.s1.id}"].text == "一镇第一小学：本月自查已完成，待校长签字"
    with tenant_bound(world.a.id):
        inspection_ops.sign(inspection, actor=u["principal"], password=PASSWORD, version_id=inspection.version_id,
                            signed_at=datetime(2025, 3, 10, 8, 0))
    _refresh(app, world.a.id)
    inbox = _inbox(db, u["principal"])
    assert inbox[f"due:signoff:2025-03:{world.s1.id}"].resolved_at is not None
    assert result["resolved"] >= 1


def test_deliverables_due_and_returned_reach_the_reporting_unit(app, db, world):
    u = world.users
    with tenant_bound(world.a.id):
        campaign = campaign_ops.create_from_template(world.a, 2025, u["bureau_admin"])
        plans = {d.unit_id: d for d in campaign_ops.deliverables_of(campaign) if d.spec.name == "实施方案"}
    with app.test_request_context("/"), tenant_bound(world.a.id):
        texts = [r.text for r in reminders_for(_as(u["township_supervisor"]), DAY)]
    assert "一镇中心学校：《实施方案》须于 03-31 前报送" in texts
    assert not any("二镇中心学校" in t for t in texts), "only the supervisor's own township reports"
    plan = plans[world.t1.id]
    with tenant_bound(world.a.id):
        campaign_ops.save_text(plan, text="动员部署会议纪要与实施方案", actor=u["township_supervisor"],
                               version_id=plan.version_id)
        campaign_ops.submit(plan, actor=u["township_supervisor"], version_id=plan.version_id,
                            submitted_at=datetime(2025, 3, 9, 2, 0))
    with app.test_request_context("/"), tenant_bound(world.a.id):
        admin_texts = [r.text for r in reminders_for(_as(u["bureau_admin"]), DAY)]
        assert "有 1 份专项行动报送材料待审核" in admin_texts
        plan = db.session.execute(sa.select(Deliverable).where(Deliverable.id == plan.id)).scalar_one()
        campaign_ops.review(plan, actor=u["bureau_admin"], decision="return", comment="缺少会议照片",
                            version_id=plan.version_id)
        texts = [r.text for r in reminders_for(_as(u["township_supervisor"]), DAY)]
    assert "一镇中心学校：《实施方案》被退回，请修改后重新报送" in texts
    with app.test_request_context("/"), tenant_bound(world.a.id):
        late = [r.text for r in reminders_for(_as(u["principal"]), date(2025, 4, 2))]
    assert late == [] or not any("实施方案" in t for t in late), "a school principal owes no township report"
    with app.test_request_context("/"), tenant_bound(world.a.id):
        affiliated = [r for r in reminders_for(_as(u["township_supervisor"]), date(2025, 4, 2))]
    assert any(r.text == "一镇中心学校：《实施方案》被退回，请修改后重新报送" for r in affiliated)


def test_inbox_is_private_and_read_state_is_per_user(app, db, client, world):
    u = world.users
    _refresh(app, world.a.id)
    theirs = next(iter(_inbox(db, u["township_supervisor"]).values()))
    login(client, u["principal"])
    page = client.get("/notifications/").get_data(as_text=True)
    assert "本月校长带队重大事故隐患自查尚未开展" in page and "未检查" not in page
    assert client.post(f"/notifications/{theirs.id}/open").status_code == 400, "no CSRF token"
    token = client.csrf_token("/notifications/")
    assert client.post(f"/notifications/{theirs.id}/open", data={"csrf_token": token}).status_code == 404
    mine = _inbox(db, u["principal"])[f"due:selfcheck:2025-03:{world.s1.id}"]
    response = client.post(f"/notifications/{mine.id}/open", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].startswith("/inspections/")
    assert _inbox(db, u["principal"])[mine.key].read_at is not None
    assert client.post("/notifications/read-all", data={"csrf_token": token}).status_code == 302
    assert all(n.read_at for n in _inbox(db, u["principal"]).values())
    assert all(n.read_at is None for n in _inbox(db, u["township_supervisor"]).values()), \
        "reading one's own inbox never touches another user's"


def test_navbar_shows_the_unread_count(app, db, client, world):
    _refresh(app, world.a.id)
    count = len(_inbox(db, world.users["township_supervisor"]))
    login(client, world.users["township_supervisor"])
    home = client.get("/").get_data(as_text=True)
    assert f'通知 <span class="badge rounded-pill text-bg-danger">{count}</span>' in home


def test_the_periodic_job_runs_without_a_requester(app, db, world):
    """``worker.periodic.daily`` through RQ with FlaskJob and no meta: binds each tenant itself."""
    import fakeredis
    from rq import Queue

    queue = Queue("default", connection=fakeredis.FakeStrictRedis(), is_async=False,
                  job_class="worker.context.FlaskJob")
    job = queue.enqueue("worker.periodic.daily", "2025-03-10")
    assert job.is_finished, job.exc_info
    assert job.return_value()["created"] > 0
    assert f"due:selfcheck:2025-03:{world.s1.id}" in _inbox(db, world.users["principal"])
    again = queue.enqueue("worker.periodic.daily", "2025-03-10")
    assert again.return_value()["created"] == 0


def test_cli_daily_and_a_bad_date(app, db, world):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["jobs", "daily", "--date", "2025-03-10"])
    assert result.exit_code == 0, result.output
    assert "新通知" in result.output
    bad = runner.invoke(args=["jobs", "daily", "--date", "2025-13-40"])
    assert bad.exit_code != 0 and "日期格式应为 YYYY-MM-DD" in bad.output


def test_directives_due_reach_the_school_and_the_issuer(app, db, world):
    from datetime import timedelta

    from hazardhub.directives import operations as directive_ops
    from tests.fixtures.factories import make_hazard
    from tests.test_accountability import _photo

    u = world.users
    today = clock.today()
    hazard = make_hazard(db, world.s1, u["principal"])
    with tenant_bound(world.a.id):
        directive = directive_ops.issue(issuer=world.t1, school=world.s1, actor=u["township_supervisor"],
                                        hazard_ids=[hazard.id], requirements="立即整改", signer_name="王督导",
                                        deadline=today + timedelta(days=7))
    number = directive.number

    def texts(role):
        with app.test_request_context("/"), tenant_bound(world.a.id):
            return [r.text for r in reminders_for(_as(u[role]), today)]

    assert f"一镇第一小学：收到整改指令 {number}，请签收" in texts("principal")
    assert not any(number in t for t in texts("staff")), "staff sign nothing"
    with tenant_bound(world.a.id):
        directive_ops.acknowledge(directive, actor=u["principal"], signer_name="李校长")
    assert any(t.startswith(f"一镇第一小学：整改指令 {number}请按期整改并报告") for t in texts("safety_officer"))
    with tenant_bound(world.a.id):
        directive_ops.respond(directive, actor=u["principal"], note="已整改", photos=[_photo()])
    assert "有 1 份整改指令的整改报告待您验收" in texts("township_supervisor")
    assert "有 1 份整改指令的整改报告待您验收" not in texts("bureau_admin"), "the issuing unit verifies"


def test_the_inbox_shows_a_duty_done_as_resolved_before_the_next_daily_run(app, db, client, world):
    """Issue #18: a signed self-inspection no longer shows 待处理 in the principal's inbox the moment
    it is signed (the inbox derives from the same truth as the home page, not from last night's run)."""
    u = world.users
    with clock.frozen(datetime(2025, 3, 10, 2, 0)):
        _refresh(app, world.a.id)
        key = f"due:selfcheck:2025-03:{world.s1.id}"
        assert _inbox(db, u["principal"])[key].resolved_at is None
        inspection = _self_check_done(world)
        with tenant_bound(world.a.id):
            inspection_ops.sign(inspection, actor=u["principal"], password=PASSWORD, version_id=inspection.version_id,
                                signed_at=datetime(2025, 3, 10, 8, 0))
        login(client, u["principal"])
        page = client.get("/notifications/").get_data(as_text=True)
    inbox = _inbox(db, u["principal"])
    assert inbox[key].resolved_at is not None
    assert "本月校长带队重大事故隐患自查尚未开展" not in page
    assert "待校长签字" not in page


def test_an_overdue_notice_follows_its_hazards_current_deadline(app, db, client, world):
    """Issue #18: a notice about an overdue hazard never states a deadline the hazard does not have;
    a moved deadline retires the notice about the old one, a closed hazard resolves it."""
    from datetime import timedelta

    from hazardhub.directives import escalation as esc
    from tests.fixtures.factories import make_hazard

    today = clock.today()
    u = world.users
    hazard = make_hazard(db, world.s1, u["principal"], found_on=today - timedelta(days=30),
                         deadline=today - timedelta(days=3), location="食堂后门")
    with tenant_bound(world.a.id):
        esc.sweep_tenant(world.a.id, today)
    key = f"hazard-overdue:{hazard.id}:{(today - timedelta(days=3)).isoformat()}"
    notice = _inbox(db, u["principal"])[key]
    assert f"已逾期 3 天（整改期限 {(today - timedelta(days=3)).isoformat()}）" in notice.text
    login(client, u["principal"])
    with tenant_bound(world.a.id):
        hazard.deadline = today + timedelta(days=10)
        db.session.commit()
    page = client.get("/notifications/").get_data(as_text=True)
    assert _inbox(db, u["principal"])[key].resolved_at is not None
    assert "已逾期 3 天" not in page
