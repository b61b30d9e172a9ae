"""The city compares its districts: every figure equals a direct count, small samples are flagged,
city users change nothing in a district, the city's witnessed heads catch a rewritten history,
and the exports (Excel, the worker's PDF) carry the same figures."""
from __future__ import annotations

import io
import statistics
import subprocess
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from hazardhub import clock
from hazardhub.audit import AuditChainHead, AuditChainLink, verify_chain
from hazardhub.citywide import operations as city_ops
from hazardhub.citywide.models import ChainVerification, WitnessedHead
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import OPEN_STATUSES, Hazard
from hazardhub.inspections import operations as inspection_ops
from hazardhub.inspections.models import Inspection, SignOff
from hazardhub.learning import operations as learning_ops
from hazardhub.learning.models import LearningAttendee, LearningSession
from hazardhub.accounts.models import Membership
from hazardhub.orgs.models import OrgUnit
from hazardhub.tenancy import tenant_bound
from tests.fixtures.app import form_token_for
from tests.fixtures.factories import login, make_hazard, make_unit, record_inspection


def _last_month() -> tuple[str, date, date]:
    end = clock.today().replace(day=1) - timedelta(days=1)
    return f"{end.year:04d}-{end.month:02d}", end.replace(day=1), end


def _close(hazard, rectifier, acceptor, day):
    hazard_ops.start_rectification(hazard, actor=rectifier, version_id=hazard.version_id)
    hazard_ops.report_rectification(hazard, actor=rectifier, rectified_on=day, note="已整改",
                                    version_id=hazard.version_id)
    hazard_ops.accept(hazard, actor=acceptor, accepted_on=day, note="合格", version_id=hazard.version_id)


@pytest.fixture
def scene(db, world):
    """District A grown to six schools with a month of work; district B stays at one school."""
    month, first, last = _last_month()
    u = world.users
    s4 = make_unit(db, world.t1, name="一镇第二小学")
    s5 = make_unit(db, world.t2, name="二镇中心幼儿园", school_type="幼儿园")
    day = first + timedelta(days=9)
    noon = datetime.combine(day, datetime.min.time()).replace(hour=4)
    with tenant_bound(world.a.id):
        record_inspection(world.s1, "self", u["principal"], day, sign=noon)
        record_inspection(world.s2, "self", u["principal"], day, sign=datetime.combine(last + timedelta(days=3),
                                                                               datetime.min.time()))
        record_inspection(world.s3, "self", u["principal"], day)  # never signed
        record_inspection(s4, "self", u["principal"], day, sign=noon)
        record_inspection(world.s1, "township", u["township_supervisor"], day)
        record_inspection(s4, "township", u["township_supervisor"], day)
        inspection_ops.assign_leader(leader=u["bureau_leader"], unit=world.t1, actor=u["bureau_admin"])
        record_inspection(world.s2, "unannounced", u["bureau_leader"], day)
        learning_ops.record(unit=world.s1, actor=u["principal"], standard_ids=[], membership_ids=[],
                            data={"level": "all_staff", "form": "video", "held_on": day, "title": "全员学习",
                                  "hours": 1, "headcount": 30})
        principal_membership = db.session.execute(
            sa.select(Membership.id).where(Membership.user_id == u["principal"].id)).scalar_one()
        learning_ops.record(unit=world.t1, actor=u["township_supervisor"], standard_ids=[],
                            membership_ids=[principal_membership],
                            data={"level": "principals", "form": "video", "held_on": day, "title": "校长学习",
                                  "hours": 1, "headcount": None})
        learning_ops.record(unit=world.a_root, actor=u["bureau_admin"], standard_ids=[], membership_ids=[],
                            data={"level": "bureau_staff", "form": "video", "held_on": day, "title": "监管人员学习",
                                  "hours": 1, "headcount": 5})
    found = first + timedelta(days=2)
    h_self = make_hazard(db, world.s1, u["principal"], source="self", found_on=found,
                         deadline=found + timedelta(days=10))
    h_major = make_hazard(db, world.s2, u["township_supervisor"], items=["3.1.6"], source="township",
                          found_on=found, deadline=found + timedelta(days=5))  # open, overdue, listed
    h_late = make_hazard(db, world.s3, u["bureau_leader"], source="unannounced", found_on=found,
                         deadline=found + timedelta(days=1))
    make_hazard(db, s4, u["principal"], source="self", found_on=found, deadline=clock.today() + timedelta(days=30))
    make_hazard(db, s5, u["bureau_admin"], source="report", found_on=found, deadline=clock.today() + timedelta(days=30))
    voided = make_hazard(db, s5, u["bureau_admin"], source="self", found_on=found)
    with tenant_bound(world.a.id):
        _close(h_self, u["principal"], u["township_supervisor"], found + timedelta(days=4))       # on time, 4 days
        _close(h_late, u["township_supervisor"], u["bureau_admin"], found + timedelta(days=8))  # late, 8 days
        hazard_ops.void(voided, actor=u["principal"], reason="重复登记", version_id=voided.version_id)
        hazard_ops.start_rectification(h_major, actor=u["principal"], version_id=h_major.version_id)
    make_hazard(db, world.sb, world.b_principal, source="self", found_on=found, deadline=found + timedelta(days=3))
    with tenant_bound(world.b.id):
        record_inspection(world.sb, "self", world.b_principal, day, sign=noon)
    return {"month": month, "first": first, "last": last, "s4": s4, "s5": s5}


