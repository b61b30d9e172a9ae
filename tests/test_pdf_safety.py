"""Uploaded PDFs are decided by a PDF parser: scripts, actions, embedded files, multimedia and XFA
are refused after names and object streams are decoded — the byte search it replaces let an
escaped name (``/J#61vaScript``) or a script inside a compressed object stream through — and every
stored file is served under a sandboxing CSP, PDFs and videos as downloads."""
from __future__ import annotations

import io
import sys
import zlib
from pathlib import Path

import pikepdf
import pytest
import sqlalchemy as sa
from pikepdf import Array, Dictionary, Name, String
from sqlalchemy_continuum import version_class

from hazardhub.audit import AuditChainLink
from hazardhub.campaigns import operations as campaign_ops
from hazardhub.campaigns.models import Deliverable, DeliverableFile
from hazardhub.evidence import pdfcheck
from hazardhub.evidence.models import Attachment
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, make_hazard, make_user
from tests.fixtures.pdfs import PLAIN, built_pdf, raw_pdf

SANDBOX = "sandbox; default-src 'none'"
JS = String("app.alert('x')")


def _old_byte_search_refuses(data: bytes) -> bool:
    """What the upload filter did before the parser (HEAD's ``storage.check_pdf``)."""
    return any(marker in data for marker in (b"/JavaScript", b"/Launch"))


# ---------------------------------------------------------------------------------------------
# the files


def _openaction_js(pdf):
    pdf.Root.OpenAction = pdf.make_indirect(Dictionary(S=Name.JavaScript, JS=JS))


def _link_js(pdf):
    link = Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=[0, 0, 100, 100],
                      A=Dictionary(S=Name.JavaScript, JS=JS))
    pdf.pages[0].Annots = pdf.make_indirect(Array([pdf.make_indirect(link)]))


def _named_js(pdf):
    script = pdf.make_indirect(Dictionary(S=Name.JavaScript, JS=pdf.make_stream(b"app.launchURL('x')")))
    pdf.Root.Names = Dictionary(JavaScript=Dictionary(Names=Array([String("init"), script])))


def _attachment(pdf):
    pdf.attachments["说明.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ\x90\x00", mime_type="application/octet-stream")


def _ordinary(pdf):
    """What Word, WPS and LibreOffice write: open at page 1, web and mail links, an outline."""
    page = pdf.pages[0].obj
    pdf.Root.OpenAction = Array([page, Name.XYZ, None, None, 0])
    links = [Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=[0, 0, 100, 20], A=Dictionary(S=Name.URI, URI=String(uri)))
             for uri in ("https://jyj.xuchang.gov.cn/", "mailto:aqg@example.cn", "www.example.cn")]
    links.append(Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=[0, 30, 100, 50],
                            A=Dictionary(S=Name.GoTo, D=Array([page, Name.Fit]))))
    pdf.pages[0].Annots = pdf.make_indirect(Array([pdf.make_indirect(link) for link in links]))
    item = pdf.make_indirect(Dictionary(Title=String("一、总体要求"), Dest=Array([page, Name.Fit])))
    pdf.Root.Outlines = pdf.make_indirect(Dictionary(Type=Name.Outlines, First=item, Last=item, Count=1))
    item.Parent = pdf.Root.Outlines


def _annot(body: bytes) -> bytes:
    """A one-page PDF whose page carries one annotation (object 5)."""
    return raw_pdf(b"", b"<</Type/Annot/Rect[0 0 100 100]" + body + b">>", page_extra=b"/Annots[5 0 R]")


ESCAPED_JS = raw_pdf(b"/OpenAction<</S/J#61vaScript/J#53(app.alert(1))>>")
OBJECT_STREAM_JS = built_pdf(_openaction_js)

