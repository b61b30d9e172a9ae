"""随手拍 (issue #17): codes and posters, the public page without login, receipts and status, the
school's triage, escalation, erasure, and the limits that keep abuse out."""
from __future__ import annotations

import io
import subprocess
from datetime import timedelta

import pytest
import sqlalchemy as sa
from PIL import Image
from sqlalchemy_continuum import version_class

from hazardhub import clock
from hazardhub.evidence import storage
from hazardhub.evidence.models import Attachment
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import Hazard
from hazardhub.notifications.models import Notification
from hazardhub.publicreports import operations as ops
from hazardhub.publicreports.models import PublicReport, ReportCode, ReportContact, ReportPhoto
from hazardhub.publicreports.throttle import PublicThrottle, public_throttle
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login
from tests.test_evidence import jpeg_with_exif

PHONE = "13812345678"


def flashes(client) -> list[str]:
    with client.session_transaction() as session:
        return [message for _category, message in session.get("_flashes", [])]


@pytest.fixture(autouse=True)
def _fresh_public_throttle(app):
    public_throttle(app).reset()
    yield


def make_code(db, school, place="食堂") -> ReportCode:
    with tenant_bound(school.tenant_id):
        return ops.create_code(school, None, place)


def post_report(client, token, *, description="食堂后门消防通道堆放杂物，安全出口被锁", photos=(), phone="",
                website="", kind="消防安全", place="食堂", addr="10.0.0.1"):
    page = f"/p/{token}"
    csrf = client.csrf_token(page)
    data = {"csrf_token": csrf, "kind": kind, "place": place, "description": description, "phone": phone,
            "website": website,
            "photos": [(io.BytesIO(p), f"p{i}.jpg") for i, p in enumerate(photos)]}
    return client.post(page, data=data, content_type="multipart/form-data", environ_base={"REMOTE_ADDR": addr})


def reports_of(db, tenant_id):
    with tenant_bound(tenant_id):
        return list(db.session.execute(sa.select(PublicReport).order_by(PublicReport.id)).scalars())


def decode_qr(pdf: bytes, tmp_path) -> str:
    """Render the poster (pdftoppm) and decode its QR code (OpenCV), as a phone camera would."""
    import cv2

    (tmp_path / "poster.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-singlefile", str(tmp_path / "poster.pdf"),
                    str(tmp_path / "poster")], check=True)
    image = cv2.imread(str(tmp_path / "poster.png"))
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return text


def test_a_school_makes_a_code_and_prints_a_poster_whose_qr_carries_a_token_not_an_id(app, db, client, world, tmp_path):
    login(client, world.users["safety_officer"])
    response = client.submit(f"/publicreports/schools/{world.s1.id}/codes", {"place": "校门口"})
    assert response.status_code == 302
    with tenant_bound(world.a.id):
        code = db.session.execute(sa.select(ReportCode).where(ReportCode.school_id == world.s1.id)).scalar_one()
    assert code.place == "校门口" and len(code.token) >= 30
    again = client.submit(f"/publicreports/schools/{world.s1.id}/codes", {"place": "校门口"})
    assert again.status_code == 302 and len(ops.codes_of(world.s1.id)) == 1  # one active code per place
    pdf = client.get(f"/publicreports/codes/{code.id}/poster.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    url = decode_qr(pdf.data, tmp_path)
    assert url == app.config["HAZARDHUB_PUBLIC_BASE_URL"].rstrip("/") + f"/p/{code.token}"
    assert "?" not in url and url.count("/p/") == 1  # the random token and nothing else (no id)
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.data, capture_output=True, check=True).stdout.decode()
    for words in ("一镇第一小学", "校门口", "隐私承诺", "不收集姓名", "请勿拍摄学生面部"):
        assert words in text, words
    # retire and reprint: the old token stops working, the new one works
    client.submit(f"/publicreports/codes/{code.id}/retire", {"reprint": "y"}, page=f"/publicreports/schools/{world.s1.id}/codes")
    assert client.get(f"/p/{code.token}").status_code == 410
    [fresh] = ops.codes_of(world.s1.id)
    assert fresh.token != code.token and fresh.place == "校门口"
    assert client.get(f"/p/{fresh.token}").status_code == 200
    assert client.get(f"/publicreports/codes/{code.id}/poster.pdf").status_code == 404