def _compare(world, period):
    with tenant_bound(_city_scope(world)):
        return city_ops.compare(world.city.id, period, clock.today())


def _city_scope(world):
    from hazardhub.tenancy import TenantScope

    return TenantScope.reading(world.city.id, [world.a.id, world.b.id])


def _direct(db, world, tenant, first, last, month):
    """The same figures counted the plain way: load the rows, loop, count."""
    with tenant_bound(tenant.id):
        units = db.session.execute(sa.select(OrgUnit).where(OrgUnit.tenant_id == tenant.id)).scalars().all()
        schools = [u for u in units if u.kind in ("school", "affiliated_school") and u.is_active]
        by_id = {u.id: u for u in units}
        township_schools = [s for s in schools if by_id[s.parent_id].kind == "township_center"]
        inspections = db.session.execute(sa.select(Inspection).where(Inspection.month == month)).unique().scalars().all()
        signoffs = {s.inspection_id: s for s in db.session.execute(sa.select(SignOff)).scalars()}
        hazards = [h for h in db.session.execute(sa.select(Hazard)).unique().scalars()
                   if first <= h.found_on <= last and h.status != "voided"]
        sessions = db.session.execute(sa.select(LearningSession).where(
            LearningSession.held_on >= first, LearningSession.held_on <= last)).unique().scalars().all()
        attendees = db.session.execute(sa.select(LearningAttendee)).scalars().all()
    school_ids = {s.id for s in schools}
    signed = {(i.unit_id, i.month) for i in inspections if i.kind == "self" and i.amends_id is None
              and i.id in signoffs and not signoffs[i.id].is_late and i.unit_id in school_ids}
    checked = {(i.unit_id, i.month) for i in inspections if i.kind == "township" and i.status != "draft"
               and i.unit_id in {s.id for s in township_schools}}
    principal_sessions = {s.id for s in sessions if s.level == "principals"}
    today = clock.today()
    closed = [h for h in hazards if h.status == "closed"]
    return {
        "schools": len(schools),
        "signoff_on_time": len(signed) / len(schools),
        "township_coverage": len(checked) / len(township_schools) if township_schools else None,
        "learn_staff": len({s.unit_id for s in sessions if s.level == "all_staff" and s.unit_id in school_ids})
        / len(schools),
        "learn_principals": len({a.unit_id for a in attendees if a.session_id in principal_sessions
                                 and a.role == "principal" and a.unit_id in school_ids}) / len(schools),
        "learn_bureau": 1.0 if any(s.level == "bureau_staff" for s in sessions) else 0.0,
        "hazards_general": sum(h.level == "general" for h in hazards) * 100 / len(schools),
        "hazards_major": sum(h.level == "major" for h in hazards) * 100 / len(schools),
        "self_share": sum(h.source == "self" for h in hazards) / len(hazards),
        "gap_rate": sum(h.source in ("township", "bureau", "unannounced", "joint") for h in hazards) / len(hazards),
        "rectified": len(closed) / len(hazards),
        "on_time": (sum(h.closed_on <= h.deadline for h in closed) / len(closed)) if closed else None,
        "median_days": statistics.median([(h.closed_on - h.found_on).days for h in closed]) if closed else None,
        "overdue": sum(h.status in OPEN_STATUSES and h.deadline < today for h in hazards) * 100 / len(schools),
        "listed_major": sum(h.status in OPEN_STATUSES and h.level == "major" and h.is_listed for h in hazards)
        * 100 / len(schools),
    }


