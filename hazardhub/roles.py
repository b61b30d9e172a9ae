"""The roles of HazardHub and the groups rules are written with (ground floor: imports nothing).

Roles are stored as plain strings in ``memberships.role``; :class:`Role` is a ``StrEnum``, so a
member compares and hashes equal to the stored string (``"city_admin" in CITY_ROLES`` holds) and
code can name a role without a typo going unnoticed. Labels and the unit level each role is held
at stay with the model (``hazardhub.accounts.models.ROLES``); who may do what stays in
``hazardhub.policy.RULES``.
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

assert ALL_ROLES == frozenset(Role)
