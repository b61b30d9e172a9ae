"""The scoping floor: every ORM read filtered, every write stamped and checked, links guarded."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy_continuum import version_class

from hazardhub.accounts.models import Membership, User
from hazardhub.orgs.models import OrgUnit
from hazardhub.tenancy import (
    BulkWriteForbidden, CrossTenantWrite, TenantNotBound, TenantScope, bind_scope, tenant_bound, unbind,
)


@pytest.fixture
def unbound():
    token = bind_scope(None)
    yield
    unbind(token)


def test_unbound_select_of_scoped_model_refuses(db, world, unbound):
    with pytest.raises(TenantNotBound):
        db.session.execute(sa.select(OrgUnit)).all()
    with pytest.raises(TenantNotBound):
        db.session.execute(sa.select(version_class(OrgUnit))).all()


def test_bound_select_returns_only_the_bound_tenant(db, world):
    with tenant_bound(world.a.id):
        tenants = set(db.session.execute(sa.select(OrgUnit.tenant_id)).scalars())
        names = set(db.session.execute(sa.select(OrgUnit.name)).scalars())
        users = set(db.session.execute(sa.select(User.tenant_id)).scalars())
    assert tenants == {world.a.id}
    assert "乙镇小学" not in names and "一镇第一小学" in names
    assert users == {world.a.id}


def test_criteria_reach_subqueries_joins_and_counts(db, world):
    with tenant_bound(world.a.id):
        count = db.session.execute(
            sa.select(sa.func.count()).select_from(sa.select(OrgUnit).subquery())
        ).scalar_one()
        direct = db.session.execute(sa.select(OrgUnit.id)).scalars().all()
        joined = db.session.execute(
            sa.select(Membership.id).join(OrgUnit, OrgUnit.id == Membership.unit_id)
        ).scalars().all()
        by_id = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == world.sb.id)).scalar_one_or_none()
    assert count == len(direct)
    assert by_id is None, "another tenant's unit must not load by id"
    with tenant_bound(world.b.id):
        b_memberships = set(db.session.execute(sa.select(Membership.id)).scalars())
    assert not (set(joined) & b_memberships)


def test_version_tables_are_scoped_too(db, world):
    vcls = version_class(OrgUnit)
    with tenant_bound(world.a.id):
        tenants = set(db.session.execute(sa.select(vcls.tenant_id)).scalars())
    assert tenants == {world.a.id}


def test_city_scope_reads_its_districts(db, world):
    scope = TenantScope.reading(world.city.id, [world.a.id, world.b.id])
    with tenant_bound(scope):
        tenants = set(db.session.execute(sa.select(OrgUnit.tenant_id)).scalars())
    assert tenants == {world.city.id, world.a.id, world.b.id}


def test_new_row_is_stamped_with_bound_tenant(db, world):
    with tenant_bound(world.a.id):
        unit = OrgUnit(parent_id=world.t1.id, code="STAMP1", name="盖章测试", kind="school", path="/x/")
        db.session.add(unit)
        db.session.flush()
        assert unit.tenant_id == world.a.id
        db.session.rollback()


def test_new_row_for_another_tenant_is_refused(db, world):
    with tenant_bound(world.a.id):
        db.session.add(OrgUnit(tenant_id=world.b.id, parent_id=world.b_root.id, code="X1", name="越权",
                               kind="school", path="/"))
        with pytest.raises(CrossTenantWrite):
            db.session.flush()
        db.session.rollback()


def test_changing_another_tenants_row_is_refused(db, world):
    with tenant_bound(world.b.id):
        school = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == world.sb.id)).scalar_one()
    with tenant_bound(world.a.id):
        school.name = "被改了"
        with pytest.raises(CrossTenantWrite):
            db.session.flush()
        db.session.rollback()


def test_moving_a_row_to_another_tenant_is_refused(db, world):
    with tenant_bound(world.a.id):
        school = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == world.s1.id)).scalar_one()
        school.tenant_id = world.b.id
        with pytest.raises(CrossTenantWrite):
            db.session.flush()
        db.session.rollback()


def test_read_only_scope_cannot_write(db, world):
    scope = TenantScope(write_tenant_id=None, read_tenant_ids=(world.a.id,))
    with tenant_bound(scope):
        school = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == world.s1.id)).scalar_one()
        school.name = "只读"
        with pytest.raises(CrossTenantWrite):
            db.session.flush()
        db.session.rollback()


def test_bulk_update_and_delete_on_versioned_tables_are_refused(db, world):
    with tenant_bound(world.a.id):
        with pytest.raises(BulkWriteForbidden):
            db.session.execute(sa.update(OrgUnit).values(name="批量"))
        with pytest.raises(BulkWriteForbidden):
            db.session.execute(sa.delete(Membership))
        db.session.rollback()


def test_composite_foreign_key_blocks_cross_tenant_links(db, world):
    """Even raw SQL cannot make a membership of tenant A point at a unit of tenant B."""
    conn = db.session.connection()
    user_id = world.users["principal"].id
    with pytest.raises(IntegrityError):
        with conn.begin_nested():
            conn.execute(
                sa.text("INSERT INTO memberships (tenant_id, user_id, unit_id, role, is_active, created_at) "
                        "VALUES (:t, :u, :unit, 'staff', true, CURRENT_TIMESTAMP)"),
                {"t": world.a.id, "u": user_id, "unit": world.sb.id},
            )
    with pytest.raises(IntegrityError):
        with conn.begin_nested():
            conn.execute(
                sa.text("UPDATE org_units SET parent_id = :p WHERE id = :id"),
                {"p": world.b_root.id, "id": world.s1.id},
            )


def test_subquery_only_statement_refuses_when_unbound(db, world, unbound):
    with pytest.raises(TenantNotBound):
        db.session.execute(sa.select(sa.func.count()).select_from(sa.select(OrgUnit).subquery())).scalar()