def test_every_figure_equals_a_direct_count(db, world, scene):
    period = city_ops.month_period(scene["month"], clock.today())
    comparison = _compare(world, period)
    rows = {r.tenant.id: r for r in comparison.rows}
    assert set(rows) == {world.a.id, world.b.id}
    for tenant in (world.a, world.b):
        expected = _direct(db, world, tenant, scene["first"], scene["last"], scene["month"])
        figures = rows[tenant.id].figures
        for key, value in expected.items():
            got = figures[key].value
            if value is None:
                assert got is None, (tenant.slug, key, got)
            else:
                assert got == pytest.approx(value), (tenant.slug, key, got, value)
    a = rows[world.a.id].figures
    # the same numbers by hand, so the direct count above is not just the same mistake twice
    assert a["schools"].value == 6
    assert (a["signoff_on_time"].num, a["signoff_on_time"].den) == (2, 6)
    assert (a["township_coverage"].num, a["township_coverage"].den) == (2, 5)
    assert (a["unannounced"].num, a["unannounced"].den) == (1, 1) and a["unannounced"].small
    assert a["hazards_major"].value == pytest.approx(100 / 6) and a["hazards_general"].value == pytest.approx(400 / 6)
    assert (a["self_share"].num, a["self_share"].den) == (2, 5)
    assert (a["gap_rate"].num, a["gap_rate"].den) == (2, 5)
    assert (a["rectified"].num, a["on_time"].num, a["on_time"].den) == (2, 1, 2)
    assert a["median_days"].value == 6.0
    assert a["overdue"].num == 1 and a["listed_major"].num == 1
    assert (a["deliverables_on_time"].den, a["deliverables_on_time"].value) == (0, None)
    # the city's reference: pooled numerators over pooled denominators
    city = comparison.city
    assert city["schools"].value == 7
    assert city["signoff_on_time"].value == pytest.approx(3 / 7)
    assert city["hazards_general"].value == pytest.approx(500 / 7)


def test_directive_columns_count_the_directives_when_installed(db, world, scene):
    model = city_ops.directive_model()
    assert model is not None
    period = city_ops.month_period(scene["month"], clock.today())
    comparison = _compare(world, period)
    rows = {r.tenant.id: r for r in comparison.rows}
    with tenant_bound(_city_scope(world)):
        directives = db.session.execute(sa.select(model)).scalars().all()
    for tenant in (world.a, world.b):
        issued = [d for d in directives if d.tenant_id == tenant.id
                  and scene["first"] <= d.issued_on <= scene["last"]]
        assert rows[tenant.id].figures["directives"].num == len(issued)


def test_small_samples_are_flagged_and_not_ranked(db, client, world, scene):
    period = city_ops.month_period(scene["month"], clock.today())
    comparison = _compare(world, period)
    rows = {r.tenant.id: r for r in comparison.rows}
    b, a = rows[world.b.id], rows[world.a.id]
    assert b.small and not a.small
    assert b.figures["signoff_on_time"].small and b.figures["signoff_on_time"].rank is None
    # the only district with a sufficient sample is not "第 1 名" of one (issue #18)
    assert a.figures["signoff_on_time"].rank is None
    assert [r.tenant.id for r in comparison.sorted_rows("signoff_on_time")] == [world.a.id, world.b.id]
    assert [r.tenant.id for r in comparison.sorted_rows("signoff_on_time", False)] == [world.a.id, world.b.id]
    login(client, world.users["city_viewer"])
    page = client.get(f"/citywide/?month={scene['month']}").get_data(as_text=True)
    assert "样本不足" in page and "乙区教育局" in page and "第 1 名" in page  # columns where both districts rank


