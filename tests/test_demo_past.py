"""The demo has a real past (issue #18, item 5): its records are versioned at the dates they claim,
so the ledger and the phase reports "as of" a past day show that day's numbers; the bulk path that
writes back-dated history is a public API of the audit module and its result verifies; the `demo`
command prints the real administrators' one-time passwords apart from the demo logins."""
from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from hazardhub import ROOT, clock
from hazardhub.accounts.models import User
from hazardhub.audit import verify_chain
from hazardhub.campaigns.models import Campaign, Phase
from hazardhub.hazards.models import Hazard
from hazardhub.orgs.models import Tenant
from hazardhub.orgs.operations import root_unit
from hazardhub.reports import figures as fig
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login


def _tenant(db, slug: str) -> Tenant:
    return db.session.execute(sa.select(Tenant).where(Tenant.slug == slug)
                              .execution_options(all_tenants=True)).scalar_one()


def _valid_on(conn, table: str, tenant_id: int, cutoff, where: str, **params) -> int:
    """Rows of ``table`` whose latest version issued before ``cutoff`` matches ``where`` — counted
    straight in SQL (a correlated subquery, not the report's grouping)."""
    return conn.execute(sa.text(f"""
        SELECT count(*) FROM "{table}_version" v JOIN "transaction" t ON t.id = v.transaction_id
        WHERE v.tenant_id = :tenant AND t.issued_at < :cutoff AND v.operation_type != 2 AND ({where})
          AND v.transaction_id = (SELECT max(v2.transaction_id) FROM "{table}_version" v2
                                  JOIN "transaction" t2 ON t2.id = v2.transaction_id
                                  WHERE v2.id = v.id AND t2.issued_at < :cutoff)"""),
        {"tenant": tenant_id, "cutoff": cutoff, **params}).scalar_one()


def test_demo_learning_phase_report_and_ledger_as_of_the_phase_end_show_that_days_numbers(app, db, client,
                                                                                         monkeypatch):
    """Seeded through the `demo` command: its output keeps the real administrators apart; then the
    2025 campaign's 学习排查 report as of 05-31 counts learning, inspections and hazards valid that
    day (equal to a direct count over the versions), and the ledger as of that day lists them."""
    monkeypatch.setattr("flask_migrate.upgrade", lambda **kwargs: None)  # the test database is migrated
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    out = result.output
    demo_block, _, admin_block = out.partition("正式管理员账号")
    assert "演示账号" in demo_block and "demo_ja_admin" in demo_block
    assert "一次性密码" not in demo_block.split("演示账号")[-1], "no real password among the demo logins"
    assert "不是演示账号" in admin_block and "一次性密码" in admin_block
    assert len(re.findall(r"^\s+\w+\s+\w+_admin\s+\S{10}\s+\((?:city|bureau)_admin\)$", admin_block, re.M)) == 7

    jianan = _tenant(db, "jianan")
    conn = db.session.connection()
    with tenant_bound(jianan.id):
        phase = db.session.execute(sa.select(Phase).join(Campaign, Campaign.id == Phase.campaign_id).where(
            Campaign.year == 2025, Phase.name == "学习排查")).scalar_one()
        assert phase.ends_on == date(2025, 5, 31)
        root = root_unit(jianan.id)
        figures = fig.phase_figures(root, phase, phase.ends_on)
        live_closed = db.session.execute(sa.select(sa.func.count()).select_from(Hazard).where(
            Hazard.found_on.between(phase.starts_on, phase.ends_on), Hazard.status == "closed")).scalar_one()
    cutoff = clock.cutoff(phase.ends_on)
    period = {"start": phase.starts_on, "end": phase.ends_on}
    learning = _valid_on(conn, "learning_sessions", jianan.id, cutoff, "v.held_on BETWEEN :start AND :end", **period)
    inspections = _valid_on(conn, "inspections", jianan.id, cutoff,
                            "v.inspected_on BETWEEN :start AND :end AND v.status != 'draft'", **period)
    hazards = _valid_on(conn, "hazards", jianan.id, cutoff,
                        "v.found_on BETWEEN :start AND :end AND v.status != 'voided'", **period)
    closed = _valid_on(conn, "hazards", jianan.id, cutoff,
                       "v.found_on BETWEEN :start AND :end AND v.status = 'closed'", **period)
    assert learning > 0 and inspections > 0 and hazards > 0
    assert figures["learning"]["total_sessions"] == learning
    assert figures["inspections"]["total"] == inspections
    assert figures["hazards"]["found"] == hazards
    assert figures["hazards"]["closed"] == closed
    # that day's numbers, not today's: a hazard of the period was closed only after 05-31
    assert closed < live_closed
    assert figures["scope"]["schools"] > 0, "the demo's schools existed before the campaign"
    assert sum(row["on_time"] + row["late"] for row in figures["signoffs"]["months"]) > 0

    # the ledger as of 05-31, as the bureau sees it: the hazards of the period with that day's status
    with tenant_bound(jianan.id):
        admin = db.session.execute(sa.select(User).where(User.username == "demo_ja_admin")).scalar_one()
    login(client, admin)
    page = client.get("/hazards/?as_of=2025-05-31")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    with tenant_bound(jianan.id):
        numbers = db.session.execute(sa.select(Hazard.number).where(
            Hazard.found_on.between(phase.starts_on, phase.ends_on))).scalars().all()
    assert numbers and all(number in html for number in numbers)
    assert "建安-2026-" not in html, "nothing found after the day is listed"

    # the chain holds with the back-dated history in it
    for tenant_id in db.session.execute(sa.select(Tenant.id).execution_options(all_tenants=True)).scalars():
        report = verify_chain(conn, tenant_id)
        assert report.ok, report.problems[:3]


