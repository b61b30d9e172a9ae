"""Role × action matrix of the one policy module: every cell is asserted, allowed or not."""
from __future__ import annotations

import pytest

from hazardhub.accounts.auth import load_memberships
from hazardhub.policy import RULES, RoleGrant, UnknownAction, can, check_template_actions
from hazardhub.tenancy import tenant_bound

ROLES = ["city_admin", "city_viewer", "bureau_admin", "bureau_leader", "bureau_viewer",
         "township_supervisor", "principal", "safety_officer", "staff"]
UNITS = ["city_root", "a_root", "t1", "t2", "s1", "s2", "s3", "affiliated", "b_root", "sb"]
A_ALL = {"a_root", "t1", "t2", "s1", "s2", "s3", "affiliated"}
CITY_ALL = A_ALL | {"city_root", "b_root", "sb"}
T1 = {"t1", "s1", "s2"}

#: action -> role -> units where the answer is yes (everything else must be no)
UNIT_MATRIX = {
    "unit.view": {
        "city_admin": CITY_ALL, "city_viewer": CITY_ALL, "bureau_admin": A_ALL, "bureau_leader": A_ALL,
        "bureau_viewer": A_ALL, "township_supervisor": T1, "principal": {"s1"},
        "safety_officer": {"s1"}, "staff": {"s1"},
    },
    "unit.history": {
        "city_admin": CITY_ALL, "city_viewer": CITY_ALL, "bureau_admin": A_ALL, "bureau_leader": A_ALL,
        "bureau_viewer": A_ALL, "township_supervisor": T1, "principal": {"s1"},
    },
    "unit.edit": {"bureau_admin": A_ALL, "township_supervisor": {"s1", "s2"}},
    "unit.create": {"bureau_admin": A_ALL},
    "unit.export": {"bureau_admin": A_ALL, "bureau_leader": A_ALL, "bureau_viewer": A_ALL,
                    "township_supervisor": T1, "principal": {"s1"}},
    # 随手拍: the school's principal and safety officer run codes and triage; readers above follow
    "publicreport.view": {
        "city_admin": CITY_ALL, "city_viewer": CITY_ALL, "bureau_admin": A_ALL, "bureau_leader": A_ALL,
        "bureau_viewer": A_ALL, "township_supervisor": T1, "principal": {"s1"}, "safety_officer": {"s1"},
    },
    "publicreport.codes": {"principal": {"s1"}, "safety_officer": {"s1"}},
    "publicreport.triage": {"principal": {"s1"}, "safety_officer": {"s1"}},
    "user.create": {"city_admin": {"city_root"}, "bureau_admin": A_ALL, "township_supervisor": T1,
                    "principal": {"s1"}},
    "channel.manage": {"bureau_admin": A_ALL},
}


def _actor(db, world, role):
    user = world.users[role]
    with tenant_bound(user.tenant_id):
        user.active_memberships = load_memberships(user)
    return user


def _matrix_cells():
    for action, by_role in UNIT_MATRIX.items():
        for role in ROLES:
            for unit in UNITS:
                yield action, role, unit, unit in by_role.get(role, set())


@pytest.mark.parametrize("action", sorted(UNIT_MATRIX))
def test_unit_matrix(db, world, action):
    wrong = []
    for role in ROLES:
        user = _actor(db, world, role)
        for unit_name in UNITS:
            expected = unit_name in UNIT_MATRIX[action].get(role, set())
            unit = getattr(world, unit_name)
            with tenant_bound(user.tenant_id):
                got = can(user, action, unit)
            if got != expected:
                wrong.append(f"{role} {action} {unit_name}: expected {expected}, got {got}")
    assert not wrong, "\n".join(wrong)


USER_TARGETS = ["city_viewer", "bureau_leader", "township_supervisor", "principal", "safety_officer",
                "staff", "s2_staff", "b_principal"]
#: manager role -> targets they may edit and reset
MANAGES = {
    "city_admin": {"city_viewer"},
    "bureau_admin": {"bureau_leader", "township_supervisor", "principal", "safety_officer", "staff", "s2_staff"},
    "township_supervisor": {"principal", "safety_officer", "staff", "s2_staff"},
    "principal": {"safety_officer", "staff"},
}


