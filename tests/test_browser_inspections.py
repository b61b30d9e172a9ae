"""End-to-end: the 三查 in Debian's chromium, through the real forms.

On a phone the principal of 将官池镇第一小学（演示） starts a 校长带队月度自查, fails 3.1.6 (a 直接判定
item: a 重大事故隐患) and 区域-1, passes everything else, saves (two hazards are registered and
linked), finishes, signs (once with a wrong password) and, the record being sealed, starts a
correction (更正记录). A bureau leader may only start 暗访暗查 at the schools assigned to him.

``test_inspection_page_tour`` opens the list, a checklist, the sign page and a signed record at
phone and desktop size, checks nothing is wider than the screen and keeps screenshots in
``/tmp/shots_inspections/``.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from hazardhub import clock
from tests.fixtures.browser import DESKTOP, PHONE, assert_fits_width

pytestmark = pytest.mark.browser

SCHOOL = "将官池镇第一小学（演示）"
UNASSIGNED = "灵井镇第一初级中学（演示）"
PASSWORD = "Demo2025"
SHOTS = Path("/tmp/shots_inspections")
#: bounded wait (ms) for a page load after a form post that writes many rows
SLOW = 30_000


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
    page.wait_for_load_state("load")


def home_card(page: Page, title: str) -> None:
    """Click the home page card titled ``title``."""
    page.locator("main a.card").filter(has=page.get_by_role("heading", name=title, exact=True)).click()


def alert(page: Page, text: str):
    """The flashed message containing ``text``."""
    return page.get_by_role("alert").filter(has_text=text)


def checklist_line(page: Page, number: str):
    """The checklist line numbered ``number`` (e.g. "3.1.6", "区域-1")."""
    return page.locator(".checklist-line").filter(
        has=page.locator("strong", has_text=re.compile(f"^{re.escape(number)}$")))


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def kind_options(page: Page) -> list[str]:
    return [t.strip() for t in page.get_by_label("检查类型").locator("option").all_inner_texts()]


def unit_options(page: Page) -> list[str]:
    return [t.strip() for t in page.get_by_label("学校", exact=True).locator("option").all_inner_texts()]


# ---------------------------------------------------------------------------------------------
# the principal's monthly self-inspection, on a phone


def test_principal_self_inspection_on_phone(new_page, live_demo):
    page = new_page(PHONE)
    login(page, user(live_demo, "demo_ja_principal"))

    home_card(page, "检查（三查）")
    expect(page.get_by_role("heading", name="检查记录（三查）")).to_be_visible()
    page.get_by_role("link", name="开始检查", exact=True).click()
    expect(page.get_by_role("heading", name="开始检查")).to_be_visible()
    assert_fits_width(page)
    school = page.get_by_label("学校", exact=True)
    expect(school.locator("option:checked")).to_have_text(SCHOOL)
    assert unit_options(page) == [SCHOOL]
    page.get_by_label("检查类型").select_option(label="校长带队月度自查")
    expect(page.get_by_label("检查日期")).to_have_value(clock.today().isoformat())
    page.get_by_label("检查人员").fill("郑校长、冯安全、总务主任")
    page.get_by_role("button", name="生成检查表").click()

    month = clock.today().strftime("%Y-%m")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(f"校长带队月度自查 · {month}")
    expect(heading).to_contain_text("草稿")
    expect(page.get_by_role("button", name="保存检查表")).to_be_visible()

    direct = checklist_line(page, "3.1.6")
    area = checklist_line(page, "区域-1")
    expect(direct).to_have_count(1)
    expect(area).to_have_count(1)
    expect(direct.locator(".badge", has_text="直接判定")).to_be_visible()

    passes = page.locator('input.result[value="pass"]')
    count = passes.count()
    assert count > 10, f"checklist has only {count} lines"
    assert page.locator(".checklist-line").count() == count
    for i in range(count):
        passes.nth(i).check()
    # the finding fields only show for a failed line
    expect(direct.locator('input[name^="location-"]')).to_be_hidden()
    direct.locator('input.result[value="fail"]').check()
    expect(direct.locator('input[name^="location-"]')).to_be_visible()
    direct.locator('input[name^="location-"]').fill("教学楼一楼东侧楼梯间")
    direct.locator('input[name^="description-"]').fill("楼梯间停放电动自行车 3 辆并私拉电线充电。")
    area.locator('input.result[value="fail"]').check()
    area.locator('input[name^="location-"]').fill("校门口东侧")
    area.locator('input[name^="description-"]').fill("减速带破损，上下学时段无护导人员。")
    expect(direct.locator('input.result[value="pass"]')).not_to_be_checked()
    expect(page.locator('input.result[value="pass"]:checked')).to_have_count(count - 2)
    expect(page.locator('input.result[value="fail"]:checked')).to_have_count(2)
    assert_fits_width(page)

    page.get_by_role("button", name="保存检查表").click()
    saved = alert(page, "检查表已保存")
    expect(saved).to_be_visible(timeout=SLOW)
    expect(saved).to_contain_text("新登记隐患 2 项")
    numbers = re.findall(r"[^\s：、]+-\d{4}-\d+", saved.inner_text().split("：", 1)[1])
    assert len(numbers) == 2 and len(set(numbers)) == 2, saved.inner_text()
    for number in numbers:
        expect(page.locator(".checklist-line").get_by_role("link", name=number, exact=True)).to_be_visible()
    expect(direct).to_contain_text(re.compile(r"已登记隐患：\S+（重大，已登记）"))
    expect(area).to_contain_text(re.compile(r"已登记隐患：\S+（一般，已登记）"))
    expect(page.locator(".checklist-line", has_text="已登记隐患").filter(has_text="重大")).to_have_count(1)
    # a registered line can only stay failed
    expect(direct.locator('input.result[value="pass"]')).to_be_disabled()
    expect(direct.locator('input.result[value="fail"]')).to_be_checked()
    shoot(page, "phone-checklist-saved")

    page.get_by_label("检查小结").fill("逐项检查，发现重大事故隐患 1 项、一般隐患 1 项，已登记台账。")
    page.get_by_role("button", name="完成检查").click()
    expect(alert(page, "检查已完成")).to_contain_text("请校长签字")
    expect(page.get_by_role("heading", level=1)).to_contain_text("已记录")
    expect(page.locator("main .alert", has_text="待校长签字")).to_be_visible()

    page.get_by_role("link", name="校长签字").first.click()
    expect(page.get_by_role("heading", name=re.compile("^校长签字"))).to_be_visible()
    expect(page.locator("main")).to_contain_text(numbers[0])
    expect(page.locator("main")).to_contain_text(numbers[1])
    expect(page.locator("main .card")).to_contain_text("不合格 2 项")
    assert_fits_width(page)
    shoot(page, "phone-sign")
    password = page.get_by_label("请再次输入登录密码以签字")
    password.fill("wrong-password")
    page.get_by_role("button", name="确认并签字").click()
    expect(page.locator("main")).to_contain_text("密码不正确")
    expect(page.get_by_role("heading", name=re.compile("^校长签字"))).to_be_visible()
    page.get_by_label("请再次输入登录密码以签字").fill(PASSWORD)
    page.get_by_role("button", name="确认并签字").click()

    expect(alert(page, "已签字")).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("heading", level=1)).to_contain_text("已签字")
    seal = page.locator("main .card.border-success")
    expect(seal).to_contain_text("检查内容与签字时一致")
    expect(seal).to_contain_text("不合格 2 项")
    expect(seal.locator("code").first).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    expect(seal).to_contain_text("SHA-256")
    expect(page.get_by_role("button", name="保存检查表")).to_have_count(0)
    expect(page.get_by_role("button", name="完成检查")).to_have_count(0)
    expect(page.locator('input.result')).to_have_count(0)
    assert_fits_width(page)
    shoot(page, "phone-signed")
    signed_url = page.url

    amend = page.get_by_role("button", name="发起更正")
    expect(amend).to_be_visible()
    page.on("dialog", lambda dialog: dialog.accept())
    amend.click()
    expect(alert(page, "已发起更正记录")).to_be_visible(timeout=SLOW)
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("更正记录")
    expect(heading).to_contain_text("草稿")
    assert page.url != signed_url
    expect(page.get_by_role("link", name="原签字记录")).to_be_visible()
    # the correction starts from the signed results; the registered lines stay linked
    expect(page.get_by_role("button", name="保存检查表")).to_be_visible()
    expect(checklist_line(page, "3.1.6").locator('input.result[value="fail"]')).to_be_checked()
    for number in numbers:
        expect(page.locator(".checklist-line").get_by_role("link", name=number, exact=True)).to_be_visible()

    # the original stays signed and points to its correction; it offers no second correction
    page.get_by_role("link", name="原签字记录").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("已签字")
    expect(page.locator("main")).to_contain_text("本记录已有更正")
    expect(page.locator("main")).to_contain_text("检查内容与签字时一致")
    expect(page.get_by_role("button", name="发起更正")).to_have_count(0)


# ---------------------------------------------------------------------------------------------
# the bureau leader: 暗访暗查 only where assigned (分包)


def test_leader_unannounced_only_assigned_schools(page, live_demo):
    """The kind is chosen first and the school list follows it: 暗访暗查 lists only the units
    assigned to the leader, 联合/专项检查 every school of the county; a forged unassigned school
    is refused in words and nothing is started; at an assigned school it opens a draft checklist."""
    login(page, user(live_demo, "demo_ja_leader"))
    page.goto("/inspections/")
    page.get_by_role("link", name="开始检查", exact=True).click()
    expect(page.get_by_role("heading", name="开始检查")).to_be_visible()
    assert "分包领导暗访暗查" in kind_options(page)
    assert "校长带队月度自查" not in kind_options(page)
    assert "乡镇中心学校检查" not in kind_options(page)
    expect(page.get_by_label("检查类型").locator("option:checked")).to_have_text("分包领导暗访暗查")
    schools = unit_options(page)
    assert SCHOOL in schools and UNASSIGNED not in schools  # 灵井镇第一初级中学 is not the leader's

    # another kind: the form reloads with every school of the county (app.js switches it: wait for
    # the page's scripts, as a person's finger arrives after them)
    page.wait_for_load_state("load")
    page.get_by_label("检查类型").select_option(label="联合检查（消防/公安/交通）")
    expect(page).to_have_url(re.compile(r"kind=joint"))
    expect(page.get_by_label("学校", exact=True).locator("option", has_text=UNASSIGNED)).to_have_count(1)

    # assigned through 将官池镇中心学校 (JA-T05): the form opened for that kind keeps it and starts
    page.goto("/inspections/new?kind=unannounced")
    expect(page.get_by_label("检查类型").locator("option:checked")).to_have_text("分包领导暗访暗查")
    page.get_by_label("学校", exact=True).select_option(label=SCHOOL)
    page.get_by_role("button", name="生成检查表").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("分包领导暗访暗查")
    expect(heading).to_contain_text("草稿")
    expect(page.locator("main")).to_contain_text(SCHOOL)
    expect(page.locator(".checklist-line").first).to_be_visible()


# ---------------------------------------------------------------------------------------------
# page tour: list, checklist, sign page, signed record at phone and desktop size


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_inspection_page_tour(new_page, live_demo, size):
    page = new_page(PHONE if size == "phone" else DESKTOP)
    login(page, user(live_demo, "demo_ja_principal"))
    page.goto("/inspections/")
    expect(page.get_by_role("heading", name="检查记录（三查）")).to_be_visible()
    rows = page.locator("main table tbody tr")
    expect(rows.first).to_be_visible()
    assert_fits_width(page)
    shoot(page, f"{size}-list")

    # the demo's self-inspection of this month: recorded, awaiting the principal's signature
    month = clock.this_month()
    pending = rows.filter(has_text=month).filter(has_text="校长带队月度自查").filter(has_text="待签字")
    expect(pending.first).to_be_visible()
    pending.first.get_by_role("link", name=month).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("已记录")
    expect(page.locator("main .alert", has_text="待校长签字")).to_be_visible()
    expect(page.locator(".checklist-line").first).to_be_visible()
    assert_fits_width(page)
    shoot(page, f"{size}-checklist")
    if size == "phone":
        # the long checklist keeps its save button in reach while scrolling
        assert page.locator(".sticky-save").evaluate("b => getComputedStyle(b).position") == "sticky"
    page.get_by_role("link", name="校长签字").first.click()
    expect(page.get_by_role("heading", name=re.compile("^校长签字"))).to_be_visible()
    expect(page.get_by_label("请再次输入登录密码以签字")).to_be_visible()
    assert_fits_width(page)
    shoot(page, f"{size}-sign")

    page.goto("/inspections/?kind=self")
    signed = page.locator("main table tbody tr").filter(has_text=SCHOOL).filter(has_text="已签字")
    expect(signed.first).to_be_visible()
    signed.first.locator("a").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("已签字")
    expect(page.locator("main .card.border-success")).to_contain_text("SHA-256")
    assert_fits_width(page)
    shoot(page, f"{size}-signed")
