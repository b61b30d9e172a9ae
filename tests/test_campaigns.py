"""专项行动: the seed plan's calendar, late and missing reports, submit → return → accept with versions,
tenant and role limits, MP4 videos streamed to disk, and a district adopting a city campaign."""
from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy_continuum import version_class

from hazardhub import clock
from hazardhub.campaigns import files
from hazardhub.campaigns import operations as ops
from hazardhub.campaigns.models import Campaign, Deliverable, DeliverableFile, Phase
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, make_user


def _campaign(db, world, year=2025, tenant=None, actor=None):
    tenant = tenant or world.a
    with tenant_bound(tenant.id):
        return ops.create_from_template(tenant, year, actor or world.users["bureau_admin"])


def _deliverable(db, world, campaign, unit, name="实施方案") -> Deliverable:
    with tenant_bound(campaign.tenant_id):
        return next(d for d in db.session.execute(
            sa.select(Deliverable).where(Deliverable.campaign_id == campaign.id, Deliverable.unit_id == unit.id)
            .execution_options(populate_existing=True)).unique().scalars() if d.spec.name == name)


def _flashes(client) -> list[str]:
    with client.session_transaction() as session:
        return [message for _cat, message in session.get("_flashes", [])]


def test_template_builds_the_seed_calendar_and_a_report_per_unit(db, world):
    campaign = _campaign(db, world)
    with tenant_bound(world.a.id):
        phases = ops.phases_of(campaign)
        specs = ops.specs_of([p.id for p in phases])
        deliverables = ops.deliverables_of(campaign)
    assert [(p.name, p.starts_on, p.ends_on) for p in phases] == [
        ("动员部署", date(2025, 3, 1), date(2025, 3, 31)),
        ("学习排查", date(2025, 4, 1), date(2025, 5, 31)),
        ("总结验收", date(2025, 6, 1), date(2025, 6, 30)),
    ]
    assert [(s.name, s.due_on) for s in specs] == [("实施方案", date(2025, 3, 31)), ("总结报告", date(2025, 6, 25))]
    assert campaign.source == "template" and campaign.status == "active" and campaign.year == 2025
    units = {d.unit_id for d in deliverables}
    assert units == {world.t1.id, world.t2.id, world.affiliated.id}, "township centres and affiliated schools only"
    assert len(deliverables) == 6


def test_a_report_after_03_31_is_late_and_an_unsent_one_missing(db, client, world):
    campaign = _campaign(db, world)
    supervisor = world.users["township_supervisor"]
    t1_plan = _deliverable(db, world, campaign, world.t1)
    t2_plan = _deliverable(db, world, campaign, world.t2)
    with tenant_bound(world.a.id):
        ops.save_text(t1_plan, text="动员部署会议与实施方案", actor=supervisor, version_id=t1_plan.version_id)
        # 2025-03-31 16:30 UTC is 04-01 00:30 in Beijing: late
        ops.submit(t1_plan, actor=supervisor, version_id=t1_plan.version_id, submitted_at=datetime(2025, 3, 31, 16, 30))
        ops.save_text(t2_plan, text="实施方案", actor=supervisor, version_id=t2_plan.version_id)
        ops.submit(t2_plan, actor=supervisor, version_id=t2_plan.version_id, submitted_at=datetime(2025, 3, 31, 9, 0))
    t1_plan = _deliverable(db, world, campaign, world.t1)
    t2_plan = _deliverable(db, world, campaign, world.t2)
    as_plan = _deliverable(db, world, campaign, world.affiliated)
    assert t1_plan.submitted_on() == date(2025, 4, 1)
    assert t1_plan.is_late(date(2025, 4, 1)) and t1_plan.badge(date(2025, 4, 1)) == "late"
    assert t2_plan.badge(date(2025, 6, 1)) == "on_time"
    assert as_plan.badge(date(2025, 3, 30)) == "pending"
    assert as_plan.badge(date(2025, 4, 1)) == "missing"
    with tenant_bound(world.a.id):
        assert ops.counts(ops.deliverables_of(campaign), date(2025, 4, 1)) == {
            "accepted": 0, "on_time": 1, "late": 1, "returned": 0, "missing": 1, "pending": 3}
    login(client, world.users["bureau_admin"])
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "逾期提交 1" in page and "按时提交 1" in page and "一镇中心学校" in page


