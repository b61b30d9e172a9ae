"""End-to-end (#18): a directive and its hazard are one rectification, in Debian's chromium.

The township supervisor's check of a school finds a major hazard (a 直接判定 line fails); from the
inspection page they issue a directive for it; the principal signs for it on a phone and reports
the rectification with an after-photo and the five-item plan (prefilled from the directive); the
township accepts; the hazard is 已销号 with the acceptance in its history, and the directive and
hazard pages link each other. ``HAZARDHUB_SHOTS_DIR`` keeps phone and desktop screenshots.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.fixtures.browser import DESKTOP, PHONE, assert_fits_width, login

pytestmark = pytest.mark.browser

SCHOOL = "将官池镇第一小学（演示）"
SLOW = 30_000


def user(live_demo, username: str) -> dict:
    return next(row for row in live_demo[1] if row["username"] == username)


def alert(page: Page, text: str):
    return page.get_by_role("alert").filter(has_text=text)


def shoot(page: Page, name: str) -> None:
    folder = os.environ.get("HAZARDHUB_SHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_a_township_check_becomes_one_rectification(new_page, live_demo, tmp_path):
    # -- the township supervisor checks the school and finds a major hazard
    township = new_page(DESKTOP)
    login(township, user(live_demo, "demo_ja_township"))
    township.goto("/inspections/new?kind=township")
    township.get_by_label("学校", exact=True).select_option(label=SCHOOL)
    township.get_by_label("检查人员").fill("吴建华、王干事")
    township.get_by_role("button", name="生成检查表").click()
    expect(township.get_by_role("heading", level=1)).to_contain_text("乡镇中心学校检查")
    line = township.locator(".checklist-line").filter(
        has=township.locator("strong", has_text=re.compile(r"^3\.1\.6$")))
    line.locator('input.result[value="fail"]').check()
    line.locator('input[name^="location-"]').fill("学生宿舍楼一楼楼梯间")
    line.locator('input[name^="description-"]').fill("楼梯间停放电动自行车并私拉电线充电（乡镇检查发现）。")
    township.get_by_role("button", name="保存检查表").click()
    saved = alert(township, "新登记隐患 1 项")
    expect(saved).to_be_visible(timeout=SLOW)
    number = re.search(r"[^\s：、]+-\d{4}-\d+", saved.inner_text().split("：", 1)[1]).group(0)

    # -- the inspection page offers a directive for the failed line
    township.locator("#direct-failed").get_by_role("link", name="下达整改指令").click()
    expect(township.get_by_role("heading", name="下达整改指令")).to_be_visible()
    expect(township.get_by_label(re.compile(re.escape(number)))).to_be_checked()
    township.get_by_label("整改要求与措施").fill("1. 立即清理楼梯间电动自行车，拆除私拉电线；\n2. 设置集中充电区；\n3. 报送整改后照片。")
    township.get_by_role("button", name="下达", exact=True).click()
    expect(alert(township, "已下达")).to_be_visible(timeout=SLOW)
    directive_url = township.url
    directive_number = township.get_by_role("heading", level=1).locator(".text-nowrap").inner_text()
    hazard_link = township.locator("#directive-hazards").get_by_role("link", name=number)
    expect(hazard_link).to_be_visible()

    # the hazard page names the directive, and offers no second one
    hazard_link.click()
    expect(township.get_by_role("heading", level=1)).to_contain_text(number)
    expect(township.locator(".hazard-directives").get_by_role("link", name=directive_number)).to_be_visible()
    expect(township.get_by_role("link", name="下达整改指令")).to_have_count(0)
    hazard_url = township.url

    # -- the principal signs for it on a phone and reports with an after-photo and the plan
    school = new_page(PHONE)
    login(school, user(live_demo, "demo_ja_principal"))
    school.goto(directive_url)
    school.get_by_label("签收人").fill("郑校长")
    school.get_by_role("button", name="签收（回执）").click()
    expect(alert(school, "已签收")).to_be_visible(timeout=SLOW)
    plan = school.locator("fieldset.plan-fields")
    expect(plan).to_contain_text(number)
    expect(plan.get_by_label("整改措施")).to_have_value(re.compile("立即清理楼梯间电动自行车"))  # prefilled
    plan.get_by_label("整改责任人").fill("郑校长")
    plan.get_by_label("整改资金（元）").fill("6000")
    plan.get_by_label("临时管控措施").fill("楼梯间专人值守，禁止停放充电")
    plan.get_by_label("应急预案").fill("按学校消防应急预案处置")
    school.get_by_label("整改情况").fill("已清理楼梯间电动自行车，拆除私拉电线，东侧建成集中充电棚。")
    photo = tmp_path / "整改后-楼梯间.png"
    Image.new("RGB", (160, 120), (40, 160, 90)).save(photo)
    school.locator('input[name="photos"]').set_input_files(str(photo))
    assert_fits_width(school)
    school.get_by_role("button", name="报告整改情况，申请验收").click()
    expect(alert(school, "所列隐患已转为待验收")).to_be_visible(timeout=SLOW)
    expect(school.locator("#directive-hazards")).to_contain_text("待验收")

    # -- the township accepts: the hazard is closed with that acceptance
    township.goto(directive_url)
    township.get_by_label("验收意见").fill("现场复查：电动车已清理，集中充电棚投入使用，验收合格。")
    township.get_by_role("button", name="验收合格，隐患销号").click()
    expect(alert(township, "所列隐患已销号")).to_be_visible(timeout=SLOW)
    expect(township.locator("#directive-hazards")).to_contain_text("已销号")
    shoot(township, "directive-desktop")

    township.goto(hazard_url)
    expect(township.get_by_role("heading", level=1)).to_contain_text("已销号")
    directives = township.locator(".hazard-directives")
    expect(directives.get_by_role("link", name=directive_number)).to_be_visible()
    expect(directives).to_contain_text("已验收")
    shoot(township, "hazard-desktop")
    township.get_by_role("link", name="全部记录").click()
    expect(township.locator("main")).to_contain_text("验收合格：现场复查")
    expect(township.locator("main")).to_contain_text("已销号")

    school.goto(hazard_url)
    expect(school.locator(".hazard-directives").get_by_role("link", name=directive_number)).to_be_visible()
    assert_fits_width(school)
    shoot(school, "hazard-phone")
    school.goto(directive_url)
    assert_fits_width(school)
    shoot(school, "directive-phone")