def test_the_page_for_a_month_a_phase_and_a_range_links_to_the_records(db, client, world, scene):
    from hazardhub.campaigns import operations as campaign_ops

    with tenant_bound(world.city.id):
        campaign = campaign_ops.create_from_template(world.city, scene["first"].year, world.users["city_admin"])
        phase = campaign_ops.phases_of(campaign)[0]
    login(client, world.users["city_viewer"])
    month_page = client.get(f"/citywide/?month={scene['month']}")
    assert month_page.status_code == 200
    html = month_page.get_data(as_text=True)
    root = world.a_root.id
    assert f"/hazards/?unit_id={root}" in html and "level=major" in html
    assert f"/compliance/?month={scene['month']}&amp;unit_id={root}" in html
    assert f"/learning/coverage?month={scene['month']}&amp;unit_id={root}" in html
    assert "<svg" in html and "全市平均" in html and "<script" not in html.split("</main>")[0]
    # the links answer for the city user (read-only)
    assert client.get(f"/hazards/?unit_id={root}&level=major").status_code == 200
    compliance = client.get(f"/compliance/?month={scene['month']}&unit_id={root}").get_data(as_text=True)
    assert "一镇第一小学" in compliance and "乙镇小学" not in compliance
    assert client.get(f"/learning/coverage?month={scene['month']}&unit_id={root}").status_code == 200
    phase_page = client.get(f"/citywide/?phase={phase.id}").get_data(as_text=True)
    assert phase.name in phase_page
    ranged = client.get(f"/citywide/?from={scene['first']}&to={scene['last']}&sort=hazards_major&dir=asc")
    assert ranged.status_code == 200 and "甲区教育局" in ranged.get_data(as_text=True)
    assert client.get("/citywide/?month=garbage").status_code == 200
    assert client.get("/citywide/?from=2026-05-01&to=2026-01-01").status_code == 200
    assert client.get("/citywide/?trend=township").status_code == 200
    district = client.get(f"/citywide/districts/{world.a.id}?month={scene['month']}").get_data(as_text=True)
    assert "一镇中心学校" in district and "二镇中心学校" in district
    assert client.get(f"/citywide/districts/{world.city.id}").status_code == 404
    for role in ("bureau_admin", "principal"):
        login(client, world.users[role])
        assert client.get("/citywide/").status_code == 403
        assert client.get(f"/citywide/districts/{world.a.id}").status_code in (403, 404)


@pytest.mark.parametrize("role", ["city_admin", "city_viewer"])
def test_city_users_change_nothing_in_a_district(app, db, client, world, role):
    """Every POST route, with the district's ids: 403 or 404, and the district's chain unchanged."""
    from tests.test_routes import _campaign_ids, _inspection_ids, _learning_for, _membership_of, _routes, _run_for, _url

    hazard = make_hazard(db, world.s1, world.users["principal"], items=["3.1.6"])
    ids = {
        "unit_id": world.s1.id, "user_id": world.users["principal"].id,
        "membership_id": _membership_of(db, world.users["principal"]).id,
        "run_id": _run_for(db, world.users["bureau_admin"], world.s1).id, "hazard_id": hazard.id,
        "session_id": _learning_for(db, world.s1, world.users["principal"]), "tenant_id": world.a.id,
        **_inspection_ids(db, world.s1, world.users["principal"], world.a_root),
        **_campaign_ids(db, world.a, world.t1, world.users["bureau_admin"]),
    }
    # ids of any other kind: the district's rows of that table (or a missing id)
    login(client, world.users[role])

    def head():
        return db.session.execute(sa.select(AuditChainHead.seq).where(AuditChainHead.tenant_id == world.a.id)).scalar()

    before = head()
    token = client.csrf_token("/password")
    checked = 0
    for rule, method in _routes(app):
        if method != "POST" or rule.endpoint == "accounts.logout":
            continue
        args = {name: ids.get(name, 2**31 - 1) for name in rule.arguments}
        url = _url(rule, args)
        response = client.post(url, data={"csrf_token": token, "tenant_id": world.a.id, "unit_id": world.s1.id,
                                          "school_id": world.s1.id, "hazard_id": hazard.id,
                                          "form_token": form_token_for("", url, url)})  # one-shot forms
        if rule.arguments:
            assert response.status_code in (403, 404), (role, url, response.status_code)
        else:
            assert response.status_code < 500, (role, url, response.status_code)
        checked += 1
    assert checked >= 30
    assert head() == before, "a city user's request wrote to the district's audit chain"