def test_submit_return_accept_with_versions_and_conflicts(db, client, world):
    campaign = _campaign(db, world)
    item = _deliverable(db, world, campaign, world.t1)
    url = f"/campaigns/deliverables/{item.id}"
    login(client, world.users["principal"])
    assert client.get(url).status_code in (403, 404), "a school below the township does not report"
    login(client, world.users["township_supervisor"])
    client.submit(f"{url}/submit", {"version_id": str(item.version_id)}, page=url)
    assert any("请先填写报送内容" in m for m in _flashes(client))
    client.submit(url, {"text": "召开动员部署会，制定实施方案", "version_id": str(item.version_id)})
    item = _deliverable(db, world, campaign, world.t1)
    assert item.text == "召开动员部署会，制定实施方案"
    client.submit(f"{url}/submit", {"version_id": str(item.version_id)}, page=url)
    item = _deliverable(db, world, campaign, world.t1)
    assert item.status == "submitted" and item.submitted_by_id == world.users["township_supervisor"].id
    assert client.submit(url, {"text": "改", "version_id": str(item.version_id)}, page=f"/campaigns/{campaign.id}").status_code == 403
    login(client, world.users["bureau_admin"])
    stale = str(item.version_id - 1)
    client.submit(f"{url}/review", {"decision": "accept", "comment": "", "version_id": stale}, page=url)
    assert any("已被他人修改" in m for m in _flashes(client))
    client.submit(f"{url}/review", {"decision": "return", "comment": "", "version_id": str(item.version_id)}, page=url)
    assert any("请填写退回意见" in m for m in _flashes(client))
    client.submit(f"{url}/review", {"decision": "return", "comment": "请补充会议照片", "version_id": str(item.version_id)},
                  page=url)
    item = _deliverable(db, world, campaign, world.t1)
    assert item.status == "returned" and item.review_comment == "请补充会议照片"
    assert item.badge(clock.today()) == "returned"
    login(client, world.users["township_supervisor"])
    assert "请补充会议照片" in client.get(url).get_data(as_text=True)
    client.submit(f"{url}/submit", {"version_id": str(item.version_id)}, page=url)
    item = _deliverable(db, world, campaign, world.t1)
    assert item.status == "submitted"
    login(client, world.users["bureau_leader"])
    client.submit(f"{url}/review", {"decision": "accept", "comment": "", "version_id": str(item.version_id)}, page=url)
    item = _deliverable(db, world, campaign, world.t1)
    assert item.status == "accepted" and item.reviewed_by_id == world.users["bureau_leader"].id
    with tenant_bound(world.a.id):
        versions = db.session.execute(sa.select(version_class(Deliverable)).where(
            version_class(Deliverable).id == item.id).order_by(version_class(Deliverable).transaction_id)).scalars().all()
    assert [v.status for v in versions] == ["draft", "draft", "submitted", "returned", "submitted", "accepted"]
    history = client.get(f"{url}/history").get_data(as_text=True)
    assert "请补充会议照片" in history


def test_phase_dates_are_adjusted_by_the_safety_section(db, client, world):
    campaign = _campaign(db, world)
    with tenant_bound(world.a.id):
        phase, = [p for p in ops.phases_of(campaign) if p.name == "动员部署"]
        spec, = ops.specs_of([phase.id])
    url = f"/campaigns/phases/{phase.id}/edit"
    login(client, world.users["township_supervisor"])
    assert client.get(url).status_code == 403
    login(client, world.users["bureau_admin"])
    body = client.submit(url, {"starts_on": "2025-03-05", "ends_on": "2025-04-10", f"due-{spec.id}": "2025-04-20",
                               "version_id": str(phase.version_id)}).get_data(as_text=True)
    assert "须在本阶段起止日期之内" in body
    response = client.submit(url, {"starts_on": "2025-03-05", "ends_on": "2025-04-10", f"due-{spec.id}": "2025-04-07",
                                   "version_id": str(phase.version_id)})
    assert response.status_code == 302
    with tenant_bound(world.a.id):
        phase = db.session.execute(sa.select(Phase).where(Phase.id == phase.id)
                                   .execution_options(populate_existing=True)).scalar_one()
        assert (phase.starts_on, phase.ends_on) == (date(2025, 3, 5), date(2025, 4, 10))
        assert ops.specs_of([phase.id])[0].due_on == date(2025, 4, 7)


def test_another_district_gets_404(db, client, world):
    campaign = _campaign(db, world)
    item = _deliverable(db, world, campaign, world.t1)
    login(client, world.b_admin)
    assert client.get(f"/campaigns/{campaign.id}").status_code == 404
    assert client.get(f"/campaigns/deliverables/{item.id}").status_code == 404
    assert client.submit(f"/campaigns/deliverables/{item.id}/review", {"decision": "accept", "version_id": "1"},
                         page="/campaigns/").status_code == 404
    assert "甲区" not in client.get("/campaigns/").get_data(as_text=True)


