"""Evidence: photos and PDFs on a hazard — sniffed, cleaned, stored under random names, served
only through the authorised views, withdrawn but never deleted."""
from __future__ import annotations

import hashlib
import io
import re
import struct
import zlib

import pytest
import sqlalchemy as sa
from PIL import Image

from hazardhub.evidence.models import Attachment
from tests.fixtures.factories import login
from tests.fixtures.pdfs import PLAIN, raw_pdf

PAGE = "/password"  # any page with a CSRF token for a logged-in user


# ---------------------------------------------------------------------------------------------
# helpers


def jpeg_with_exif(size=(640, 480), orientation: int | None = None) -> bytes:
    img = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SpyPhoneMaker"  # Make
    exif[0x0110] = "Model-X1"  # Model
    if orientation:
        exif[0x0112] = orientation
    exif[0x8825] = {1: "N", 2: (34.0, 1.0, 2.0), 3: "E", 4: (113.0, 49.0, 3.0)}  # GPS IFD
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, comment=b"secret comment")
    return out.getvalue()


def image_bytes(fmt: str, size=(300, 200), mode="RGB", **options) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 120, 200) if mode == "RGB" else 0).save(out, fmt, **options)
    return out.getvalue()


PDF = PLAIN  # a one-page PDF with a correct cross-reference table (tests/fixtures/pdfs.py)


