"""Small screens and honest figures in chromium (issue #18): the directives list keeps every status
badge in view on a 390 px phone, the compliance matrix keeps the school's name in view while its
columns scroll, and the city comparison fits a 1366 px laptop screen without scrolling sideways.

``HAZARDHUB_SHOTS_DIR=/tmp/shots`` keeps screenshots.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.fixtures.browser import PHONE
from tests.test_browser_hazards import WIDEST, login, user

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}

#: visible badges in main that are clipped: past the viewport, or past a scrolling container's edge
CLIPPED_BADGES = """() => {
  const vw = document.documentElement.clientWidth;
  return [...document.querySelectorAll('main .badge')].filter(b => {
    const r = b.getBoundingClientRect();
    if (!r.width) return false;
    if (r.right > vw + 0.5) return true;
    const box = b.closest('.table-responsive');
    if (!box) return false;
    const br = box.getBoundingClientRect();
    return r.right > br.right + 0.5 || r.left < br.left - 0.5;
  }).map(b => b.textContent.trim());
}"""


def _open(new_page, live_demo, username: str, viewport: dict, path: str) -> Page:
    page = new_page(viewport)
    login(page, user(live_demo, username))
    page.goto(path)
    page.wait_for_load_state("load")
    assert page.evaluate("() => document.fonts.check('16px sans-serif', '隐患排查治理')")
    return page


def _shot(page: Page, name: str) -> None:
    folder = os.environ.get("HAZARDHUB_SHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"figures-{name}.png"), full_page=True)


def test_directives_list_shows_every_status_badge_on_a_phone(new_page, live_demo):
    page = _open(new_page, live_demo, "demo_ja_admin", PHONE, "/directives/")
    expect(page.locator("main table tbody tr")).not_to_have_count(0)
    expect(page.locator("main .badge", has_text="延期待批").first).to_be_visible()
    overflow, wide = page.evaluate(WIDEST)
    assert overflow <= 0, wide
    assert page.evaluate("() => [...document.querySelectorAll('main .table-responsive')]"
                         ".map(e => e.scrollWidth - e.clientWidth)") == [0]
    assert page.evaluate(CLIPPED_BADGES) == []
    _shot(page, "directives-phone")


def test_compliance_matrix_keeps_the_school_name_in_view_on_a_phone(new_page, live_demo):
    page = _open(new_page, live_demo, "demo_ja_admin", PHONE, "/compliance/")
    first = page.locator("main table.table-sticky-first tbody tr").first.locator("td").first
    before = first.bounding_box()
    page.locator("main table.table-sticky-first").locator("xpath=..").evaluate("e => { e.scrollLeft = 200; }")
    after = first.bounding_box()
    assert after["x"] == pytest.approx(before["x"], abs=1), "the school's name scrolled away with the columns"
    assert first.bounding_box()["width"] >= 90, "the name column is squeezed"
    overflow, wide = page.evaluate(WIDEST)
    assert overflow <= 0, wide
    _shot(page, "compliance-phone")


def test_city_comparison_fits_a_laptop_screen(new_page, live_demo):
    page = _open(new_page, live_demo, "demo_city_admin", LAPTOP, "/citywide/")
    expect(page.locator("table.compare-table tbody tr")).not_to_have_count(0)
    assert page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    assert page.evaluate("() => [...document.querySelectorAll('.compare-wrap')]"
                         ".map(e => e.scrollWidth - e.clientWidth)") == [0], "the comparison scrolls sideways"
    # a rank is shown only where at least two districts are ranked
    ranks = page.evaluate("""() => {
      const rows = [...document.querySelectorAll('table.compare-table tbody tr')];
      const per = {};
      rows.forEach(r => [...r.querySelectorAll('td')].forEach((td, i) => {
        if (/第 \\d+ 名/.test(td.textContent)) per[i] = (per[i] || 0) + 1; }));
      return Object.values(per);
    }""")
    assert ranks and min(ranks) >= 2, ranks
    _shot(page, "citywide-1366")