def _rewrite_history(db, tenant_id: int, unit_id: int) -> None:
    """What a district with database access could do: change a row and its versions by SQL and
    recompute the whole chain so that its own verification passes."""
    from hazardhub.audit import GENESIS, _load_transaction, _version_tables, link_hash, canonical_change_set

    db.session.execute(sa.text("UPDATE org_units SET name = '改写后的名称' WHERE id = :id"), {"id": unit_id})
    db.session.execute(sa.text("UPDATE org_units_version SET name = '改写后的名称' WHERE id = :id"), {"id": unit_id})
    conn = db.session.connection()
    tables = _version_tables()
    links = conn.execute(sa.select(AuditChainLink.__table__).where(AuditChainLink.__table__.c.tenant_id == tenant_id)
                         .order_by(AuditChainLink.__table__.c.seq)).all()
    prev = GENESIS
    for link in links:
        tx_row, meta, versions = _load_transaction(conn, link.transaction_id, tables)
        new = link_hash(prev, canonical_change_set(tx_row, meta, versions))
        conn.execute(sa.text("UPDATE audit_chain_links SET prev_hash = :p, link_hash = :h WHERE transaction_id = :t"),
                     {"p": prev, "h": new, "t": link.transaction_id})
        prev = new
    conn.execute(sa.text("UPDATE audit_chain_heads SET head_hash = :h WHERE tenant_id = :t"), {"h": prev, "t": tenant_id})


def test_rewritten_history_is_caught_through_the_citys_witnessed_heads(app, db, client, world):
    u = world.users
    month, first, _last = _last_month()
    with tenant_bound(world.a.id):
        inspection = record_inspection(world.s1, "self", u["principal"], first + timedelta(days=5),
                              sign=datetime.combine(first + timedelta(days=6), datetime.min.time()))
        signoff = db.session.execute(sa.select(SignOff).where(SignOff.inspection_id == inspection.id)).scalar_one()
    with tenant_bound(world.city.id):
        witnessed = db.session.execute(sa.select(WitnessedHead).where(
            WitnessedHead.district_tenant_id == world.a.id)).scalars().all()
    assert [(w.source_kind, w.source_id, f"{w.seq}:{w.head_hash}") for w in witnessed] == \
        [("signoff", signoff.id, signoff.chain_head)]
    assert witnessed[0].tenant_id == world.city.id
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify", "--tenant", world.a.slug])
    assert ok.exit_code == 0, ok.output
    assert "与市教育局见证的 1 个链头一致" in ok.output

    _rewrite_history(db, world.a.id, world.t2.id)
    own = verify_chain(db.session.connection(), world.a.id)
    assert own.ok, own.problems  # the district's own chain was recomputed: on its own it looks fine
    bad = runner.invoke(args=["audit", "verify", "--tenant", world.a.slug])
    assert bad.exit_code == 1, bad.output
    assert "与市教育局见证的链头不一致" in bad.output and "历史被改写" in bad.output
    with tenant_bound(world.city.id):
        results = db.session.execute(sa.select(ChainVerification).where(
            ChainVerification.district_tenant_id == world.a.id).order_by(ChainVerification.id)).scalars().all()
    assert [r.is_ok for r in results] == [True, False]
    assert "不一致" in results[-1].message
    # the city's own chain still holds (the witness rows are sealed on it)
    assert verify_chain(db.session.connection(), world.city.id).ok
    login(client, u["city_viewer"])
    page = client.get("/citywide/").get_data(as_text=True)
    assert "不一致" in page and "最近核验时间" in page


