"""The roles of HazardHub and the groups rules are written with (ground floor: imports nothing).

Roles are stored as plain strings in ``memberships.role``; :class:`Role` is a ``StrEnum``, so a
member compares and hashes equal to the stored string (``"city_admin" in CITY_ROLES`` holds) and
code can name a role without a typo going unnoticed. The level each role is held at and the unit
kinds of each level are here (policy checks a grant against them; ``hazardhub.accounts.models``
adds the Chinese labels); who may do what stays in ``hazardhub.policy.RULES``.
"""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CITY_ADMIN = "city_admin"
    CITY_VIEWER = "city_viewer"
    BUREAU_ADMIN = "bureau_admin"
    BUREAU_LEADER = "bureau_leader"
    BUREAU_VIEWER = "bureau_viewer"
    TOWNSHIP_SUPERVISOR = "township_supervisor"
    PRINCIPAL = "principal"
    SAFETY_OFFICER = "safety_officer"
    STAFF = "staff"


#: the city education bureau: reads its districts, writes only in the city tenant
CITY_ROLES = frozenset({Role.CITY_ADMIN, Role.CITY_VIEWER})
#: a district (county) education bureau
BUREAU_ROLES = frozenset({Role.BUREAU_ADMIN, Role.BUREAU_LEADER, Role.BUREAU_VIEWER})
#: the people of a school who act on its hazards, directives and public reports
SCHOOL_ROLES = frozenset({Role.PRINCIPAL, Role.SAFETY_OFFICER})
#: roles that read their subtree's registers and reports
READER_ROLES = CITY_ROLES | BUREAU_ROLES | {Role.TOWNSHIP_SUPERVISOR, Role.PRINCIPAL}
ALL_ROLES = READER_ROLES | {Role.SAFETY_OFFICER, Role.STAFF}
#: roles with monthly duties of their own, whose reminders the daily pass stores in the inbox
#: (staff have none; the city follows, it has no district duties)
DUTY_ROLES = BUREAU_ROLES | {Role.TOWNSHIP_SUPERVISOR, Role.PRINCIPAL, Role.SAFETY_OFFICER}

assert ALL_ROLES == frozenset(Role)

#: the level of the tree each role is held at
ROLE_LEVEL: dict[str, str] = {
    Role.CITY_ADMIN: "city", Role.CITY_VIEWER: "city",
    Role.BUREAU_ADMIN: "bureau", Role.BUREAU_LEADER: "bureau", Role.BUREAU_VIEWER: "bureau",
    Role.TOWNSHIP_SUPERVISOR: "township",
    Role.PRINCIPAL: "school", Role.SAFETY_OFFICER: "school", Role.STAFF: "school",
}
#: which unit kinds each role level may sit on
ROLE_UNIT_KINDS: dict[str, set[str]] = {
    "city": {"bureau"},
    "bureau": {"bureau"},
    "township": {"township_center"},
    "school": {"school", "affiliated_school", "township_center"},
}
assert set(ROLE_LEVEL) == set(Role)
