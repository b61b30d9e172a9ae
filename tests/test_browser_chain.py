"""The audit chain after ordinary use of the demo (issue #12).

Seen on the seeded demo: a bureau viewer requested a directive PDF and a unit-tree export, and
``audit verify`` then reported the city's witness records as written behind the application's
back. Here the same people do the same things in chromium, by links from their home pages, and
``flask --app wsgi audit verify`` over the live database must still exit 0 — with the city having
witnessed the heads those documents carry. (Every other browser flow — sign-off on a phone,
directives, the ledger — runs on the same database, which ``live_demo`` verifies once more when
the session ends.)
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import demo_login, live_demo_scalar, login, nav, verify_live_demo

pytestmark = pytest.mark.browser

JIANAN = "建安区教育体育局"


def _finished(page) -> None:
    expect(page).to_have_url(re.compile(r"/runs/\d+$"))
    expect(page.locator(".run-status")).to_have_text("已完成")


def _witnessed(stdout: str, slug: str) -> int:
    match = re.search(rf"^{slug}: 与市教育局见证的 (\d+) 个链头一致", stdout, re.M)
    assert match, stdout
    return int(match.group(1))


REPORT_HEADS = ("SELECT COUNT(*) FROM witnessed_heads w JOIN tenants t ON t.id = w.district_tenant_id "
                "WHERE t.slug = 'jianan' AND w.source_kind = 'report'")


def test_documents_and_exports_keep_every_chain_intact(new_page, live_demo):
    before = verify_live_demo()
    assert before.returncode == 0, before.stdout + before.stderr
    heads_before = _witnessed(before.stdout, "jianan")
    reports_before = live_demo_scalar(REPORT_HEADS)

    # the bureau viewer: a directive's PDF, then the unit tree as Excel
    page = new_page()
    login(page, demo_login(live_demo[1], "bureau_viewer", JIANAN))
    nav(page, "整改指令")
    page.locator("main table tbody tr a").first.click()
    page.get_by_role("button", name="生成 PDF").click()
    _finished(page)
    nav(page, "单位")
    page.locator("main").get_by_role("link", name=re.compile(JIANAN)).first.click()
    page.get_by_role("button", name="导出单位名录（Excel）").click()
    _finished(page)

    # the city admin: the district comparison as PDF
    city = new_page()
    login(city, demo_login(live_demo[1], "city_admin"))
    nav(city, "县区对比")
    city.get_by_role("button", name="生成对比报告（PDF）").click()
    _finished(city)

    after = verify_live_demo()
    assert after.returncode == 0, after.stdout + after.stderr
    assert "审计链损坏" not in after.stdout + after.stderr
    assert re.search(r"^xuchang: 审计链完好", after.stdout, re.M), after.stdout
    # the directive PDF carried the district's head and the city witnessed it (one more head at
    # least: each verify also witnesses the head it checked)
    assert _witnessed(after.stdout, "jianan") > heads_before
    # and the heads the directive PDF and the unit-tree export carry were witnessed when they were
    # made (the writes that went outside the chain before the fix; with only the seal's guard
    # they would be refused and lost)
    assert live_demo_scalar(REPORT_HEADS) >= reports_before + 2


def _tamper_value(column, value):
    """A different value of the same type, or None when this column is not one to try."""
    import datetime as dt

    if value is None or column.primary_key or column.foreign_keys or column.name in ("tenant_id", "path"):
        return None
    if isinstance(value, bool):
        return not value
    if isinstance(value, str):
        return value[:-1] + ("甲" if not value.endswith("甲") else "乙") if value else "甲"
    if isinstance(value, int):
        return value + 1
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(seconds=1)
    if isinstance(value, dt.date):
        return value + dt.timedelta(days=1)
    return None


def _tamper_one_row(conn, table, *, audited: set[str]):
    """Change one column of one row of ``table`` by SQL (in a savepoint that is kept when the
    UPDATE is accepted); returns ``(row id, column, transaction id)`` or None."""
    import sqlalchemy as sa

    pk = [c for c in table.primary_key.columns if c.name != "transaction_id"]
    rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns).limit(3)).all()
    for row in rows:
        for column in table.columns:
            if column.name not in audited:
                continue
            new = _tamper_value(column, getattr(row, column.name))
            if new is None:
                continue
            where = [c == getattr(row, c.name) for c in table.primary_key.columns]
            savepoint = conn.begin_nested()
            try:
                conn.execute(table.update().where(*where).values({column.name: new}))
            except sa.exc.DBAPIError:
                savepoint.rollback()  # a CHECK or UNIQUE constraint: try the next column
                continue
            savepoint.commit()
            return (",".join(str(getattr(row, c.name)) for c in pk), column.name,
                    getattr(row, "transaction_id", None), row.tenant_id)
    return None


@pytest.mark.parametrize("what", ["live", "version"])
def test_a_direct_update_of_any_audited_table_is_named(live_demo, what):
    """After a direct UPDATE of any versioned table's live row — or of any of its version rows —
    verification fails naming that record (live) or its transaction (version), for every table
    that holds rows in the demo."""
    import sqlalchemy as sa
    from sqlalchemy_continuum import version_class, versioning_manager

    import hazardhub.models  # noqa: F401 - every versioned model registered
    from hazardhub.audit import verify_chain
    from tests.fixtures.browser import _server_env_used

    from hazardhub.db import configure_engine

    engine = sa.create_engine(_server_env_used[0]["HAZARDHUB_DATABASE_URL"])
    configure_engine(engine)  # SQLite: SAVEPOINTs and foreign keys as the application has them
    tampered = {}
    try:
        with engine.connect() as conn:
            outer = conn.begin()
            try:
                for cls in sorted(versioning_manager.version_class_map, key=lambda c: c.__tablename__):
                    vtable = version_class(cls).__table__
                    # the columns the chain vouches for: versioned, not excluded (password hashes are)
                    audited = {c.name for c in cls.__table__.columns
                               if c.name in vtable.c and not versioning_manager.is_excluded_column(cls, c)}
                    table = vtable if what == "version" else cls.__table__
                    done = _tamper_one_row(conn, table, audited=audited)
                    if done is not None:
                        tampered[cls.__tablename__] = done
                problems = {}
                for tenant in {t for *_rest, t in tampered.values()}:
                    problems[tenant] = " | ".join(verify_chain(conn, tenant).problems)
            finally:
                outer.rollback()
    finally:
        engine.dispose()
    # the demo has rows in (nearly) every audited table; each one tampered is caught and named
    assert len(tampered) >= 24, sorted(tampered)
    for name, (row_id, column, tx_id, tenant) in tampered.items():
        if what == "live":
            assert f"{name} #{row_id} 的当前值与其最后版本" in problems[tenant] and column in problems[tenant], name
        else:
            assert f"事务 {tx_id}" in problems[tenant], (name, column)