def test_heads_are_witnessed_on_reports_and_verifications_and_only_the_city_admin_verifies(app, db, client, world,
                                                                                           drain_jobs):
    from hazardhub.runs import operations as run_ops

    with tenant_bound(world.a.id):
        run = run_ops.request_run("ledger_xlsx", user=world.users["bureau_admin"], unit=world.a_root)
        run_id = run.id
    drain_jobs()
    make_hazard(db, world.s1, world.users["principal"])  # the chain moves on after the report
    login(client, world.users["city_viewer"])
    assert client.submit("/citywide/verify", {"tenant_id": world.a.id}, page="/citywide/").status_code == 403
    login(client, world.users["city_admin"])
    response = client.submit("/citywide/verify", {"tenant_id": world.a.id}, page="/citywide/")
    assert response.status_code == 302
    assert client.submit("/citywide/verify", {"tenant_id": world.city.id}, page="/citywide/").status_code == 404
    with tenant_bound(world.city.id):
        kinds = db.session.execute(sa.select(WitnessedHead.source_kind, WitnessedHead.source_id).where(
            WitnessedHead.district_tenant_id == world.a.id).order_by(WitnessedHead.id)).all()
        result = db.session.execute(sa.select(ChainVerification).where(
            ChainVerification.district_tenant_id == world.a.id)).scalar_one()
    assert kinds[0] == ("report", run_id) and kinds[-1] == ("verification", result.id)
    assert result.is_ok and result.triggered_by == "web"
    page = client.get("/citywide/").get_data(as_text=True)
    assert "一致" in page and "立即核验" in page


def test_excel_export_carries_the_figures(db, client, world, scene):
    from openpyxl import load_workbook

    login(client, world.users["city_viewer"])
    response = client.get(f"/citywide/export.xlsx?month={scene['month']}")
    assert response.status_code == 200 and response.data[:2] == b"PK"
    wb = load_workbook(io.BytesIO(response.data))
    ws = wb["县区对比"]
    header = [c.value for c in ws[2]]
    assert header[0] == "县（市、区）" and "自查按时签字率" in header and "发现差距率" in header
    rows = {ws.cell(row=r, column=1).value: [c.value for c in ws[r]] for r in range(3, ws.max_row + 1)}
    comparison = _compare(world, city_ops.month_period(scene["month"], clock.today()))
    for row in comparison.rows:
        values = rows[row.tenant.name]
        for i, column in enumerate(comparison.columns, start=1):
            expected = row.figures[column.key].value
            assert values[i] == (pytest.approx(expected) if expected is not None else None), column.key
    assert "全市平均" in rows
    flagged = rows["乙区教育局"][len(comparison.columns) + 1]
    assert "自查按时签字率" in flagged and "暗访完成率" not in flagged  # no visits assigned: no figure at all
    assert ws.cell(row=2, column=len(comparison.columns) + 2).value == "样本不足的指标"
    assert "自查按时签字率" in [c.value for c in wb["指标说明"]["A"]]


def test_the_comparison_pdf_is_rendered_by_the_worker(app, db, client, world, scene, drain_jobs, tmp_path):
    from hazardhub.runs.models import ReportRun
    from hazardhub.runs.operations import storage_root

    login(client, world.users["city_admin"])
    response = client.submit("/citywide/report", {"period": "month", "month": scene["month"]}, page="/citywide/")
    assert response.status_code == 302 and "/runs/" in response.headers["Location"]
    drain_jobs()
    with tenant_bound(world.city.id):
        run = db.session.execute(sa.select(ReportRun).where(ReportRun.kind == "city_comparison_pdf")
                                 .order_by(ReportRun.id.desc())).scalars().first()
        assert run.status == "finished", run.error
        assert run.params == {"month": scene["month"]}
        reported = db.session.execute(sa.select(WitnessedHead.district_tenant_id).where(
            WitnessedHead.source_kind == "report", WitnessedHead.source_id == run.id)).scalars().all()
    assert sorted(reported) == sorted([world.a.id, world.b.id])
    pdf = (storage_root() / run.file_path).read_bytes()
    assert pdf[:4] == b"%PDF"
    path = tmp_path / "comparison.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True).stdout.decode()
    assert "甲区教育局" in text and "乙区教育局" in text and "全市平均" in text and "样本不足" in text
    assert run.chain_head.split(":")[1][:16] in text.replace("\n", "")
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True).stdout.decode()
    assert any(line.split()[-5] == "yes" for line in fonts.splitlines()[2:] if line.strip()), fonts
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(path), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) >= 2 and all(p.stat().st_size > 5000 for p in pages)


