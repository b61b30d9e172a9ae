"""Phase reports: the figures equal direct counts of the records; "as of" reproduces the ledger as it
stood; the worker job renders a Chinese A4 PDF with the scope, the phase and the chain head; the page
requests it, lists it and refuses phases and scopes out of reach."""
from __future__ import annotations

import io
import os
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from PIL import Image

from hazardhub import clock
from hazardhub.accounts.models import Membership
from hazardhub.campaigns import operations as campaign_ops
from hazardhub.campaigns.models import Deliverable
from hazardhub.clock import utcnow
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import Hazard
from hazardhub.inspections import operations as inspection_ops
from hazardhub.learning import operations as learning_ops
from hazardhub.reports import figures as fig
from hazardhub.runs.models import ReportRun
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, make_hazard, record_inspection

TODAY = clock.today()


def _png(color=(200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "PNG")
    return out.getvalue()


def build_phase_world(db, world) -> SimpleNamespace:
    """District A with one custom phase covering the last 60 days and records inside and outside it."""
    u = world.users
    start, end = TODAY - timedelta(days=60), TODAY + timedelta(days=20)
    admin, principal = u["bureau_admin"], u["principal"]
    ns = SimpleNamespace(start=start, end=end)
    with tenant_bound(world.a.id):
        campaign = campaign_ops._build(world.a.id, title="测试专项行动", year=TODAY.year, source="custom", actor=admin,
                                       phases=[{"name": "排查整治", "starts_on": start, "ends_on": end,
                                                "specs": [{"name": "阶段小结", "due_on": TODAY - timedelta(days=5)}]}])
        db.session.commit()
        ns.campaign = campaign
        ns.phase = campaign_ops.phases_of(campaign)[0]
    # hazards: in the period (s1 major + general, s2 general overdue, s3 major closed), before it, voided, other tenant
    ns.h_major = make_hazard(db, world.s1, principal, items=["3.1.6"], found_on=TODAY - timedelta(days=20),
                             deadline=TODAY + timedelta(days=5))
    ns.h_general = make_hazard(db, world.s1, principal, category="校门口", found_on=TODAY - timedelta(days=15),
                               deadline=TODAY + timedelta(days=10))
    ns.h_overdue = make_hazard(db, world.s2, u["township_supervisor"], source="township", category="设备设施",
                               found_on=TODAY - timedelta(days=30), deadline=TODAY - timedelta(days=2))
    ns.h_closed = make_hazard(db, world.s3, u["bureau_leader"], items=["3.1.9"], source="unannounced",
                              found_on=TODAY - timedelta(days=25), deadline=TODAY - timedelta(days=1))
    ns.h_old = make_hazard(db, world.s3, principal, found_on=TODAY - timedelta(days=90),
                           deadline=TODAY - timedelta(days=70))
    ns.h_void = make_hazard(db, world.s2, principal, found_on=TODAY - timedelta(days=10))
    ns.h_other = make_hazard(db, world.sb, world.b_principal, found_on=TODAY - timedelta(days=10))
    with tenant_bound(world.a.id):
        h = db.session.execute(sa.select(Hazard).where(Hazard.id == ns.h_closed.id)).scalar_one()
        hazard_ops.report_rectification(h, actor=principal, rectified_on=TODAY - timedelta(days=3), note="已拆除",
                                        version_id=h.version_id)
        hazard_ops.accept(h, actor=u["bureau_admin"], accepted_on=TODAY - timedelta(days=2), note="合格",
                          version_id=h.version_id)
        h = db.session.execute(sa.select(Hazard).where(Hazard.id == ns.h_void.id)).scalar_one()
        hazard_ops.void(h, actor=principal, reason="重复登记", version_id=h.version_id)
        # inspections: s1 self signed on time, s2 township recorded, a draft that does not count
        day = TODAY - timedelta(days=12)
        record_inspection(world.s1, "self", principal, day, sign=datetime.combine(day, datetime.min.time()))
        record_inspection(world.s2, "township", u["township_supervisor"], day)
        inspection_ops.start(unit=world.s3, kind="township", actor=u["township_supervisor"], inspected_on=day,
                             inspectors="检查组")
        # learning: all staff at s1, principals at t1 with s1's principal present
        learning_ops.record(unit=world.s1, actor=principal, standard_ids=[], membership_ids=[],
                            data={"level": "all_staff", "form": "video", "held_on": TODAY - timedelta(days=8),
                                  "title": "全员学习", "hours": 1.5, "headcount": 30})
        membership = db.session.execute(sa.select(Membership.id).where(Membership.user_id == principal.id)).scalar_one()
        learning_ops.record(unit=world.t1, actor=u["township_supervisor"], standard_ids=[], membership_ids=[membership],
                            data={"level": "principals", "form": "expert_lecture", "held_on": TODAY - timedelta(days=9),
                                  "title": "校长学习判定指南", "hours": 2, "headcount": None})
        # a deliverable photo and PDF of township T1
        item = db.session.execute(sa.select(Deliverable).where(Deliverable.unit_id == world.t1.id,
                                                               Deliverable.campaign_id == campaign.id)).unique().scalar_one()
        campaign_ops.add_file(item, actor=u["township_supervisor"], stream=io.BytesIO(_png()), original_name="动员会.png")
        from tests.fixtures.pdfs import PLAIN

        campaign_ops.add_file(item, actor=u["township_supervisor"], stream=io.BytesIO(PLAIN), original_name="实施方案.pdf")
        campaign_ops.submit(item, actor=u["township_supervisor"], version_id=item.version_id)
        draft = db.session.execute(sa.select(Deliverable).where(Deliverable.unit_id == world.t2.id,
                                                                Deliverable.campaign_id == campaign.id)).unique().scalar_one()
        campaign_ops.add_file(draft, actor=u["bureau_admin"], stream=io.BytesIO(_png((0, 90, 0))),
                              original_name="未提交草稿.png")  # a draft's file is not in the appendix
    return ns


def test_district_figures_equal_direct_counts(db, world):
    ns = build_phase_world(db, world)
    with tenant_bound(world.a.id):
        f = fig.phase_figures(world.a_root, ns.phase, utcnow())
        live = db.session.execute(sa.select(Hazard).where(
            Hazard.school_path.startswith(world.a_root.path), Hazard.status != "voided",
            Hazard.found_on >= ns.start, Hazard.found_on <= TODAY)).scalars().all()
        overdue = db.session.execute(hazard_ops.ledger_query([world.a_root], hazard_ops.LedgerFilters(overdue=True))
                                     ).scalars().all()
        listed = db.session.execute(hazard_ops.ledger_query([world.a_root], hazard_ops.LedgerFilters(
            status="open", listed=True))).scalars().all()
    h = f["hazards"]
    assert h["found"] == len(live) == 4
    assert h["by_level"] == {"一般": sum(x.level == "general" for x in live), "重大": sum(x.level == "major" for x in live)}
    assert h["by_level"] == {"一般": 2, "重大": 2}
    assert h["by_source"]["学校自查"] == 2 and h["by_source"]["乡镇中心学校检查"] == 1 and h["by_source"]["暗访暗查"] == 1
    assert h["by_source"]["教育局督导检查"] == 0 and sum(h["by_source"].values()) == 4
    assert h["by_category"] == {"校园消防": 2, "校门口": 1, "设备设施": 1}
    assert h["closed"] == 1 and h["rectification_rate"] == 0.25
    assert h["on_time"] == 1 and h["on_time_rate"] == 1.0
    assert h["overdue"] == len(overdue) == 2  # the overdue one of the period and the old one
    assert {r["number"] for r in h["overdue_list"]} == {x.number for x in overdue}
    assert h["listed"] == len(listed) == 1 and h["listed_list"][0]["number"] == ns.h_major.number
    listed_ids = {r["id"] for r in h["overdue_list"] + h["listed_list"]}
    assert ns.h_other.id not in listed_ids and ns.h_void.id not in listed_ids and ns.h_old.id in listed_ids
    assert f["inspections"]["by_kind"]["self"]["count"] == 1
    assert f["inspections"]["by_kind"]["township"] == {"label": "乡镇中心学校检查", "count": 1, "schools": 1}
    assert f["inspections"]["total"] == 2  # the draft does not count
    months = {m["month"]: m for m in f["signoffs"]["months"]}
    sign_month = (TODAY - timedelta(days=12)).strftime("%Y-%m")
    assert months[sign_month]["on_time"] == 1 and months[sign_month]["schools"] == 4
    learning = f["learning"]
    assert learning["by_level"]["all_staff"]["sessions"] == 1 and learning["by_level"]["all_staff"]["attendance"] == 30
    assert learning["by_level"]["principals"]["attendance"] == 1
    assert learning["staff_covered"] == 1 and learning["schools"] == 4 and learning["staff_rate"] == 0.25
    assert learning["principals_covered"] == 1 and learning["townships_covered"] == 1 and learning["townships"] == 2
    d = f["deliverables"]
    assert d["images"] == 1 and d["documents"] == 1 and {x["name"] for x in d["files"]} == {"动员会.png", "实施方案.pdf"}
    assert d["deliverables"] == 3 and d["status"]["late"] == 1 and d["status"]["missing"] == 2  # T1 late; T2, AS
    schools = {r["school"]: r for r in f["schools"]}
    assert schools["一镇第一小学"]["found"] == 2 and schools["一镇第一小学"]["signed_on_time"] >= 1
    assert schools["二镇初级中学"]["overdue"] == 1 and schools["二镇初级中学"]["found"] == 1
    assert f["directives"] is not None and f["directives"]["issued"] == 0
    assert f["scope"]["schools"] == 4 and f["scope"]["is_city"] is False
    # a township's report covers its subtree only
    with tenant_bound(world.a.id):
        t1 = fig.phase_figures(world.t1, ns.phase, utcnow())
    assert t1["hazards"]["found"] == 3 and t1["scope"]["schools"] == 2  # S1 and S2


def test_as_of_reproduces_the_figures_after_later_changes(db, world):
    ns = build_phase_world(db, world)
    cutoff = utcnow()
    with tenant_bound(world.a.id):
        before = fig.phase_figures(world.a_root, ns.phase, cutoff)
        h = db.session.execute(sa.select(Hazard).where(Hazard.id == ns.h_overdue.id)).scalar_one()
        hazard_ops.report_rectification(h, actor=world.users["principal"], rectified_on=TODAY, note="已修复",
                                        version_id=h.version_id)
        hazard_ops.accept(h, actor=world.users["bureau_admin"], accepted_on=TODAY, note="合格", version_id=h.version_id)
        make_hazard(db, world.s1, world.users["principal"], found_on=TODAY - timedelta(days=1))
        again = fig.phase_figures(world.a_root, ns.phase, cutoff)
        now = fig.phase_figures(world.a_root, ns.phase, utcnow())
    from hazardhub.pdf import canonical_sha256

    assert again == before and canonical_sha256(again) == canonical_sha256(before)
    assert now["hazards"]["found"] == before["hazards"]["found"] + 1
    assert now["hazards"]["closed"] == before["hazards"]["closed"] + 1
    assert now["hazards"]["overdue"] == before["hazards"]["overdue"] - 1


def test_as_of_a_past_date_reads_the_versions_of_that_day(db, world):
    """Set everything up yesterday morning (the clock frozen), then void a hazard today: the report
    as of yesterday still counts it, the day before sees nothing yet, today's does not. (This test
    used to rewrite ``issued_at`` by SQL, which the chain rightly reports as tampering.)"""
    yesterday = TODAY - timedelta(days=1)
    with clock.frozen(datetime.combine(yesterday, datetime.min.time()) + timedelta(hours=10)):  # 10:00 Beijing
        ns = build_phase_world(db, world)
    with tenant_bound(world.a.id):
        h = db.session.execute(sa.select(Hazard).where(Hazard.id == ns.h_major.id)).scalar_one()
        hazard_ops.void(h, actor=world.users["principal"], reason="测试作废", version_id=h.version_id)
        as_of = fig.phase_figures(world.a_root, ns.phase, yesterday)
        day_before = fig.phase_figures(world.a_root, ns.phase, yesterday - timedelta(days=1))
        now = fig.phase_figures(world.a_root, ns.phase, utcnow())
    assert as_of["hazards"]["found"] == 4 and as_of["hazards"]["listed"] == 1
    assert as_of["period"]["as_of"] == yesterday and as_of["period"]["end"] == yesterday
    assert now["hazards"]["found"] == 3 and now["hazards"]["listed"] == 0
    assert day_before["hazards"]["found"] == 0 and day_before["learning"]["total_sessions"] == 0
    assert day_before["inspections"]["total"] == 0 and day_before["deliverables"]["files"] == []


def test_accountability_section_is_findings_for_at_the_cutoff(db, world):
    """The section lists what ``findings_for`` lists now, and a later handling or a finding
    detected later does not change a report for an earlier cutoff."""
    from hazardhub.accountability import operations as accountability

    ns = build_phase_world(db, world)
    with tenant_bound(world.a.id):
        accountability.sync(world.a.id, TODAY)
        live = accountability.findings_for(world.a_root, ns.start, TODAY)
        cutoff = utcnow()
        section = fig.accountability_figures(world.a_root, ns.start, TODAY, cutoff)
        assert live, "the set-up should produce findings (overdue rectification at least)"
        assert section["ids"] == sorted(f.id for f in live) and section["total"] == len(live)
        accountability.handle(live[0], actor=world.users["bureau_admin"], note="已约谈校长",
                              version_id=live[0].version_id)
        again = fig.accountability_figures(world.a_root, ns.start, TODAY, cutoff)
        now = fig.accountability_figures(world.a_root, ns.start, TODAY, utcnow())
    assert again == section
    assert now["open"] == section["open"] - 1


def test_city_report_covers_the_districts(db, world):
    """A city phase reported across the city reaches district A's records and its adopted phase."""
    from hazardhub.tenancy import TenantScope

    ns = build_phase_world(db, world)
    city_admin = world.users["city_admin"]
    with tenant_bound(world.city.id):
        city_campaign = campaign_ops.create_from_template(world.city, TODAY.year, city_admin)
        city_phase = campaign_ops.phases_of(city_campaign)[1]
        city_phase_dates = (city_phase.starts_on, city_phase.ends_on)
    with tenant_bound(TenantScope.reading(world.city.id, [world.a.id, world.b.id])):
        f = fig.phase_figures(world.city_root, city_phase, utcnow())
    assert f["scope"]["is_city"] and f["scope"]["districts"] == 2 and f["scope"]["schools"] == 5
    assert (f["period"]["start"], f["phase"]["ends_on"]) == city_phase_dates
    assert ns is not None


# ---------------------------------------------------------------------------------------------
# the job and the PDF


def _pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True,
                          text=True).stdout


