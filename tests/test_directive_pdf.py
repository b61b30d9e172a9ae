"""The directive PDF, made by the worker job: Chinese text extractable, a CJK font embedded, A4,
renders to PNG, and the footer carries the content SHA-256 and the audit-chain head."""
from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from hazardhub.directives import operations as ops
from hazardhub.runs.models import ReportRun
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, make_hazard

# poppler-utils is installed by .ci/run; without it these tests fail (a setup error, never a skip)


@pytest.fixture
def directive(db, world):
    principal = world.users["principal"]
    hazards = [make_hazard(db, world.s1, principal, items=["3.1.6"], location="学生宿舍楼一楼楼梯间",
                           description="电动自行车在楼梯间充电，私拉电线")]
    hazards += [make_hazard(db, world.s1, principal, location=f"教学楼{n}层走廊", description=f"疏散指示标志损坏（第{n}处）")
                for n in range(1, 31)]
    with tenant_bound(world.a.id):
        return ops.issue(issuer=world.t1, school=world.s1, actor=world.users["township_supervisor"],
                         hazard_ids=[h.id for h in hazards], requirements="1. 立即停止楼内充电。\n2. 更换疏散指示标志。",
                         signer_name="李督导", working_days=10)


def _run_pdf(app, db, client, world, directive, drain_jobs) -> tuple[ReportRun, Path]:
    login(client, world.users["township_supervisor"])
    url = f"/directives/{directive.id}"
    response = client.submit(f"{url}/pdf", {}, page=url)
    assert response.status_code == 302 and "/runs/" in response.headers["Location"]
    drain_jobs()
    with tenant_bound(world.a.id):
        run = db.session.execute(sa.select(ReportRun).where(ReportRun.kind == "directive_pdf")
                                 .execution_options(populate_existing=True)).scalar_one()
    assert run.status == "finished", run.error
    assert run.params == {"directive_id": directive.id}
    path = Path(app.config["HAZARDHUB_STORAGE_PATH"]) / run.file_path
    return run, path


def test_directive_pdf_has_number_school_font_footer_and_renders(app, db, client, world, directive, drain_jobs,
                                                                  tmp_path):
    run, path = _run_pdf(app, db, client, world, directive, drain_jobs)
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and hashlib.sha256(data).hexdigest() == run.sha256
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True).stdout
    assert directive.number in text
    assert "一镇第一小学" in text and "一镇中心学校" in text and "隐患整改通知书" in text
    compact = re.sub(r"\s+", "", text)
    assert "回执" in compact and "学生宿舍楼" in text and "3.1.6" in text  # cells wrap: short pieces only
    assert run.chain_head in compact and "审计链头" in compact
    content_hash = ops_content_hash(db, world, directive)
    assert content_hash in compact and "内容摘要SHA-256" in compact
    assert re.search(r"第1页/共\d页", compact)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True).stdout
    assert re.search(r"WenQuanYi\S*\s+TrueType.*\byes\b", fonts), fonts
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, check=True, text=True).stdout
    assert "595.276 x 841.89 pts (A4)" in info
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 2  # 31 hazards: the table breaks across pages with its header repeated
    assert text.count("违反条款") >= 2
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(path), str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    assert png.stat().st_size > 5000


def ops_content_hash(db, world, directive) -> str:
    from hazardhub.pdf import canonical_sha256

    with tenant_bound(world.a.id):
        db.session.refresh(directive)
        return canonical_sha256(ops.pdf_data(directive))


def test_directive_page_links_the_finished_pdf_and_others_cannot_fetch_it(app, db, client, world, directive,
                                                                          drain_jobs):
    run, _path = _run_pdf(app, db, client, world, directive, drain_jobs)
    page = client.get(f"/directives/{directive.id}").get_data(as_text=True)
    assert f"/runs/{run.id}/download" in page
    assert client.get(f"/runs/{run.id}/download").status_code == 200
    login(client, world.b_admin)
    assert client.get(f"/runs/{run.id}/download").status_code == 404


def test_canonical_hash_is_stable_and_order_free():
    from datetime import date

    from hazardhub.pdf import canonical_json, canonical_sha256

    a = {"b": [1, 2], "a": date(2026, 1, 2), "c": "中文"}
    b = {"c": "中文", "a": date(2026, 1, 2), "b": [1, 2]}
    assert canonical_sha256(a) == canonical_sha256(b)
    assert canonical_json(a) == '{"a":"2026-01-02","b":[1,2],"c":"中文"}'


def test_without_an_embeddable_font_the_run_fails_with_a_chinese_error(app, db, client, world, directive,
                                                                       drain_jobs, monkeypatch):
    monkeypatch.setitem(app.config, "HAZARDHUB_PDF_FONT", "/nonexistent/wqy-microhei.ttc")
    login(client, world.users["township_supervisor"])
    url = f"/directives/{directive.id}"
    client.submit(f"{url}/pdf", {}, page=url)
    try:
        drain_jobs()
    except Exception:  # noqa: BLE001 - with real Redis the burst worker records the failure itself
        pass
    with tenant_bound(world.a.id):
        run = db.session.execute(sa.select(ReportRun).where(ReportRun.kind == "directive_pdf")
                                 .execution_options(populate_existing=True)).scalar_one()
    assert run.status == "failed" and "未找到可嵌入的中文字体" in run.error and run.file_path is None
    assert "重试" in client.get(f"/runs/{run.id}").get_data(as_text=True)
