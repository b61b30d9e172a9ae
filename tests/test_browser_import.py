"""End-to-end (#14): the value-mapping step of a messy ledger, on a phone and on a desktop.

A school's safety officer uploads a ledger with a title block, a 填报单位 line, a two-level merged
header, a 合计 row and everyday words (消防安全, 已整改, 较大, 体育…); the page shows the detected
table, suggests a value for each word, asks for the one it cannot guess (体育), takes a constant for
the missing 排查人 column, and imports. ``HAZARDHUB_SHOTS_DIR=/tmp/shots`` keeps screenshots.
"""
from __future__ import annotations

import io
import os
import re
import uuid
from pathlib import Path

import pytest
from openpyxl import Workbook
from playwright.sync_api import expect

from tests.fixtures.browser import DESKTOP, PHONE, assert_fits_width
from tests.test_browser_hazards import SLOW, login, user

pytestmark = pytest.mark.browser


def messy(tmp_path: Path, tag: str) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "春季台账"
    ws.append(["将官池镇第一小学2025年安全隐患排查治理台账"])
    ws.append(["填报单位：将官池镇第一小学", None, None, None, "填报日期：2025年6月30日"])
    ws.append(["序号", "排查日期", "隐患部位", "隐患描述", "隐患类别", "隐患等级", "整改情况", None, None, "完成日期"])
    ws.append([None, None, None, None, None, None, "措施", "时限", "完成情况", None])
    ws.merge_cells("G3:I3")
    ws.append([1, "2025-04-10", f"教学楼{tag}", "灭火器过期", "消防安全", "较大", "更换", "立即", "已整改", "2025-04-11"])
    ws.append([2, "2025-04-12", f"操场{tag}", "单杠松动", f"体育{tag}", "一般", "加固", "一周内", "整改中"])
    ws.append(["合计", "2项"])
    path = tmp_path / f"{tag}-台账.xlsx"
    buffer = io.BytesIO()
    wb.save(buffer)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_value_mapping_step(new_page, live_demo, tmp_path, viewport):
    page = new_page(viewport=viewport)
    shots = os.environ.get("HAZARDHUB_SHOTS_DIR")
    tag = uuid.uuid4().hex[:6]
    login(page, user(live_demo, "demo_ja_safety"))
    page.goto("/hazards/import")
    page.get_by_label("隐患台账文件").set_input_files(str(messy(tmp_path, tag)))
    page.get_by_role("button", name="上传，下一步").click()
    expect(page.get_by_role("heading", name="值的对应")).to_be_visible(timeout=SLOW)
    # the detected table: title block, two-level header joined, the 合计 row skipped
    expect(page.locator(".table-title")).to_have_text("将官池镇第一小学2025年安全隐患排查治理台账")
    expect(page.locator(".import-notes")).to_contain_text("第 7 行是合计行")
    expect(page.get_by_text("整改情况/完成情况", exact=True)).to_be_visible()
    # suggestions from the synonym table, one value to choose
    category = page.locator('.value-map[data-field="category"]')
    expect(category.get_by_label("消防安全")).to_have_value("校园消防")
    expect(page.locator('.value-map[data-field="status"]').get_by_label("已整改")).to_have_value("closed")
    expect(page.locator('.value-map[data-field="level"]').get_by_label("较大")).to_have_value("general")
    expect(category.locator(".badge", has_text="需选择")).to_have_count(1)
    # (a value of its own per run: the choice is remembered for the tenant, the next run would find it)
    category.get_by_label(f"体育{tag}").select_option("设备设施")
    page.get_by_label("表中无“排查人”时统一填写").fill("冯安全")
    if viewport == PHONE:
        assert_fits_width(page)  # once the stylesheets are in (a layout read before them has no wrapping)
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{shots}/import-values-{'phone' if viewport == PHONE else 'desktop'}.png", full_page=True)
    page.get_by_role("button", name="检查并导入").click()
    expect(page.get_by_role("heading", name="导入隐患台账：完成")).to_be_visible(timeout=SLOW)
    expect(page.locator(".imported-numbers li")).to_have_count(2)
    if shots:
        page.screenshot(path=f"{shots}/import-done-{'phone' if viewport == PHONE else 'desktop'}.png", full_page=True)
    expect(page.get_by_text(re.compile(r"^已向“.+”登记 2 条隐患"))).to_be_visible()