#: name -> (file, what the message must name)
ACTIVE = {
    "escaped name in an OpenAction": (ESCAPED_JS, "JavaScript 脚本"),
    "escaped name as a key": (raw_pdf(b"/Names<</J#61vaScript 5 0 R>>", b"<</Names[(a)6 0 R]>>",
                                      b"<</S/JavaScript/JS(app.alert(1))>>"), "JavaScript 脚本"),
    "OpenAction in a compressed object stream": (OBJECT_STREAM_JS, "JavaScript 脚本"),
    "link action in a compressed object stream": (built_pdf(_link_js), "JavaScript 脚本"),
    "document-level named script": (built_pdf(_named_js), "JavaScript 脚本"),
    "Launch": (_annot(b"/Subtype/Link/A<</S/Launch/F(calc.exe)>>"), "启动外部程序"),
    "escaped Launch": (_annot(b"/Subtype/Link/A<</S/L#61unch/Win<</F(cmd.exe)>>>>"), "启动外部程序"),
    "page AA": (raw_pdf(page_extra=b"/AA<</O<</S/GoTo/D[3 0 R/Fit]>>>>"), "自动执行"),
    "OpenAction opening a web page": (raw_pdf(b"/OpenAction<</S/URI/URI(https://example.com/)>>"), "自动执行"),
    "OpenAction with a chained action": (raw_pdf(b"/OpenAction<</S/GoTo/D[3 0 R/Fit]/Next<</S/URI/URI(http://x/)>>>>"),
                                         "自动执行"),
    "embedded file": (built_pdf(_attachment), "嵌入的附件文件"),
    "file attachment annotation": (_annot(b"/Subtype/FileAttachment/FS<</Type/Filespec/F(a.exe)>>"), "嵌入的附件文件"),
    "RichMedia": (_annot(b"/Subtype/RichMedia/RichMediaContent<<>>"), "多媒体"),
    "3D": (_annot(b"/Subtype/3D"), "多媒体"),
    "rendition action": (_annot(b"/Subtype/Screen/A<</S/Rendition/OP 0>>"), "多媒体"),
    "XFA": (raw_pdf(b"/AcroForm<</Fields[]/XFA 5 0 R>>", b"<</Length 7>>stream\n<xdp/>\nendstream"), "XFA 动态表单"),
    "SubmitForm": (_annot(b"/Subtype/Widget/A<</S/SubmitForm/F<</FS/URL/F(http://x/)>>>>"), "提交或导入表单数据"),
    "ImportData": (_annot(b"/Subtype/Widget/A<</S/ImportData/F(data.fdf)>>"), "提交或导入表单数据"),
    "GoToR": (_annot(b"/Subtype/Link/A<</S/GoToR/F(other.pdf)/D[0/Fit]>>"), "打开其他文件"),
    "GoToE": (_annot(b"/Subtype/Link/A<</S/GoToE/T<</R/C/N(a)>>/D[0/Fit]>>"), "打开其他文件"),
    "file: link": (_annot(b"/Subtype/Link/A<</S/URI/URI(file:///C:/Windows/System32/calc.exe)>>"), "本机文件"),
    "javascript: link": (_annot(b"/Subtype/Link/A<</S/URI/URI(javascript:alert\\(1\\))>>"), "本机文件"),
    "UNC link": (_annot(b"/Subtype/Link/A<</S/URI/URI(\\\\\\\\evil\\\\share)>>"), "本机文件"),
    "script in an object nothing refers to": (raw_pdf(b"", b"<</S/JavaScript/JS(app.alert(1))>>"), "JavaScript 脚本"),
}


# ---------------------------------------------------------------------------------------------
# the check


def test_the_byte_search_let_the_escaped_and_the_compressed_script_through():
    """Why a parser: neither file has the bytes ``/JavaScript`` the old filter looked for."""
    for data in (ESCAPED_JS, OBJECT_STREAM_JS):
        assert not _old_byte_search_refuses(data)
        assert pdfcheck.problem(data) and "JavaScript" in pdfcheck.problem(data)
    assert b"JS" not in OBJECT_STREAM_JS, "the script is inside a compressed object stream"


