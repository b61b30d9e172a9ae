"""The city witness records made after a commit are sealed like every other write (issue #12).

What the demo showed: after a bureau viewer asked for a directive PDF and a unit-tree export, a
principal signed her self-inspection and a township issued a directive, ``audit verify`` failed on
the city: "事务 N 有版本记录但不在审计链中（绕过应用写入）" — transaction N held only a
``witnessed_heads_version`` row, N+1 the chain link and the note. Recording the head is the
city's own transaction, made after the district's commit; building it asked for the actor, and
where ``current_user`` had to be loaded by a query (a job run in-process inside the request has a
fresh app context; a request's user is expired by its own commit) that query autoflushed the
pending row into a Continuum transaction of its own, which was never sealed.

These tests take the request path the demo takes, with jobs in-process as the demo runs them (in
both CI passes), one witnessing path at a time and then the demo's whole sequence, and check
what ``audit verify`` checks: nothing written outside the chains, the district's and the city's
chains whole, and the heads the city holds still on the district's chain.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hazardhub import clock
from hazardhub.audit import verify_chain
from hazardhub.campaigns import operations as campaign_ops
from hazardhub.citywide.models import ChainVerification, WitnessedHead
from hazardhub.citywide.witness import check_witnessed
from hazardhub.directives import operations as directive_ops
from hazardhub.directives.models import Directive
from hazardhub.inspections.models import Inspection, SignOff
from hazardhub.runs.models import ReportRun
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import PASSWORD, login, make_hazard, record_inspection
from tests.test_chain_state_machine import last_transaction, run_command, unsealed_since


@pytest.fixture
def in_process_jobs(app, monkeypatch):
    """Jobs run inside the request that asks for them (no Redis: the demo's mode), in both passes."""
    monkeypatch.setitem(app.config, "HAZARDHUB_REDIS_URL", None)


def _chains_whole(db, world) -> list[str]:
    conn = db.session.connection()
    problems = []
    for tenant in (world.a, world.b, world.city):
        problems += [f"{tenant.slug}: {p}" for p in verify_chain(conn, tenant.id).problems]
    for district in (world.a, world.b):
        problems += [f"{district.slug}: {p}" for p in check_witnessed(conn, district.id, world.city.id).problems]
    return problems


def _run(db, response) -> ReportRun:
    match = re.search(r"/runs/(\d+)$", response.headers.get("Location", ""))
    assert response.status_code == 302 and match, (response.status_code, response.headers.get("Location"))
    run = db.session.execute(sa.select(ReportRun).where(ReportRun.id == int(match.group(1)))
                             .execution_options(populate_existing=True)).scalar_one()
    assert run.status == "finished", run.error
    return run


def _witnessed(db, world, source_kind: str, source_id: int) -> dict[int, str]:
    """district tenant id → ``seq:hash`` the city recorded for this sign-off or run."""
    rows = db.session.execute(sa.select(WitnessedHead).where(
        WitnessedHead.tenant_id == world.city.id, WitnessedHead.source_kind == source_kind,
        WitnessedHead.source_id == source_id)).scalars()
    return {w.district_tenant_id: f"{w.seq}:{w.head_hash}" for w in rows}


def _directive(db, world):
    hazard = make_hazard(db, world.s1, world.users["principal"], items=["3.1.6"])
    with tenant_bound(world.a.id):
        return directive_ops.issue(issuer=world.t1, school=world.s1, actor=world.users["township_supervisor"],
                                   hazard_ids=[hazard.id], requirements="立即整改", signer_name="李督导",
                                   working_days=10)


def _phase(db, world) -> int:
    today = clock.today()
    with tenant_bound(world.a.id):
        campaign = campaign_ops._build(world.a.id, title="见证测试专项行动", year=today.year, source="custom",
                                       actor=world.users["bureau_admin"], phases=[{
                                           "name": "排查整治", "starts_on": today - timedelta(days=30),
                                           "ends_on": today + timedelta(days=30), "specs": []}])
        db.session.commit()
        return campaign_ops.phases_of(campaign)[0].id


def _ask(db, client, world, kind: str):
    """Ask for one run through its page, as the role that would; returns the response."""
    u = world.users
    if kind == "unit_tree":
        login(client, u["bureau_viewer"])
        return client.submit(f"/runs/unit-tree/{world.a_root.id}", {}, page=f"/units/{world.a_root.id}")
    if kind == "ledger":
        login(client, u["bureau_admin"])
        return client.submit("/hazards/export-run", {"unit_id": str(world.a_root.id)}, page="/hazards/")
    if kind == "directive_pdf":
        directive = _directive(db, world)
        login(client, u["bureau_viewer"])
        return client.submit(f"/directives/{directive.id}/pdf", {}, page=f"/directives/{directive.id}")
    if kind == "phase_report":
        phase_id = _phase(db, world)
        login(client, u["principal"])
        return client.submit("/reports/request", {"phase_id": str(phase_id), "scope_unit_id": str(world.s1.id)},
                             page="/reports/")
    assert kind == "city_comparison"
    login(client, u["city_viewer"])
    return client.submit("/citywide/report", {"period": "month"}, page="/citywide/")


@pytest.mark.parametrize("kind", ["unit_tree", "ledger", "directive_pdf", "phase_report", "city_comparison"])
def test_a_run_done_inside_its_request_is_witnessed_on_the_citys_chain(db, client, world, in_process_jobs, kind):
    if kind == "city_comparison":
        make_hazard(db, world.sb, world.b_principal)  # district B's chain has a head to witness too
    start = last_transaction(db.session.connection())
    run = _run(db, _ask(db, client, world, kind))
    witnessed = _witnessed(db, world, "report", run.id)
    if kind == "city_comparison":
        assert set(witnessed) == {world.a.id, world.b.id}
    else:
        assert witnessed == {world.a.id: run.chain_head}, "the city keeps the head the file carries"
    assert unsealed_since(db.session.connection(), start) == []
    assert _chains_whole(db, world) == []


def test_a_sign_off_on_the_web_is_witnessed_on_the_citys_chain(db, client, world):
    with tenant_bound(world.a.id):
        inspection = record_inspection(world.s1, "self", world.users["principal"], clock.today())
    start = last_transaction(db.session.connection())
    login(client, world.users["principal"])
    url = f"/inspections/{inspection.id}/sign"
    response = client.submit(url, {"password": PASSWORD, "version_id": str(inspection.version_id)}, page=url)
    assert response.status_code == 302
    signoff = db.session.execute(sa.select(SignOff).where(SignOff.inspection_id == inspection.id)).scalar_one()
    assert _witnessed(db, world, "signoff", signoff.id) == {world.a.id: signoff.chain_head}
    assert unsealed_since(db.session.connection(), start) == []
    assert _chains_whole(db, world) == []


def test_the_city_verifying_a_district_on_the_web_seals_its_record(db, client, world):
    make_hazard(db, world.s1, world.users["principal"])
    start = last_transaction(db.session.connection())
    login(client, world.users["city_admin"])
    assert client.submit("/citywide/verify", {"tenant_id": str(world.a.id)}, page="/citywide/").status_code == 302
    result = db.session.execute(sa.select(ChainVerification).where(
        ChainVerification.district_tenant_id == world.a.id)).scalar_one()
    assert result.is_ok, result.message
    assert _witnessed(db, world, "verification", result.id)
    assert unsealed_since(db.session.connection(), start) == []
    assert _chains_whole(db, world) == []


def test_the_demo_sequence_leaves_audit_verify_clean(app, db, client, world, in_process_jobs):
    """The demo's order: a directive PDF and a unit-tree export for the bureau viewer, the
    principal's signature, a township's directive; then ``flask audit verify`` as the operator."""
    u = world.users
    directive = _directive(db, world)
    with tenant_bound(world.a.id):
        inspection = record_inspection(world.s1, "self", u["principal"], clock.today())
        second = make_hazard(db, world.s1, u["principal"], location="食堂后门", description="灭火器过期")
    start = last_transaction(db.session.connection())

    login(client, u["bureau_viewer"])
    pdf = _run(db, client.submit(f"/directives/{directive.id}/pdf", {}, page=f"/directives/{directive.id}"))
    tree = _run(db, client.submit(f"/runs/unit-tree/{world.a_root.id}", {}, page=f"/units/{world.a_root.id}"))
    login(client, u["principal"])
    sign = f"/inspections/{inspection.id}/sign"
    assert client.submit(sign, {"password": PASSWORD, "version_id": str(inspection.version_id)},
                         page=sign).status_code == 302
    login(client, u["township_supervisor"])
    page = f"/directives/new?issuer_id={world.t1.id}&school_id={world.s1.id}"
    issued = client.submit("/directives/new", {
        "issuer_id": str(world.t1.id), "school_id": str(world.s1.id), "doc_title": "隐患整改通知书",
        "hazard_ids": [str(second.id)], "requirements": "限期整改", "working_days": "10",
        "signer_name": "李督导"}, page=page)
    assert issued.status_code == 302 and "/directives/" in issued.headers["Location"]

    signoff = db.session.execute(sa.select(SignOff).where(SignOff.inspection_id == inspection.id)).scalar_one()
    assert db.session.execute(sa.select(Inspection.status).where(Inspection.id == inspection.id)).scalar_one() \
        == "signed"
    assert db.session.execute(sa.select(sa.func.count()).select_from(Directive)).scalar_one() == 2
    heads = {("report", pdf.id): pdf.chain_head, ("report", tree.id): tree.chain_head,
             ("signoff", signoff.id): signoff.chain_head}
    for (source_kind, source_id), head in heads.items():
        assert _witnessed(db, world, source_kind, source_id) == {world.a.id: head}, source_kind
    assert unsealed_since(db.session.connection(), start) == []
    assert _chains_whole(db, world) == []
    result = run_command(app, db.session.connection(), "audit", "verify")
    assert result.exit_code == 0, result.output
    assert "不一致" not in result.output and "损坏" not in result.output
    assert _chains_whole(db, world) == [], "the verification the command recorded is sealed too"