def _latest_run(db, tenant_id) -> ReportRun:
    with tenant_bound(tenant_id):
        return db.session.execute(sa.select(ReportRun).order_by(ReportRun.id.desc()).limit(1)
                                  .execution_options(populate_existing=True)).scalar_one()


def test_report_page_job_and_pdf(app, db, client, world, drain_jobs, tmp_path):
    ns = build_phase_world(db, world)
    admin = world.users["bureau_admin"]
    login(client, admin)
    page = client.get(f"/reports/?phase_id={ns.phase.id}")
    assert page.status_code == 200 and "排查整治" in page.get_data(as_text=True)
    response = client.submit("/reports/request", {"phase_id": ns.phase.id, "scope_unit_id": world.a_root.id,
                                                  "as_of": ""}, page="/reports/")
    assert response.status_code == 302 and "/runs/" in response.headers["Location"]
    drain_jobs()
    run = _latest_run(db, world.a.id)
    assert run.kind == "phase_report" and run.status == "finished", run.error
    assert run.params["phase_id"] == ns.phase.id and run.params["scope_unit_id"] == world.a_root.id
    assert run.progress == 100 and run.file_name.endswith(".pdf")
    show = client.get(f"/runs/{run.id}").get_data(as_text=True)
    assert "排查整治" in show and "下载" in show and run.chain_head in show
    pdf = client.get(f"/runs/{run.id}/download")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf.data)
    text = _pdf_text(path)
    flat = re.sub(r"\s+", "", text)
    assert "甲区教育局" in flat and "排查整治阶段报告" in flat
    assert run.chain_head in flat, "chain head missing from the footer"
    assert "一镇第一小学" in flat and "动员会.png" in flat and "实施方案.pdf" in flat
    assert "挂牌督办" in flat and "追责线索" in flat and "整改指令" in flat
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True).stdout
    rows = [line for line in fonts.splitlines()[2:] if line.strip()]
    assert any("WenQuanYi" in line and " yes yes " in line for line in rows), fonts  # CJK font subset-embedded
    # the only font not embedded is xhtml2pdf's initial Helvetica (one of the PDF standard 14)
    assert all(" yes " in line or line.startswith("Helvetica ") for line in rows), fonts
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(path), str(tmp_path / "page")],
                   check=True)
    png = next(tmp_path.glob("page*.png"))
    with Image.open(png) as image:
        width, height = image.size
    assert abs(width / height - 210 / 297) < 0.01  # A4 portrait
    listing = client.get("/reports/").get_data(as_text=True)
    assert f"/runs/{run.id}/download" in listing