@pytest.mark.parametrize("name", list(ACTIVE))
def test_active_content_is_refused_naming_what_was_found(name):
    data, label = ACTIVE[name]
    message = pdfcheck.problem(data)
    assert message is not None, name
    assert label in message and "不予接收" in message and "普通 PDF" in message, message


def test_everything_found_is_named_once():
    data = raw_pdf(b"/OpenAction<</S/JavaScript/JS(x)>>/Names<</EmbeddedFiles 5 0 R>>", b"<</Names[]>>")
    message = pdfcheck.problem(data)
    assert message.count("JavaScript 脚本") == 1
    assert "自动执行" in message and "嵌入的附件文件" in message


@pytest.mark.parametrize("data", [
    PLAIN,
    built_pdf(),
    built_pdf(object_streams=False),
    built_pdf(_ordinary),
    built_pdf(encryption=pikepdf.Encryption(owner="secret", user="", allow=pikepdf.Permissions(extract=False))),
    raw_pdf(b"/OpenAction<</S/GoTo/D[3 0 R/Fit]>>"),
], ids=["hand-written", "object streams", "classic", "links and outline", "owner password only", "OpenAction GoTo"])
def test_ordinary_pdfs_are_accepted(data):
    assert pdfcheck.problem(data) is None


def test_a_scanned_pdf_is_accepted():
    """Many large JPEG pages, as a scanner writes them (Pillow's PDF writer)."""
    from PIL import Image

    pages = [Image.frombytes("RGB", (600, 800), bytes([i * 20 % 256]) * (600 * 800 * 3)) for i in range(5)]
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=150)
    assert pdfcheck.problem(out.getvalue()) is None


def test_a_pdf_that_needs_a_password_is_refused():
    message = pdfcheck.problem(built_pdf(encryption=pikepdf.Encryption(owner="secret", user="open")))
    assert "密码" in message and "不予接收" in message


@pytest.mark.parametrize("data", [
    PLAIN.replace(b"%PDF-1.7\n", b"%PDF-1.7\n\n\n", 1),  # every offset in the table is wrong
    raw_pdf(page_extra=b"/X )"),  # a syntax error qpdf would step over
    raw_pdf(page_extra=b"/X [1 2"),
    b"%PDF-1.7\nnot a pdf at all\n%%EOF\n",
], ids=["broken xref", "stray parenthesis", "unclosed array", "garbage"])
def test_damaged_pdfs_are_refused_rather_than_guessed(data):
    message = pdfcheck.problem(data)
    assert "已损坏或结构异常" in message


def _object_stream_inflating_to(megabytes: int) -> bytes:
    """A small file whose one object stream inflates to ``megabytes`` MB (the catalogue is inside)."""
    import struct

    body = b"2 0 <</Type/Catalog/Pages 3 0 R>>" + b" " * (megabytes * 1024 * 1024)
    packed = zlib.compress(body, 9)
    out = bytearray(b"%PDF-1.7\n")
    offsets = {1: len(out)}
    out += b"1 0 obj\n<</Type/ObjStm/N 1/First 4/Filter/FlateDecode/Length %d>>stream\n" % len(packed) + packed
    out += b"\nendstream\nendobj\n"
    offsets[3] = len(out)
    out += b"3 0 obj\n<</Type/Pages/Kids[4 0 R]/Count 1>>\nendobj\n"
    offsets[4] = len(out)
    out += b"4 0 obj\n<</Type/Page/Parent 3 0 R/MediaBox[0 0 10 10]/Resources<<>>>>\nendobj\n"
    xref = len(out)
    rows = b"".join(struct.pack(">BIH", *row) for row in
                    [(0, 0, 65535), (1, offsets[1], 0), (2, 1, 0), (1, offsets[3], 0), (1, offsets[4], 0), (1, xref, 0)])
    packed_rows = zlib.compress(rows)
    out += (b"5 0 obj\n<</Type/XRef/Size 6/W[1 4 2]/Root 2 0 R/Filter/FlateDecode/Length %d>>stream\n"
            % len(packed_rows) + packed_rows + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref)
    return bytes(out)


