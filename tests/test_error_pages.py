"""Error pages never fail, and the limits agree (issue #12, item 6), and NUL never reaches SQL.

- a CSRF failure of a signed-in user is a 400 with a Chinese message and a way back (it was a 500:
  the navbar queried tenant rows before the tenant was bound);
- the error page still renders when the navbar cannot be drawn (the database failing);
- a 65 MB upload to a photo endpoint is a 413 naming the 64 MB limit; a 70 MB campaign video
  (within ``HAZARDHUB_MAX_VIDEO_MB``) is accepted; a video over its own limit is a 413 naming it;
- ``?q=%00`` is a 200 and NUL is removed from every parameter (PostgreSQL refuses it).

The big bodies are produced as they are read (:class:`MultipartBody`), never built in memory.
"""
from __future__ import annotations

import io
import time

import pytest
import sqlalchemy as sa

from hazardhub.campaigns.models import Deliverable, DeliverableFile
from hazardhub.hazards.models import Hazard
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, make_hazard, make_user

MB = 1024 * 1024
BOUNDARY = "hh-test-boundary-7d1f"
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


class MultipartBody(io.RawIOBase):
    """A ``multipart/form-data`` body with some fields and one file of ``size`` bytes (``head``,
    then zeros), generated while the server reads it (seekable, as the test client wants)."""

    _ZEROS = bytes(MB)

    def __init__(self, fields: dict[str, str], name: str, filename: str, content_type: str, size: int,
                 head: bytes = b""):
        pre = b"".join(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                       for k, v in fields.items())
        self._pre = pre + (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                           f"Content-Type: {content_type}\r\n\r\n").encode() + head
        self._post = f"\r\n--{BOUNDARY}--\r\n".encode()
        self._zeros_end = len(self._pre) + size - len(head)
        self.length = self._zeros_end + len(self._post)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = {0: 0, 1: self._pos, 2: self.length}[whence] + offset
        return self._pos

    def readinto(self, buffer) -> int:
        pos = self._pos
        if pos < len(self._pre):
            chunk = self._pre[pos:pos + len(buffer)]
        elif pos < self._zeros_end:
            chunk = self._ZEROS[:min(len(buffer), MB, self._zeros_end - pos)]
        else:
            chunk = self._post[pos - self._zeros_end:pos - self._zeros_end + len(buffer)]
        buffer[:len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


def post_body(client, url: str, body: MultipartBody, **headers):
    return client.post(url, input_stream=body, content_length=body.length,
                       content_type=f"multipart/form-data; boundary={BOUNDARY}", headers=headers)


def _tokens(client, page: str, url: str) -> dict[str, str]:
    from tests.fixtures.app import CSRF_RE, form_token_for

    html = client.get(page).get_data(as_text=True)
    return {"csrf_token": CSRF_RE.search(html).group(1), "form_token": form_token_for(html, url, page)}


# ---------------------------------------------------------------------------------------------
# CSRF failures and the error page itself


@pytest.mark.parametrize("who, url", [
    ("principal", "/hazards/new"),
    ("township_supervisor", "/directives/new"),
    ("principal", "/inspections/new"),
    ("principal", "/learning/new"),
    ("principal", "/password"),
    ("principal", "/notifications/read-all"),
])
def test_a_csrf_failure_of_a_signed_in_user_is_400_with_a_chinese_message(client, world, who, url):
    login(client, world.users[who])
    response = client.post(url, data={"title": "x"}, headers={"Referer": "http://localhost/hazards/?page=2"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400, html[-2000:]
    assert "请求已失效" in html and "页面已过期" in html
    assert 'href="/hazards/?page=2">返回上一页' in html, "back to the page the form was on"
    assert 'href="/">返回首页' in html


def test_the_way_back_never_leaves_the_site(client, world):
    login(client, world.users["principal"])
    response = client.post("/hazards/new", data={}, headers={"Referer": "https://evil.example/phish"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "evil.example" not in html
    assert ">返回上一页</a>" not in html and 'href="/">返回首页' in html


def test_the_error_page_renders_when_the_navbar_cannot_be_drawn(client, world, monkeypatch):
    """The database failing while the error page draws the navbar: the minimal navbar instead."""
    from sqlalchemy.exc import OperationalError

    from hazardhub.notifications import operations as notifications

    def down(user):
        raise OperationalError("SELECT count(*) FROM notifications", {}, Exception("server closed the connection"))

    monkeypatch.setattr(notifications, "unread_count", down)
    login(client, world.users["principal"])
    response = client.get("/hazards/999999999")
    html = response.get_data(as_text=True)
    assert response.status_code == 404, html[-2000:]
    assert "页面不存在" in html and "退出" not in html, "the minimal navbar: no user menu"
    assert client.get("/healthz").status_code == 200


def test_any_other_http_error_has_a_chinese_page(client):
    response = client.get("/static/app.js", headers={"Range": "bytes=99999999-"})
    assert response.status_code == 416
    assert "请求无法完成" in response.get_data(as_text=True)


# ---------------------------------------------------------------------------------------------
# upload limits


def test_65_mb_to_a_photo_endpoint_is_413_naming_the_limit(client, world, db):
    principal = world.users["principal"]
    hazard = make_hazard(db, world.s1, principal)
    login(client, principal)
    url = f"/hazards/{hazard.id}/attachments"
    body = MultipartBody({**_tokens(client, f"/hazards/{hazard.id}", url), "stage": "before"},
                         "file", "big.jpg", "image/jpeg", 65 * MB, head=b"\xff\xd8\xff\xe0")
    response = post_body(client, url, body)
    html = response.get_data(as_text=True)
    assert response.status_code == 413, html[-2000:]
    assert "上传的文件超过 64 MB 的上限" in html


@pytest.fixture
def summary(db, world):
    """The affiliated school's 总结报告 (photos, text, video) and its principal."""
    from hazardhub.campaigns import operations as campaign_ops

    principal = make_user(db, world.affiliated, "principal")
    with tenant_bound(world.a.id):
        campaign = campaign_ops.create_from_template(world.a, 2025, world.users["bureau_admin"])
        item = next(d for d in db.session.execute(
            sa.select(Deliverable).where(Deliverable.campaign_id == campaign.id,
                                         Deliverable.unit_id == world.affiliated.id)).unique().scalars()
                    if d.spec.name == "总结报告")
    return item, principal


def test_a_70_mb_video_within_the_video_limit_is_accepted(app, client, world, db, summary):
    item, principal = summary
    login(client, principal)
    page, url = f"/campaigns/deliverables/{item.id}", f"/campaigns/deliverables/{item.id}/files"
    body = MultipartBody(_tokens(client, page, url), "file", "总结视频.mp4", "video/mp4", 70 * MB, head=MP4_HEAD)
    started = time.monotonic()
    response = post_body(client, url, body)
    elapsed = time.monotonic() - started
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    with tenant_bound(world.a.id):
        (record,) = db.session.execute(sa.select(DeliverableFile).where(DeliverableFile.deliverable_id == item.id)
                                       .execution_options(populate_existing=True)).scalars()
    assert record.kind == "video" and record.size == 70 * MB
    assert elapsed < 60, f"70 MB took {elapsed:.1f} s"


def test_a_video_over_its_own_limit_is_413_naming_that_limit(app, client, world, db, summary, monkeypatch):
    item, principal = summary
    monkeypatch.setitem(app.config, "HAZARDHUB_MAX_VIDEO_MB", 66)
    login(client, principal)
    page, url = f"/campaigns/deliverables/{item.id}", f"/campaigns/deliverables/{item.id}/files"
    body = MultipartBody(_tokens(client, page, url), "file", "v.mp4", "video/mp4", 70 * MB, head=MP4_HEAD)
    response = post_body(client, url, body)
    assert response.status_code == 413
    assert "上传的文件超过 66 MB 的上限" in response.get_data(as_text=True)
    with tenant_bound(world.a.id):
        assert db.session.execute(sa.select(sa.func.count()).select_from(DeliverableFile)
                                  .where(DeliverableFile.deliverable_id == item.id)).scalar_one() == 0


def test_contradicting_limits_are_refused_at_start_up():
    from hazardhub.config import ConfigError
    from hazardhub.httprequest import check_limits

    check_limits({"MAX_CONTENT_LENGTH": 64 * MB, "HAZARDHUB_MAX_EVIDENCE_MB": 10})
    with pytest.raises(ConfigError, match="HAZARDHUB_MAX_UPLOAD_MB"):
        check_limits({"MAX_CONTENT_LENGTH": 8 * MB, "HAZARDHUB_MAX_EVIDENCE_MB": 10})


# ---------------------------------------------------------------------------------------------
# NUL


@pytest.mark.parametrize("url", ["/hazards/?q=%00", "/hazards/export.xlsx?q=%00", "/hazards/?q=a%00b&status=%00",
                                 "/directives/?q=%00", "/learning/?q=%00"])
def test_nul_in_the_query_string_is_a_200(client, world, url):
    login(client, world.users["bureau_admin"])
    response = client.get(url)
    assert response.status_code == 200, (url, response.get_data(as_text=True)[-2000:])


def hazard_form(world, **overrides) -> dict:
    """A valid registration of a general hazard at S1 (no catalogue item cited)."""
    from hazardhub import clock

    data = {"school_id": str(world.s1.id), "found_on": clock.today().isoformat(), "found_by_name": "郑校长",
            "source": "self", "category": "校园消防", "location": "学生宿舍楼一楼楼梯间",
            "description": "楼梯间堆放杂物", "level": "general"}
    data.update(overrides)
    return data


def test_nul_is_removed_from_every_submitted_value(client, world, db):
    login(client, world.users["principal"])
    data = hazard_form(world, location="楼梯\x00间", description="\x00电动车充电")
    response = client.submit("/hazards/new", data, page="/hazards/new")
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    hazard_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    with tenant_bound(world.a.id):
        hazard = db.session.execute(sa.select(Hazard).where(Hazard.id == hazard_id)).scalar_one()
    assert (hazard.location, hazard.description) == ("楼梯间", "电动车充电")


def test_the_request_parameters_carry_no_nul(app):
    from werkzeug.datastructures import FileStorage

    with app.test_request_context("/x?q%00=a%00b&q=c", method="POST",
                                  data={"n\x00ame": ["v\x00", "w"], "f": (io.BytesIO(b"1"), "a\x00.png")}):
        from flask import request

        assert request.args.getlist("q") == ["ab", "c"]
        assert request.form.getlist("name") == ["v", "w"]
        upload = request.files["f"]
        assert isinstance(upload, FileStorage) and upload.filename == "a.png"