def png_bomb(side: int = 20000) -> bytes:
    """A real decompression bomb: a 1-bit PNG of side×side pixels of zeros, a few KB on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (side + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row * 1000) for _ in range(side // 1000)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def upload(client, hazard, data: bytes, name: str, stage: str = "before", caption: str = "", field: str = "file"):
    return client.submit(f"/hazards/{hazard.id}/attachments",
                         {field: (io.BytesIO(data), name), "stage": stage, "caption": caption}, page=PAGE)


def flashes(client) -> list[str]:
    with client.session_transaction() as session:
        return [message for _cat, message in session.get("_flashes", [])]


def rows(db, hazard) -> list[Attachment]:
    return list(db.session.execute(
        sa.select(Attachment).where(Attachment.hazard_id == hazard.id).order_by(Attachment.id)
        .execution_options(populate_existing=True)
    ).scalars())


def evidence_dir(app, tenant_id: int):
    from pathlib import Path

    return Path(app.config["HAZARDHUB_STORAGE_PATH"]) / "evidence" / str(tenant_id)


def files_of(app, tenant_id: int) -> set[str]:
    folder = evidence_dir(app, tenant_id)
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


@pytest.fixture
def hazard(db, world):
    from tests.fixtures.factories import make_hazard

    return make_hazard(db, world.s1, world.users["principal"])


@pytest.fixture
def photo(app, db, client, world, hazard):
    """A JPEG uploaded by the principal of S1; returns the attachment row."""
    login(client, world.users["principal"])
    response = upload(client, hazard, jpeg_with_exif(), "楼梯间.jpg", caption="楼梯间堆放电动车")
    assert response.status_code == 302, response.get_data(as_text=True)
    (attachment,) = rows(db, hazard)
    with client.session_transaction() as session:
        session.clear()
    return attachment


# ---------------------------------------------------------------------------------------------
# uploads: what is accepted, and what the stored file looks like


def test_jpeg_upload_strips_exif_makes_thumbnail_and_records_hash(app, db, client, world, hazard):
    login(client, world.users["principal"])
    original = jpeg_with_exif(size=(640, 480), orientation=6)
    assert b"SpyPhoneMaker" in original
    response = upload(client, hazard, original, "IMG_楼梯间.jpg", caption="整改前现场")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/hazards/{hazard.id}#evidence")
    assert any("已上传整改前照片" in m for m in flashes(client))

    (a,) = rows(db, hazard)
    assert (a.stage, a.kind, a.content_type, a.is_active) == ("before", "image", "image/jpeg", True)
    assert a.original_name == "IMG_楼梯间.jpg" and a.caption == "整改前现场"
    assert a.uploaded_by_id == world.users["principal"].id and a.tenant_id == world.a.id
    # random name, nothing of the original
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", a.stored_name)
    assert a.thumb_name == a.stored_name.replace(".jpg", ".t.jpg")
    assert "IMG" not in a.stored_name and "楼梯间" not in a.stored_name

    path = evidence_dir(app, world.a.id) / a.stored_name
    stored = path.read_bytes()
    assert hashlib.sha256(stored).hexdigest() == a.sha256 and len(stored) == a.size
    assert b"SpyPhoneMaker" not in stored and b"Model-X1" not in stored and b"secret comment" not in stored
    with Image.open(path) as img:
        assert img.format == "JPEG"
        assert not img.getexif()
        assert "exif" not in img.info and "comment" not in img.info
        # orientation 6 (rotate 90°) applied before the EXIF was dropped
        assert img.size == (480, 640) == (a.width, a.height)
    with Image.open(evidence_dir(app, world.a.id) / a.thumb_name) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) == 320 and not thumb.getexif()

    from hazardhub.audit import history

    assert history(a)[0].reason.startswith("上传整改前照片：IMG_楼梯间.jpg")


@pytest.mark.parametrize("fmt,content_type,ext,options", [
    ("PNG", "image/png", ".png", {}),
    ("WEBP", "image/webp", ".webp", {"quality": 90}),
])
def test_png_and_webp_are_accepted_and_cleaned(app, db, client, world, hazard, fmt, content_type, ext, options):
    login(client, world.users["safety_officer"])
    exif = Image.Exif()
    exif[0x010F] = "SpyPhoneMaker"
    data = image_bytes(fmt, exif=exif, **options)
    assert b"SpyPhoneMaker" in data
    # the name lies (.jpg); the content decides
    response = upload(client, hazard, data, "photo.jpg", stage="after")
    assert response.status_code == 302
    (a,) = rows(db, hazard)
    assert (a.kind, a.content_type, a.stage) == ("image", content_type, "after")
    assert a.stored_name.endswith(ext)
    stored = (evidence_dir(app, world.a.id) / a.stored_name).read_bytes()
    assert b"SpyPhoneMaker" not in stored
    with Image.open(io.BytesIO(stored)) as img:
        assert img.format == fmt and not img.getexif()
    assert (evidence_dir(app, world.a.id) / a.thumb_name).is_file()


def test_png_with_transparency_and_text_chunks(app, db, client, world, hazard):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "张三 13800000000")
    img = Image.new("P", (50, 40), 0)
    img.info["transparency"] = 0
    out = io.BytesIO()
    img.save(out, "PNG", pnginfo=info, transparency=0)
    login(client, world.users["principal"])
    assert upload(client, hazard, out.getvalue(), "透明.png").status_code == 302
    (a,) = rows(db, hazard)
    stored = (evidence_dir(app, world.a.id) / a.stored_name).read_bytes()
    assert "13800000000".encode() not in stored
    with Image.open(io.BytesIO(stored)) as back:
        assert "Author" not in back.info


def test_pdf_is_accepted_as_document_and_kept_byte_for_byte(app, db, client, world, hazard):
    login(client, world.users["principal"])
    assert upload(client, hazard, PDF, "整改方案.pdf", stage="document").status_code == 302
    (a,) = rows(db, hazard)
    assert (a.kind, a.content_type, a.thumb_name, a.width) == ("pdf", "application/pdf", None, None)
    assert re.fullmatch(r"[0-9a-f]{32}\.pdf", a.stored_name)
    assert (evidence_dir(app, world.a.id) / a.stored_name).read_bytes() == PDF
    assert a.sha256 == hashlib.sha256(PDF).hexdigest()


def test_camera_input_is_accepted(app, db, client, world, hazard):
    login(client, world.users["principal"])
    assert upload(client, hazard, jpeg_with_exif(), "image.jpg", field="photo").status_code == 302
    assert len(rows(db, hazard)) == 1


# ---------------------------------------------------------------------------------------------
# refusals: nothing written (no row, no file), a Chinese message


def _refused(app, db, client, world, hazard, data, name, stage="before", expect="") -> str:
    before = files_of(app, world.a.id)
    response = upload(client, hazard, data, name, stage=stage)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/hazards/{hazard.id}#evidence")
    assert rows(db, hazard) == []
    assert files_of(app, world.a.id) == before
    messages = flashes(client)
    assert messages and re.search(r"[\u4e00-\u9fff]", messages[-1]), messages
    assert expect in messages[-1], messages
    return messages[-1]


def test_html_named_jpg_is_refused(app, db, client, world, hazard):
    login(client, world.users["principal"])
    _refused(app, db, client, world, hazard, b"<!doctype html><script>alert(1)</script>", "evil.jpg",
             expect="文件类型不受支持")
    _refused(app, db, client, world, hazard, b"MZ\x90\x00" + b"\x00" * 200, "photo.jpg", expect="文件类型不受支持")


def test_jpeg_magic_with_garbage_is_refused(app, db, client, world, hazard):
    login(client, world.users["principal"])
    _refused(app, db, client, world, hazard, b"\xff\xd8\xff\xe0" + b"<html>" * 50, "x.jpg", expect="图片")
    truncated = jpeg_with_exif()[:400]
    _refused(app, db, client, world, hazard, truncated, "cut.jpg", expect="图片")


def test_oversize_is_refused(app, db, client, world, hazard, monkeypatch):
    monkeypatch.setitem(app.config, "HAZARDHUB_MAX_EVIDENCE_MB", 0.01)  # about 10 KB
    login(client, world.users["principal"])
    big = image_bytes("PNG", size=(400, 400), mode="RGB", compress_level=0)
    assert len(big) > 0.01 * 1024 * 1024
    _refused(app, db, client, world, hazard, big, "big.png", expect="超过大小限制")


def test_empty_file_is_refused(app, db, client, world, hazard):
    login(client, world.users["principal"])
    _refused(app, db, client, world, hazard, b"", "empty.jpg", expect="空")


def test_no_file_chosen_is_refused(app, db, client, world, hazard):
    login(client, world.users["principal"])
    response = client.submit(f"/hazards/{hazard.id}/attachments", {"stage": "before"}, page=PAGE)
    assert response.status_code == 302
    assert rows(db, hazard) == []
    assert "请选择要上传的照片或 PDF 文件。" in flashes(client)


def test_decompression_bomb_is_refused(app, db, client, world, hazard):
    login(client, world.users["principal"])
    bomb = png_bomb()
    assert len(bomb) < 200_000  # 400 million pixels in a small file
    _refused(app, db, client, world, hazard, bomb, "bomb.png", expect="像素过大")


def test_pixel_limit_is_configurable(app, db, client, world, hazard, monkeypatch):
    monkeypatch.setitem(app.config, "HAZARDHUB_MAX_EVIDENCE_PIXELS", 10_000)
    login(client, world.users["principal"])
    _refused(app, db, client, world, hazard, image_bytes("PNG", size=(200, 200)), "a.png", expect="像素过大")


def test_pdf_must_be_a_document_and_complete_and_passive(app, db, client, world, hazard):
    login(client, world.users["principal"])
    _refused(app, db, client, world, hazard, PDF, "a.pdf", stage="before", expect="文件资料")
    _refused(app, db, client, world, hazard, PDF[:-7], "cut.pdf", stage="document", expect="PDF")
    scripted = raw_pdf(b"/OpenAction<</S/JavaScript/JS(app.alert(1))>>")
    _refused(app, db, client, world, hazard, scripted, "js.pdf", stage="document", expect="脚本")


def test_unknown_stage_is_refused(app, db, client, world, hazard):
    login(client, world.users["principal"])
    response = upload(client, hazard, jpeg_with_exif(), "a.jpg", stage="during")
    assert response.status_code == 302
    assert rows(db, hazard) == []
    assert flashes(client)


def test_final_hazard_takes_no_more_evidence(app, db, client, world, hazard):
    from hazardhub.hazards import operations as hazard_ops
    from hazardhub.tenancy import tenant_bound

    with tenant_bound(world.a.id):
        hazard_ops.void(hazard, actor=world.users["principal"], reason="重复登记", version_id=hazard.version_id)
    login(client, world.users["principal"])
    _refused(app, db, client, world, hazard, jpeg_with_exif(), "a.jpg", expect="已作废")


def test_failed_commit_removes_the_written_files(app, db, world, hazard, monkeypatch):
    from werkzeug.datastructures import FileStorage

    from hazardhub.evidence import operations as ops
    from hazardhub.tenancy import tenant_bound

    before = files_of(app, world.a.id)

    def broken_commit():
        raise RuntimeError("database went away")

    with tenant_bound(world.a.id):
        monkeypatch.setattr(db.session, "commit", broken_commit)
        with pytest.raises(RuntimeError):
            ops.add_attachment(hazard, world.users["principal"],
                               FileStorage(io.BytesIO(jpeg_with_exif()), filename="a.jpg"), "before", None)
        monkeypatch.undo()
    assert files_of(app, world.a.id) == before
    assert rows(db, hazard) == []


# ---------------------------------------------------------------------------------------------
# serving


def test_file_and_thumb_are_served_with_safe_headers(app, db, client, world, photo):
    login(client, world.users["staff"])  # any role of the school may view
    response = client.get(f"/attachments/{photo.id}")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("inline;") and ".jpg" in disposition
    assert "private" in response.headers["Cache-Control"] and "public" not in response.headers["Cache-Control"]
    assert hashlib.sha256(response.get_data()).hexdigest() == photo.sha256
    etag = response.headers["ETag"]
    assert client.get(f"/attachments/{photo.id}", headers={"If-None-Match": etag}).status_code == 304

    thumb = client.get(f"/attachments/{photo.id}/thumb")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert thumb.headers["X-Content-Type-Options"] == "nosniff"


def test_download_name_has_the_sniffed_extension_and_no_unsafe_characters(app, db, client, world, hazard):
    login(client, world.users["principal"])
    upload(client, hazard, image_bytes("PNG"), "../../etc/<b>x;y.jpg")
    (a,) = rows(db, hazard)
    assert a.original_name == "<b>x;y.jpg"
    disposition = client.get(f"/attachments/{a.id}").headers["Content-Disposition"]
    assert "etc" not in disposition and "<" not in disposition and ";y" not in disposition
    assert "b_x_y.png" in disposition


def test_pdf_has_no_thumbnail(app, db, client, world, hazard):
    login(client, world.users["principal"])
    upload(client, hazard, PDF, "方案.pdf", stage="document")
    (a,) = rows(db, hazard)
    response = client.get(f"/attachments/{a.id}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")  # a download, never a viewer
    assert client.get(f"/attachments/{a.id}/thumb").status_code == 404


def test_missing_file_on_disk_is_404(app, db, client, world, photo):
    (evidence_dir(app, world.a.id) / photo.thumb_name).unlink()
    login(client, world.users["principal"])
    assert client.get(f"/attachments/{photo.id}/thumb").status_code == 404
    assert client.get(f"/attachments/{photo.id}").status_code == 200


def test_anonymous_is_sent_to_login(client, photo):
    response = client.get(f"/attachments/{photo.id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# ---------------------------------------------------------------------------------------------
# who may do what


def _withdraw(client, attachment_id, reason="拍错了"):
    return client.submit(f"/attachments/{attachment_id}/withdraw", {"reason": reason}, page=PAGE)


def test_other_tenant_gets_404_everywhere(app, db, client, world, hazard, photo):
    login(client, world.b_admin)
    assert client.get(f"/attachments/{photo.id}").status_code == 404
    assert client.get(f"/attachments/{photo.id}/thumb").status_code == 404
    assert _withdraw(client, photo.id).status_code == 404
    assert upload(client, hazard, jpeg_with_exif(), "a.jpg").status_code == 404
    assert len(rows(db, hazard)) == 1 and rows(db, hazard)[0].is_active


def test_principal_of_another_school_cannot_reach(app, db, client, world, factories, hazard, photo):
    other = factories.user(world.s2, "principal")
    login(client, other)
    for response in (client.get(f"/attachments/{photo.id}"), client.get(f"/attachments/{photo.id}/thumb"),
                     _withdraw(client, photo.id), upload(client, hazard, jpeg_with_exif(), "a.jpg")):
        assert response.status_code in (403, 404)
    assert len(rows(db, hazard)) == 1 and rows(db, hazard)[0].is_active


def test_city_viewer_reads_but_cannot_change(app, db, client, world, hazard, photo):
    login(client, world.users["city_viewer"])
    assert client.get(f"/attachments/{photo.id}").status_code == 200
    assert client.get(f"/attachments/{photo.id}/thumb").status_code == 200
    assert _withdraw(client, photo.id).status_code in (403, 404)
    assert upload(client, hazard, jpeg_with_exif(), "a.jpg").status_code in (403, 404)
    assert len(rows(db, hazard)) == 1 and rows(db, hazard)[0].is_active


def test_staff_and_supervisors(app, db, client, world, hazard, photo):
    login(client, world.users["staff"])
    assert upload(client, hazard, jpeg_with_exif(), "a.jpg").status_code == 403
    login(client, world.users["township_supervisor"])
    assert client.get(f"/attachments/{photo.id}").status_code == 200
    assert upload(client, hazard, jpeg_with_exif(), "b.jpg", stage="after").status_code == 302
    assert len(rows(db, hazard)) == 2


# ---------------------------------------------------------------------------------------------
# withdrawing


def test_withdraw_keeps_row_and_file(app, db, client, world, photo):
    login(client, world.users["safety_officer"])
    response = _withdraw(client, photo.id, reason="上传错了照片")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/hazards/{photo.hazard_id}#evidence")
    row = db.session.execute(sa.select(Attachment).where(Attachment.id == photo.id)
                             .execution_options(populate_existing=True)).scalar_one()
    assert row.is_active is False and row.withdraw_reason == "上传错了照片"
    assert (evidence_dir(app, world.a.id) / photo.stored_name).is_file()
    assert (evidence_dir(app, world.a.id) / photo.thumb_name).is_file()
    assert client.get(f"/attachments/{photo.id}").status_code == 200  # still part of the record

    from hazardhub.audit import history

    assert history(row)[0].reason == "撤回附件：楼梯间.jpg，原因：上传错了照片"
    # twice: refused with a message
    _withdraw(client, photo.id)
    assert "该附件已撤回。" in flashes(client)


def test_withdraw_needs_a_reason(app, db, client, world, hazard, photo):
    login(client, world.users["principal"])
    assert _withdraw(client, photo.id, reason="  ").status_code == 302
    assert "请填写撤回原因。" in flashes(client)
    assert rows(db, hazard)[0].is_active


def test_missing_csrf_is_400(app, db, client, world, hazard, photo):
    login(client, world.users["principal"])
    response = client.post(f"/hazards/{hazard.id}/attachments",
                           data={"file": (io.BytesIO(jpeg_with_exif()), "a.jpg"), "stage": "before"})
    assert response.status_code == 400
    assert client.post(f"/attachments/{photo.id}/withdraw", data={"reason": "x"}).status_code == 400
    assert len(rows(db, hazard)) == 1 and rows(db, hazard)[0].is_active


# ---------------------------------------------------------------------------------------------
# the panel partial


def _render_panel(app, db, user, hazard):
    from flask import render_template_string
    from flask_login import login_user

    from hazardhub.accounts.auth import load_memberships
    from hazardhub.evidence import operations as ops
    from hazardhub.tenancy import scope_for, tenant_bound

    with app.test_request_context("/"):
        user.active_memberships = load_memberships(user)
        login_user(user)
        with tenant_bound(scope_for(user)):
            return render_template_string('{% include "evidence/_panel.html" %}', hazard=hazard,
                                          **ops.panel_context(hazard))


def test_panel_shows_thumbnails_and_forms_by_permission(app, db, client, world, hazard, photo):
    login(client, world.users["principal"])
    upload(client, hazard, PDF, "整改方案.pdf", stage="document")
    html = _render_panel(app, db, world.users["principal"], hazard)
    assert f'/attachments/{photo.id}/thumb' in html and "楼梯间堆放电动车" in html
    assert "整改前照片（1）" in html and "整改后照片（0）" in html and "文件资料（1）" in html
    assert f'action="/hazards/{hazard.id}/attachments"' in html and 'enctype="multipart/form-data"' in html
    assert 'capture="environment"' in html and 'accept="image/jpeg,image/png,image/webp,application/pdf"' in html
    assert f'action="/attachments/{photo.id}/withdraw"' in html and 'name="csrf_token"' in html

    viewer = _render_panel(app, db, world.users["city_viewer"], hazard)
    assert f'/attachments/{photo.id}/thumb' in viewer
    assert "/withdraw" not in viewer and 'type="file"' not in viewer