def test_an_object_stream_past_the_inflate_cap_is_refused():
    assert pdfcheck.problem(_object_stream_inflating_to(1)) is None
    bomb = _object_stream_inflating_to(pdfcheck.FLATE_MAX_MEMORY // 1024 // 1024 + 1)
    assert len(bomb) < 200_000
    assert "不予接收" in pdfcheck.problem(bomb)


def test_too_many_containers_is_refused(monkeypatch):
    monkeypatch.setattr(pdfcheck, "MAX_ITEMS", 3)
    assert "过于复杂" in pdfcheck.check_in_process(PLAIN)
    monkeypatch.setattr(pdfcheck, "MAX_ITEMS", 10_000)
    monkeypatch.setattr(pdfcheck, "MAX_OBJECTS", 3)
    assert "过于复杂" in pdfcheck.check_in_process(PLAIN)


def test_a_child_that_gives_no_answer_refuses_the_file(monkeypatch):
    """Out of time, killed for memory or crashed: the file is refused, never waved through."""
    monkeypatch.setattr(pdfcheck, "CHILD_TIMEOUT", 0.001)
    assert "过于复杂" in pdfcheck.problem(PLAIN)
    monkeypatch.undo()
    monkeypatch.setattr(sys, "executable", "/bin/false")
    assert "过于复杂" in pdfcheck.problem(PLAIN)


# ---------------------------------------------------------------------------------------------
# through the upload views: nothing stored, nothing versioned, the reason on the page


def _counts(db, tenant_id, *models) -> tuple:
    with tenant_bound(tenant_id):
        counted = [db.session.execute(sa.select(sa.func.count()).select_from(m)).scalar_one() for m in models]
        counted.append(db.session.execute(sa.select(sa.func.count()).select_from(AuditChainLink)
                                          .where(AuditChainLink.tenant_id == tenant_id)).scalar_one())
    return tuple(counted)


def _stored(app, *parts) -> set[str]:
    folder = Path(app.config["HAZARDHUB_STORAGE_PATH"]).joinpath(*parts)
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


@pytest.fixture
def hazard(db, world):
    return make_hazard(db, world.s1, world.users["principal"])


@pytest.fixture
def summary(db, world):
    """The affiliated school's 总结报告 deliverable and its principal."""
    principal = make_user(db, world.affiliated, "principal")
    with tenant_bound(world.a.id):
        campaign = campaign_ops.create_from_template(world.a, 2025, world.users["bureau_admin"])
        item = next(d for d in db.session.execute(sa.select(Deliverable).where(
            Deliverable.campaign_id == campaign.id, Deliverable.unit_id == world.affiliated.id)).unique().scalars()
            if d.spec.name == "总结报告")
    return item, principal


@pytest.mark.parametrize("data", [ESCAPED_JS, OBJECT_STREAM_JS], ids=["escaped name", "object stream"])
def test_evidence_upload_refuses_a_scripted_pdf(app, db, client, world, hazard, data):
    login(client, world.users["principal"])
    before = _counts(db, world.a.id, Attachment, version_class(Attachment))
    on_disk = _stored(app, "evidence", str(world.a.id))
    response = client.submit(f"/hazards/{hazard.id}/attachments",
                             {"file": (io.BytesIO(data), "整改方案.pdf"), "stage": "document", "caption": ""},
                             page=f"/hazards/{hazard.id}", follow_redirects=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "PDF 文件含有：JavaScript 脚本" in page and "不予接收" in page
    assert _counts(db, world.a.id, Attachment, version_class(Attachment)) == before
    assert _stored(app, "evidence", str(world.a.id)) == on_disk


@pytest.mark.parametrize("data", [ESCAPED_JS, OBJECT_STREAM_JS], ids=["escaped name", "object stream"])
def test_campaign_upload_refuses_a_scripted_pdf(app, db, client, world, summary, data):
    item, principal = summary
    login(client, principal)
    models = (DeliverableFile, version_class(DeliverableFile), version_class(Deliverable))
    before = _counts(db, world.a.id, *models)
    on_disk = _stored(app, "evidence", str(world.a.id)), _stored(app, "campaigns", str(world.a.id))
    url = f"/campaigns/deliverables/{item.id}"
    response = client.submit(f"{url}/files", {"file": (io.BytesIO(data), "总结报告.pdf")}, page=url,
                             follow_redirects=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "PDF 文件含有：JavaScript 脚本" in page and "不予接收" in page
    assert _counts(db, world.a.id, *models) == before
    assert (_stored(app, "evidence", str(world.a.id)), _stored(app, "campaigns", str(world.a.id))) == on_disk


# ---------------------------------------------------------------------------------------------
# serving: downloads under a sandbox


def _upload_evidence(db, client, hazard, data: bytes, name: str, stage: str) -> Attachment:
    response = client.submit(f"/hazards/{hazard.id}/attachments",
                             {"file": (io.BytesIO(data), name), "stage": stage, "caption": ""}, page=f"/hazards/{hazard.id}")
    assert response.status_code == 302
    return db.session.execute(sa.select(Attachment).where(Attachment.hazard_id == hazard.id)
                              .order_by(Attachment.id.desc())).scalars().first()


def test_an_accepted_pdf_downloads_under_a_sandbox(app, db, client, world, hazard):
    login(client, world.users["principal"])
    data = built_pdf(_ordinary)
    attachment = _upload_evidence(db, client, hazard, data, "整改方案（终稿）.pdf", "document")
    assert attachment.kind == "pdf"
    response = client.get(f"/attachments/{attachment.id}")
    assert response.status_code == 200 and response.data == data, "kept byte for byte"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E6%95%B4%E6%94%B9%E6%96%B9%E6%A1%88" in disposition and disposition.endswith(".pdf")
    assert response.headers["Content-Security-Policy"].startswith(SANDBOX)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "application/pdf"
    page = client.get(f"/hazards/{hazard.id}").get_data(as_text=True)
    assert f'href="/attachments/{attachment.id}" download' in page and "下载" in page


def test_photos_stay_inline_but_sandboxed(app, db, client, world, hazard):
    from PIL import Image

    login(client, world.users["principal"])
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    photo = _upload_evidence(db, client, hazard, out.getvalue(), "楼梯间.jpg", "before")
    for url in (f"/attachments/{photo.id}", f"/attachments/{photo.id}/thumb"):
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
        assert response.headers["Content-Disposition"].startswith("inline;")
        assert response.headers["Content-Security-Policy"].startswith(SANDBOX)
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_campaign_pdf_and_video_download_under_a_sandbox(app, db, client, world, summary):
    item, principal = summary
    login(client, principal)
    url = f"/campaigns/deliverables/{item.id}"
    video = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 4096
    for data, name in ((PLAIN, "总结报告.pdf"), (video, "总结视频.mp4")):
        assert client.submit(f"{url}/files", {"file": (io.BytesIO(data), name)}, page=url).status_code == 302
    records = list(db.session.execute(sa.select(DeliverableFile).where(DeliverableFile.deliverable_id == item.id)
                                      .order_by(DeliverableFile.id)).scalars())
    assert [r.kind for r in records] == ["pdf", "video"]
    for record, data in zip(records, (PLAIN, video)):
        response = client.get(f"/campaigns/files/{record.id}")
        assert response.status_code == 200 and response.data == data
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert "filename*=UTF-8''%E6%80%BB%E7%BB%93" in response.headers["Content-Disposition"]
        assert response.headers["Content-Security-Policy"].startswith(SANDBOX)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = client.get(url).get_data(as_text=True)
    assert f'href="/campaigns/files/{records[0].id}" download' in page and "点击下载" in page