def test_rerunning_a_report_gives_the_same_content_hash(app, db, client, world, drain_jobs, tmp_path):
    ns = build_phase_world(db, world)
    login(client, world.users["bureau_admin"])
    client.submit("/reports/request", {"phase_id": ns.phase.id, "scope_unit_id": world.t1.id,
                                       "as_of": (TODAY - timedelta(days=1)).isoformat()}, page="/reports/")
    drain_jobs()
    run = _latest_run(db, world.a.id)
    assert run.status == "finished", run.error
    first = client.get(f"/runs/{run.id}/download").data
    first_path = run.file_path
    with tenant_bound(world.a.id):  # a change after the as-of date
        h = db.session.execute(sa.select(Hazard).where(Hazard.id == ns.h_general.id)).scalar_one()
        hazard_ops.void(h, actor=world.users["principal"], reason="测试", version_id=h.version_id)
        r = db.session.execute(sa.select(ReportRun).where(ReportRun.id == run.id)).scalar_one()
        r.status = "failed"  # rerun it through the retry path (the job is idempotent)
        db.session.commit()
    client.submit(f"/runs/{run.id}/retry", page=f"/runs/{run.id}")
    drain_jobs()
    again = _latest_run(db, world.a.id)
    assert again.id == run.id and again.status == "finished" and again.attempts == 2
    assert again.file_path == first_path
    second = client.get(f"/runs/{run.id}/download").data

    def content_hash(data: bytes) -> str:
        path = tmp_path / "x.pdf"
        path.write_bytes(data)
        match = re.search(r"内容摘要SHA-256：([0-9a-f]{64})", re.sub(r"\s+", "", _pdf_text(path)))
        assert match, "content hash missing"
        return match.group(1)

    assert content_hash(first) == content_hash(second)


