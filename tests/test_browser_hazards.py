"""End-to-end: a major hazard's whole life in Debian's chromium, through the real forms.

A principal registers a hazard on a phone, citing a 直接判定 item (3.1.6), is stopped once for the
missing 五落实 plan, completes it and uploads a 整改前照片; the safety officer rectifies, the township
supervisor rejects once and then accepts (销号); the bureau sees it on 挂牌督办 while it is open, the
history names every step and person, and a city viewer can read it but act on nothing.

``test_hazard_page_tour`` opens every hazard/standards page type at desktop and phone size and
checks nothing is wider than the phone; ``HAZARDHUB_SHOTS_DIR=/tmp/shots`` keeps screenshots.
The tests share the live demo (``live_demo``); each one registers the hazards it changes.
"""
from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from hazardhub import clock
from tests.fixtures.browser import DESKTOP, PHONE, nav

pytestmark = pytest.mark.browser

SCHOOL = "将官池镇第一小学（演示）"
NAMES = {
    "demo_ja_principal": "将官池镇第一小学·郑校长",
    "demo_ja_safety": "将官池镇第一小学·冯安全",
    "demo_ja_township": "将官池镇中心学校·吴建华",
}
#: bounded waits (ms) for page loads after a form post (thumbnails, redirects)
SLOW = 20_000