@pytest.mark.parametrize("role", ["city_admin", "city_viewer"])
def test_a_city_user_reads_a_district_campaign_but_cannot_change_it(db, client, world, role):
    campaign = _campaign(db, world)
    item = _deliverable(db, world, campaign, world.t1)
    with tenant_bound(world.a.id):
        ops.save_text(item, text="实施方案", actor=world.users["township_supervisor"], version_id=item.version_id)
        ops.submit(item, actor=world.users["township_supervisor"], version_id=item.version_id)
    item = _deliverable(db, world, campaign, world.t1)
    phase_id = item.spec.phase_id
    login(client, world.users[role])
    assert client.get("/campaigns/").status_code == 200
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "一镇中心学校" in page and "调整日期" not in page
    body = client.get(f"/campaigns/deliverables/{item.id}").get_data(as_text=True)
    assert "实施方案" in body and "提交审核结果" not in body
    url = f"/campaigns/deliverables/{item.id}"
    for target, data in ((f"{url}/review", {"decision": "accept", "version_id": str(item.version_id)}),
                         (f"{url}/submit", {"version_id": str(item.version_id)}),
                         (url, {"text": "改", "version_id": str(item.version_id)}),
                         (f"/campaigns/{campaign.id}/status", {"status": "closed", "version_id": "1"}),
                         (f"/campaigns/{campaign.id}/publish", {"version_id": "1"}),
                         (f"/campaigns/phases/{phase_id}/edit", {"starts_on": "2025-03-02", "ends_on": "2025-03-30",
                                                                  "version_id": "1"})):
        assert client.submit(target, data, page="/campaigns/").status_code == 403, target
    assert _deliverable(db, world, campaign, world.t1).status == "submitted"


# ---------------------------------------------------------------------------------------------
# files


def _fake_mp4(size: int) -> bytes:
    head = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
    body = bytes((i * 7) % 251 for i in range(size - len(head)))
    return head + body


def _folder(app, tenant_id) -> Path:
    return Path(app.config["HAZARDHUB_STORAGE_PATH"]) / "campaigns" / str(tenant_id)


def _on_disk(app, tenant_id) -> set[str]:
    folder = _folder(app, tenant_id)
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


@pytest.fixture
def summary(db, world):
    """The affiliated school's 总结报告 and its principal."""
    principal = make_user(db, world.affiliated, "principal")
    campaign = _campaign(db, world)
    return _deliverable(db, world, campaign, world.affiliated, "总结报告"), principal


def _upload(client, item, data: bytes, name: str):
    url = f"/campaigns/deliverables/{item.id}"
    return client.submit(f"{url}/files", {"file": (io.BytesIO(data), name)}, page=url)


def _files(db, item) -> list[DeliverableFile]:
    return list(db.session.execute(sa.select(DeliverableFile).where(DeliverableFile.deliverable_id == item.id)
                                   .execution_options(populate_existing=True)).scalars())


def test_an_mp4_video_is_streamed_to_disk_and_served_only_to_readers(app, db, client, world, summary, monkeypatch):
    item, principal = summary
    # small enough for the test client to build in memory; small chunks so it is streamed in several
    monkeypatch.setattr(files, "CHUNK", 64 * 1024)
    data = _fake_mp4(300 * 1024 + 12345)
    login(client, principal)
    before = _on_disk(app, world.a.id)
    assert _upload(client, item, data, "总结视频.mp4").status_code == 302
    (record,) = _files(db, item)
    assert record.kind == "video" and record.content_type == "video/mp4" and record.size == len(data)
    stored = _folder(app, world.a.id) / record.stored_name
    assert stored.read_bytes() == data
    assert _on_disk(app, world.a.id) - before == {record.stored_name}, "no temporary file left behind"
    response = client.get(f"/campaigns/files/{record.id}")
    assert response.status_code == 200 and response.data == data
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    login(client, world.users["principal"])
    assert client.get(f"/campaigns/files/{record.id}").status_code in (403, 404)
    login(client, world.b_admin)
    assert client.get(f"/campaigns/files/{record.id}").status_code == 404
    login(client, principal)
    client.submit(f"/campaigns/deliverables/{item.id}/submit", {"version_id": str(item.version_id)},
                  page=f"/campaigns/deliverables/{item.id}")
    campaign = db.session.execute(sa.select(Campaign).where(Campaign.id == item.campaign_id)).scalar_one()
    assert _deliverable(db, world, campaign, world.affiliated, "总结报告").status == "submitted", "a video suffices"


