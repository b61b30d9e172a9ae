"""End-to-end: the seeded demo in Debian's chromium, through the real forms and links.

Everything is reached by clicking from the home page, as a clerk would. The tests share one
live server and database (``live_demo``), so each test edits its own unit and never relies on
another test's changes. ``HAZARDHUB_SHOTS_DIR=/tmp/shots`` keeps a screenshot of every page type
at desktop and phone size (``test_page_tour``).
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.fixtures.browser import DESKTOP, PHONE, assert_fits_width, demo_login, login, nav, open_nav

pytestmark = pytest.mark.browser

JIANAN = "建安区教育体育局"
BAD_CSV = (
    "单位代码,上级单位代码,单位名称,类别,学校类型,在校学生数\n"
    "JA-X01,JA-T05,将官池镇新建小学,学校/幼儿园,小学,三百\n"
    "JA-X02,NO-SUCH,无上级的学校,学校/幼儿园,小学,120\n"
    ",JA-T05,,学校/幼儿园,大学,-5\n"
).encode("utf-8")


def account(live_demo, role: str, tenant: str | None = None) -> dict:
    return demo_login(live_demo[1], role, tenant)


def detail(page: Page, term: str):
    """The <dd> next to the <dt> ``term`` on a unit or user page."""
    return page.locator(f"dl dt:text-is('{term}') + dd")


# ---------------------------------------------------------------------------------------------
# login


def test_wrong_password_is_refused(page, live_demo):
    viewer = account(live_demo, "bureau_viewer", JIANAN)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("用户名").fill(viewer["username"])
    page.get_by_label("密码").fill(viewer["password"] + "x")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator(".navbar-toggler")).to_have_count(0)
    # and the right password still works (one failure does not lock the account)
    login(page, viewer)
    expect(page.locator("main")).to_contain_text(viewer["unit"])


# ---------------------------------------------------------------------------------------------
# bureau admin edits a school; the change shows in its history


def test_bureau_admin_edits_school_and_sees_history(page, live_demo):
    admin = account(live_demo, "bureau_admin", JIANAN)
    display_name = login(page, admin)
    assert display_name == "建安区安全股·赵静"
    nav(page, "单位")
    expect(page.get_by_role("heading", name="单位", exact=True)).to_be_visible()
    page.get_by_placeholder("名称或代码").fill("将官池镇初级")
    page.get_by_role("button", name="筛选").click()
    page.get_by_role("link", name="将官池镇初级中学（演示）").click()
    expect(page.get_by_role("heading", name=re.compile("将官池镇初级中学"))).to_be_visible()
    old_enrolment = detail(page, "在校学生").inner_text().strip()
    assert old_enrolment == "845"

    page.get_by_role("link", name="编辑", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("^编辑单位"))).to_be_visible()
    page.get_by_label("在校学生数").fill("851")
    page.get_by_label("联系人", exact=True).fill("卫校长")
    page.get_by_label("修改原因").fill("开学初核实学生数")
    page.get_by_role("button", name="保存").click()

    expect(page.get_by_role("alert")).to_contain_text("已保存")
    expect(detail(page, "在校学生")).to_have_text("851")
    expect(detail(page, "联系人")).to_contain_text("卫校长")

    page.get_by_role("link", name="变更历史").click()
    expect(page.get_by_role("heading", name=re.compile("变更历史"))).to_be_visible()
    entry = page.locator(".card").filter(has_text="开学初核实学生数")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(f"操作人：{display_name}")
    enrolment_row = entry.locator("tr").filter(has=page.locator("td:text-is('在校学生数')"))
    expect(enrolment_row.locator("td")).to_have_text(["在校学生数", old_enrolment, "851"])
    contact_row = entry.locator("tr").filter(has=page.locator("td:text-is('联系人')"))
    expect(contact_row.locator("td")).to_have_text(["联系人", "", "卫校长"])
    expect(entry).to_contain_text("来源：网页")


# ---------------------------------------------------------------------------------------------
# principal on a phone


def test_principal_on_phone_sees_own_school_and_no_admin_links(new_page, live_demo):
    page = new_page(PHONE)
    principal = account(live_demo, "principal", JIANAN)
    login(page, principal)
    school = principal["unit"]
    main = page.locator("main")
    expect(main.get_by_role("link", name=re.compile(re.escape(school) + ".*查看本校"))).to_be_visible()
    for forbidden in ("导入单位", "审计链", "所辖县区", "所辖县（市、区）"):
        expect(page.get_by_role("link", name=forbidden)).to_have_count(0)

    # the menu is collapsed until the toggler is tapped, and folds up again
    menu = page.locator("#mainnav")
    toggler = page.get_by_role("button", name="菜单", exact=True)
    expect(menu).to_be_hidden()
    expect(toggler).to_have_attribute("aria-expanded", "false")
    toggler.click()
    expect(menu).to_have_class(re.compile(r"\bshow\b"))  # opened (transition over)
    expect(menu).to_be_visible()
    expect(toggler).to_have_attribute("aria-expanded", "true")
    expect(menu.get_by_role("link", name="单位", exact=True)).to_be_visible()
    expect(menu.get_by_role("link", name="导入单位")).to_have_count(0)
    menu.get_by_role("button", name=re.compile("个人菜单")).click()
    expect(menu).to_contain_text("校长（园长）")
    expect(menu.get_by_role("button", name="退出")).to_be_visible()
    toggler.click()
    expect(menu).to_be_hidden()

    # the school page: no editing for a principal, and nothing wider than the phone
    main.get_by_role("link", name=re.compile(re.escape(school) + ".*查看本校")).click()
    expect(page.get_by_role("heading", name=re.compile(re.escape(school)))).to_be_visible()
    expect(page.get_by_role("link", name="编辑", exact=True)).to_have_count(0)
    assert_fits_width(page)


# ---------------------------------------------------------------------------------------------
# the navbar with the most entries (bureau admin) stays one line or collapses, at every width


def test_navbar_fits_at_common_widths(page, live_demo):
    login(page, account(live_demo, "bureau_admin", JIANAN))
    navbar = page.locator("nav.navbar")
    toggler = page.locator(".navbar-toggler")
    for width in (1920, 1366, 1280, 1200, 1024, 768, 390, 320):
        page.set_viewport_size({"width": width, "height": 800})
        if width >= 1200:
            expect(toggler).to_be_hidden()
            height = navbar.bounding_box()["height"]
            assert height < 70, f"navbar wraps at {width}px ({height}px high)"
        else:
            expect(toggler).to_be_visible()
        assert_fits_width(page)


# ---------------------------------------------------------------------------------------------
# city admin reads a district, read-only


def test_city_admin_reaches_district_units_read_only(page, live_demo):
    login(page, account(live_demo, "city_admin"))
    nav(page, "所辖县区")
    expect(page.get_by_role("heading", name=re.compile("所辖县"))).to_be_visible()
    row = page.locator("tbody tr").filter(has_text=JIANAN)
    row.get_by_role("link", name="查看单位").click()
    expect(page.get_by_role("heading", name=re.compile(JIANAN))).to_be_visible()
    expect(page.get_by_role("link", name="编辑", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("导出"))).to_have_count(0)
    page.get_by_role("link", name="将官池镇中心学校").click()
    page.get_by_role("link", name="将官池镇岗朱小学（演示）").click()
    expect(page.get_by_role("heading", name=re.compile("将官池镇岗朱小学"))).to_be_visible()
    expect(detail(page, "在校学生")).to_have_text("188")
    expect(page.get_by_role("link", name="编辑", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="新增下级单位")).to_have_count(0)
    expect(page.get_by_text(re.compile("停用此单位"))).to_have_count(0)


# ---------------------------------------------------------------------------------------------
# export


def test_bureau_admin_exports_unit_tree(page, live_demo, tmp_path):
    login(page, account(live_demo, "bureau_admin", JIANAN))
    page.locator("main").get_by_role("link", name=re.compile(JIANAN)).click()
    expect(page.get_by_role("heading", name=re.compile(JIANAN))).to_be_visible()
    page.get_by_role("button", name="导出单位名录（Excel）").click()

    expect(page).to_have_url(re.compile(r"/runs/\d+$"))
    expect(page.get_by_role("alert")).to_contain_text("已提交导出任务")
    expect(page.locator(".run-status")).to_have_text("已完成")
    link = page.get_by_role("link", name=re.compile("^下载"))
    expect(link).to_be_visible()
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    data = target.read_bytes()
    assert data.startswith(b"PK")
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    try:
        names = [row[2] for row in workbook["单位名录"].iter_rows(min_row=2, values_only=True)]
    finally:
        workbook.close()
    assert "将官池镇第一小学（演示）" in names
    assert len(names) >= 14

    # the run list shows it too
    nav(page, "后台任务")
    expect(page.locator("tbody tr").first).to_contain_text("已完成")


# ---------------------------------------------------------------------------------------------
# every page type, desktop and phone: renders, no console/CSP errors, nothing wider than the
# phone; screenshots kept when HAZARDHUB_SHOTS_DIR is set


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

    def page_as(self, role: str | None, tenant: str | None = JIANAN) -> Page:
        page = self.new_page(self.viewport)
        if role:
            login(page, account(self.live_demo, role, tenant))
        else:
            page.goto("/login")
        return page

    def shot(self, page: Page, name: str) -> None:
        page.wait_for_load_state("load")
        # every glyph on the page comes from a local font (no tofu boxes): CJK font present
        assert page.evaluate("() => document.fonts.check('16px sans-serif', '隐患排查治理')")
        if self.viewport["width"] < 576:
            assert_fits_width(page)
        if self.folder:
            page.screenshot(path=str(self.folder / f"{name}-{self.label}.png"), full_page=True)


@pytest.mark.parametrize("viewport,label", [(DESKTOP, "desktop"), (PHONE, "phone")], ids=["desktop", "phone"])
def test_page_tour(new_page, live_demo, viewport, label):
    tour = Tour(new_page, live_demo, viewport, label)

    page = tour.page_as(None)
    tour.shot(page, "login")

    for role in ("city_admin", "city_viewer"):
        tour.shot(tour.page_as(role, None), f"home-{role}")
    for role in ("bureau_leader", "bureau_viewer", "township_supervisor", "principal",
                 "safety_officer", "staff"):
        page = tour.page_as(role)
        if role in ("safety_officer", "staff"):  # they manage nobody and import nothing
            for link in ("账号与角色", "导入单位", "后台任务", "审计链"):
                expect(page.get_by_role("link", name=link)).to_have_count(0)
        tour.shot(page, f"home-{role}")

    # bureau admin: most page types
    page = tour.page_as("bureau_admin")
    tour.shot(page, "home-bureau_admin")
    open_nav(page)
    page.locator("#mainnav").get_by_role("button", name="管理").click()
    expect(page.locator("#mainnav").get_by_role("link", name="审计链")).to_be_visible()
    tour.shot(page, "nav-open")
    page.keyboard.press("Escape")
    nav(page, "单位")
    tour.shot(page, "units")
    page.locator("main").get_by_role("link", name=JIANAN, exact=True).first.click()
    expect(page.get_by_role("heading", name=re.compile(JIANAN))).to_be_visible()
    tour.shot(page, "unit-bureau")
    page.get_by_role("link", name="将官池镇中心学校").click()
    tour.shot(page, "unit-township")
    page.get_by_role("link", name="将官池镇第一小学（演示）").click()
    tour.shot(page, "unit-school")
    page.get_by_role("link", name="编辑", exact=True).click()
    tour.shot(page, "unit-edit")
    page.get_by_role("link", name="取消").click()
    page.get_by_role("link", name="变更历史").click()
    expect(page.locator(".card").first).to_be_visible()
    tour.shot(page, "unit-history")

    nav(page, "账号与角色")
    tour.shot(page, "users")
    page.get_by_role("link", name="将官池镇第一小学·郑校长").click()
    tour.shot(page, "user")
    page.get_by_role("link", name="变更历史").click()
    tour.shot(page, "user-history")
    nav(page, "账号与角色")
    page.get_by_role("link", name="新建账号").click()
    tour.shot(page, "user-new")

    nav(page, "导入单位")
    tour.shot(page, "import")
    page.get_by_label(re.compile("单位表")).set_input_files(
        {"name": "单位.csv", "mimeType": "text/csv", "buffer": BAD_CSV})
    page.get_by_role("button", name="上传并导入").click()
    expect(page.get_by_role("alert")).to_contain_text("导入未执行")
    expect(page.locator("main table tbody tr")).to_have_count(5)
    tour.shot(page, "import-errors")

    nav(page, "后台任务")
    tour.shot(page, "runs")
    page.get_by_role("link", name="详情").first.click()
    expect(page.locator(".run-status")).to_have_text("已完成")
    tour.shot(page, "run")

    nav(page, "审计链")
    page.locator("tbody tr").filter(has_text=JIANAN).get_by_role("button", name="立即校验").click()
    expect(page.locator("main .alert-success")).to_contain_text("审计链完好")
    tour.shot(page, "audit-chain")

    nav(page, "修改密码")
    expect(page.get_by_role("heading", name="修改密码")).to_be_visible()
    tour.shot(page, "change-password")

    response = page.goto("/units/999999999")
    assert response.status == 404
    expect(page.get_by_role("heading", name=re.compile("404"))).to_be_visible()
    tour.shot(page, "error-404")

    # city: districts; a viewer: 403
    page = tour.page_as("city_admin", None)
    nav(page, "所辖县区")
    tour.shot(page, "districts")

    page = tour.page_as("bureau_viewer")
    response = page.goto("/units/import")
    assert response.status == 403
    expect(page.get_by_role("heading", name=re.compile("403"))).to_be_visible()
    tour.shot(page, "error-403")