WIDEST = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 0.5 && !e.closest('.table-responsive *'))
    .map(e => e.tagName.toLowerCase() + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().replace(/\\s+/g, '.') : ''));
  return [document.documentElement.scrollWidth - width, wide.slice(0, 8)];
}"""


# ---------------------------------------------------------------------------------------------
# helpers


def user(live_demo, username: str) -> dict:
    return next(row for row in live_demo[1] if row["username"] == username)


def login(page: Page, account: dict) -> None:
    """Log in through the real form and land on the home page."""
    page.goto("/login")
    page.get_by_label("用户名").fill(account["username"])
    page.get_by_label("密码").fill(account["password"])
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name=re.compile("^您好"))).to_be_visible()




def home_card(page: Page, title: str) -> None:
    """Click the home page card titled ``title``."""
    page.locator("main a.card").filter(has=page.get_by_role("heading", name=title, exact=True)).click()


def png(tmp_path: Path, name: str = "整改前-楼梯间.png") -> Path:
    path = tmp_path / name
    image = Image.new("RGB", (160, 120), (200, 60, 40))
    for x in range(0, 160, 20):
        for y in range(120):
            image.putpixel((x, y), (255, 255, 255))
    image.save(path, format="PNG")
    return path


def alert(page: Page, text: str):
    """The flashed message containing ``text``."""
    return page.get_by_role("alert").filter(has_text=text)


def detail(page: Page, term: str):
    return page.locator(f"main dl dt:text-is('{term}') + dd")


def status_badge(page: Page):
    return page.locator("h1 .badge").filter(has_text=re.compile("^(已登记|整改中|待验收|已销号|已作废)$"))


def fill_plan(page: Page, deadline) -> None:
    page.get_by_label("整改责任人").fill("分管安全副校长 刘强")
    page.get_by_label("整改措施").fill("立即清理楼梯间电动自行车，拆除飞线；在室外建设集中充电棚。")
    page.get_by_label("整改资金（元）").fill("12000")
    page.get_by_label("整改期限", exact=True).fill(deadline.isoformat())
    page.get_by_label("临时管控措施").fill("楼梯间设置禁停标识，宿管每晚巡查两次。")
    page.get_by_label("应急预案").fill("发现起火立即启动宿舍火灾疏散预案，并报告镇中心学校。")


def start_register(page: Page, location: str, description: str) -> None:
    """From the home page to a filled 登记隐患 form citing 3.1.6 (plan fields left empty)."""
    home_card(page, "登记隐患")
    expect(page.get_by_role("heading", name="登记隐患")).to_be_visible()
    expect(page.get_by_label("学校（单位）")).to_have_value(re.compile(r"^\d+$"))
    expect(page.get_by_label("学校（单位）").locator("option:checked")).to_have_text(SCHOOL)
    page.get_by_label("隐患部位").fill(location)
    page.get_by_label("隐患描述").fill(description)
    notice = page.locator("#major-notice")
    expect(notice).to_be_hidden()
    item = page.get_by_label(re.compile(r"^3\.1\.6\b"))
    expect(item).to_have_count(1)
    item.check()
    expect(item).to_be_checked()
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("重大事故隐患")
    expect(notice).to_contain_text("五落实")
    expect(page.get_by_label("隐患等级（人工判定）")).to_have_value("major")


def register_major(page: Page, location: str) -> str:
    """Register a complete major hazard from the home page; return its page URL."""
    start_register(page, location, "楼梯间停放电动自行车 2 辆，私拉电线充电。")
    fill_plan(page, clock.today() + timedelta(days=20))
    page.get_by_role("button", name="登记", exact=True).click()
    expect(page).to_have_url(re.compile(r"/hazards/\d+$"), timeout=SLOW)
    expect(alert(page, "已登记隐患")).to_be_visible()
    return page.url


def upload_before_photo(page: Page, photo: Path, caption: str) -> None:
    panel = page.locator("#evidence")
    upload = panel.locator("form[enctype='multipart/form-data']")
    upload.locator("input[type=file][name=file]").set_input_files(photo)
    expect(upload.get_by_label("附件类别")).to_have_value("before")
    upload.get_by_label("附件类别").select_option(label="整改前照片")
    upload.get_by_label("说明（选填）").fill(caption)
    upload.get_by_role("button", name="上传", exact=True).click()
    expect(alert(page, f"已上传整改前照片：{photo.name}")).to_be_visible(timeout=SLOW)
    expect(panel).to_contain_text("整改前照片（1）")
    thumb = panel.locator(f"img[alt='{caption}']")
    expect(thumb).to_be_visible()
    thumb.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle(),
                           timeout=SLOW)
    assert thumb.evaluate("img => img.naturalWidth") > 0


def history_card(page: Page, reason: str):
    return page.locator("main .card").filter(has=page.locator("p", has_text=f"原因：{reason}"))


def change_row(card, label: str):
    return card.locator("tbody tr").filter(has=card.page.locator(f"td:text-is('{label}')"))


def assert_fits_width(page: Page) -> None:
    overflow, culprits = page.evaluate(WIDEST)
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen: {culprits}"


# ---------------------------------------------------------------------------------------------
# the whole life of a major hazard


def test_major_hazard_from_phone_registration_to_closing(new_page, live_demo, tmp_path):
    token = uuid.uuid4().hex[:6]
    location = f"学生宿舍楼二楼楼梯间（浏览器测试 {token}）"
    reject_reason = f"复查发现楼梯间仍有一辆电动车未清理（{token}）"

    # -- the principal registers it on a phone, from the home page
    principal = new_page(PHONE)
    login(principal, user(live_demo, "demo_ja_principal"))
    start_register(principal, location, "楼梯间停放电动自行车 3 辆，从宿管室私拉电线飞线充电。")

    # first without the plan: refused, the 五落实 named, the form kept
    principal.get_by_role("button", name="登记", exact=True).click()
    expect(alert(principal, "五落实")).to_be_visible(timeout=SLOW)
    expect(alert(principal, "五落实")).to_contain_text("重大事故隐患必须落实")
    expect(principal).to_have_url(re.compile(r"/hazards/new"))
    expect(principal.locator(".invalid-feedback").filter(has_text="重大事故隐患必须填写此项")).not_to_have_count(0)
    expect(principal.get_by_label(re.compile(r"^3\.1\.6\b"))).to_be_checked()
    expect(principal.locator("#major-notice")).to_be_visible()
    expect(principal.get_by_label("隐患部位")).to_have_value(location)

    # then with the plan
    fill_plan(principal, clock.today() + timedelta(days=30))
    principal.get_by_role("button", name="登记", exact=True).click()
    expect(principal).to_have_url(re.compile(r"/hazards/\d+$"), timeout=SLOW)
    heading = principal.locator("main h1")
    expect(heading).to_contain_text("重大")
    expect(heading).to_contain_text("挂牌督办")
    expect(status_badge(principal)).to_have_text("已登记")
    expect(alert(principal, "已列入挂牌督办")).to_be_visible()
    expect(detail(principal, "判定")).to_contain_text("直接判定")
    expect(detail(principal, "判定")).to_contain_text("3.1.6")
    expect(detail(principal, "隐患部位")).to_have_text(location)
    number = re.search(r"隐患\s+(\S+-\d{4}-\d{6})", heading.inner_text()).group(1)
    hazard_url = principal.url

    # a 整改前照片 through the evidence panel's file input; its thumbnail shows
    upload_before_photo(principal, png(tmp_path), f"楼梯间整改前 {token}")

    # -- the safety officer starts and reports the rectification
    safety = new_page(PHONE)
    login(safety, user(live_demo, "demo_ja_safety"))
    safety.goto(hazard_url)
    safety.get_by_role("button", name="开始整改").click()
    expect(alert(safety, "已开始整改")).to_be_visible(timeout=SLOW)
    expect(status_badge(safety)).to_have_text("整改中")
    safety.get_by_label("整改情况").fill("已清理楼梯间电动车，拆除飞线，室外充电棚投入使用。")
    safety.get_by_role("button", name="报告整改完成，申请验收").click()
    expect(alert(safety, "已报告整改完成")).to_be_visible(timeout=SLOW)
    expect(status_badge(safety)).to_have_text("待验收")
    expect(safety.get_by_role("button", name=re.compile("验收合格"))).to_have_count(0)

    # -- the township supervisor rejects once
    township = new_page(PHONE)
    login(township, user(live_demo, "demo_ja_township"))
    township.goto(hazard_url)
    expect(township.get_by_role("button", name="验收合格，销号")).to_be_visible()
    township.get_by_label("验收不通过的原因").fill(reject_reason)
    township.get_by_role("button", name="验收不通过，退回整改").click()
    expect(alert(township, "验收不通过，已退回整改")).to_be_visible(timeout=SLOW)
    expect(status_badge(township)).to_have_text("整改中")
    expect(township.locator("main .alert-warning")).to_contain_text(f"上次验收不通过：{reject_reason}")

    # -- the safety officer reports again
    safety.reload()
    expect(safety.locator("main .alert-warning")).to_contain_text(reject_reason)
    expect(safety.get_by_role("button", name="开始整改")).to_have_count(0)
    safety.get_by_label("整改情况").fill("剩余一辆电动车已移出，楼梯间清空，加装禁停标识。")
    safety.get_by_role("button", name="报告整改完成，申请验收").click()
    expect(alert(safety, "已报告整改完成")).to_be_visible(timeout=SLOW)
    expect(status_badge(safety)).to_have_text("待验收")

    # -- while it is open the bureau sees it on 挂牌督办 (desktop)
    admin = new_page(DESKTOP)
    login(admin, user(live_demo, "demo_ja_admin"))
    nav(admin, "挂牌督办")
    expect(admin.get_by_role("heading", name="重大事故隐患挂牌督办")).to_be_visible()
    listed_row = admin.locator("main tbody tr").filter(has_text=number)
    expect(listed_row).to_have_count(1)
    expect(listed_row).to_contain_text(SCHOOL)
    expect(listed_row).to_contain_text(location)
    expect(listed_row).to_contain_text("待验收")

    # a city viewer reads the open hazard but has nothing to act on
    viewer = new_page(PHONE)
    login(viewer, user(live_demo, "demo_city_viewer"))
    viewer.goto(hazard_url)
    expect(viewer.locator("main h1")).to_contain_text(number)
    expect(status_badge(viewer)).to_have_text("待验收")
    expect(viewer.locator("main form")).to_have_count(0)
    expect(viewer.get_by_text("当前没有您可以办理的事项")).to_be_visible()

    # -- the township supervisor accepts: 销号
    township.reload()
    township.get_by_label("验收意见").fill("现场复查：楼梯间已清空，充电棚符合要求，同意销号。")
    township.get_by_role("button", name="验收合格，销号").click()
    expect(alert(township, "验收合格，已销号")).to_be_visible(timeout=SLOW)
    expect(status_badge(township)).to_have_text("已销号")
    expect(detail(township, "销号日期")).to_have_text(clock.today().isoformat())
    expect(detail(township, "验收")).to_contain_text(NAMES["demo_ja_township"])
    # nothing left to handle but 作废 (a wrong entry), no uploads on a closed hazard
    expect(township.locator("main form:not([action$='/void'])")).to_have_count(0)
    expect(township.locator("#evidence")).to_contain_text("不能再上传")

    # closed: off the 挂牌督办 list
    admin.reload()
    expect(admin.locator("main tbody tr").filter(has_text=number)).to_have_count(0)

    # -- the full record: every step, with who did it
    township.get_by_role("link", name="全部记录").click()
    expect(township.get_by_role("heading", name=f"隐患 {number} 的全部记录")).to_be_visible()
    registered = history_card(township, f"登记隐患 {number}")
    expect(registered).to_have_count(1)
    expect(registered).to_contain_text(f"操作人：{NAMES['demo_ja_principal']}")
    expect(change_row(registered, "状态").locator("td").nth(2)).to_have_text("已登记")
    expect(change_row(registered, "隐患等级").locator("td").nth(2)).to_have_text("重大")

    started = history_card(township, "开始整改")
    expect(started).to_have_count(1)
    expect(started).to_contain_text(f"操作人：{NAMES['demo_ja_safety']}")
    expect(change_row(started, "状态").locator("td")).to_have_text(["状态", "已登记", "整改中"])

    reports = history_card(township, "报告整改完成，申请验收")
    expect(reports).to_have_count(2)
    for i in range(2):
        expect(reports.nth(i)).to_contain_text(f"操作人：{NAMES['demo_ja_safety']}")
        expect(change_row(reports.nth(i), "状态").locator("td")).to_have_text(["状态", "整改中", "待验收"])

    rejected = history_card(township, f"验收不通过：{reject_reason}")
    expect(rejected).to_have_count(1)
    expect(rejected).to_contain_text(f"操作人：{NAMES['demo_ja_township']}")
    expect(change_row(rejected, "状态").locator("td")).to_have_text(["状态", "待验收", "整改中"])
    expect(change_row(rejected, "验收不通过原因").locator("td").nth(2)).to_have_text(reject_reason)

    closed = history_card(township, "验收合格，销号")
    expect(closed).to_have_count(1)
    expect(closed).to_contain_text(f"操作人：{NAMES['demo_ja_township']}")
    expect(change_row(closed, "状态").locator("td")).to_have_text(["状态", "待验收", "已销号"])
    expect(change_row(closed, "验收人").locator("td").nth(2)).to_have_text(NAMES["demo_ja_township"])

    # newest first: 销号 above 登记
    cards = township.locator("main .card")
    first, last = cards.first.inner_text(), cards.last.inner_text()
    assert "验收合格，销号" in first and f"登记隐患 {number}" in last
    assert_fits_width(township)

    # -- finally the city viewer: readable, closed, nothing to act on
    viewer.reload()
    expect(viewer.locator("main h1")).to_contain_text(number)
    expect(status_badge(viewer)).to_have_text("已销号")
    expect(detail(viewer, "隐患部位")).to_have_text(location)
    expect(viewer.locator("#evidence img")).to_have_count(1)
    expect(viewer.locator("main form")).to_have_count(0)
    for name in ("修改", "开始整改", "验收合格，销号", "验收不通过，退回整改", "上传"):
        expect(viewer.get_by_role("button", name=name, exact=True)).to_have_count(0)
        expect(viewer.get_by_role("link", name=name, exact=True)).to_have_count(0)
    expect(viewer.get_by_text("当前没有您可以办理的事项")).to_be_visible()
    assert_fits_width(viewer)


# ---------------------------------------------------------------------------------------------
# every hazard/standards page type, desktop and phone: renders with Chinese glyphs, nothing wider
# than the phone; screenshots kept when HAZARDHUB_SHOTS_DIR is set


class Tour:
    def __init__(self, new_page, live_demo, viewport: dict, label: str):
        self.new_page = new_page
        self.live_demo = live_demo
        self.viewport = viewport
        self.label = label
        folder = os.environ.get("HAZARDHUB_SHOTS_DIR")
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def page_as(self, username: str) -> Page:
        page = self.new_page(self.viewport)
        login(page, user(self.live_demo, username))
        return page

    def shot(self, page: Page, name: str) -> None:
        page.wait_for_load_state("load")
        assert page.evaluate("() => document.fonts.check('16px sans-serif', '隐患排查治理')")
        if self.viewport["width"] < 576:
            assert_fits_width(page)
        if self.folder:
            page.screenshot(path=str(self.folder / f"hazards-{name}-{self.label}.png"), full_page=True)


@pytest.mark.parametrize("viewport,label", [(DESKTOP, "desktop"), (PHONE, "phone")], ids=["desktop", "phone"])
def test_hazard_page_tour(new_page, live_demo, tmp_path, viewport, label):
    tour = Tour(new_page, live_demo, viewport, label)

    # the bureau: ledger, overdue, 挂牌督办
    page = tour.page_as("demo_ja_admin")
    nav(page, "隐患台账")
    expect(page.get_by_role("heading", name="隐患排查治理台账")).to_be_visible()
    expect(page.locator("table.ledger tbody tr")).not_to_have_count(0)
    tour.shot(page, "ledger")
    page.locator("main a.card").filter(has_text="逾期未整改").click()
    expect(page).to_have_url(re.compile(r"status=overdue"))
    expect(page.locator("table.ledger tbody tr").first.locator(".badge", has_text="逾期")).to_be_visible()
    tour.shot(page, "ledger-overdue")
    nav(page, "挂牌督办")
    expect(page.get_by_role("heading", name="重大事故隐患挂牌督办")).to_be_visible()
    tour.shot(page, "listed")

    # the school: the register form, a major hazard with a photo, its history, the import page
    page = tour.page_as("demo_ja_principal")
    home_card(page, "登记隐患")
    expect(page.get_by_role("heading", name="登记隐患")).to_be_visible()
    tour.shot(page, "register")
    item = page.get_by_label(re.compile(r"^3\.1\.6\b"))
    item.check()
    expect(page.locator("#major-notice")).to_be_visible()
    expect(page.locator("#cite-summary")).to_have_text("已勾选：3.1.6")
    tour.shot(page, "register-major")
    page.goto("/")
    register_major(page, f"教学楼一楼楼梯间（页面巡检 {label}）")
    upload_before_photo(page, png(tmp_path, "整改前.png"), "一楼楼梯间整改前")
    tour.shot(page, "hazard-major")
    page.get_by_role("link", name="全部记录").click()
    expect(page.get_by_role("heading", name=re.compile("的全部记录$"))).to_be_visible()
    tour.shot(page, "hazard-history")
    nav(page, "隐患台账")
    page.get_by_role("link", name="导入台账").click()
    expect(page.get_by_role("heading", name=re.compile("导入隐患台账"))).to_be_visible()
    tour.shot(page, "import")

    # the catalogue, and a group's settings as the city administrator
    page = tour.page_as("demo_city_admin")
    nav(page, "判定标准")
    expect(page.get_by_role("heading", name="重大事故隐患判定标准目录")).to_be_visible()
    tour.shot(page, "standards")
    page.get_by_role("link", name="设置判定方式/阈值").first.click()
    expect(page.get_by_role("button", name="保存")).to_be_visible()
    tour.shot(page, "standards-group")
