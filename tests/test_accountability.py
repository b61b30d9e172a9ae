"""追责线索: the discovery gap, missing and late checks and reports, overdue and repeatedly returned
rectification; derived once, kept for ever, handled with a versioned note, read only in scope."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy_continuum import version_class

from hazardhub import clock
from hazardhub.accountability import operations as ops
from hazardhub.accountability.models import AccountabilityFinding
from hazardhub.hazards import operations as hazard_ops
from hazardhub.inspections import operations as inspection_ops
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, make_hazard, record_inspection

TODAY = clock.today()


def _last_month() -> tuple[str, date]:
    last = TODAY.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}", last


def _findings(db, tenant_id) -> dict[str, AccountabilityFinding]:
    with tenant_bound(tenant_id):
        return {f.key: f for f in db.session.execute(sa.select(AccountabilityFinding)
                                                     .execution_options(populate_existing=True)).unique().scalars()}


def _gap_world(db, world, *, self_fails=()):
    """Last month: s1 signs a self-inspection on the 5th; the leader's visit on the 20th finds 3.1.6."""
    u = world.users
    month, last = _last_month()
    with tenant_bound(world.a.id):
        own = record_inspection(world.s1, "self", u["principal"], last.replace(day=5), fail=self_fails,
                       sign=datetime.combine(last.replace(day=5), datetime.min.time()) + timedelta(hours=2))
        inspection_ops.assign_leader(leader=u["bureau_leader"], unit=world.t1, actor=u["bureau_admin"])
        visit = record_inspection(world.s1, "unannounced", u["bureau_leader"], last.replace(day=20), fail=("3.1.6",))
    return month, own, visit


def test_unannounced_visit_finds_a_major_hazard_the_signed_self_inspection_missed(db, client, world):
    month, own, visit = _gap_world(db, world)
    with tenant_bound(world.a.id):
        line = next(ln for ln in inspection_ops.lines_of(visit) if ln.number == "3.1.6")
        assert ops.sync(world.a.id, TODAY) > 0
    gap = _findings(db, world.a.id)[f"gap:hazard:{line.hazard_id}"]
    assert gap.kind == "discovery_gap" and gap.unit_id == world.s1.id and gap.period == month
    assert gap.inspection_id == visit.id and gap.other_inspection_id == own.id
    assert "暗访暗查" in gap.summary and f"{month} 月已签字的校长带队自查未记录" in gap.summary
    login(client, world.users["bureau_admin"])
    page = client.get(f"/accountability/{gap.id}").get_data(as_text=True)
    for link in (f"/hazards/{line.hazard_id}", f"/inspections/{visit.id}", f"/inspections/{own.id}",
                 f"/hazards/{line.hazard_id}/history"):
        assert f'href="{link}"' in page, link
    listing = client.get("/accountability/?kind=discovery_gap").get_data(as_text=True)
    assert "重大隐患自查未发现" in listing and "一镇第一小学" in listing


def test_no_gap_when_the_self_inspection_recorded_the_same_clause(db, world):
    _month, _own, visit = _gap_world(db, world, self_fails=("3.1.6",))
    with tenant_bound(world.a.id):
        ops.sync(world.a.id, TODAY)
    assert not [k for k in _findings(db, world.a.id) if k.startswith("gap:")]