def test_the_city_sees_each_districts_progress_through_its_campaign(db, client, world):
    from hazardhub.campaigns import operations as campaign_ops
    from hazardhub.campaigns.models import Deliverable

    year = clock.today().year - 1
    with tenant_bound(world.city.id):
        campaign = campaign_ops.create_from_template(world.city, year, world.users["city_admin"])
        campaign_ops.publish(campaign, actor=world.users["city_admin"], version_id=campaign.version_id)
    with tenant_bound(world.a.id):
        adopted = campaign_ops.adopt(world.a, campaign.id, actor=world.users["bureau_admin"])
        item = db.session.execute(sa.select(Deliverable).where(Deliverable.campaign_id == adopted.id,
                                                               Deliverable.unit_id == world.t1.id)
                                  .order_by(Deliverable.spec_id)).unique().scalars().first()
        campaign_ops.save_text(item, text="实施方案全文", actor=world.users["township_supervisor"],
                               version_id=item.version_id)
        campaign_ops.submit(item, actor=world.users["township_supervisor"], version_id=item.version_id,
                            submitted_at=datetime(year, 3, 20, 2))
    login(client, world.users["city_viewer"])
    listing = client.get("/citywide/campaigns").get_data(as_text=True)
    assert campaign.title in listing
    page = client.get(f"/citywide/campaigns/{campaign.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "已采用" in html and "未采用" in html and "动员部署" in html and "按时提交 1" in html
    assert "逾期未交" in html  # the other reporting units never submitted, long past the due date
    assert client.get(f"/citywide/campaigns/{adopted.id}").status_code == 404  # a district's copy


def test_no_rank_among_one_and_equal_values_share_a_place():
    """Issue #18: "第 1 名" is never shown for the only ranked value."""
    Figure = city_ops.Figure
    alone = [Figure(value=0.4), Figure(value=None), Figure(value=0.9, small=True)]
    city_ops.rank(alone, better_high=False)
    assert [f.rank for f in alone] == [None, None, None]
    many = [Figure(value=0.5), Figure(value=0.2), Figure(value=0.5), Figure(value=0.1, small=True)]
    city_ops.rank(many, better_high=True)
    assert [f.rank for f in many] == [1, 3, 1, None]


def test_summer_holidays_are_gaps_in_the_trend_not_zeros(world):
    """Issue #18: July and August (schools closed) are no value at all, and the line breaks there."""
    day = date(2025, 6, 10)
    with tenant_bound(world.a.id):
        record_inspection(world.s1, "self", world.users["principal"], day, sign=datetime(2025, 6, 10, 4, 0))
    with tenant_bound(_city_scope(world)):
        trend = city_ops.trend(world.city.id, "signoff", "2025-10", date(2025, 10, 31))
    holidays = [i for i, m in enumerate(trend.months) if m[5:] in ("07", "08")]
    assert len(holidays) == 2
    for values in [trend.city, *trend.series.values()]:
        assert all(values[i] is None for i in holidays)
    assert trend.city[trend.months.index("2025-09")] == 0  # a school month without sign-offs is a zero
    assert [[i for i, _v in run] for run in city_ops.segments([0.5, 0.2, None, None, 0.0, 0.3])] == [[0, 1], [4, 5]]
    chart = city_ops.svg_chart(trend)
    assert len(chart["city"]) == 2, "the city line is drawn in two pieces, broken at the holidays"