def test_staff_of_another_school_cannot_manage_its_codes(db, client, world):
    code = make_code(db, world.s1)
    login(client, world.s2_staff)
    assert client.get(f"/publicreports/schools/{world.s1.id}/codes").status_code in (403, 404)
    assert client.get(f"/publicreports/codes/{code.id}/poster.pdf").status_code in (403, 404)


def test_the_public_reports_with_a_photo_gets_a_receipt_and_the_school_is_told(app, db, client, world):
    code = make_code(db, world.s1)
    page = client.get(f"/p/{code.token}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "一镇第一小学" in body and 'value="食堂"' in body
    assert "不需要填写姓名" in body and "不要拍摄学生面部" in body and "<script" not in body
    response = post_report(client, code.token, photos=[jpeg_with_exif()], phone=PHONE)
    assert response.status_code == 302, response.get_data(as_text=True)
    [report] = reports_of(db, world.a.id)
    assert response.headers["Location"].endswith(f"/p/r/{report.receipt}?new=1")
    assert report.school_id == world.s1.id and report.status == "new" and report.place == "食堂"
    status = client.get(f"/p/r/{report.receipt}").get_data(as_text=True)
    assert report.receipt in status and "已受理" in status
    with tenant_bound(world.a.id):
        [photo] = db.session.execute(sa.select(ReportPhoto)).scalars().all()
        notified = db.session.execute(sa.select(Notification.user_id).where(
            Notification.key == f"public-report:{report.id}")).scalars().all()
    # EXIF and location are gone from the stored file
    data = storage.path_for(world.a.id, photo.stored_name).read_bytes()
    img = Image.open(io.BytesIO(data))
    assert not img.getexif() and b"SpyPhoneMaker" not in data and b"GPS" not in data and b"secret comment" not in data
    assert set(notified) == {world.users["principal"].id, world.users["safety_officer"].id}


def test_the_phone_number_is_encrypted_masked_and_erased_on_schedule(app, db, client, world):
    code = make_code(db, world.s1)
    post_report(client, code.token, phone="138 1234 5678")
    [report] = reports_of(db, world.a.id)
    raw = db.session.execute(sa.text("SELECT phone_cipher, phone_hint FROM public_report_contacts")).one()
    assert PHONE not in raw.phone_cipher and raw.phone_hint == "138****5678"
    dump = "".join(str(row) for table in ("public_reports", "public_reports_version", "transaction_meta")
                   for row in db.session.execute(sa.text(f"SELECT * FROM {table}")).all())
    assert PHONE not in dump and "5678" not in dump
    login(client, world.users["safety_officer"])
    page = client.get(f"/publicreports/{report.id}").get_data(as_text=True)
    assert "138****5678" in page and PHONE not in page
    assert PHONE in client.get(f"/publicreports/{report.id}?phone=1").get_data(as_text=True)
    client.submit(f"/publicreports/{report.id}/reject", {"reason": "经核实为施工临时堆放，已清理"}, page=f"/publicreports/{report.id}")
    with tenant_bound(world.a.id):
        report = db.session.get(PublicReport, report.id)
        closed = clock.local(report.triaged_at).date()
        days = app.config["HAZARDHUB_PHONE_RETENTION_DAYS"]
        with clock.frozen(closed + timedelta(days=days - 1)):
            assert ops.sweep_tenant(world.a.id, clock.today())["erased"] == 0
        assert ops.reveal_phone(report) == PHONE
        with clock.frozen(closed + timedelta(days=days)):
            assert ops.sweep_tenant(world.a.id, clock.today())["erased"] == 1
        assert db.session.execute(sa.select(sa.func.count()).select_from(ReportContact)).scalar() == 0
        assert ops.reveal_phone(report) is None


def test_a_code_never_reveals_anything_of_another_school(app, db, client, world):
    mine, theirs, other_tenant = make_code(db, world.s1), make_code(db, world.s2), make_code(db, world.sb)
    post_report(client, theirs.token, description="幼儿园滑梯螺丝松动，存在跌落风险", addr="10.0.0.2")
    post_report(client, other_tenant.token, description="乙镇小学围墙开裂倾斜", addr="10.0.0.3")
    body = client.get(f"/p/{mine.token}").get_data(as_text=True)
    assert "一镇第一小学" in body
    for secret in ("一镇幼儿园", "乙镇小学", "滑梯", "围墙", theirs.token, other_tenant.token):
        assert secret not in body
    # the same description at another school is not a "duplicate" (nothing of it is disclosed)
    response = post_report(client, mine.token, description="幼儿园滑梯螺丝松动，存在跌落风险", addr="10.0.0.4")
    assert response.status_code == 302
    receipt = response.headers["Location"].split("/p/r/")[1].split("?")[0]
    status = client.get(f"/p/r/{receipt}").get_data(as_text=True)
    assert "一镇第一小学" in status and "一镇幼儿园" not in status and "乙镇" not in status
    # the report of district B is in B's tenant, bound from its code's row, and invisible to A
    [b_report] = reports_of(db, world.b.id)
    assert b_report.school_id == world.sb.id and b_report.tenant_id == world.b.id
    assert all(r.tenant_id == world.a.id for r in reports_of(db, world.a.id))
    # bad tokens and receipts: 404, never a 500, nothing disclosed
    for url in ("/p/nope", "/p/" + "x" * 40, "/p/r/AAAA", "/p/r/" + "2" * 12, "/p/%00abc", "/p/r/%00"):
        assert client.get(url).status_code == 404, url


def test_limits_per_address_and_per_code_hold(app, db, client, world, monkeypatch):
    code = make_code(db, world.s1)
    monkeypatch.setitem(app.extensions, "hazardhub_public_throttle", PublicThrottle("memory://", "3/hour", "5/hour"))
    for i in range(3):
        assert post_report(client, code.token, description=f"第{i}处栏杆松动需要维修", addr="10.1.1.1").status_code == 302
    refused = post_report(client, code.token, description="第九处栏杆松动需要维修", addr="10.1.1.1")
    assert refused.status_code == 429 and "提交过于频繁" in refused.get_data(as_text=True)
    assert post_report(client, code.token, description="另一个地址的反映内容", addr="10.1.1.2").status_code == 302
    assert post_report(client, code.token, description="第三个地址的反映内容", addr="10.1.1.3").status_code == 302
    # five posts on this code: the next one from a fresh address is refused too (per code)
    assert post_report(client, code.token, description="第四个地址的反映内容", addr="10.1.1.4").status_code == 429
    assert len(reports_of(db, world.a.id)) == 5


def test_honeypot_duplicates_and_size_limits_write_nothing(app, db, client, world, monkeypatch):
    code = make_code(db, world.s1)
    bot = post_report(client, code.token, website="http://spam.example", addr="10.2.0.1")
    assert bot.status_code == 200 and "感谢" in bot.get_data(as_text=True) and not reports_of(db, world.a.id)
    assert post_report(client, code.token, photos=[jpeg_with_exif()], addr="10.2.0.2").status_code == 302
    # the same text again (spaces and punctuation aside) or the same photo: received already
    again = post_report(client, code.token, description="食堂后门 消防通道堆放杂物！安全出口被锁。", addr="10.2.0.3")
    assert again.status_code == 200 and "无需重复提交" in again.get_data(as_text=True)
    again = post_report(client, code.token, description="完全不同的文字描述内容", photos=[jpeg_with_exif()], addr="10.2.0.4")
    assert "无需重复提交" in again.get_data(as_text=True)
    four = post_report(client, code.token, description="四张照片的反映内容", addr="10.2.0.5",
                       photos=[jpeg_with_exif(size=(50 + i, 50)) for i in range(4)])
    assert four.status_code == 400 and "最多上传 3 张" in four.get_data(as_text=True)
    monkeypatch.setitem(app.config, "HAZARDHUB_MAX_EVIDENCE_MB", 0.01)
    big = post_report(client, code.token, description="超大照片的反映内容", addr="10.2.0.6",
                      photos=[jpeg_with_exif(size=(1200, 900))])
    assert big.status_code in (400, 413) and "MB" in big.get_data(as_text=True)
    fake = post_report(client, code.token, description="假照片的反映内容", addr="10.2.0.7", photos=[b"not an image at all"])
    assert fake.status_code == 400 and "不受支持" in fake.get_data(as_text=True)
    assert len(reports_of(db, world.a.id)) == 1
    with tenant_bound(world.a.id):
        assert db.session.execute(sa.select(sa.func.count()).select_from(ReportPhoto)).scalar() == 1
    no_kind = post_report(client, code.token, kind="", description="没有选择类别的反映", addr="10.2.0.8")
    assert no_kind.status_code == 400 and "请选择问题类别" in no_kind.get_data(as_text=True)
    no_csrf = client.post(f"/p/{code.token}", data={"kind": "其他", "place": "x", "description": "没有校验码的提交"})
    assert no_csrf.status_code == 400 and len(reports_of(db, world.a.id)) == 1


def test_triage_into_a_hazard_then_rectified_shows_on_the_status_page(app, db, client, world):
    code = make_code(db, world.s1)
    post_report(client, code.token, photos=[jpeg_with_exif()])
    [report] = reports_of(db, world.a.id)
    login(client, world.users["principal"])
    listing = client.get("/publicreports/").get_data(as_text=True)
    assert report.receipt in listing and "一镇第一小学" in listing
    response = client.submit(f"/publicreports/{report.id}/register",
                             {"category": "校园消防", "level": "general", "location": "食堂后门",
                              "description": "消防通道堆放杂物", "show_after_photos": "y"},
                             page=f"/publicreports/{report.id}")
    assert response.status_code == 302 and "/hazards/" in response.headers["Location"], flashes(client)
    with tenant_bound(world.a.id):
        report = db.session.get(PublicReport, report.id)
        hazard = db.session.get(Hazard, report.hazard_id)
        assert hazard.source == "report" and hazard.source_label == "群众举报" and hazard.school_id == world.s1.id
        assert report.status == "registered" and report.triaged_by_id == world.users["principal"].id
        [before] = db.session.execute(sa.select(Attachment).where(Attachment.hazard_id == hazard.id)).scalars().all()
        assert before.stage == "before" and report.receipt in before.caption
        number = hazard.number
    status = client.get(f"/p/r/{report.receipt}").get_data(as_text=True)
    assert "已登记为隐患" in status and number in status and "已整改</li>" in status
    assert 'class="done">已整改' not in status
    # a second triage of the same report is refused
    again = client.submit(f"/publicreports/{report.id}/reject", {"reason": "重复"}, page=f"/publicreports/{report.id}")
    assert again.status_code == 302
    with tenant_bound(world.a.id):
        assert db.session.get(PublicReport, report.id).status == "registered"
        hazard = db.session.get(Hazard, hazard.id)
        hazard_ops.start_rectification(hazard, actor=world.users["safety_officer"], version_id=hazard.version_id)
    login(client, world.users["safety_officer"])
    after_jpeg = jpeg_with_exif(size=(321, 123))
    uploaded = client.submit(f"/hazards/{hazard.id}/attachments", {
        "stage": "after", "caption": "已清理", "file": (io.BytesIO(after_jpeg), "after.jpg")},
        page=f"/hazards/{hazard.id}", content_type="multipart/form-data")
    assert uploaded.status_code == 302, flashes(client)
    with tenant_bound(world.a.id):
        hazard = db.session.get(Hazard, hazard.id)
        hazard_ops.report_rectification(hazard, actor=world.users["safety_officer"], rectified_on=clock.today(),
                                        note="已清理", version_id=hazard.version_id)
        hazard_ops.accept(hazard, actor=world.users["principal"], accepted_on=clock.today(), note="合格",
                          version_id=hazard.version_id)
        assert hazard.status == "closed"
    client.get("/logout")
    status = client.get(f"/p/r/{report.receipt}").get_data(as_text=True)
    assert "已整改" in status and 'class="done">已整改' in status and number in status
    photo = client.get(f"/p/r/{report.receipt}/after/0")
    assert photo.status_code == 200 and Image.open(io.BytesIO(photo.data)).size == (321, 123)
    assert client.get(f"/p/r/{report.receipt}/after/1").status_code == 404


def test_refused_with_a_reason_and_the_reporter_reads_it(db, client, world):
    code = make_code(db, world.s1)
    post_report(client, code.token)
    [report] = reports_of(db, world.a.id)
    login(client, world.users["staff"])  # staff may not triage
    assert client.submit(f"/publicreports/{report.id}/reject", {"reason": "x"},
                         page=f"/publicreports/").status_code in (403, 404)
    login(client, world.users["safety_officer"])
    empty = client.submit(f"/publicreports/{report.id}/reject", {"reason": ""}, page=f"/publicreports/{report.id}")
    assert empty.status_code == 302 and reports_of(db, world.a.id)[0].status == "new"
    client.submit(f"/publicreports/{report.id}/reject", {"reason": "不属于本校管辖，已转交城管部门"}, page=f"/publicreports/{report.id}")
    status = client.get(f"/p/r/{report.receipt}").get_data(as_text=True)
    assert "不予受理" in status and "已转交城管部门" in status


def test_untouched_for_two_working_days_escalates_to_the_township(app, db, client, world):
    code = make_code(db, world.s1)
    with clock.frozen("2026-12-04 09:00"):  # a Friday
        post_report(client, code.token)
    [report] = reports_of(db, world.a.id)
    with tenant_bound(world.a.id):
        assert ops.sweep_tenant(world.a.id, clock.today().replace(2026, 12, 7))["escalated"] == 0  # Monday
        with clock.frozen("2026-12-08 08:30"):  # Tuesday: two working days have passed
            assert ops.sweep_tenant(world.a.id, clock.today())["escalated"] == 1
            assert ops.sweep_tenant(world.a.id, clock.today())["escalated"] == 0  # idempotent
        told = db.session.execute(sa.select(Notification.user_id).where(
            Notification.key == f"public-report-escalated:{report.id}")).scalars().all()
        assert told == [world.users["township_supervisor"].id]
        versions = db.session.execute(sa.select(version_class(PublicReport)).where(
            version_class(PublicReport).id == report.id)).scalars().all()
        assert len(versions) == 2 and versions[-1].escalated_at is not None
    # a school directly under the bureau: its administrators are told
    direct = make_code(db, world.affiliated)
    with clock.frozen("2026-12-04 09:00"):
        post_report(client, direct.token, description="局属学校实验室通风橱损坏", addr="10.0.9.9")
    with tenant_bound(world.a.id), clock.frozen("2026-12-08 08:30"):
        assert ops.sweep_tenant(world.a.id, clock.today())["escalated"] == 1
        told = db.session.execute(sa.select(Notification.user_id).where(
            Notification.key.like("public-report-escalated:%"))).scalars().all()
        assert sorted(told) == sorted([world.users["township_supervisor"].id, world.users["bureau_admin"].id])
    login(client, world.users["township_supervisor"])
    page = client.get("/publicreports/?status=escalated").get_data(as_text=True)
    assert report.receipt in page and "超期升级" in page and "一镇第一小学" in page
    assert "区实验中学" not in page and "通风橱" not in page  # outside the township: not its business


def test_the_city_compares_reports_per_100_schools_and_median_days_to_triage(db, client, world):
    from hazardhub.citywide.operations import compare, month_period
    from hazardhub.tenancy import TenantScope

    code = make_code(db, world.s1)
    with clock.frozen("2026-11-10 09:00"):
        post_report(client, code.token, description="一号楼栏杆松动", addr="10.3.0.1")
        post_report(client, code.token, description="二号楼灭火器过期", addr="10.3.0.2")
    first, second = reports_of(db, world.a.id)
    with tenant_bound(world.a.id), clock.frozen("2026-11-10 21:00"):  # triaged 12 hours later
        ops.reject(first, world.users["principal"], "已于当日修复")
    with tenant_bound(TenantScope.reading(world.city.id, [world.a.id, world.b.id])), clock.frozen("2026-11-30"):
        result = compare(world.city.id, month_period("2026-11", clock.today()), clock.today())
    rows = {r.tenant.id: r for r in result.rows}
    a, b = rows[world.a.id], rows[world.b.id]
    assert a.figures["public_reports"].num == 2 and b.figures["public_reports"].num == 0
    assert a.figures["public_reports"].value == pytest.approx(200 / a.schools)
    assert a.figures["public_triage_days"].value == pytest.approx(0.5)
    assert b.figures["public_triage_days"].value is None
    assert result.city["public_triage_days"].value == pytest.approx(0.5)
    assert {"public_reports", "public_triage_days"} <= {c.key for c in result.columns}


def test_triage_cites_catalogue_items_and_a_direct_item_makes_the_hazard_major(app, db, client, world):
    """The triage form shows the same catalogue as 登记隐患; citing a direct item (3.1.6) is the
    ledger's own determination: 重大, decided by the rule, listed — not the level picked by hand."""
    from hazardhub.standards.models import StandardItem

    code = make_code(db, world.s1)
    post_report(client, code.token)
    [report] = reports_of(db, world.a.id)
    login(client, world.users["safety_officer"])
    page = client.get(f"/publicreports/{report.id}").get_data(as_text=True)
    assert 'name="items"' in page and "直接判定" in page
    with tenant_bound(world.city.id):
        item = db.session.execute(sa.select(StandardItem).where(StandardItem.number == "3.1.6")).scalar_one()
    response = client.submit(f"/publicreports/{report.id}/register",
                             {"category": "校园消防", "level": "general", "location": "宿舍楼",
                              "description": "安全出口上锁", "items": [str(item.id)]},
                             page=f"/publicreports/{report.id}")
    assert response.status_code == 302 and "/hazards/" in response.headers["Location"], flashes(client)
    with tenant_bound(world.a.id):
        hazard = db.session.get(Hazard, db.session.get(PublicReport, report.id).hazard_id)
        assert hazard.level == "major" and hazard.determination == "direct" and hazard.is_listed
    # an item that is not in the catalogue is refused in Chinese and nothing is registered
    code2 = make_code(db, world.s1, place="教学楼")
    post_report(client, code2.token, description="教学楼三楼栏杆松动", kind="校舍设施", place="教学楼", addr="10.0.0.2")
    fresh = [r for r in reports_of(db, world.a.id) if r.status == "new"]
    assert fresh
    response = client.submit(f"/publicreports/{fresh[0].id}/register",
                             {"category": "校园消防", "level": "general", "location": "食堂",
                              "description": "燃气", "items": ["999999"]}, page=f"/publicreports/{fresh[0].id}")
    assert response.status_code == 302 and f"/publicreports/{fresh[0].id}" in response.headers["Location"]
    with tenant_bound(world.a.id):
        assert db.session.get(PublicReport, fresh[0].id).status == "new"