def test_missing_and_late_self_inspections_and_unchecked_schools(db, world):
    u = world.users
    month, last = _last_month()
    end_plus = datetime.combine(last + timedelta(days=3), datetime.min.time())
    with tenant_bound(world.a.id):
        record_inspection(world.s1, "self", u["principal"], last.replace(day=3),
                 sign=datetime.combine(last.replace(day=4), datetime.min.time()))
        late = record_inspection(world.s3, "self", u["principal"], last.replace(day=3), sign=end_plus)
        record_inspection(world.s1, "township", u["township_supervisor"], last.replace(day=6))
        ops.sync(world.a.id, TODAY)
    found = _findings(db, world.a.id)
    assert f"selfcheck:{month}:{world.s2.id}" in found, "s2 never inspected itself"
    assert found[f"selfcheck-late:{month}:{world.s3.id}"].inspection_id == late.id
    assert f"selfcheck:{month}:{world.s1.id}" not in found and f"selfcheck-late:{month}:{world.s1.id}" not in found
    township = found[f"township:{month}:{world.t1.id}"]
    assert township.kind == "township_check_missing" and "1/2 所学校未检查（一镇幼儿园）" in township.summary
    assert f"township:{month}:{world.t2.id}" in found
    assert not any(f.unit.tenant_id != world.a.id for f in found.values())
    assert not _findings(db, world.b.id), "district B's records are not touched"


def test_a_finding_never_disappears_and_sync_is_idempotent(db, world):
    u = world.users
    hazard = make_hazard(db, world.s1, u["principal"], items=[], found_on=TODAY - timedelta(days=10),
                         deadline=TODAY - timedelta(days=3))
    with tenant_bound(world.a.id):
        first = ops.sync(world.a.id, TODAY)
        assert ops.sync(world.a.id, TODAY) == 0
    key = f"overdue:hazard:{hazard.id}"
    assert key in _findings(db, world.a.id) and first >= 1
    with tenant_bound(world.a.id):
        h = db.session.execute(sa.select(type(hazard)).where(type(hazard).id == hazard.id)).scalar_one()
        hazard_ops.void(h, actor=u["principal"], reason="登记错误", version_id=h.version_id)
        assert ops.sync(world.a.id, TODAY) == 0
    assert key in _findings(db, world.a.id), "the overdue finding stays after the hazard is gone"


def test_a_rectification_returned_twice_is_a_finding(db, world):
    u = world.users
    hazard = make_hazard(db, world.s1, u["principal"], items=[])
    with tenant_bound(world.a.id):
        for _ in range(2):
            h = db.session.execute(sa.select(type(hazard)).where(type(hazard).id == hazard.id)
                                   .execution_options(populate_existing=True)).scalar_one()
            if h.status == "registered":
                hazard_ops.start_rectification(h, actor=u["principal"], version_id=h.version_id)
            h = db.session.execute(sa.select(type(hazard)).where(type(hazard).id == hazard.id)
                                   .execution_options(populate_existing=True)).scalar_one()
            hazard_ops.report_rectification(h, actor=u["safety_officer"], rectified_on=TODAY, note="已整改",
                                        version_id=h.version_id)
            h = db.session.execute(sa.select(type(hazard)).where(type(hazard).id == hazard.id)
                                   .execution_options(populate_existing=True)).scalar_one()
            hazard_ops.reject(h, actor=u["township_supervisor"], reason="整改不到位", version_id=h.version_id)
        ops.sync(world.a.id, TODAY)
    finding = _findings(db, world.a.id)[f"returned:hazard:{hazard.id}"]
    assert "整改 2 次验收不合格" in finding.summary


def test_handling_is_versioned_and_refused_without_a_note(db, client, world):
    _month, _own, visit = _gap_world(db, world)
    with tenant_bound(world.a.id):
        ops.sync(world.a.id, TODAY)
    finding = next(f for f in _findings(db, world.a.id).values() if f.kind == "discovery_gap")
    first_version = finding.version_id
    login(client, world.users["bureau_admin"])
    bad = client.submit(f"/accountability/{finding.id}", {"note": "  ", "version_id": finding.version_id})
    assert bad.status_code == 200 and "请填写处理意见" in bad.get_data(as_text=True)
    assert _findings(db, world.a.id)[finding.key].status == "open", "nothing changed"
    ok = client.submit(f"/accountability/{finding.id}", {"note": "已约谈校长，责令立即整改并通报", "version_id": finding.version_id})
    assert ok.status_code == 302
    handled = _findings(db, world.a.id)[finding.key]
    assert handled.status == "handled" and handled.handled_by_id == world.users["bureau_admin"].id
    stale = client.submit(f"/accountability/{finding.id}", {"note": "再次处理", "version_id": first_version,
                                                            "action": "reopen"})
    assert stale.status_code == 200 and "已被他人处理或修改" in stale.get_data(as_text=True)
    with tenant_bound(world.a.id):
        versions = db.session.execute(sa.select(version_class(AccountabilityFinding)).where(
            version_class(AccountabilityFinding).id == finding.id)).scalars().all()
    assert [v.status for v in versions] == ["open", "handled"]
    history = client.get(f"/accountability/{finding.id}/history").get_data(as_text=True)
    assert "已约谈校长" in history and "追责线索处理" in history