def _target(world, name):
    return getattr(world, name) if name in ("s2_staff", "b_principal") else world.users[name]


@pytest.mark.parametrize("action", ["user.edit", "user.reset_password"])
def test_user_management_matrix(db, world, action):
    wrong = []
    for role in ROLES:
        manager = _actor(db, world, role)
        for name in USER_TARGETS:
            target = _target(world, name)
            expected = name in MANAGES.get(role, set())
            with tenant_bound(manager.tenant_id):
                got = can(manager, action, target)
            if got != expected:
                wrong.append(f"{role} {action} {name}: expected {expected}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_user_view_follows_subtree(db, world):
    township = _actor(db, world, "township_supervisor")
    principal = _actor(db, world, "principal")
    city = _actor(db, world, "city_viewer")
    with tenant_bound(world.a.id):
        assert can(township, "user.view", world.users["staff"])
        assert not can(township, "user.view", world.users["bureau_leader"])
        assert can(principal, "user.view", world.users["staff"])
        assert not can(principal, "user.view", world.s2_staff)
        assert not can(_actor(db, world, "staff"), "user.view", world.users["safety_officer"])
    assert can(city, "user.view", world.b_principal)


@pytest.mark.parametrize("role,unit,grant_role,expected", [
    ("bureau_admin", "s1", "principal", True),
    ("bureau_admin", "a_root", "bureau_leader", True),
    ("bureau_admin", "s1", "bureau_admin", False),       # a bureau role on a school
    ("bureau_admin", "t1", "township_supervisor", True),
    ("bureau_admin", "sb", "principal", False),           # another tenant
    ("township_supervisor", "s1", "staff", True),
    ("township_supervisor", "s3", "staff", False),        # another township
    ("township_supervisor", "t1", "principal", False),    # its own unit
    ("township_supervisor", "s1", "township_supervisor", False),
    ("principal", "s1", "staff", True),
    ("principal", "s1", "principal", False),
    ("principal", "s2", "staff", False),
    ("staff", "s1", "staff", False),
    ("city_admin", "s1", "staff", False),
    ("city_admin", "city_root", "city_viewer", True),
])
def test_membership_grants(db, world, role, unit, grant_role, expected):
    user = _actor(db, world, role)
    target_unit = getattr(world, unit)
    with tenant_bound(user.tenant_id):
        assert can(user, "membership.grant", RoleGrant(target_unit.tenant_id, target_unit, grant_role)) is expected


def test_city_roles_read_but_never_write_districts(db, world):
    for role in ("city_admin", "city_viewer"):
        user = _actor(db, world, role)
        for unit in (world.a_root, world.s1, world.sb):
            assert can(user, "unit.view", unit)
            for action in ("unit.edit", "unit.create", "unit.import", "user.create"):
                assert not can(user, action, unit), (role, action, unit.name)
        for target in (world.users["principal"], world.b_principal):
            assert not can(user, "user.edit", target)
            assert not can(user, "user.reset_password", target)


def test_audit_and_tenant_views(db, world):
    assert can(_actor(db, world, "city_viewer"), "audit.view", world.a)
    assert can(_actor(db, world, "bureau_viewer"), "audit.view", world.a)
    assert not can(_actor(db, world, "bureau_admin"), "audit.view", world.b)
    assert not can(_actor(db, world, "principal"), "audit.view", world.a)
    assert not can(_actor(db, world, "township_supervisor"), "tenant.view", world.a)


def test_anonymous_and_inactive_users_can_do_nothing(db, world):
    from flask_login import AnonymousUserMixin

    anonymous = AnonymousUserMixin()
    admin = _actor(db, world, "bureau_admin")
    for action in RULES:
        assert not can(anonymous, action, world.s1)
    admin.is_active = False
    try:
        assert not can(admin, "unit.view", world.s1)
    finally:
        admin.is_active = True


def test_unknown_action_fails_loudly(db, world, tmp_path):
    with pytest.raises(UnknownAction):
        can(world.users["staff"], "unit.destroy", world.s1)
    (tmp_path / "bad.html").write_text("{% if can('unit.delete_all') %}x{% endif %}", encoding="utf-8")
    with pytest.raises(UnknownAction):
        check_template_actions(tmp_path)
    from hazardhub.policy import requires

    with pytest.raises(UnknownAction):
        requires("no.such.action")