def test_report_requests_out_of_reach_are_refused(app, db, client, world):
    ns = build_phase_world(db, world)
    with tenant_bound(world.b.id):
        other = campaign_ops.create_from_template(world.b, TODAY.year, world.b_admin)
        other_phase = campaign_ops.phases_of(other)[0]
    # a principal reports on their own school only
    login(client, world.users["principal"])
    page = client.get("/reports/").get_data(as_text=True)
    assert "一镇第一小学" in page and "一镇幼儿园" not in page
    assert client.get(f"/reports/?phase_id={other_phase.id}").status_code == 404
    for phase_id, unit_id in ((ns.phase.id, world.s2.id), (other_phase.id, world.s1.id), (ns.phase.id, world.sb.id)):
        response = client.submit("/reports/request", {"phase_id": phase_id, "scope_unit_id": unit_id},
                                 page="/reports/", follow_redirects=True)
        assert response.status_code == 200 and "不是有效的选择" in response.get_data(as_text=True)
    response = client.submit("/reports/request", {"phase_id": ns.phase.id, "scope_unit_id": world.s1.id,
                                                  "as_of": (TODAY + timedelta(days=1)).isoformat()},
                             page="/reports/", follow_redirects=True)
    assert "截至日期不能晚于今天" in response.get_data(as_text=True)
    # staff have no reports at all
    login(client, world.users["staff"])
    assert client.get("/reports/").status_code == 403