def test_who_reads_and_who_handles(db, client, world):
    _gap_world(db, world)
    with tenant_bound(world.a.id):
        ops.sync(world.a.id, TODAY)
    finding = next(f for f in _findings(db, world.a.id).values() if f.kind == "discovery_gap")
    for role, read, handle in (("township_supervisor", 200, 403), ("city_viewer", 200, 403),
                               ("bureau_leader", 200, 302), ("principal", 403, 403), ("staff", 403, 403)):
        login(client, world.users[role])
        assert client.get(f"/accountability/{finding.id}").status_code in ((read,) if read == 200 else (403, 404)), role
        if read == 200:
            token = client.csrf_token(f"/accountability/{finding.id}")
        else:
            token = client.csrf_token("/password")
        response = client.post(f"/accountability/{finding.id}",
                               data={"csrf_token": token, "note": "处理", "version_id": finding.version_id})
        assert response.status_code in ((handle,) if handle == 302 else (403, 404)), role
    login(client, world.b_admin)
    assert client.get(f"/accountability/{finding.id}").status_code == 404
    assert "一镇第一小学" not in client.get("/accountability/").get_data(as_text=True)


def test_findings_for_a_phase_scope(db, world):
    month, own, visit = _gap_world(db, world)
    with tenant_bound(world.a.id):
        ops.sync(world.a.id, TODAY)
        _month, last = _last_month()
        in_t1 = ops.findings_for(world.t1, last.replace(day=1), last)
        in_t2 = ops.findings_for(world.t2, last.replace(day=1), last)
    assert any(f.kind == "discovery_gap" for f in in_t1)
    assert all(f.unit.path.startswith(world.t2.path) for f in in_t2)
    assert not any(f.kind == "discovery_gap" for f in in_t2)


def _photo():
    import io

    from PIL import Image
    from werkzeug.datastructures import FileStorage

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 160, 60)).save(out, "PNG")
    out.seek(0)
    return FileStorage(stream=out, filename="after.png", content_type="image/png")


def test_a_directive_overdue_or_returned_twice_is_a_finding(db, world):
    from hazardhub.directives import operations as directive_ops

    u = world.users
    hazard = make_hazard(db, world.s1, u["principal"], items=[])
    with tenant_bound(world.a.id):
        directive = directive_ops.issue(issuer=world.t1, school=world.s1, actor=u["township_supervisor"],
                                        hazard_ids=[hazard.id], requirements="立即整改并报告",
                                        signer_name="王督导", issued_on=TODAY - timedelta(days=20),
                                        deadline=TODAY - timedelta(days=2))
        directive_ops.acknowledge(directive, actor=u["principal"], signer_name="李校长")
        for _ in range(2):
            directive_ops.respond(directive, actor=u["principal"], note="已整改", photos=[_photo()])
            directive_ops.return_(directive, actor=u["township_supervisor"], comments="整改不到位")
        ops.sync(world.a.id, TODAY)
    found = _findings(db, world.a.id)
    assert found[f"directive-overdue:{directive.id}"].directive_id == directive.id
    assert "被退回 2 次" in found[f"directive-returned:{directive.id}"].summary
