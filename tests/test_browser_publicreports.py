"""End-to-end 随手拍 on a phone, starting from the printed poster (issue #17).

The safety officer of 将官池镇第一小学 makes a code for a new place and downloads its poster; the
test renders the poster PDF (pdftoppm) and decodes its QR code (OpenCV) as a phone camera would,
opens the address in a fresh context without login, reports with a photo and gets a receipt; the
school turns the report into a ledger hazard; the reporter's status page shows the hazard's number
and, after 销号, 已整改 with the after-photo. ``HAZARDHUB_SHOTS_DIR`` keeps screenshots.
"""
from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.fixtures.browser import PHONE, login

pytestmark = pytest.mark.browser

SLOW = 20_000


def user(live_demo, username: str) -> dict:
    return next(row for row in live_demo[1] if row["username"] == username)


def shot(page: Page, name: str) -> None:
    folder = os.environ.get("HAZARDHUB_SHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"publicreports-{name}.png"), full_page=True)


def decode_poster(pdf: Path) -> str:
    import cv2

    subprocess.run(["pdftoppm", "-png", "-r", "150", "-singlefile", str(pdf), str(pdf.with_suffix(""))], check=True)
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(cv2.imread(str(pdf.with_suffix(".png"))))
    return text


def photo(tmp_path: Path, name: str, colour) -> Path:
    path = tmp_path / name
    Image.new("RGB", (640, 480), colour).save(path, format="JPEG")
    return path


def test_from_the_poster_to_a_rectified_hazard_on_a_phone(new_page, live_demo, tmp_path):
    base_url = live_demo[0]
    place = f"操场{uuid.uuid4().hex[:4]}"
    # -- the school makes a code for a place and downloads its poster
    safety = new_page(PHONE)
    login(safety, user(live_demo, "demo_ja_safety"))
    safety.locator("main a.card").filter(has=safety.get_by_role("heading", name="随手拍", exact=True)).click()
    safety.get_by_role("link", name=re.compile("二维码与海报")).first.click()
    safety.get_by_label(re.compile("^地点")).fill(place)
    safety.get_by_role("button", name="生成二维码").click()
    expect(safety.get_by_role("alert").filter(has_text="二维码已生成")).to_be_visible(timeout=SLOW)
    item = safety.locator(".list-group-item").filter(has_text=place)
    with safety.expect_download() as download:
        item.get_by_role("link", name="下载海报 PDF").click()
    poster = tmp_path / "poster.pdf"
    download.value.save_as(poster)
    url = decode_poster(poster)
    assert re.fullmatch(re.escape(base_url) + r"/p/[A-Za-z0-9_-]{30,}", url), url

    # -- a parent scans it: no login, the place prefilled, a photo, a receipt
    parent = new_page(PHONE)
    parent.goto(url)
    expect(parent.get_by_label("在哪里")).to_have_value(place)
    expect(parent.locator("header h1")).to_have_text(re.compile("将官池镇第一小学"))
    expect(parent.get_by_text("不要拍摄学生面部")).to_be_visible()
    shot(parent, "form")
    description = f"{place}东侧篮球架底座锈断，架子向跑道倾斜。"
    parent.get_by_label("问题类别").select_option("校舍设施")
    parent.get_by_label("看到了什么").fill(description)
    parent.set_input_files("#photos", photo(tmp_path, "篮球架.jpg", (150, 90, 60)))
    parent.get_by_role("button", name="提交").click()
    expect(parent.get_by_role("status")).to_contain_text("学校已收到", timeout=SLOW)
    receipt = parent.locator("#receipt").inner_text().strip()
    assert re.fullmatch(r"[2-9A-Z]{12}", receipt)
    expect(parent.locator("#stage")).to_have_text("已受理")
    status_url = f"{base_url}/p/r/{receipt}"
    shot(parent, "status-received")

    # -- the school triages it into a hazard
    safety.goto("/publicreports/?status=new")
    safety.locator("a.card").filter(has_text=receipt).click()
    expect(safety.locator("#report-status")).to_have_text(re.compile("已受理"))
    expect(safety.get_by_label("隐患描述")).to_have_value(description)
    safety.get_by_role("button", name="登记为隐患").click()
    expect(safety.get_by_role("alert").filter(has_text="已登记为隐患")).to_be_visible(timeout=SLOW)
    number = re.search(r"已登记为隐患 (\S+-\d{4}-\d{6})", safety.get_by_role("alert").first.inner_text()).group(1)
    expect(safety.locator("#evidence")).to_contain_text("整改前照片（1）")
    hazard_url = safety.url

    parent.goto(status_url)
    expect(parent.locator("#stage")).to_have_text("已登记为隐患")
    expect(parent.locator("#hazard-number")).to_have_text(number)

    # -- rectified with an after-photo, accepted by the principal: 销号
    safety.get_by_role("button", name="开始整改").click()
    expect(safety.get_by_role("alert").filter(has_text="已开始整改")).to_be_visible(timeout=SLOW)
    upload = safety.locator("#evidence form[enctype='multipart/form-data']")
    upload.locator("input[type=file][name=file]").set_input_files(photo(tmp_path, "整改后.jpg", (60, 150, 90)))
    upload.get_by_label("附件类别").select_option(label="整改后照片")
    upload.get_by_role("button", name="上传", exact=True).click()
    expect(safety.locator("#evidence")).to_contain_text("整改后照片（1）", timeout=SLOW)
    safety.get_by_label("整改情况").fill("已拆除锈断篮球架，新架已安装并固定。")
    safety.get_by_role("button", name="报告整改完成，申请验收").click()
    expect(safety.get_by_role("alert").filter(has_text="已报告整改完成")).to_be_visible(timeout=SLOW)
    principal = new_page(PHONE)
    login(principal, user(live_demo, "demo_ja_principal"))
    principal.goto(hazard_url)
    principal.get_by_label("验收意见").fill("现场复查合格。")
    principal.get_by_role("button", name="验收合格，销号").click()
    expect(principal.get_by_role("alert").filter(has_text="已销号")).to_be_visible(timeout=SLOW)

    parent.goto(status_url)
    expect(parent.locator("#stage")).to_have_text("已整改")
    expect(parent.locator("#hazard-number")).to_have_text(number)
    after = parent.locator(".photos img")
    expect(after).to_have_count(1)
    parent.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=after.element_handle(), timeout=SLOW)
    assert parent.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(parent, "status-rectified")