def test_a_large_video_is_copied_chunk_by_chunk(app, db, world, monkeypatch):
    """Several 1 MiB chunks through the stream, never one read of the whole upload."""
    data = _fake_mp4(3 * 1024 * 1024 + 777)
    reads = []

    class Upload(io.BytesIO):
        def read(self, size=-1):
            reads.append(size)
            return super().read(size)

    stream = Upload(data)
    stored = files.store(world.a.id, stream)
    assert stored.kind == "video" and stored.size == len(data)
    assert (_folder(app, world.a.id) / stored.stored_name).read_bytes() == data
    assert reads and all(0 < size <= files.CHUNK for size in reads) and len(reads) >= 4
    files.remove(stored)


def test_a_pdf_goes_through_the_evidence_storage(app, db, client, world, summary):
    item, principal = summary
    login(client, principal)
    from tests.fixtures.pdfs import PLAIN as pdf
    assert _upload(client, item, pdf, "总结报告.pdf").status_code == 302
    (record,) = _files(db, item)
    assert record.kind == "pdf" and record.content_type == "application/pdf"
    assert client.get(f"/campaigns/files/{record.id}").data == pdf


def test_a_renamed_non_mp4_and_an_oversize_video_are_refused_and_nothing_is_written(app, db, client, world,
                                                                                    summary, monkeypatch):
    item, principal = summary
    login(client, principal)
    before = _on_disk(app, world.a.id)
    evidence = Path(app.config["HAZARDHUB_STORAGE_PATH"]) / "evidence" / str(world.a.id)
    evidence_before = {p.name for p in evidence.iterdir()} if evidence.exists() else set()
    _upload(client, item, b"MZ\x90\x00 this is a program, not a video" * 10, "视频.mp4")
    assert any("文件类型不受支持" in m or "不是 MP4" in m for m in _flashes(client))
    monkeypatch.setitem(app.config, "HAZARDHUB_MAX_VIDEO_MB", 0.1)
    monkeypatch.setattr(files, "CHUNK", 16 * 1024)
    _upload(client, item, _fake_mp4(200 * 1024), "大视频.mp4")
    assert any("视频超过大小限制" in m for m in _flashes(client))
    assert _files(db, item) == []
    assert _on_disk(app, world.a.id) == before
    after = {p.name for p in evidence.iterdir()} if evidence.exists() else set()
    assert after == evidence_before


# ---------------------------------------------------------------------------------------------
# the city publishes, a district adopts


def test_a_district_adopts_a_published_city_campaign(db, client, world):
    city_campaign = _campaign(db, world, year=2026, tenant=world.city, actor=world.users["city_admin"])
    assert city_campaign.status == "draft"
    login(client, world.users["bureau_admin"])
    assert "2026年" not in client.get("/campaigns/adopt").get_data(as_text=True), "a draft is not offered"
    login(client, world.users["city_admin"])
    response = client.submit(f"/campaigns/{city_campaign.id}/publish", {"version_id": str(city_campaign.version_id)},
                             page=f"/campaigns/{city_campaign.id}")
    assert response.status_code == 302
    login(client, world.users["bureau_admin"])
    assert client.get(f"/campaigns/{city_campaign.id}").status_code == 404, "read only through the adopt page"
    assert city_campaign.title in client.get("/campaigns/adopt").get_data(as_text=True)
    response = client.submit("/campaigns/adopt", {"campaign_id": str(city_campaign.id)})
    assert response.status_code == 302
    new_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    with tenant_bound(world.a.id):
        adopted = db.session.execute(sa.select(Campaign).where(Campaign.id == new_id)).scalar_one()
        assert adopted.tenant_id == world.a.id and adopted.adopted_from_id == city_campaign.id
        assert adopted.adopted_from_title == city_campaign.title and adopted.year == 2026
        phases = ops.phases_of(adopted)
        assert [(p.name, p.starts_on, p.ends_on) for p in phases] == [
            ("动员部署", date(2026, 3, 1), date(2026, 3, 31)), ("学习排查", date(2026, 4, 1), date(2026, 5, 31)),
            ("总结验收", date(2026, 6, 1), date(2026, 6, 30))]
        assert [s.due_on for s in ops.specs_of([p.id for p in phases])] == [date(2026, 3, 31), date(2026, 6, 25)]
        assert len(ops.deliverables_of(adopted)) == 6
    again = client.submit("/campaigns/adopt", {"campaign_id": str(city_campaign.id)}, follow_redirects=True)
    assert "本局已采用该专项行动" in again.get_data(as_text=True)
    with tenant_bound(world.city.id):
        assert db.session.execute(sa.select(sa.func.count()).select_from(Phase).where(
            Phase.campaign_id == city_campaign.id)).scalar() == 3, "the city's campaign is untouched"
    login(client, world.b_admin)
    assert city_campaign.title in client.get("/campaigns/adopt").get_data(as_text=True), "every district may adopt"
    login(client, world.users["city_viewer"])
    assert client.get("/campaigns/adopt").status_code == 403
