"""The channel pages in the seeded demo, in a real browser: the bureau admin reaches the settings,
the outbox and the log from the 管理 menu on a phone, nothing is wider than the screen, the
switched-off robot's key shows only as set; a principal reaches their preferences from the
personal menu."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import DESKTOP, PHONE, assert_fits_width, demo_login, login, nav, open_nav

pytestmark = pytest.mark.browser

JIANAN = "建安区教育体育局"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_bureau_admin_reaches_channels_outbox_and_log(new_page, live_demo, viewport):
    page = new_page(viewport)
    login(page, demo_login(live_demo[1], "bureau_admin", JIANAN))
    nav(page, "消息渠道")
    expect(page.get_by_role("heading", name="消息渠道设置")).to_be_visible()
    expect(page.locator("main")).to_contain_text("密钥：已设置 ••••••")
    expect(page.locator("main")).not_to_contain_text("693a91f6")
    assert_fits_width(page)
    page.locator("main").get_by_role("link", name="发件箱").first.click()
    expect(page.get_by_role("heading", name="发件箱")).to_be_visible()
    expect(page.locator("article.card").first).to_contain_text("已入发件箱")
    expect(page.locator("main")).to_contain_text(re.compile(r"【群通报】.*辖区逾期隐患"))
    assert_fits_width(page)
    page.locator("main").get_by_role("link", name="投递记录").click()
    page.get_by_role("link", name="发送失败").click()
    expect(page.locator("main")).to_contain_text("errcode 93000")
    assert_fits_width(page)


def test_principal_sets_preferences_from_the_personal_menu_on_a_phone(new_page, live_demo):
    page = new_page(PHONE)
    login(page, demo_login(live_demo[1], "principal", JIANAN))
    open_nav(page)
    page.locator("#mainnav").get_by_role("button", name=re.compile("个人菜单")).click()
    page.locator("#mainnav").get_by_role("link", name="消息接收设置").click()
    expect(page.get_by_role("heading", name="消息接收设置")).to_be_visible()
    assert_fits_width(page)
    page.get_by_label("接收每日待办汇总（工作日）").uncheck()
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".alert-success")).to_contain_text("消息接收设置已保存")
    expect(page.get_by_label("接收每日待办汇总（工作日）")).not_to_be_checked()