def test_reports_are_linked_from_home_and_campaign(app, db, client, world):
    ns = build_phase_world(db, world)
    for role in ("bureau_admin", "township_supervisor", "principal", "city_admin"):
        login(client, world.users[role])
        assert "/reports/" in client.get("/").get_data(as_text=True), role
    login(client, world.users["bureau_admin"])
    assert f"/reports/?phase_id={ns.phase.id}" in client.get(f"/campaigns/{ns.campaign.id}").get_data(as_text=True)


@pytest.mark.parametrize("role", ["city_admin"])
def test_city_user_requests_a_city_wide_report(app, db, client, world, drain_jobs, role):
    with tenant_bound(world.city.id):
        campaign = campaign_ops.create_from_template(world.city, TODAY.year, world.users[role])
        phase = campaign_ops.phases_of(campaign)[0]
    login(client, world.users[role])
    page = client.get("/reports/").get_data(as_text=True)
    assert "全市（各县区汇总）" in page and "甲区教育局" in page
    response = client.submit("/reports/request", {"phase_id": phase.id, "scope_unit_id": world.city_root.id},
                             page="/reports/")
    assert response.status_code == 302
    drain_jobs()
    run = _latest_run(db, world.city.id)
    assert run.status == "finished", run.error
    assert client.get(f"/runs/{run.id}/download").status_code == 200


