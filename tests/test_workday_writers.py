"""The working-day bench's writers (#15 item 1): each write is a real, sealed operation.

``flask bench --writes-per-second`` runs :mod:`hazardhub.devtools.workday` in a writer process
while the readers measure the pages; that the writes do what users do (a hazard registered with
its plan, started, reported, accepted by someone else, each committed and sealed on its district's
chain) is checked here on the test world, without the process and without timing. The chain
fixture verifies every tenant whose head moved after the test.
"""
from __future__ import annotations

import sqlalchemy as sa

from hazardhub.devtools import workday
from hazardhub.hazards.models import Hazard
from hazardhub.tenancy import tenant_bound


def test_writers_take_each_district_hazard_through_its_life(db, world):
    plan = workday.districts()
    assert {d.tenant_id for d in plan} >= {world.a.id, world.b.id}
    for d in plan:
        assert d.school_ids and d.reporter_id != d.acceptor_id
    steps = [workday.write_once(d, serial) for serial in range(8) for d in plan]
    per_district = len(plan)
    assert steps[:per_district] == ["register"] * per_district
    assert steps.count("accept") == 2 * per_district  # two whole lives each
    for d in plan:
        with tenant_bound(d.tenant_id):
            made = db.session.execute(sa.select(Hazard).where(
                Hazard.tenant_id == d.tenant_id, Hazard.description.like("%工作日压测写入%"))).scalars().all()
            assert len(made) == 2 and {h.status for h in made} == {"closed"}
            assert all(h.accepted_by_id == d.acceptor_id and h.rectified_by_id == d.reporter_id for h in made)
            assert len({h.school_id for h in made}) == min(2, len(d.school_ids))  # round-robin over schools
