"""End-to-end in chromium: the safety section works the accountability list (追责线索) on a
desktop — from the home page card to a discovery-gap finding, its evidence and a handling note —
and a principal on a phone opens a notification from the navbar badge and lands on the record."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import DESKTOP, PHONE, assert_fits_width
from tests.test_browser_inspections import home_card, login, user

pytestmark = pytest.mark.browser


def test_safety_section_handles_a_discovery_gap(new_page, live_demo):
    page = new_page(DESKTOP)
    login(page, user(live_demo, "demo_ja_admin"))
    home_card(page, "追责线索")
    expect(page.get_by_role("heading", name="追责线索")).to_be_visible()
    page.get_by_label("线索类型").select_option(label="重大隐患自查未发现")
    page.get_by_role("button", name="筛选").click()
    rows = page.locator("tbody tr")
    expect(rows.first).to_contain_text("重大隐患自查未发现")
    assert rows.count() >= 3, "the demo has several units whose signed self-inspection missed a major hazard"
    gap = rows.filter(has_text="五女店镇九年一贯制学校")
    gap.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("重大隐患自查未发现")
    evidence = page.locator(".list-group a")
    expect(evidence.filter(has_text="隐患")).not_to_have_count(0)
    expect(evidence.filter(has_text="学校自查（未记录该隐患）")).to_have_count(1)
    # the evidence opens: the self-inspection that was signed without the hazard
    with page.expect_navigation():
        evidence.filter(has_text="学校自查（未记录该隐患）").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("校长带队月度自查")
    page.go_back()
    # an empty note is refused in Chinese and changes nothing
    page.get_by_label(re.compile("处理意见")).fill("   ")
    page.get_by_role("button", name="标记为已处理").click()
    expect(page.get_by_role("alert").filter(has_text="请填写处理意见")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("待处理")
    page.get_by_label(re.compile("处理意见")).fill("已约谈校长，责令补装火灾报警系统，月底前复查。")
    page.get_by_role("button", name="标记为已处理").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("已处理")
    expect(page.get_by_text("已约谈校长，责令补装火灾报警系统")).to_be_visible()
    page.get_by_role("link", name="变更历史", exact=True).click()
    expect(page.get_by_text("追责线索处理")).to_be_visible()


def test_principal_opens_a_notification_on_a_phone(new_page, live_demo):
    page = new_page(PHONE)
    login(page, user(live_demo, "demo_ja_principal"))
    page.get_by_role("button", name="菜单").click()
    badge = page.locator(".navbar a", has_text="通知")
    expect(badge.locator(".badge")).to_have_text(re.compile(r"^\d+$"))
    badge.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("通知")
    assert_fits_width(page)
    receipt = page.locator(".list-group form button").filter(has_text="收到整改指令")
    expect(receipt.first).to_be_visible()
    signoff = page.locator(".list-group form button").filter(has_text="待校长签字")
    expect(signoff).to_have_count(1)
    signoff.click()
    expect(page).to_have_url(re.compile(r"/inspections/\d+"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("校长带队月度自查")