# ---------------------------------------------------------------------------------------------
# in the browser, on the seeded demo


@pytest.mark.browser
def test_demo_bureau_admin_downloads_the_phase_report_and_requests_one(page, live_demo, tmp_path):
    from playwright.sync_api import expect

    from tests.fixtures.browser import demo_login, login

    login(page, demo_login(live_demo[1], "bureau_admin", "建安区教育体育局"))
    page.locator("main").get_by_role("link", name=re.compile("专项行动阶段报告")).click()
    expect(page.get_by_role("heading", name="专项行动阶段报告")).to_be_visible()
    row = page.locator("tbody tr").filter(has_text="总结验收")
    expect(row.first).to_contain_text("已完成")  # the demo's report
    with page.expect_download() as info:
        row.first.get_by_role("link", name="下载").click()
    target = tmp_path / "demo.pdf"
    info.value.save_as(target)
    text = re.sub(r"\s+", "", _pdf_text(target))
    assert "总结验收阶段报告" in text and "建安区教育体育局" in text and "总结验收会议.jpg" in text
    # request one for a township: the run page shows the bar, then the download
    for label, text in (("专项行动阶段", "学习排查"), ("报告范围", "将官池镇中心学校")):
        select = page.get_by_label(label)
        select.select_option(select.locator("option", has_text=text).first.get_attribute("value"))
    page.get_by_role("button", name="生成阶段报告").click()
    expect(page).to_have_url(re.compile(r"/runs/\d+$"))
    expect(page.locator(".progress-bar")).to_be_visible()
    expect(page.locator(".run-status")).to_have_text("已完成")
    expect(page.get_by_role("link", name=re.compile("^下载.*学习排查阶段报告"))).to_be_visible()
    if os.environ.get("HAZARDHUB_SHOTS_DIR"):
        page.screenshot(path=str(Path(os.environ["HAZARDHUB_SHOTS_DIR"]) / "phase-report-run.png"), full_page=True)