def test_a_small_scale_data_set_written_through_the_public_bulk_api_verifies(app, db, monkeypatch):
    """The city-scale generator (hazardhub.devtools.scale) on four schools and four months, through
    ``audit.BulkChainWriter``: back-dated versions in the ledger as of a past day, and `audit verify`."""
    from hazardhub.devtools import scale
    from hazardhub.platform.provisioning import apply_all

    apply_all(ROOT / "tenants", log=lambda m: None)
    monkeypatch.setitem(scale.DISTRICT_SCHOOLS, "jianan", 4)
    monkeypatch.setattr(scale, "MONTHS", 4)
    counts = scale.build_district("jianan", log=lambda m: None, conn=db.session.connection())
    db.session.commit()  # the caller of a bulk write on its connection commits it
    assert counts["transactions"] > 10 and counts["versions"] > counts["transactions"]
    assert scale.build_district("jianan", log=lambda m: None) is None, "a second run finds it complete"
    jianan = _tenant(db, "jianan")
    conn = db.session.connection()
    report = verify_chain(conn, jianan.id)
    assert report.ok, report.problems[:3]
    # the history is in the past: as of a day three months ago some of it was already there
    earlier = clock.today().replace(day=1)
    earlier = date(earlier.year - (earlier.month <= 3), (earlier.month - 4) % 12 + 1, 28)
    assert _valid_on(conn, "inspections", jianan.id, clock.cutoff(earlier), "1 = 1") > 0
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--tenant", "jianan"])
    assert result.exit_code == 0, result.output
    assert "审计链完好" in result.output


@pytest.mark.parametrize("today, label", [(date(2026, 1, 10), "未开始"), (date(2026, 5, 2), "进行中"),
                                          (date(2026, 12, 6), "已到期")])
def test_campaign_status_follows_the_calendar(app, db, factories, today, label):
    """An active campaign is 进行中 only while its phases run: before them 未开始, after them 已到期
    (the bureau has not formally closed it yet); a closed one is 已结束 whatever the day."""
    from hazardhub.campaigns import operations as ops
    from hazardhub.campaigns.models import calendar_status

    tenant = factories.tenant("calx")
    admin = factories.user(root_unit(tenant.id), "bureau_admin")
    with tenant_bound(tenant.id), clock.frozen(date(2025, 12, 20)):
        campaign = ops.create_from_template(tenant, 2026, admin)
    with tenant_bound(tenant.id):
        assert campaign.status == "active"
        period = ops.periods([campaign.id])[campaign.id]
        assert period == (date(2026, 3, 1), date(2026, 6, 30))
        assert calendar_status(campaign, today, period)[1] == label
        campaign.status = "closed"
        assert calendar_status(campaign, today, period)[1] == "已结束"
        db.session.rollback()


def test_campaign_pages_show_the_calendar_status(app, db, client, factories):
    """In December the list and the page of a 2026 campaign whose phases all ended say 已到期, not 进行中."""
    from hazardhub.campaigns import operations as ops

    tenant = factories.tenant("caly")
    admin = factories.user(root_unit(tenant.id), "bureau_admin")
    with tenant_bound(tenant.id), clock.frozen(date(2026, 2, 1)):
        campaign = ops.create_from_template(tenant, 2026, admin)
    with clock.frozen(date(2026, 12, 6)):
        login(client, admin)  # a session of that day (sessions expire when idle)
        listing = client.get("/campaigns/").get_data(as_text=True)
        page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    for html in (listing, page):
        assert "已到期" in html and "进行中" not in html
    with clock.frozen(date(2026, 4, 15)):
        login(client, admin)
        assert "进行中" in client.get("/campaigns/").get_data(as_text=True)
